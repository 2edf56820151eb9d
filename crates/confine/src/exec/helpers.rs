//! What a start prepares beside QEMU itself: files made from a template when
//! missing (a UEFI variable store from its firmware's template), and helper
//! processes QEMU connects to (the swtpm TPM emulator), started before QEMU under
//! the same confinement as far as it applies (QEMU's account, the VM's cgroup,
//! Landlock, a private `/dev`).
//!
//! Neither is removed when the domain stops: the variable store and the TPM state
//! belong to the definition (undefine removes them); a helper process is stopped.

use std::path::{Path, PathBuf};

use launch_spec::LaunchSpec;
use serde::{Deserialize, Serialize};

use super::DirPlan;

/// A file made from `template` when `path` does not exist (copied in full, mode
/// 0600, owned by the daemon until DAC gives it to QEMU's account).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilePlan {
    pub path: PathBuf,
    pub template: PathBuf,
    /// For messages: `nvram`.
    pub what: String,
}

/// A one-time initialisation a helper's state needs (`swtpm_setup`): run through
/// the launcher (as the helper's account) when `creates` does not exist; it must
/// exit 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupPlan {
    pub launch: LaunchSpec,
    pub creates: PathBuf,
}

/// A helper process started before QEMU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelperPlan {
    /// For messages and records: `TPM emulator tpm0`.
    pub what: String,
    /// Its state directories, made (owned by its account) when missing and kept.
    pub state_dirs: Vec<DirPlan>,
    pub setup: Option<SetupPlan>,
    /// The helper's launch; `cgroup_procs` is filled with the VM's cgroup.
    pub launch: LaunchSpec,
    /// The socket QEMU connects to: the helper is up once it exists.
    pub socket: PathBuf,
}

/// A running helper, as kept (in the status file) to stop it later, also after a
/// daemon restart: the start time tells a reused pid from the helper.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelperRecord {
    pub what: String,
    pub pid: u32,
    /// Field 22 of `/proc/PID/stat` (clock ticks since boot).
    pub start_time: u64,
    pub socket: PathBuf,
}

/// The start time of `pid` (field 22 of `/proc/PID/stat`), if it runs.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the
    // last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the helper `h` still runs (the same process, not a reused pid).
pub fn helper_alive(h: &HelperRecord) -> bool {
    process_start_time(h.pid) == Some(h.start_time)
}

/// Stops a helper: SIGTERM, then SIGKILL after `grace`; removes its socket. A
/// helper that is gone already (or whose pid now belongs to another process) is
/// left alone.
pub fn stop_helper(h: &HelperRecord, grace: std::time::Duration) -> Result<(), String> {
    use rustix::process::{Pid, Signal, kill_process};
    let result = (|| {
        if !helper_alive(h) {
            return Ok(());
        }
        let pid = Pid::from_raw(h.pid as i32).ok_or_else(|| format!("{}: pid 0", h.what))?;
        let _ = kill_process(pid, Signal::TERM);
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline {
            if !helper_alive(h) {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = kill_process(pid, Signal::KILL);
        for _ in 0..100 {
            if !helper_alive(h) {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Err(format!("{} (pid {}) does not stop", h.what, h.pid))
    })();
    match std::fs::remove_file(&h.socket) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("cannot remove {}: {e}", h.socket.display()));
        }
        _ => {}
    }
    result
}

/// Copies `template` to `path` in full through a temporary file in the same
/// directory, synced and renamed into place, so a crash never leaves a partial
/// variable store. The parent directory is made (root, 0711) when missing.
pub fn copy_template(file: &FilePlan) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = &file.path;
    let parent = path
        .parent()
        .ok_or_else(|| format!("{}: no parent directory", path.display()))?;
    if !parent.exists() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        // Whatever the daemon's umask: QEMU's account must pass through it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o711))
            .map_err(|e| format!("cannot set the mode of {}: {e}", parent.display()))?;
    }
    let data = std::fs::read(&file.template)
        .map_err(|e| format!("cannot read template {}: {e}", file.template.display()))?;
    let tmp = tmp_name(path);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(parent)?.sync_all()
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!(
            "cannot create {} from {}: {e}",
            path.display(),
            file.template.display()
        )
    })
}

fn tmp_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".rvirt-new");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_template_copies_every_byte_with_mode_0600_and_makes_the_directory() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let template = dir.path().join("VARS.fd");
        // Zero runs included: the copy must not depend on holes.
        let mut data = vec![0u8; 540_672];
        data[1000] = 0x5a;
        data[540_000] = 0xa5;
        std::fs::write(&template, &data).unwrap();
        let file = FilePlan {
            path: dir.path().join("nvram/vm_VARS.fd"),
            template: template.clone(),
            what: "nvram".into(),
        };
        copy_template(&file).unwrap();
        assert_eq!(std::fs::read(&file.path).unwrap(), data);
        let mode = std::fs::metadata(&file.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(dir.path().join("nvram"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o711);
        assert!(!tmp_name(&file.path).exists());

        let missing = FilePlan {
            template: dir.path().join("absent.fd"),
            ..file
        };
        let e = copy_template(&missing).unwrap_err();
        assert!(e.starts_with("cannot read template"), "{e}");
    }

    #[test]
    fn this_process_has_a_start_time_and_a_dead_helper_is_not_alive() {
        let me = std::process::id();
        let t = process_start_time(me).unwrap();
        let alive = HelperRecord {
            what: "me".into(),
            pid: me,
            start_time: t,
            socket: "/nonexistent".into(),
        };
        assert!(helper_alive(&alive));
        // Same pid, other start time: a reused pid, never signalled.
        let reused = HelperRecord {
            start_time: t + 1,
            ..alive
        };
        assert!(!helper_alive(&reused));
        stop_helper(&reused, std::time::Duration::from_millis(10)).unwrap();
    }
}
