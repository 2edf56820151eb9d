//! [`ExecHost`] on the real host: files, the cgroup drivers, the launcher.

use std::fs;
use std::io::Write;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use launch_spec::{FdSource, LaunchSpec};

use super::{
    CgroupPlan, DirPlan, ExecHost, FileLabel, FilePlan, HelperPlan, HelperRecord, Reach, SetupPlan,
};
use crate::cgroup::{CgroupLayout, VmCgroup, remove_group_dirs};
use crate::dac::{AccessProblem, check_identity_access};
use crate::hostops::{HostOps, RealHostOps};
use crate::launcher::{LaunchHandle, Launched, Launcher};
use crate::selinux::SelinuxDriver;

/// The real host: `layout` is `None` where no usable cgroup hierarchy exists;
/// `selinux_enforcing` is `None` where SELinux is not enabled.
#[derive(Debug, Clone)]
pub struct RealExecHost {
    pub launcher: Launcher,
    pub layout: Option<CgroupLayout>,
    pub selinux_enforcing: Option<bool>,
}

impl RealExecHost {
    fn selinux(&self) -> Result<SelinuxDriver<RealHostOps>, String> {
        self.selinux_enforcing
            .map(|enforcing| SelinuxDriver::new(RealHostOps, enforcing))
            .ok_or_else(|| "SELinux is not enabled on this host".to_owned())
    }
}

/// The last lines of a helper's log, for an error message.
fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
    format!("its log {}: {tail}", path.display())
}

/// How long a helper may take to set up its state or to make its socket.
const HELPER_TIMEOUT: Duration = Duration::from_secs(60);

impl RealExecHost {
    /// Launches `spec` through the launcher at once (no pause between the
    /// namespace and the exec: nothing is changed in between for a helper).
    fn exec_now(&self, spec: &LaunchSpec) -> Result<Launched, String> {
        let mut h = self
            .launcher
            .spawn_mapped(spec, &[])
            .map_err(|e| e.to_string())?;
        h.wait_prepared().map_err(|e| e.to_string())?;
        h.go().map_err(|e| e.to_string())?;
        h.wait_exec().map_err(|e| e.to_string())
    }
}

impl ExecHost for RealExecHost {
    type Cgroup = VmCgroup;
    type Prepared = LaunchHandle;
    type Running = Launched;

    fn ops(&self) -> &dyn HostOps {
        &RealHostOps
    }

    fn make_dir(&self, dir: &DirPlan) -> Result<(), String> {
        let p = &dir.path;
        fs::create_dir_all(p).map_err(|e| format!("cannot create {}: {e}", p.display()))?;
        fs::set_permissions(p, fs::Permissions::from_mode(dir.mode))
            .map_err(|e| format!("cannot set the mode of {}: {e}", p.display()))?;
        rustix::fs::chown(
            p,
            Some(rustix::fs::Uid::from_raw(dir.uid)),
            Some(rustix::fs::Gid::from_raw(dir.gid)),
        )
        .map_err(|e| format!("cannot chown {}: {e}", p.display()))
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn make_reachable(&self, dir: &Path, reach: &Reach) -> Result<(), String> {
        // Each round fixes one directory; the depth of the path bounds the rounds.
        for _ in 0..=dir.components().count() {
            let denial = match check_identity_access(&RealHostOps, dir, &reach.who, false) {
                Ok(()) => return Ok(()),
                Err(d) => d,
            };
            let fixable = denial.problem == AccessProblem::Search
                && denial.blocking.starts_with(&reach.within)
                && denial.owner.is_some_and(|(uid, _, _)| uid == 0);
            if !fixable {
                return Err(format!(
                    "QEMU's private directory is unreachable for QEMU's account: {denial}"
                ));
            }
            let mode = denial.owner.map_or(0o700, |(_, _, m)| m & 0o7777) | 0o011;
            fs::set_permissions(&denial.blocking, fs::Permissions::from_mode(mode)).map_err(
                |e| format!("cannot make {} traversable: {e}", denial.blocking.display()),
            )?;
        }
        Err(format!("{} stays unreachable for QEMU", dir.display()))
    }

    fn open_fd(&self, source: &FdSource) -> Result<OwnedFd, String> {
        match source {
            FdSource::UnixListener { path } => {
                let _ = fs::remove_file(path);
                if let Some(parent) = Path::new(path).parent() {
                    fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
                }
                let l = UnixListener::bind(path)
                    .map_err(|e| format!("cannot listen on {path}: {e}"))?;
                Ok(l.into())
            }
            FdSource::File { path, append } => Ok(fs::OpenOptions::new()
                .create(true)
                .write(true)
                .append(*append)
                .truncate(!*append)
                .open(path)
                .map_err(|e| format!("cannot open {path}: {e}"))?
                .into()),
            FdSource::Device { path } => Ok(fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(|e| format!("cannot open {path}: {e}"))?
                .into()),
            FdSource::Tap { .. } => Err("tap devices are not supported yet".into()),
        }
    }

    fn create_cgroup(&self, plan: &CgroupPlan) -> Result<VmCgroup, String> {
        let Some(layout) = &self.layout else {
            return Err("no usable cgroup hierarchy on this host".into());
        };
        let controllers: Vec<&str> = plan.controllers.iter().map(String::as_str).collect();
        let mut cg = VmCgroup::create(layout, &plan.partition, &plan.machine, &controllers)
            .map_err(|e| e.to_string())?;
        if let Some(acl) = &plan.device_acl
            && let Err(e) = cg.apply_device_acl(acl)
        {
            let _ = cg.remove();
            return Err(format!(
                "device ACL: {e}; the devices controller can be left out with qemu.conf cgroup_controllers"
            ));
        }
        Ok(cg)
    }

    fn cgroup_procs(&self, cgroup: &VmCgroup) -> Vec<PathBuf> {
        cgroup.procs_paths()
    }

    fn append_log(&self, path: &Path, text: &str) -> Result<(), String> {
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        log.write_all(text.as_bytes()).map_err(|e| e.to_string())
    }

    fn spawn(
        &self,
        spec: &LaunchSpec,
        fds: &[(BorrowedFd<'_>, i32)],
    ) -> Result<LaunchHandle, String> {
        let mut h = self
            .launcher
            .spawn_mapped(spec, fds)
            .map_err(|e| e.to_string())?;
        h.wait_prepared().map_err(|e| e.to_string())?;
        Ok(h)
    }

    fn set_label(&self, l: &FileLabel) -> Result<(), String> {
        self.selinux()?
            .set_file_label(&l.path, &l.label, l.remember)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn restore_label(&self, l: &FileLabel) -> Result<(), String> {
        self.selinux()?
            .restore_file_label(&l.path, l.remember)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn copy_template(&self, file: &FilePlan) -> Result<(), String> {
        super::helpers::copy_template(file)
    }

    fn run_setup(&self, setup: &SetupPlan) -> Result<(), String> {
        let mut child = self.exec_now(&setup.launch)?.child;
        let deadline = Instant::now() + HELPER_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    return Err(format!(
                        "{} failed ({status}); {}",
                        setup.launch.emulator.display(),
                        log_tail(&setup.launch.log_path)
                    ));
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "{} did not finish within {} s",
                        setup.launch.emulator.display(),
                        HELPER_TIMEOUT.as_secs()
                    ));
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    fn start_helper(&self, helper: &HelperPlan, spec: &LaunchSpec) -> Result<HelperRecord, String> {
        if let Some(dir) = helper.socket.parent() {
            fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let _ = fs::remove_file(&helper.socket);
        let mut child = self.exec_now(spec)?.child;
        let deadline = Instant::now() + HELPER_TIMEOUT;
        while !helper.socket.exists() {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "{} exited ({status}) before making {}; {}",
                    spec.emulator.display(),
                    helper.socket.display(),
                    log_tail(&spec.log_path)
                ));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} made no socket {} within {} s",
                    spec.emulator.display(),
                    helper.socket.display(),
                    HELPER_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let pid = child.id();
        let start_time = super::helpers::process_start_time(pid).unwrap_or_default();
        // The helper is the daemon's child: reap it whenever it ends.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
        Ok(HelperRecord {
            what: helper.what.clone(),
            pid,
            start_time,
            socket: helper.socket.clone(),
        })
    }

    fn stop_helper(&self, helper: &HelperRecord) -> Result<(), String> {
        super::helpers::stop_helper(helper, Duration::from_secs(2))
    }

    fn go(&self, mut prepared: LaunchHandle) -> Result<Launched, String> {
        prepared.go().map_err(|e| e.to_string())?;
        prepared.wait_exec().map_err(|e| e.to_string())
    }

    fn remove_dir_all(&self, path: &Path) -> Result<(), String> {
        match fs::remove_dir_all(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("cannot remove {}: {e}", path.display()))
            }
            _ => Ok(()),
        }
    }

    fn remove_file(&self, path: &Path) -> Result<(), String> {
        match fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("cannot remove {}: {e}", path.display()))
            }
            _ => Ok(()),
        }
    }

    fn remove_cgroup(&self, cgroup: VmCgroup) -> Result<(), String> {
        // The launcher was killed and reaped; its group may take a moment to empty.
        let paths = cgroup.paths();
        if cgroup.remove().is_ok() {
            return Ok(());
        }
        match remove_group_dirs(&paths).first() {
            None => Ok(()),
            Some((d, e)) => Err(format!("cgroup: cannot remove {}: {e}", d.display())),
        }
    }
}
