//! The start of one QEMU, carried out: [`execute`] takes a [`StartPlan`] (decided
//! before, from the planner's types) and does it through an [`ExecHost`], in one
//! order that reads top to bottom:
//!
//! 1. QEMU's private directory (owned by its account, reachable for it), the log
//!    directory, the other directories the plan makes, files made from a template
//!    (a UEFI variable store);
//! 2. the descriptors passed to QEMU (monitor and chardev listeners, files);
//! 3. the per-VM cgroup with its device ACL, then the helper processes QEMU
//!    connects to (swtpm), in that cgroup ([`helpers`]);
//! 4. the log header;
//! 5. the launcher: it enters its namespace, builds the private `/dev` and waits;
//! 6. DAC: the original owners are journaled by the caller ([`StartHooks`]), then
//!    the files are chowned;
//! 7. SELinux: the files get their labels (QEMU's exec label is the launcher's);
//! 8. the access pre-flight as QEMU's identity;
//! 9. go: cgroup join, identity drop, SELinux exec label, Landlock, exec.
//!
//! A failure at any step undoes, in reverse, everything done before it (through
//! the same [`ExecHost`]) and names the step. Every host effect goes through the
//! trait, so [`fake::RecordingExecHost`] tests the whole sequence and each rollback
//! without root.

pub mod helpers;
mod plan;
mod real;

#[cfg(any(test, feature = "testing"))]
pub mod fake;
#[cfg(test)]
mod tests;

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

pub use helpers::{FilePlan, HelperPlan, HelperRecord, SetupPlan};
pub use plan::{AccessCheck, CgroupPlan, DirPlan, FileLabel, Reach, StartPlan};
pub use real::RealExecHost;

use launch_spec::{FdSource, LaunchSpec};

use crate::dac::{DacDriver, Transaction};
use crate::hostops::HostOps;

/// The steps of a start, as errors name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Directories,
    Files,
    Descriptors,
    Cgroup,
    Helpers,
    LogFile,
    Launcher,
    Dac,
    Selinux,
    AccessCheck,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Directories => "per-domain directory",
            Step::Files => "files from templates",
            Step::Descriptors => "passed descriptors",
            Step::Cgroup => "cgroup",
            Step::Helpers => "helper processes",
            Step::LogFile => "log file",
            Step::Launcher => "launcher",
            Step::Dac => "DAC",
            Step::Selinux => "SELinux",
            Step::AccessCheck => "access check",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A start that failed at `step` (everything before it was undone).
#[derive(Debug, thiserror::Error)]
#[error("{step}: {message}")]
pub struct ExecError {
    pub step: Step,
    pub message: String,
    /// What undoing the earlier steps could not undo.
    pub rollback: Vec<String>,
}

/// The host side of a start. Real: [`RealExecHost`]; tests: the recording fake.
pub trait ExecHost {
    /// A created cgroup (real: `VmCgroup`).
    type Cgroup;
    /// A launcher waiting in its namespace for `go`.
    type Prepared;
    /// A running QEMU.
    type Running;

    /// The file operations the DAC driver uses.
    fn ops(&self) -> &dyn HostOps;
    /// `mkdir -p`, then mode and owner.
    fn make_dir(&self, dir: &DirPlan) -> Result<(), String>;
    fn exists(&self, path: &Path) -> bool;
    /// Gives root-owned directories of `reach.within` on the way to `dir` search
    /// permission for `reach.who`; refuses, naming the directory, otherwise.
    fn make_reachable(&self, dir: &Path, reach: &Reach) -> Result<(), String>;
    fn open_fd(&self, source: &FdSource) -> Result<OwnedFd, String>;
    fn create_cgroup(&self, plan: &CgroupPlan) -> Result<Self::Cgroup, String>;
    fn cgroup_procs(&self, cgroup: &Self::Cgroup) -> Vec<PathBuf>;
    fn append_log(&self, path: &Path, text: &str) -> Result<(), String>;
    /// Starts the launcher and waits until it is prepared (namespace and `/dev`).
    fn spawn(
        &self,
        spec: &LaunchSpec,
        fds: &[(BorrowedFd<'_>, i32)],
    ) -> Result<Self::Prepared, String>;
    /// Lets the prepared launcher exec QEMU and waits for the exec.
    fn go(&self, prepared: Self::Prepared) -> Result<Self::Running, String>;
    /// Gives a file its SELinux label.
    fn set_label(&self, label: &FileLabel) -> Result<(), String>;
    /// Makes `file` from its template (it does not exist).
    fn copy_template(&self, file: &FilePlan) -> Result<(), String>;
    /// Runs a helper's one-time setup to its end.
    fn run_setup(&self, setup: &SetupPlan) -> Result<(), String>;
    /// Starts a helper as `spec` says and waits until its socket exists.
    fn start_helper(&self, helper: &HelperPlan, spec: &LaunchSpec) -> Result<HelperRecord, String>;
    fn stop_helper(&self, helper: &HelperRecord) -> Result<(), String>;

    // Undo.
    fn remove_dir_all(&self, path: &Path) -> Result<(), String>;
    fn remove_file(&self, path: &Path) -> Result<(), String>;
    fn remove_cgroup(&self, cgroup: Self::Cgroup) -> Result<(), String>;
    /// Gives a file its remembered label back.
    fn restore_label(&self, label: &FileLabel) -> Result<(), String>;
}

/// What the caller (the daemon) does around the ownership changes.
pub trait StartHooks<C> {
    /// Before any chown: learn each file's original owner (into `owners`) and
    /// journal what a crash from now on would leave to undo — `done` plus the
    /// planned owners — durably.
    fn before_owners(
        &mut self,
        dac: &DacDriver<&dyn HostOps>,
        owners: &mut Transaction,
        done: &Done<C>,
    ) -> Result<(), String>;
    /// Helper processes run now (`done.helpers`): journal them, so a daemon killed
    /// before QEMU runs still stops them at its next start.
    fn helpers_started(&mut self, _done: &Done<C>) -> Result<(), String> {
        Ok(())
    }
    /// Whether a domain other than this one still uses `path` (its owner stays).
    fn shared(&self, path: &Path) -> bool;
    /// The owners are changed (`owners`) or, with `None`, given back again.
    fn owners_changed(&mut self, owners: Option<&Transaction>);
}

/// What exists of a start: handed to the caller with the running QEMU (to undo
/// when it stops), or undone when a step fails.
#[derive(Debug)]
pub struct Done<C> {
    pub lib_dir: Option<PathBuf>,
    pub created_dirs: Vec<PathBuf>,
    /// Files made from templates by this start (removed only if the start fails).
    pub created_files: Vec<PathBuf>,
    pub sockets: Vec<PathBuf>,
    pub cgroup: Option<C>,
    /// Helper processes running for the domain.
    pub helpers: Vec<HelperRecord>,
    pub scratch_dir: Option<PathBuf>,
    /// The ownership changes made (`None`: none).
    pub owners: Option<Transaction>,
    /// The SELinux labels set.
    pub labels: Vec<FileLabel>,
}

impl<C> Default for Done<C> {
    fn default() -> Self {
        Done {
            lib_dir: None,
            created_dirs: Vec::new(),
            created_files: Vec::new(),
            sockets: Vec::new(),
            cgroup: None,
            helpers: Vec::new(),
            scratch_dir: None,
            owners: None,
            labels: Vec::new(),
        }
    }
}

/// A started QEMU and what its start made.
#[derive(Debug)]
pub struct Started<H: ExecHost> {
    pub running: H::Running,
    pub done: Done<H::Cgroup>,
}

/// Carries out `plan`; see the module documentation.
pub fn execute<H: ExecHost>(
    host: &H,
    plan: &StartPlan,
    hooks: &mut dyn StartHooks<H::Cgroup>,
) -> Result<Started<H>, ExecError> {
    let mut done = Done::default();
    match run_steps(host, plan, hooks, &mut done) {
        Ok(running) => Ok(Started { running, done }),
        Err((step, message)) => Err(ExecError {
            step,
            message,
            rollback: undo(host, done, hooks),
        }),
    }
}

type StepResult<T> = Result<T, (Step, String)>;

fn at<T>(step: Step, r: Result<T, String>) -> StepResult<T> {
    r.map_err(|m| (step, m))
}

fn run_steps<H: ExecHost>(
    host: &H,
    plan: &StartPlan,
    hooks: &mut dyn StartHooks<H::Cgroup>,
    done: &mut Done<H::Cgroup>,
) -> StepResult<H::Running> {
    make_dirs(host, plan, done)?;
    make_files(host, plan, done)?;
    let fds = open_fds(host, plan, done)?;
    let mut spec = plan.launch.clone();
    if let Some(cg) = &plan.cgroup {
        let cgroup = at(Step::Cgroup, host.create_cgroup(cg))?;
        spec.cgroup_procs = host.cgroup_procs(&cgroup);
        done.cgroup = Some(cgroup);
    }
    start_helpers(host, plan, &spec.cgroup_procs, done)?;
    if !done.helpers.is_empty() {
        at(Step::Helpers, hooks.helpers_started(done))?;
    }
    at(
        Step::LogFile,
        host.append_log(&plan.log_path, &plan.log_header),
    )?;
    if let Some(ns) = &spec.namespace {
        let scratch = ns.scratch_dir.clone();
        let dir = DirPlan {
            path: scratch.clone(),
            mode: 0o700,
            uid: 0,
            gid: 0,
            what: "namespace scratch".into(),
        };
        at(Step::Launcher, host.make_dir(&dir))?;
        done.scratch_dir = Some(scratch);
    }
    let mapped: Vec<(BorrowedFd<'_>, i32)> = fds.iter().map(|(f, n)| (f.as_fd(), *n)).collect();
    let prepared = at(Step::Launcher, host.spawn(&spec, &mapped))?;
    change_owners(host, plan, hooks, done)?;
    for l in &plan.labels {
        host.set_label(l)
            .map_err(|m| (Step::Selinux, format!("{}: {m}", l.origin)))?;
        done.labels.push(l.clone());
    }
    check_access(host, plan)?;
    let running = at(Step::Launcher, host.go(prepared))?;
    drop(mapped);
    drop(fds);
    Ok(running)
}

fn make_dirs<H: ExecHost>(
    host: &H,
    plan: &StartPlan,
    done: &mut Done<H::Cgroup>,
) -> StepResult<()> {
    let step = Step::Directories;
    at(step, host.make_dir(&plan.lib_dir))?;
    done.lib_dir = Some(plan.lib_dir.path.clone());
    if let Some(reach) = &plan.reach {
        at(step, host.make_reachable(&plan.lib_dir.path, reach))?;
    }
    if !host.exists(&plan.log_dir) {
        let log_dir = DirPlan {
            path: plan.log_dir.clone(),
            mode: 0o755,
            uid: 0,
            gid: 0,
            what: "log directory".into(),
        };
        at(step, host.make_dir(&log_dir))?;
    }
    for dir in &plan.dirs {
        if host.exists(&dir.path) {
            continue;
        }
        at(step, host.make_dir(dir))?;
        done.created_dirs.push(dir.path.clone());
    }
    Ok(())
}

fn make_files<H: ExecHost>(
    host: &H,
    plan: &StartPlan,
    done: &mut Done<H::Cgroup>,
) -> StepResult<()> {
    for f in &plan.files {
        if host.exists(&f.path) {
            continue;
        }
        host.copy_template(f)
            .map_err(|m| (Step::Files, format!("{}: {m}", f.what)))?;
        done.created_files.push(f.path.clone());
    }
    Ok(())
}

fn start_helpers<H: ExecHost>(
    host: &H,
    plan: &StartPlan,
    cgroup_procs: &[PathBuf],
    done: &mut Done<H::Cgroup>,
) -> StepResult<()> {
    for h in &plan.helpers {
        let fail = |m: String| (Step::Helpers, format!("{}: {m}", h.what));
        for d in &h.state_dirs {
            host.make_dir(d).map_err(fail)?;
        }
        if let Some(setup) = &h.setup
            && !host.exists(&setup.creates)
        {
            host.run_setup(setup).map_err(fail)?;
        }
        let mut spec = h.launch.clone();
        spec.cgroup_procs = cgroup_procs.to_vec();
        let running = host.start_helper(h, &spec).map_err(fail)?;
        done.helpers.push(running);
    }
    Ok(())
}

fn open_fds<H: ExecHost>(
    host: &H,
    plan: &StartPlan,
    done: &mut Done<H::Cgroup>,
) -> StepResult<Vec<(OwnedFd, i32)>> {
    let mut fds = Vec::with_capacity(plan.fds.len());
    for f in &plan.fds {
        let fd = host
            .open_fd(&f.source)
            .map_err(|m| (Step::Descriptors, format!("{}: {m}", f.owner)))?;
        if let FdSource::UnixListener { path } = &f.source {
            done.sockets.push(PathBuf::from(path));
        }
        fds.push((fd, f.fd));
    }
    Ok(fds)
}

fn change_owners<H: ExecHost>(
    host: &H,
    plan: &StartPlan,
    hooks: &mut dyn StartHooks<H::Cgroup>,
    done: &mut Done<H::Cgroup>,
) -> StepResult<()> {
    if plan.owners.items.is_empty() {
        return Ok(());
    }
    let dac = DacDriver::new(host.ops());
    let mut owners = plan.owners.clone();
    at(Step::Dac, hooks.before_owners(&dac, &mut owners, done))?;
    owners
        .commit(&dac, &|p| hooks.shared(p))
        .map_err(|e| (Step::Dac, e.to_string()))?;
    hooks.owners_changed(Some(&owners));
    done.owners = Some(owners);
    Ok(())
}

fn check_access<H: ExecHost>(host: &H, plan: &StartPlan) -> StepResult<()> {
    let Some(who) = &plan.launch.identity else {
        return Ok(());
    };
    for c in &plan.access_checks {
        crate::dac::check_identity_access(host.ops(), &c.path, who, c.write)
            .map_err(|denial| (Step::AccessCheck, format!("{}: {denial}", c.origin)))?;
    }
    Ok(())
}

/// Undoes `done` in reverse order, best effort; returns what could not be undone.
pub fn undo<H: ExecHost>(
    host: &H,
    done: Done<H::Cgroup>,
    hooks: &mut dyn StartHooks<H::Cgroup>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for l in done.labels.iter().rev() {
        problems.extend(host.restore_label(l).err());
    }
    if let Some(owners) = done.owners {
        let dac = DacDriver::new(host.ops());
        problems.extend(
            owners
                .release(&dac, &|p| hooks.shared(p))
                .iter()
                .map(ToString::to_string),
        );
        hooks.owners_changed(None);
    }
    for h in done.helpers.iter().rev() {
        problems.extend(host.stop_helper(h).err());
    }
    if let Some(cg) = done.cgroup {
        problems.extend(host.remove_cgroup(cg).err());
    }
    for f in &done.created_files {
        problems.extend(host.remove_file(f).err());
    }
    for s in &done.sockets {
        problems.extend(host.remove_file(s).err());
    }
    let dirs = done
        .scratch_dir
        .into_iter()
        .chain(done.created_dirs.into_iter().rev())
        .chain(done.lib_dir);
    for d in dirs {
        problems.extend(host.remove_dir_all(&d).err());
    }
    problems
}
