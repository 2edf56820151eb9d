//! What a start needs from the daemon ([`Host`]), how it fails ([`StartError`]) and
//! what it tells the daemon's journal ([`Journal`]).

use std::sync::Arc;

use confine::cgroup::CgroupLayout;
use confine::dac::PasswdDb;
use confine::launcher::Launcher;
use host_config::HostConfig;

use super::cleanup::CleanupRecord;
use super::selinux::SelinuxState;
use crate::owners::OwnerLedger;
use crate::paths::Paths;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Plan(#[from] qemu_plan::PlanError),
    #[error("domain '{domain}': {step}: {message}")]
    Step {
        domain: String,
        step: &'static str,
        message: String,
    },
    #[error(
        "domain '{domain}': QEMU failed to start: {message}{}{}",
        denial.as_ref().map(|d| format!("\n{d}")).unwrap_or_default(),
        log_tail(.log)
    )]
    Qemu {
        domain: String,
        message: String,
        log: String,
        /// Which confinement layer refused, when the log shows an access failure.
        denial: Option<Box<crate::diagnose::Denial>>,
    },
}

fn log_tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(8)..];
    if tail.is_empty() {
        String::new()
    } else {
        format!("\nlast lines of the domain log:\n{}", tail.join("\n"))
    }
}

/// Host-wide things a start needs, prepared once by the daemon.
#[derive(Debug)]
pub struct Host {
    pub paths: Paths,
    pub config: HostConfig,
    pub launcher: Launcher,
    /// `None` when no usable cgroup hierarchy exists.
    pub cgroups: Option<CgroupLayout>,
    pub passwd: PasswdDb,
    /// Which running domains hold which chowned files (see [`crate::owners`]).
    pub owners: Arc<OwnerLedger>,
    /// `None` where SELinux is not enabled (or its virt contexts are unusable).
    pub selinux: Option<Arc<SelinuxState>>,
}

/// Called with what a crash at this point would leave to undo: once everything but
/// the ownership changes exists, with the planned ownership changes and the
/// owners they had, right before they are made (QEMU is not running yet). It must
/// be durable when it returns.
pub type Journal = Arc<dyn Fn(&CleanupRecord) -> Result<(), String> + Send + Sync>;
