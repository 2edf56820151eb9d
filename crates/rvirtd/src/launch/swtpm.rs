//! The swtpm of a `<tpm><backend type='emulator'>`, as a helper the executor
//! starts before QEMU (pure: this only decides).
//!
//! * State: `{swtpm_dir}/UUID/tpm2` (libvirt's `/var/lib/libvirt/swtpm/UUID/tpm2`),
//!   owned by QEMU's account, made once by `swtpm_setup` (an EK, NVRAM locked; no
//!   certificates, which would need the host's swtpm-localca), kept across starts,
//!   removed on undefine.
//! * Process: `swtpm socket --tpm2` as QEMU's account, in the VM's cgroup, with
//!   swtpm's own seccomp filter (`--seccomp action=kill`) and Landlock (read the
//!   program and its libraries, write only its state and the socket directory);
//!   `--terminate` ends it when QEMU closes the connection; the daemon stops it
//!   with the domain in any case.
//! * Log: the console (stdout/stderr: swtpm refuses `fd=2`) into `{log_dir}/../../swtpm/rvirt/qemu/NAME-swtpm.log` (libvirt:
//!   `/var/log/swtpm/libvirt/qemu/NAME-swtpm.log`), kept.

use std::path::{Path, PathBuf};

use confine::exec::{DirPlan, HelperPlan, SetupPlan};
use confine::spec::{Identity, LandlockRules, LaunchSpec};
use domain_xml::Domain;
use qemu_plan::TpmEmulator;

use crate::paths::Paths;

pub const SWTPM: &str = "/usr/bin/swtpm";
pub const SWTPM_SETUP: &str = "/usr/bin/swtpm_setup";

/// The file `swtpm_setup` leaves in a TPM 2 state directory.
pub const TPM2_STATE_FILE: &str = "tpm2-00.permall";

/// The directory of the swtpm logs.
pub fn log_dir(paths: &Paths) -> PathBuf {
    let var_log = paths
        .log_dir
        .parent()
        .and_then(Path::parent)
        .unwrap_or(&paths.log_dir);
    var_log.join("swtpm/rvirt/qemu")
}

pub fn log_file(paths: &Paths, name: &str) -> PathBuf {
    log_dir(paths).join(format!("{name}-swtpm.log"))
}

/// The helper plans of every emulated TPM of `d`, run as `who` (`None`: root).
/// Landlock applies when it applies to QEMU (qemu.conf `landlock`).
pub fn helpers(
    paths: &Paths,
    d: &Domain,
    tpms: &[TpmEmulator],
    who: Option<&Identity>,
    landlock: bool,
) -> Vec<HelperPlan> {
    tpms.iter()
        .map(|t| {
            let mut h = helper(paths, d, t, who);
            if !landlock {
                h.launch.landlock = None;
            }
            h
        })
        .collect()
}

fn helper(paths: &Paths, d: &Domain, t: &TpmEmulator, who: Option<&Identity>) -> HelperPlan {
    let uuid_dir = crate::daemon::domain_state::tpm_state_dir(paths, d);
    let state = uuid_dir.join("tpm2");
    let (uid, gid) = who.map_or((0, 0), |i| (i.uid, i.gid));
    let owned = |path: PathBuf, what: &str| DirPlan {
        path,
        mode: 0o700,
        uid,
        gid,
        what: what.to_owned(),
    };
    let log = log_file(paths, &d.name);
    let socket = PathBuf::from(&t.socket);
    let socket_dir = socket.parent().map(Path::to_path_buf).unwrap_or_default();
    let state_s = state.to_string_lossy().into_owned();
    let env = vec![("PATH".to_owned(), "/usr/bin:/bin".to_owned())];
    let setup = LaunchSpec {
        name: format!("{}-swtpm_setup", d.name),
        emulator: PathBuf::from(SWTPM_SETUP),
        args: vec![
            "--tpm2".into(),
            "--tpm-state".into(),
            state_s.clone(),
            "--vmid".into(),
            format!("{}:{}", d.name, d.uuid.hyphenated()),
            "--createek".into(),
            "--lock-nvram".into(),
            "--not-overwrite".into(),
            // Only what the arguments say: no host-wide certificate authority.
            "--config".into(),
            "/dev/null".into(),
        ],
        env: env
            .iter()
            .cloned()
            .chain([("HOME".to_owned(), state_s.clone())])
            .collect(),
        cwd: state.clone(),
        identity: who.cloned(),
        namespace: None,
        cgroup_procs: Vec::new(),
        selinux_exec_label: None,
        landlock: None,
        log_path: log.clone(),
        keep_fds: Vec::new(),
    };
    let mut read = confine::landlock::default_read_paths(Path::new(SWTPM));
    read.extend(
        ["/etc/ssl", "/usr/lib/ssl", "/dev/urandom", "/dev/null"]
            .into_iter()
            .map(PathBuf::from)
            .filter(|p| p.exists()),
    );
    let launch = LaunchSpec {
        name: format!("{}-swtpm", d.name),
        emulator: PathBuf::from(SWTPM),
        args: vec![
            "socket".into(),
            "--ctrl".into(),
            format!("type=unixio,path={},mode=0600", t.socket),
            "--tpmstate".into(),
            format!("dir={state_s},mode=0600"),
            "--log".into(),
            "level=20".into(),
            "--terminate".into(),
            "--tpm2".into(),
            "--seccomp".into(),
            "action=kill".into(),
        ],
        env,
        cwd: state.clone(),
        identity: who.cloned(),
        namespace: None,
        cgroup_procs: Vec::new(),
        selinux_exec_label: None,
        landlock: Some(LandlockRules {
            read,
            read_write: vec![state.clone(), socket_dir],
        }),
        log_path: log,
        keep_fds: Vec::new(),
    };
    HelperPlan {
        what: format!("TPM emulator {}", t.alias),
        state_dirs: vec![
            // The daemon's umask may make it 0700: QEMU's account must pass.
            DirPlan {
                path: paths.swtpm_dir(),
                mode: 0o711,
                uid: 0,
                gid: 0,
                what: "TPM state directory".into(),
            },
            owned(uuid_dir, "TPM state"),
            owned(state.clone(), "TPM state"),
            DirPlan {
                path: log_dir(paths),
                mode: 0o755,
                uid: 0,
                gid: 0,
                what: "swtpm log directory".into(),
            },
        ],
        setup: Some(SetupPlan {
            launch: setup,
            creates: state.join(TPM2_STATE_FILE),
        }),
        launch,
        socket,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swtpm_runs_as_qemu_with_state_under_the_root() {
        let paths = Paths::rooted(Path::new("/r"));
        let d = domain_xml::parse_domain(
            "<domain type='qemu'><name>vm</name><uuid>00000000-0000-0000-0000-000000000009</uuid>\
             <memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>",
        )
        .unwrap()
        .value;
        let t = TpmEmulator {
            alias: "tpm0".into(),
            socket: "/r/var/lib/rvirt/qemu/domain-1-vm/swtpm-tpm0.sock".into(),
            version: "2.0".into(),
        };
        let who = Identity {
            uid: 999,
            gid: 994,
            groups: vec![994],
        };
        let h = helper(&paths, &d, &t, Some(&who));
        let state = "/r/var/lib/rvirt/swtpm/00000000-0000-0000-0000-000000000009/tpm2";
        assert_eq!(h.state_dirs[2].path, Path::new(state));
        assert_eq!((h.state_dirs[2].uid, h.state_dirs[2].mode), (999, 0o700));
        assert_eq!(
            h.setup.as_ref().unwrap().creates,
            Path::new(state).join("tpm2-00.permall")
        );
        assert_eq!(h.launch.identity, Some(who));
        assert_eq!(
            h.launch.args.join(" "),
            format!(
                "socket --ctrl type=unixio,path={},mode=0600 --tpmstate dir={state},mode=0600 \
                 --log level=20 --terminate --tpm2 --seccomp action=kill",
                t.socket
            )
        );
        assert_eq!(
            h.launch.log_path,
            Path::new("/r/var/log/swtpm/rvirt/qemu/vm-swtpm.log")
        );
        let rw = &h.launch.landlock.as_ref().unwrap().read_write;
        assert_eq!(
            rw,
            &[
                PathBuf::from(state),
                PathBuf::from("/r/var/lib/rvirt/qemu/domain-1-vm")
            ]
        );
    }
}
