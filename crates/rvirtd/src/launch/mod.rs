//! Starting one domain, as a short sequence:
//!
//! 1. plan (`qemu-plan`, pure): argv, env, descriptors, resources;
//! 2. prepare ([`prepare`], pure): the host decisions — QEMU's identity, owner
//!    changes, directories, cgroup and ACL, `/dev` nodes, Landlock rules;
//! 3. execute (`confine::exec`): carried out on the host in one order, each failure
//!    undone; the daemon's part is the owner ledger and the durable journal
//!    ([`hooks`]);
//! 4. the monitor: QMP connected, or QEMU's failure explained per confinement layer.

mod cleanup;
mod hooks;
mod host;
mod prepare;
pub mod selinux;
pub mod swtpm;

use std::fs;
use std::io::Write;
use std::process::Child;
use std::sync::Arc;
use std::time::Duration;

use confine::exec::RealExecHost;
use confine::launcher::{LandlockEnforcement, Launched};
use confine::spec::Identity;
use domain_xml::Domain;
use qemu::{Capabilities, QmpClient, QmpConfig, QmpEvents};
use qemu_plan::{LaunchPlan, PlanInput};

pub use cleanup::{
    Cleanup, CleanupRecord, OWNER_NOT_RESTORED, OwnerRecord, owner_transaction, vm_group_dir_name,
    vm_machine_name,
};
pub use host::{Host, Journal, StartError};
pub use prepare::{DacDecision, decide_dac, landlock_rules, landlock_rules_with, prepare};

use crate::hostfacts::RealHostFacts;

/// A started QEMU and everything needed to stop it cleanly later.
#[derive(Debug)]
pub struct Running {
    pub pid: u32,
    /// The process handle while QEMU is our child (not after a daemon restart).
    pub child: Option<Child>,
    pub qmp: QmpClient,
    pub events: QmpEvents,
    pub cleanup: Cleanup,
    pub plan: LaunchPlan,
    pub identity: Option<Identity>,
    pub landlock_abi: Option<u32>,
}

/// Starts `d` with id `id`: QEMU is left paused (`-S`); the caller sends `cont`.
pub async fn start(
    host: &Host,
    caps: &Capabilities,
    d: &Domain,
    id: i32,
) -> Result<Running, StartError> {
    start_journaled(host, caps, d, id, Arc::new(|_| Ok(()))).await
}

/// [`start`], telling `journal` what to undo before changing file owners, so a
/// daemon killed during a start can be cleaned up after (see [`Journal`]).
pub async fn start_journaled(
    host: &Host,
    caps: &Capabilities,
    d: &Domain,
    id: i32,
    journal: Journal,
) -> Result<Running, StartError> {
    let t0 = std::time::Instant::now();
    let name = d.name.clone();
    // Planning borrows a non-Sync host view: keep it out of the async state.
    let (plan, start) = {
        let facts = RealHostFacts;
        let runtime =
            qemu_runtime::runtime::runtime(&host.paths, &host.config, id as u32, d, &facts);
        let plan = qemu_plan::plan(&PlanInput {
            domain: d,
            host: &host.config,
            caps,
            runtime: &runtime,
        })?;
        let start = prepare(host, d, id, &plan, &facts)?;
        (plan, start)
    };
    let (start, mcs) = start;
    tracing::debug!("domain '{name}': start: planned at {:?}", t0.elapsed());
    let identity = start.launch.identity.clone();
    let exec_host = RealExecHost {
        launcher: host.launcher.clone(),
        layout: host.cgroups.clone(),
        selinux_enforcing: host.selinux.as_ref().map(|s| s.enforcing),
    };
    let ledger = host.owners.clone();
    let remember = host.config.remember_owner;
    let domain = name.clone();
    let executed = tokio::task::spawn_blocking(move || {
        let mut hooks = hooks::DaemonHooks::new(&domain, remember, &ledger, journal);
        confine::exec::execute(&exec_host, &start, &mut hooks)
    })
    .await
    .map_err(|e| StartError::Step {
        domain: name.clone(),
        step: "launcher",
        message: e.to_string(),
    })?;
    let started = executed.map_err(|e| {
        if let Some(level) = &mcs {
            selinux::release(level);
        }
        for p in &e.rollback {
            tracing::warn!("domain '{name}': undoing the start: {p}");
        }
        StartError::Step {
            domain: name.clone(),
            step: e.step.as_str(),
            message: e.message,
        }
    })?;
    tracing::debug!("domain '{name}': start: exec at {:?}", t0.elapsed());
    let mut cleanup = Cleanup::from_done(&name, remember, started.done);
    cleanup.selinux_enforcing = host.selinux.as_ref().map(|s| s.enforcing);
    cleanup.selinux_mcs = mcs;
    let launched = started.running;
    log_landlock(&host.paths.log_file(&name), &launched);
    match connect_monitor(host, d, id, plan, launched, identity, &cleanup).await {
        Ok(mut r) => {
            tracing::debug!(
                "domain '{name}': start: QMP connected at {:?}",
                t0.elapsed()
            );
            r.cleanup = cleanup;
            Ok(r)
        }
        Err(e) => {
            for problem in cleanup.run(&host.owners) {
                tracing::warn!("{problem}");
            }
            Err(e)
        }
    }
}

/// Says in the domain log what Landlock really enforced (the kernel may offer an
/// older ABI).
fn log_landlock(log_path: &std::path::Path, launched: &Launched) {
    let Some(l) = &launched.landlock else {
        return;
    };
    if let Ok(mut log) = fs::OpenOptions::new().append(true).open(log_path) {
        let what = match l.enforcement {
            LandlockEnforcement::Full => "fully enforced",
            LandlockEnforcement::Partial => {
                "enforced; rights newer than this kernel's ABI stay allowed"
            }
            LandlockEnforcement::None => "not available: nothing restricted",
        };
        let _ = writeln!(log, "Landlock: ABI {} {what}", l.abi);
    }
}

/// Connects to the monitor of the QEMU just started; when QEMU does not answer, it
/// is killed and its log read for the confinement layer that refused it.
async fn connect_monitor(
    host: &Host,
    d: &Domain,
    id: i32,
    plan: LaunchPlan,
    launched: Launched,
    identity: Option<Identity>,
    cleanup: &Cleanup,
) -> Result<Running, StartError> {
    let name = d.name.as_str();
    let monitor = host.paths.domain_dir(id, name).join("monitor.sock");
    let log_path = host.paths.log_file(name);
    let pid = launched.child.id();
    let mut child = launched.child;
    let landlock_abi = launched.landlock.as_ref().map(|l| l.abi);
    let qmp = tokio::time::timeout(
        Duration::from_secs(30),
        QmpClient::connect(&monitor, QmpConfig::default()),
    )
    .await;
    let (qmp, events) = match qmp {
        Ok(Ok(q)) => q,
        other => {
            let why = match other {
                Ok(Err(e)) => e.to_string(),
                _ => "no answer on the monitor within 30 s".into(),
            };
            let _ = child.kill();
            let _ = child.wait();
            let log = fs::read_to_string(&log_path).unwrap_or_default();
            let (uid, gid, groups) = identity
                .as_ref()
                .map_or((0, 0, Vec::new()), |i| (i.uid, i.gid, i.groups.clone()));
            let device_acl = cleanup.cgroup.is_some()
                && host
                    .config
                    .cgroup_controllers
                    .iter()
                    .any(|c| c.name() == "devices");
            let ctx = crate::diagnose::Context {
                uid,
                gid,
                groups,
                device_acl,
            };
            let denial = crate::diagnose::diagnose(&log, &plan, &ctx).map(Box::new);
            return Err(StartError::Qemu {
                domain: name.to_owned(),
                message: why,
                log,
                denial,
            });
        }
    };
    Ok(Running {
        pid,
        child: Some(child),
        qmp,
        events,
        cleanup: Cleanup::default(),
        plan,
        identity,
        landlock_abi,
    })
}
