//! One running QEMU: its monitor, its pidfd, and the actor task that owns its
//! events and its end. The actor notices the exit through the pidfd (also for a
//! QEMU that is not our child after a daemon restart), undoes everything done for
//! the domain, removes the status file and publishes the shutoff state with
//! libvirt's reason: `destroyed` when asked to, `shutdown` after the guest powered
//! off, `crashed` when QEMU died on its own.

use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain_xml::model::LifecycleAction;
use qemu::{QmpClient, QmpEvent, QmpEvents};
use remote_protocol::DomainEvent;
use rustix::process::Signal;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use super::Daemon;
use super::procfs::PidFd;
use super::status::Status;
use crate::launch::Cleanup;
use crate::registry::DomainObj;
use crate::states::{CrashedReason, DomainState, ShutdownReason, ShutoffReason};

/// What the daemon is doing to the domain, deciding the reason of its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    None,
    /// ACPI power button pressed; pressed again every second until `until`.
    Shutdown {
        until: Instant,
    },
    /// Guest power-off requested as part of `virsh reboot` (fake reboot); pressed
    /// again every second until `until`.
    FakeReboot {
        until: Instant,
    },
    Destroy,
    /// The guest panicked and `on_crash` says destroy.
    Crash,
}

/// A running (or reconnected) QEMU.
#[derive(Debug)]
pub struct Vm {
    pub uuid: Uuid,
    pub name: String,
    pub id: i32,
    pub pid: u32,
    pub pidfd: PidFd,
    qmp: Mutex<Option<QmpClient>>,
    intent: Mutex<Intent>,
    done: watch::Sender<bool>,
    status: Mutex<Status>,
    /// What must be undone at the end; hot-plugged grants add to it while QEMU
    /// runs, the actor takes it (leaving `None`) when QEMU has exited.
    cleanup: Mutex<Option<Cleanup>>,
    on_poweroff: LifecycleAction,
    on_crash: LifecycleAction,
    /// A new monitor connection for the actor (reconnect retried in the background).
    monitor_tx: mpsc::UnboundedSender<(QmpClient, QmpEvents)>,
}

/// What the actor owns.
#[derive(Debug)]
pub struct ActorParts {
    pub child: Option<Child>,
    pub events: Option<QmpEvents>,
    monitor_rx: mpsc::UnboundedReceiver<(QmpClient, QmpEvents)>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Vm {
    /// A VM record and the parts its actor will own.
    pub fn new(
        status: Status,
        pidfd: PidFd,
        qmp: Option<(QmpClient, QmpEvents)>,
        child: Option<Child>,
        cleanup: Cleanup,
    ) -> (Arc<Vm>, ActorParts) {
        let (monitor_tx, monitor_rx) = mpsc::unbounded_channel();
        let (qmp, events) = match qmp {
            Some((q, e)) => (Some(q), Some(e)),
            None => (None, None),
        };
        let vm = Arc::new(Vm {
            uuid: status.domain.uuid,
            name: status.domain.name.clone(),
            id: status.record.id,
            pid: status.pid,
            pidfd,
            qmp: Mutex::new(qmp),
            intent: Mutex::new(Intent::None),
            done: watch::channel(false).0,
            on_poweroff: status.domain.on_poweroff,
            on_crash: status.domain.on_crash,
            status: Mutex::new(status),
            cleanup: Mutex::new(Some(cleanup)),
            monitor_tx,
        });
        (
            vm,
            ActorParts {
                child,
                events,
                monitor_rx,
            },
        )
    }

    pub fn qmp(&self) -> Option<QmpClient> {
        lock(&self.qmp).clone()
    }

    /// Hands a (re)connected monitor to the actor.
    pub fn set_monitor(&self, q: QmpClient, e: QmpEvents) {
        *lock(&self.qmp) = Some(q.clone());
        let _ = self.monitor_tx.send((q, e));
    }

    pub fn intent(&self) -> Intent {
        *lock(&self.intent)
    }

    pub fn set_intent(&self, i: Intent) {
        let mut cur = lock(&self.intent);
        // A destroy is never downgraded.
        if !matches!(*cur, Intent::Destroy | Intent::Crash) {
            *cur = i;
        }
    }

    pub fn is_done(&self) -> bool {
        *self.done.borrow()
    }

    /// Waits until the QEMU has exited and everything was cleaned up.
    pub async fn wait_done(&self, timeout: Duration) -> bool {
        let mut rx = self.done.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|d| *d))
            .await
            .is_ok()
    }

    pub fn status(&self) -> Status {
        lock(&self.status).clone()
    }

    /// Publishes a new state and writes it to the status file.
    pub fn set_state(&self, d: &Daemon, obj: &DomainObj, state: DomainState) {
        obj.update(|s| s.state = state);
        self.update_status(d, |st| st.state = state);
    }

    /// Runs `f` on the cleanup (a grant being added or revoked) with it locked, so
    /// a change made there is either undone by the actor or never made: `None` once
    /// QEMU has exited and the actor took it. The caller records the result in the
    /// status file ([`Vm::cleanup_record`]).
    pub fn with_cleanup<T>(&self, f: impl FnOnce(&mut Cleanup) -> T) -> Option<T> {
        lock(&self.cleanup).as_mut().map(f)
    }

    /// The status-file form of the cleanup as it is now.
    pub fn cleanup_record(&self) -> crate::launch::CleanupRecord {
        lock(&self.cleanup)
            .as_ref()
            .map(Cleanup::record)
            .unwrap_or_default()
    }

    pub fn update_status(&self, d: &Daemon, f: impl FnOnce(&mut Status)) {
        let mut st = lock(&self.status);
        f(&mut st);
        if self.is_done() {
            return;
        }
        if let Err(e) = st.write(&d.paths.status_file(&self.name)) {
            tracing::error!("domain '{}': status file: {e}", self.name);
        }
    }
}

async fn next_event(events: &mut Option<QmpEvents>) -> Option<QmpEvent> {
    match events {
        Some(e) => e.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs a monitor command off the actor, so a QEMU that does not answer never
/// delays noticing its exit.
fn qmp_bg(vm: &Arc<Vm>, cmds: &'static [&'static str]) {
    let Some(q) = vm.qmp() else { return };
    let vm = vm.clone();
    tokio::spawn(async move {
        for c in cmds {
            if let Err(e) = q.execute(c, None).await {
                tracing::warn!("domain '{}': {c}: {e}", vm.name);
                if *c == "quit" {
                    let _ = vm.pidfd.kill(Signal::TERM);
                }
                break;
            }
        }
    });
}

fn handle_event(d: &Daemon, obj: &DomainObj, vm: &Arc<Vm>, ev: &QmpEvent) {
    tracing::debug!("domain '{}': event {} {}", vm.name, ev.name, ev.data);
    match ev.name.as_str() {
        "SHUTDOWN" => {
            let reason = ev.data["reason"].as_str().unwrap_or("");
            if matches!(vm.intent(), Intent::Destroy | Intent::Crash) || reason == "host-signal" {
                // QEMU is exiting on a signal: nothing to ask of it.
                return;
            }
            if matches!(vm.intent(), Intent::FakeReboot { .. }) {
                vm.set_intent(Intent::None);
                qmp_bg(vm, &["system_reset", "cont"]);
                return;
            }
            let guest_poweroff = reason == "guest-shutdown";
            if guest_poweroff && vm.on_poweroff == LifecycleAction::Restart {
                qmp_bg(vm, &["system_reset", "cont"]);
                return;
            }
            vm.update_status(d, |s| s.record.shutdown_seen = true);
            vm.set_state(d, obj, DomainState::Shutdown(ShutdownReason::Unknown));
            // -no-shutdown keeps QEMU after the guest powered off: end it.
            qmp_bg(vm, &["quit"]);
        }
        "GUEST_PANICKED" => match vm.on_crash {
            LifecycleAction::Restart | LifecycleAction::CoredumpRestart => {
                qmp_bg(vm, &["system_reset", "cont"]);
            }
            LifecycleAction::Preserve => {
                vm.set_state(d, obj, DomainState::Crashed(CrashedReason::Panicked));
            }
            _ => {
                vm.set_intent(Intent::Crash);
                let _ = vm.pidfd.kill(Signal::KILL);
            }
        },
        _ => {}
    }
}

/// Starts the actor of `vm`.
pub fn spawn_actor(d: Arc<Daemon>, obj: Arc<DomainObj>, vm: Arc<Vm>, parts: ActorParts) {
    d.insert_vm(vm.clone());
    tokio::spawn(actor(d, obj, vm, parts));
}

async fn actor(d: Arc<Daemon>, obj: Arc<DomainObj>, vm: Arc<Vm>, mut parts: ActorParts) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = vm.pidfd.exited() => break,
            ev = next_event(&mut parts.events) => match ev {
                Some(ev) => handle_event(&d, &obj, &vm, &ev),
                None => parts.events = None,
            },
            Some((_q, e)) = parts.monitor_rx.recv() => {
                parts.events = Some(e);
                obj.update(|s| s.note = None);
                tracing::info!("domain '{}': monitor reconnected", vm.name);
            }
            _ = tick.tick() => {
                if let Intent::Shutdown { until } | Intent::FakeReboot { until } = vm.intent() {
                    if Instant::now() < until {
                        // A press before the guest's ACPI handler is ready is lost.
                        qmp_bg(&vm, &["system_powerdown"]);
                    } else {
                        vm.set_intent(Intent::None);
                    }
                }
            }
        }
    }
    let t = Instant::now();
    let exit = parts.child.take().and_then(|mut c| c.wait().ok());
    let shutdown_seen = vm.status().record.shutdown_seen;
    let reason = match vm.intent() {
        Intent::Destroy => ShutoffReason::Destroyed,
        Intent::Crash => ShutoffReason::Crashed,
        _ if shutdown_seen => ShutoffReason::Shutdown,
        _ => ShutoffReason::Crashed,
    };
    tracing::info!(
        "domain '{}' (pid {}) ended: {}{}",
        vm.name,
        vm.pid,
        reason.as_str(),
        exit.map(|e| format!(" ({e})")).unwrap_or_default()
    );
    let cleanup = lock(&vm.cleanup).take().unwrap_or_default();
    let ledger = d.host.owners.clone();
    let problems = tokio::task::spawn_blocking(move || cleanup.run(&ledger))
        .await
        .unwrap_or_default();
    for p in &problems {
        tracing::warn!("{p}");
    }
    finish(&d, &obj, &vm, reason);
    report_owner_problems(&d, &obj, &vm.name, &problems);
    tracing::debug!("domain '{}': cleanup took {:?}", vm.name, t.elapsed());
}

/// Files whose owner could not be given back (unknown original, changed by someone
/// else) are said in the domain log and kept as the domain's message (`virsh
/// dominfo`, DOMAIN_GET_MESSAGES) until its next start: they are left as they are,
/// never given to root, and someone has to look at them.
pub fn report_owner_problems(d: &Daemon, obj: &DomainObj, name: &str, problems: &[String]) {
    let owners: Vec<&String> = problems
        .iter()
        .filter(|p| p.contains(crate::launch::OWNER_NOT_RESTORED))
        .collect();
    if owners.is_empty() {
        return;
    }
    if let Ok(mut log) = std::fs::OpenOptions::new()
        .append(true)
        .open(d.paths.log_file(name))
    {
        use std::io::Write;
        for p in &owners {
            let _ = writeln!(log, "{p}");
        }
    }
    let text = owners
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    obj.update(|s| s.note = Some(text));
}

/// The domain is gone: status file, id, registry, snapshot, event.
pub fn finish(d: &Daemon, obj: &Arc<DomainObj>, vm: &Arc<Vm>, reason: ShutoffReason) {
    let _ = crate::store::remove_if_exists(&d.paths.status_file(&vm.name));
    d.registry.release_id(vm.id);
    let s = obj.update(|s| {
        s.state = DomainState::Shutoff(reason);
        s.id = None;
        s.pid = None;
        s.note = None;
        if s.persistent {
            s.live = None;
        }
    });
    d.remove_vm(vm);
    d.emit(obj, DomainEvent::Stopped(super::stopped_detail(reason)));
    if !s.persistent {
        d.registry.remove(obj);
        if let Some(def) = s.live.as_deref() {
            super::domain_state::remove_transient_state(&d.paths, def);
        }
    }
    let _ = vm.done.send(true);
}
