//! A recording [`ExecHost`]: every host effect of a start becomes one line of
//! [`RecordingExecHost::log`], file operations (chowns, xattrs) go to a
//! [`RecordingHostOps`], and any operation can be made to fail, so the start
//! sequence and each rollback are tested without root.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use launch_spec::{FdSource, LaunchSpec};

use super::{
    CgroupPlan, DirPlan, ExecHost, FileLabel, FilePlan, HelperPlan, HelperRecord, Reach, SetupPlan,
    StartHooks,
};
use crate::dac::{DacDriver, Transaction};
use crate::hostops::{HostOps, RecordingHostOps};

/// See the module documentation.
#[derive(Debug, Default)]
pub struct RecordingExecHost {
    pub ops: RecordingHostOps,
    log: RefCell<Vec<String>>,
    /// Operations (the first word of a log line, e.g. `spawn`) that fail.
    fail: RefCell<BTreeSet<String>>,
    existing: RefCell<BTreeSet<PathBuf>>,
}

impl RecordingExecHost {
    pub fn new() -> Self {
        Self::default()
    }

    /// The host effects so far, one line each.
    pub fn log(&self) -> Vec<String> {
        self.log.borrow().clone()
    }

    /// Makes every operation named `op` (a log line's first word) fail.
    pub fn fail(&self, op: &str) {
        self.fail.borrow_mut().insert(op.to_owned());
    }

    /// `path` exists already (a directory the start must not make).
    pub fn add_existing(&self, path: impl Into<PathBuf>) {
        self.existing.borrow_mut().insert(path.into());
    }

    fn record(&self, line: String) -> Result<(), String> {
        let op = line.split_whitespace().next().unwrap_or("").to_owned();
        self.log.borrow_mut().push(line);
        if self.fail.borrow().contains(&op) {
            Err(format!("{op} failed (injected)"))
        } else {
            Ok(())
        }
    }
}

fn who(identity: Option<&launch_spec::Identity>) -> String {
    identity.map_or("root".to_owned(), |i| format!("{}:{}", i.uid, i.gid))
}

fn fake_fd() -> Result<OwnedFd, String> {
    std::fs::File::open("/dev/null")
        .map(OwnedFd::from)
        .map_err(|e| e.to_string())
}

impl ExecHost for RecordingExecHost {
    type Cgroup = String;
    type Prepared = ();
    type Running = ();

    fn ops(&self) -> &dyn HostOps {
        &self.ops
    }

    fn make_dir(&self, dir: &DirPlan) -> Result<(), String> {
        self.record(format!(
            "mkdir {} {:o} {}:{}",
            dir.path.display(),
            dir.mode,
            dir.uid,
            dir.gid
        ))
    }

    fn exists(&self, path: &Path) -> bool {
        self.existing.borrow().contains(path)
    }

    fn make_reachable(&self, dir: &Path, reach: &Reach) -> Result<(), String> {
        self.record(format!(
            "reach {} for {} within {}",
            dir.display(),
            reach.who.uid,
            reach.within.display()
        ))
    }

    fn open_fd(&self, source: &FdSource) -> Result<OwnedFd, String> {
        let line = match source {
            FdSource::UnixListener { path } => format!("listen {path}"),
            FdSource::File { path, append } => format!("open {path} append={append}"),
            FdSource::Device { path } => format!("open {path} read-write"),
            FdSource::Tap { ifname, bridge } => format!("tap {ifname:?} {bridge:?}"),
        };
        self.record(line)?;
        fake_fd()
    }

    fn create_cgroup(&self, plan: &CgroupPlan) -> Result<String, String> {
        let acl = plan.device_acl.as_ref().map_or("none".to_owned(), |r| {
            r.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        });
        self.record(format!(
            "cgroup {}/{} [{}] acl: {acl}",
            plan.partition,
            plan.machine,
            plan.controllers.join(",")
        ))?;
        Ok(format!("{}/{}", plan.partition, plan.machine))
    }

    fn cgroup_procs(&self, cgroup: &String) -> Vec<PathBuf> {
        vec![PathBuf::from(format!(
            "/sys/fs/cgroup{cgroup}/cgroup.procs"
        ))]
    }

    fn append_log(&self, path: &Path, text: &str) -> Result<(), String> {
        self.record(format!(
            "log {} ({} lines)",
            path.display(),
            text.lines().count()
        ))
    }

    fn spawn(&self, spec: &LaunchSpec, fds: &[(BorrowedFd<'_>, i32)]) -> Result<(), String> {
        let nodes: Vec<String> = spec
            .namespace
            .iter()
            .flat_map(|n| &n.dev_nodes)
            .map(|n| n.path.display().to_string())
            .collect();
        let fd_numbers: Vec<String> = fds.iter().map(|(_, n)| n.to_string()).collect();
        self.record(format!(
            "spawn {} as {}{} fds [{}] dev [{}] cgroup.procs {} landlock {}",
            spec.emulator.display(),
            spec.identity
                .as_ref()
                .map_or("root".to_owned(), |i| format!("{}:{}", i.uid, i.gid)),
            spec.selinux_exec_label
                .as_ref()
                .map_or(String::new(), |l| format!(" exec {l}")),
            fd_numbers.join(","),
            nodes.join(","),
            spec.cgroup_procs.len(),
            spec.landlock.is_some()
        ))
    }

    fn go(&self, (): ()) -> Result<(), String> {
        self.record("go".into())
    }

    fn set_label(&self, l: &FileLabel) -> Result<(), String> {
        self.record(format!("setfilecon {} {}", l.path.display(), l.label))
    }

    fn restore_label(&self, l: &FileLabel) -> Result<(), String> {
        self.record(format!("restorecon {}", l.path.display()))
    }

    fn copy_template(&self, file: &FilePlan) -> Result<(), String> {
        self.record(format!(
            "copy {} {}",
            file.template.display(),
            file.path.display()
        ))
    }

    fn run_setup(&self, setup: &SetupPlan) -> Result<(), String> {
        self.record(format!(
            "setup {} as {}",
            setup.launch.emulator.display(),
            who(setup.launch.identity.as_ref())
        ))
    }

    fn start_helper(&self, helper: &HelperPlan, spec: &LaunchSpec) -> Result<HelperRecord, String> {
        self.record(format!(
            "helper {} as {} cgroup.procs {} landlock {} socket {}",
            spec.emulator.display(),
            who(spec.identity.as_ref()),
            spec.cgroup_procs.len(),
            spec.landlock.is_some(),
            helper.socket.display()
        ))?;
        Ok(HelperRecord {
            what: helper.what.clone(),
            pid: 4242,
            start_time: 1,
            socket: helper.socket.clone(),
        })
    }

    fn stop_helper(&self, helper: &HelperRecord) -> Result<(), String> {
        self.record(format!("stophelper {} {}", helper.what, helper.pid))
    }

    fn remove_dir_all(&self, path: &Path) -> Result<(), String> {
        self.record(format!("rmdir {}", path.display()))
    }

    fn remove_file(&self, path: &Path) -> Result<(), String> {
        self.record(format!("rm {}", path.display()))
    }

    fn remove_cgroup(&self, cgroup: String) -> Result<(), String> {
        self.record(format!("rmcgroup {cgroup}"))
    }
}

/// Hooks that journal into a list and treat no file as shared.
#[derive(Debug, Default)]
pub struct RecordingHooks {
    pub journal: Vec<String>,
    /// Paths another domain holds.
    pub shared: BTreeSet<PathBuf>,
}

impl<C> StartHooks<C> for RecordingHooks {
    fn before_owners(
        &mut self,
        dac: &DacDriver<&dyn HostOps>,
        owners: &mut Transaction,
        _done: &super::Done<C>,
    ) -> Result<(), String> {
        owners
            .fill_origins(dac, &|_| None)
            .map_err(|e| e.to_string())?;
        for i in &owners.items {
            self.journal.push(format!(
                "journal {} orig {:?} -> {}:{}",
                i.path.display(),
                i.orig,
                i.uid,
                i.gid
            ));
        }
        Ok(())
    }

    fn helpers_started(&mut self, done: &super::Done<C>) -> Result<(), String> {
        self.journal
            .push(format!("journal {} helpers", done.helpers.len()));
        Ok(())
    }

    fn shared(&self, path: &Path) -> bool {
        self.shared.contains(path)
    }

    fn owners_changed(&mut self, owners: Option<&Transaction>) {
        self.journal.push(match owners {
            Some(t) => format!("hold {}", t.items.len()),
            None => "released".into(),
        });
    }
}
