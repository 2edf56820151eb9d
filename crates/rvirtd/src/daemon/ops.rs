//! Lifecycle jobs. Each holds the domain's job lock for its whole length (one job
//! at a time per domain, different domains in parallel); reads never take it.
//! `destroy` does not wait for the job lock either: it must work while another
//! job waits on a QEMU that does not answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use remote_protocol::event::{
    DefinedDetail, DomainEvent, ResumedDetail, StartedDetail, SuspendedDetail, UndefinedDetail,
};
use remote_protocol::{ErrorCode, ErrorDomain, RemoteError};
use rustix::process::Signal;
use serde_json::json;

use super::procfs::{self, PidFd};
use super::status::{Record, StartJournal, Status, journal_path};
use super::vm::{self, Intent, Vm};
use super::{Daemon, errors};
use crate::launch;
use crate::registry::{Defined, DefinitionError, DomainObj};
use crate::states::{DomainState, PausedReason, RunningReason, ShutoffReason};
use crate::store;

/// How long `shutdown` keeps pressing the power button.
pub const SHUTDOWN_PRESS_FOR: Duration = Duration::from_secs(120);
/// SIGTERM → SIGKILL grace period of `destroy` (libvirt waits 10 s).
pub const DESTROY_GRACE: Duration = Duration::from_secs(10);

const START_PAUSED: u32 = 1;

pub fn not_running() -> RemoteError {
    RemoteError::operation_invalid("domain is not running")
}

fn running_vm(d: &Daemon, obj: &DomainObj) -> Result<Arc<Vm>, RemoteError> {
    d.vm(&obj.uuid).ok_or_else(not_running)
}

fn monitor(vm: &Vm) -> Result<qemu::QmpClient, RemoteError> {
    vm.qmp().ok_or_else(|| {
        RemoteError::operation_failed(&format!(
            "the monitor of domain '{}' is not connected (reconnect is being retried)",
            vm.name
        ))
    })
}

#[allow(clippy::needless_pass_by_value)] // used as map_err(qmp_err)
fn qmp_err(e: qemu::QmpError) -> RemoteError {
    RemoteError::operation_failed(&format!("QEMU monitor: {e}"))
}

/// Parses a domain XML and fills libvirt's define-time defaults.
pub fn parse_definition(d: &Daemon, xml: &str) -> Result<domain_xml::Domain, RemoteError> {
    let parsed = domain_xml::parse_domain(xml).map_err(|e| errors::parse(&e))?;
    for w in &parsed.warnings {
        tracing::warn!("domain XML: {w}");
    }
    let mut def = parsed.value;
    domain_xml::check_name(&def.name).map_err(|m| RemoteError::xml_error(&m))?;
    if let Ok(caps) = &d.caps {
        crate::native::fill_defaults(&mut def, caps);
    }
    // libvirt's define-time checks: a definition it would refuse is refused here,
    // not stored to fail later on another host.
    domain_xml::validate(&def).map_err(|e| errors::validation(&e))?;
    // libvirt records the chosen firmware (and the NVRAM path) in the definition.
    crate::native::fill_firmware(&mut def, &d.paths, true).map_err(|e| errors::firmware(&e))?;
    Ok(def)
}

/// DOMAIN_DEFINE_XML: registry first (identity checks), then the atomic write; a
/// failed write puts the previous definition back.
pub fn define(d: &Daemon, xml: &str) -> Result<Arc<DomainObj>, RemoteError> {
    let mut def = parse_definition(d, xml)?;
    def.id = None;
    let _defs = d.definitions.lock().unwrap_or_else(|e| e.into_inner());
    let previous = d
        .registry
        .by_uuid(&def.uuid)
        .map(|o| o.snapshot())
        .filter(|s| s.name == def.name);
    let text = def.to_xml();
    let name = def.name.clone();
    let stored = crate::stored::StoredDef::with_xml(&def, text);
    drop(def);
    let file = d.paths.config_file(&name);
    let (obj, how) = d.registry.define(stored).map_err(RemoteError::from)?;
    let written = obj
        .snapshot()
        .config
        .as_ref()
        .map_or(Ok(()), |c| store::atomic_write(&file, c.xml().as_bytes()));
    if let Err(e) = written {
        match (how, previous) {
            (Defined::Updated, Some(p)) => {
                obj.update(|s| {
                    s.config = p.config.clone();
                    s.persistent = p.persistent;
                });
            }
            _ => d.registry.remove(&obj),
        }
        return Err(errors::store(&e));
    }
    d.emit(
        &obj,
        match how {
            Defined::Updated => DomainEvent::Defined(DefinedDetail::Updated),
            Defined::New => DomainEvent::Defined(DefinedDetail::Added),
        },
    );
    Ok(obj)
}

/// DOMAIN_UNDEFINE(_FLAGS): the definition goes; a running domain becomes
/// transient. The UEFI variable store and the TPM state go as libvirt's flags say
/// ([`super::domain_state`]).
pub async fn undefine(d: &Daemon, obj: &Arc<DomainObj>, flags: u32) -> Result<(), RemoteError> {
    super::domain_state::check_flags(flags)?;
    let _job = obj.job.lock().await;
    let _defs = d.definitions.lock().unwrap_or_else(|e| e.into_inner());
    let s = obj.snapshot();
    if !s.persistent {
        return Err(RemoteError::operation_invalid(
            "cannot undefine transient domain",
        ));
    }
    let removal = match s.config.as_ref().and_then(|c| c.domain().ok()) {
        Some(def) => super::domain_state::plan_removal(&def, &d.paths, flags, &|p| p.exists())?,
        None => super::domain_state::Removal::default(),
    };
    super::domain_state::remove_nvram(&removal)?;
    store::set_autostart(&d.paths.autostart_link(&s.name), false).map_err(|e| errors::store(&e))?;
    store::remove_if_exists(&d.paths.config_file(&s.name)).map_err(|e| errors::store(&e))?;
    let s = obj.update(|s| {
        s.persistent = false;
        s.autostart = false;
        if s.is_active() && s.live.is_none() {
            s.live = s
                .config
                .as_ref()
                .and_then(|c| c.domain().ok())
                .map(Arc::new);
        }
        s.config = None;
    });
    d.emit(obj, DomainEvent::Undefined(UndefinedDetail::Removed));
    if !s.is_active() {
        d.registry.remove(obj);
        // A running domain keeps its TPM state until it stops (it is transient
        // then, and its state stays: libvirt removes it with the inactive domain).
        super::domain_state::remove_tpm_state(&s.name, &removal);
    }
    Ok(())
}

pub fn set_autostart(d: &Daemon, obj: &DomainObj, on: bool) -> Result<(), RemoteError> {
    let s = obj.snapshot();
    if !s.persistent {
        return Err(RemoteError::operation_invalid(
            "cannot set autostart for transient domain",
        ));
    }
    store::set_autostart(&d.paths.autostart_link(&s.name), on).map_err(|e| errors::store(&e))?;
    obj.update(|s| s.autostart = on);
    Ok(())
}

/// DOMAIN_CREATE: starts a defined domain.
pub async fn start(d: &Arc<Daemon>, obj: &Arc<DomainObj>, flags: u32) -> Result<(), RemoteError> {
    let _job = obj.job.lock().await;
    let s = obj.snapshot();
    if s.is_active() {
        return Err(RemoteError::operation_invalid("domain is already running"));
    }
    let def = s.start_definition().map_err(|e| match e {
        DefinitionError::Gone => s.not_found(),
        DefinitionError::Invalid(m) => RemoteError::xml_error(&m),
    })?;
    start_locked(d, obj, def, flags).await
}

/// DOMAIN_CREATE_XML: a transient domain, started at once.
pub async fn create_xml(
    d: &Arc<Daemon>,
    xml: &str,
    flags: u32,
) -> Result<Arc<DomainObj>, RemoteError> {
    let def = parse_definition(d, xml)?;
    let obj = d
        .registry
        .add_transient(def.clone())
        .map_err(RemoteError::from)?;
    let r = {
        let _job = obj.job.lock().await;
        if obj.snapshot().is_active() {
            return Err(RemoteError::operation_invalid(&format!(
                "domain '{}' is already active",
                def.name
            )));
        }
        start_locked(d, &obj, def, flags).await
    };
    if r.is_err() && !obj.snapshot().persistent && !obj.snapshot().is_active() {
        d.registry.remove(&obj);
    }
    r.map(|()| obj)
}

/// Undoes a start whose QEMU is gone before the actor took it over.
fn abandon_start(d: &Daemon, cleanup: launch::Cleanup, journal_file: &std::path::Path, id: i32) {
    for p in cleanup.run(&d.host.owners) {
        tracing::warn!("{p}");
    }
    let _ = store::remove_if_exists(journal_file);
    d.registry.release_id(id);
}

/// The start journal of domain `def` with id `id`: written at once with what a
/// crash before the chowns leaves (directories, the cgroup by name), and again,
/// durably, by the start with the planned owner changes.
fn start_journal(d: &Daemon, def: &domain_xml::Domain, id: i32) -> launch::Journal {
    let (uuid, name, state_dir) = (
        def.uuid.to_string(),
        def.name.clone(),
        d.paths.state_dir.clone(),
    );
    let journal: launch::Journal = Arc::new(move |cleanup: &launch::CleanupRecord| {
        let j = StartJournal {
            uuid: uuid.clone(),
            name: name.clone(),
            id,
            cleanup: cleanup.clone(),
        };
        j.write(&state_dir)
            .map_err(|e| format!("start journal: {e}"))
    });
    let first = journal(&launch::CleanupRecord {
        domain: def.name.clone(),
        lib_dir: Some(d.paths.domain_dir(id, &def.name)),
        scratch_dir: Some(
            d.paths
                .state_dir
                .join(format!("{}.dev", crate::paths::short_name(id, &def.name))),
        ),
        cgroup_name: Some(launch::vm_group_dir_name(&d.paths, id, &def.name)),
        cgroup_partition: Some(
            def.resource_partition
                .clone()
                .unwrap_or_else(|| confine::cgroup::DEFAULT_PARTITION.to_owned()),
        ),
        ..launch::CleanupRecord::default()
    });
    if let Err(e) = first {
        tracing::error!("domain '{}': {e}", def.name);
    }
    journal
}

/// The status file of a domain whose QEMU just started (taints logged).
#[allow(clippy::too_many_arguments)] // the pieces a start produced, named
fn started_status(
    d: &Daemon,
    def: &domain_xml::Domain,
    id: i32,
    pid: u32,
    state: DomainState,
    plan: &qemu_plan::LaunchPlan,
    cleanup: &launch::Cleanup,
    landlock_abi: Option<u32>,
) -> Status {
    let taints: Vec<String> = plan.taints.iter().map(|t| t.as_str().to_owned()).collect();
    for t in &taints {
        tracing::warn!(
            "Domain id={id} name='{}' uuid={} is tainted: {t}",
            def.name,
            def.uuid
        );
    }
    Status {
        state,
        pid,
        taints,
        monitor_path: d.paths.domain_dir(id, &def.name).join("monitor.sock"),
        mount_namespace: plan.mount_namespace,
        lib_dir: cleanup.lib_dir.clone(),
        record: Record {
            id,
            start_time: procfs::stat(pid).map(|s| s.start_time).unwrap_or(0),
            cleanup: cleanup.record(),
            landlock_abi,
            reboot_is_shutdown: plan.reboot_is_shutdown,
            shutdown_seen: false,
            landlock_rules: (plan.landlock && landlock_abi.is_some_and(|a| a > 0))
                .then(|| launch::landlock_rules(plan)),
            hotplug: Vec::new(),
        },
        domain: def.clone(),
    }
}

/// What the monitor is told before the guest runs: the reboot action, the balloon
/// target, then `cont` (unless started paused).
async fn settle(
    qmp: &qemu::QmpClient,
    plan: &qemu_plan::LaunchPlan,
    run: bool,
) -> Result<(), qemu::QmpError> {
    if plan.reboot_is_shutdown {
        qmp.execute("set-action", Some(json!({"reboot": "shutdown"})))
            .await?;
    }
    if let Some(kib) = plan.balloon_target_kib {
        qmp.execute("balloon", Some(json!({"value": kib * 1024})))
            .await?;
    }
    // Graphics passwords and the balloon's statistics period (never on the
    // command line).
    for c in &plan.monitor_commands {
        let args: serde_json::Value =
            serde_json::from_str(&c.arguments).unwrap_or(serde_json::Value::Null);
        qmp.execute(&c.execute, Some(args)).await?;
    }
    if run {
        qmp.execute("cont", None).await?;
    }
    Ok(())
}

/// A QEMU whose monitor failed before the guest ran: killed, the domain failed.
async fn kill_failed_start(obj: &DomainObj, vm: &Vm, e: &qemu::QmpError) -> RemoteError {
    vm.set_intent(Intent::Destroy);
    let _ = vm.pidfd.kill(Signal::KILL);
    vm.wait_done(Duration::from_secs(30)).await;
    obj.update(|s| s.state = DomainState::Shutoff(ShutoffReason::Failed));
    RemoteError::operation_failed(&format!("domain '{}': QEMU monitor: {e}", vm.name))
}

/// Start with the job held: plan → confined launch → QMP → `cont`. Every failure
/// undoes everything (launch::start does until QMP; after that the actor does).
async fn start_locked(
    d: &Arc<Daemon>,
    obj: &Arc<DomainObj>,
    mut def: domain_xml::Domain,
    flags: u32,
) -> Result<(), RemoteError> {
    let t = Instant::now();
    let caps = d
        .caps
        .clone()
        .map_err(|m| RemoteError::operation_failed(&m))?;
    // `<disk type='volume'>` becomes the volume's file for this run.
    super::storage::resolve_volume_disks(d, &mut def)?;
    let id = d.registry.allocate_id(obj, None);
    def.id = Some(id);
    let journal = start_journal(d, &def, id);
    let journal_file = journal_path(&d.paths.state_dir, &def.name);
    let started = launch::start_journaled(&d.host, &caps, &def, id, journal).await;
    let running = match started {
        Ok(r) => r,
        Err(e) => {
            let _ = store::remove_if_exists(&journal_file);
            d.registry.release_id(id);
            return Err(errors::start(&e));
        }
    };
    let launch::Running {
        pid,
        mut child,
        qmp,
        events,
        cleanup,
        plan,
        landlock_abi,
        ..
    } = running;
    let pidfd = match PidFd::open(pid) {
        Ok(p) => p,
        Err(e) => {
            if let Some(c) = child.as_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
            abandon_start(d, cleanup, &journal_file, id);
            return Err(RemoteError::operation_failed(&format!("pidfd_open: {e}")));
        }
    };
    // Written once, with the state the domain has after `cont`: a daemon killed
    // before `cont` finds QEMU in prelaunch and says so at reconnect.
    let final_state = if flags & START_PAUSED == 0 {
        DomainState::Running(RunningReason::Booted)
    } else {
        DomainState::Paused(PausedReason::User)
    };
    // The live XML shows the ports and sockets the graphics got.
    let mut def = def;
    plan.apply_live_graphics(&mut def);
    let status = started_status(d, &def, id, pid, final_state, &plan, &cleanup, landlock_abi);
    let (vm, parts) = Vm::new(status, pidfd, Some((qmp.clone(), events)), child, cleanup);
    vm.update_status(d, |_| {});
    let _ = store::remove_if_exists(&journal_file);
    let live = Arc::new(def);
    obj.update(|s| {
        s.id = Some(id);
        s.pid = Some(pid);
        s.live = Some(live.clone());
        s.state = DomainState::Paused(PausedReason::StartingUp);
        s.note = None;
    });
    vm::spawn_actor(d.clone(), obj.clone(), vm.clone(), parts);
    super::live_facts::record(d, obj, &vm).await;
    // <cputune>, <memtune>, <blkiotune>, the balloon's stats period: before the guest runs.
    let tuned = super::tuning_live::apply_at_start(&vm, &live).await;
    if let Err(e) = tuned {
        return Err(super::tuning_live::fail_start(obj, &vm, e).await);
    }
    if let Err(e) = settle(&qmp, &plan, flags & START_PAUSED == 0).await {
        return Err(kill_failed_start(obj, &vm, &e).await);
    }
    obj.update(|s| s.state = final_state);
    d.emit(obj, DomainEvent::Started(StartedDetail::Booted));
    if flags & START_PAUSED != 0 {
        d.emit(obj, DomainEvent::Suspended(SuspendedDetail::Paused));
    }
    tracing::info!(
        "domain '{}' started (id {id}, pid {pid}) in {:?}",
        vm.name,
        t.elapsed()
    );
    Ok(())
}

/// DOMAIN_DESTROY: SIGTERM, SIGKILL after the grace period (unless GRACEFUL);
/// returns once QEMU has exited and the domain is cleaned up.
pub async fn destroy(d: &Daemon, obj: &DomainObj, flags: u32) -> Result<(), RemoteError> {
    const GRACEFUL: u32 = 1;
    let vm = running_vm(d, obj)?;
    vm.set_intent(Intent::Destroy);
    let _ = vm.pidfd.kill(Signal::TERM);
    if vm.wait_done(DESTROY_GRACE).await {
        return Ok(());
    }
    if flags & GRACEFUL != 0 {
        return Err(RemoteError::new(
            ErrorCode::OPERATION_TIMEOUT,
            ErrorDomain::QEMU,
            format!(
                "Timed out during operation: QEMU of domain '{}' did not exit after SIGTERM",
                vm.name
            ),
        ));
    }
    let _ = vm.pidfd.kill(Signal::KILL);
    if vm.wait_done(Duration::from_secs(60)).await {
        Ok(())
    } else {
        Err(RemoteError::operation_failed(&format!(
            "QEMU of domain '{}' (pid {}) did not exit after SIGKILL",
            vm.name, vm.pid
        )))
    }
}

/// DOMAIN_SHUTDOWN: presses the ACPI power button and returns; the actor keeps
/// pressing every second until the guest powers off or the press time is over.
pub async fn shutdown(d: &Daemon, obj: &DomainObj, flags: u32) -> Result<(), RemoteError> {
    const ACPI: u32 = 1;
    if flags & !ACPI != 0 {
        return Err(RemoteError::new(
            ErrorCode::ARGUMENT_UNSUPPORTED,
            ErrorDomain::QEMU,
            "argument unsupported: only the ACPI power button shutdown mode is supported",
        ));
    }
    let _job = obj.job.lock().await;
    let vm = running_vm(d, obj)?;
    let q = monitor(&vm)?;
    vm.set_intent(Intent::Shutdown {
        until: Instant::now() + SHUTDOWN_PRESS_FOR,
    });
    q.execute("system_powerdown", None).await.map_err(qmp_err)?;
    Ok(())
}

/// DOMAIN_REBOOT: ACPI power button with a fake reboot (reset + cont when the guest
/// has powered off), or a plain shutdown when `on_reboot` is destroy.
pub async fn reboot(d: &Daemon, obj: &DomainObj, flags: u32) -> Result<(), RemoteError> {
    const ACPI: u32 = 1;
    if flags & !ACPI != 0 {
        return Err(RemoteError::new(
            ErrorCode::ARGUMENT_UNSUPPORTED,
            ErrorDomain::QEMU,
            "argument unsupported: only the ACPI power button reboot mode is supported",
        ));
    }
    let _job = obj.job.lock().await;
    let vm = running_vm(d, obj)?;
    let q = monitor(&vm)?;
    if vm.status().record.reboot_is_shutdown {
        vm.set_intent(Intent::Shutdown {
            until: Instant::now() + SHUTDOWN_PRESS_FOR,
        });
    } else {
        vm.set_intent(Intent::FakeReboot {
            until: Instant::now() + SHUTDOWN_PRESS_FOR,
        });
    }
    q.execute("system_powerdown", None).await.map_err(qmp_err)?;
    Ok(())
}

pub async fn reset(d: &Daemon, obj: &DomainObj) -> Result<(), RemoteError> {
    let _job = obj.job.lock().await;
    let vm = running_vm(d, obj)?;
    monitor(&vm)?
        .execute("system_reset", None)
        .await
        .map_err(qmp_err)?;
    Ok(())
}

pub async fn suspend(d: &Daemon, obj: &DomainObj) -> Result<(), RemoteError> {
    let _job = obj.job.lock().await;
    let vm = running_vm(d, obj)?;
    monitor(&vm)?.execute("stop", None).await.map_err(qmp_err)?;
    vm.set_state(d, obj, DomainState::Paused(PausedReason::User));
    d.emit(obj, DomainEvent::Suspended(SuspendedDetail::Paused));
    Ok(())
}

pub async fn resume(d: &Daemon, obj: &DomainObj) -> Result<(), RemoteError> {
    let _job = obj.job.lock().await;
    let vm = running_vm(d, obj)?;
    if !matches!(obj.snapshot().state, DomainState::Paused(_)) {
        return Err(RemoteError::operation_invalid("domain is not paused"));
    }
    monitor(&vm)?.execute("cont", None).await.map_err(qmp_err)?;
    vm.set_state(d, obj, DomainState::Running(RunningReason::Unpaused));
    d.emit(obj, DomainEvent::Resumed(ResumedDetail::Unpaused));
    Ok(())
}
