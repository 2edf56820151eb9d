//! Finding running QEMUs again at daemon start, from their status files. A QEMU
//! that is alive is never killed: if its monitor cannot be reached (wedged, status
//! file damaged) the domain is kept, listed with a note, and retried in the
//! background. A QEMU that died meanwhile is cleaned up from the record (owners
//! restored from the xattrs, cgroup and directories removed).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use confine::cgroup::VmCgroup;
use confine::launcher::NsOp;
use qemu::{QmpClient, QmpConfig, QmpEvents};

use super::Daemon;
use super::procfs::{self, PidFd};
use super::status::{StartJournal, Status, salvage_pid};
use super::vm::{self, Vm};
use crate::launch::Cleanup;
use crate::registry::DomainObj;
use crate::states::{
    CrashedReason, DomainState, PausedReason, RunningReason, ShutdownReason, ShutoffReason,
};

/// The first attempt is short so a wedged QEMU does not delay the daemon's start;
/// background retries wait longer.
const FIRST_TIMEOUT: Duration = Duration::from_millis(1000);
const RETRY_TIMEOUT: Duration = Duration::from_secs(5);
const RETRY_EVERY: Duration = Duration::from_secs(2);

fn status_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|r| {
            r.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.extension().is_some_and(|e| e == "xml")
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                        && p.is_file()
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Processes whose command line mentions all of `needles`.
fn find_processes(needles: &[&str]) -> Vec<u32> {
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c);
                needles.iter().all(|n| c.contains(n))
            })
        })
        .collect()
}

/// Where a group `name` in `partition` would be: on v2 and in each v1 hierarchy.
fn cgroup_candidates(name: &str, partition: &str) -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    let rel = partition.trim_start_matches('/');
    let mut out = vec![base.join(rel).join(name)];
    if let Ok(rd) = fs::read_dir(base) {
        for e in rd.filter_map(Result::ok) {
            out.push(e.path().join(rel).join(name));
        }
    }
    out.retain(|p| p.is_dir());
    out
}

/// Starts the daemon was killed in: stop their (paused, never continued) QEMU and
/// undo everything from the journal.
async fn recover_interrupted_starts(d: &Arc<Daemon>) {
    let Ok(rd) = fs::read_dir(&d.paths.state_dir) else {
        return;
    };
    let journals: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "starting"))
        .collect();
    for path in journals {
        let j: StartJournal = match fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            Some(j) => j,
            None => {
                // An interrupted journal write: the start never changed anything.
                tracing::warn!("{}: unreadable start journal removed", path.display());
                let _ = fs::remove_file(&path);
                continue;
            }
        };
        if d.paths.status_file(&j.name).exists() {
            let _ = fs::remove_file(&path);
            continue;
        }
        // QEMU gets its monitor as a descriptor: the uuid identifies it.
        let needle = format!("\0-uuid\0{}\0", j.uuid);
        for pid in find_processes(&[&needle]) {
            tracing::warn!(
                "domain '{}': stopping QEMU pid {pid} of a start the daemon did not finish",
                j.name
            );
            if let Ok(p) = PidFd::open(pid) {
                let _ = p.kill(rustix::process::Signal::KILL);
                let _ = tokio::time::timeout(Duration::from_secs(10), p.exited()).await;
            }
        }
        let mut rec = j.cleanup.clone();
        if rec.cgroup_dirs.is_empty()
            && let (Some(name), Some(part)) = (&rec.cgroup_name, &rec.cgroup_partition)
        {
            rec.cgroup_dirs = cgroup_candidates(name, part);
        }
        run_cleanup(d, Cleanup::from_record(&rec, None)).await;
        tracing::info!("domain '{}': interrupted start undone", j.name);
        let _ = fs::remove_file(&path);
    }
}

/// cgroup directories still to remove, kept across daemon restarts.
fn leftovers_file(d: &Daemon) -> PathBuf {
    d.paths.state_dir.join("leftover-cgroups.json")
}

fn load_leftovers(d: &Daemon) -> Vec<PathBuf> {
    fs::read(leftovers_file(d))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save_leftovers(d: &Daemon, dirs: &[PathBuf]) {
    let path = leftovers_file(d);
    if dirs.is_empty() {
        let _ = fs::remove_file(path);
    } else if let Err(e) =
        crate::store::replace_file(&path, &serde_json::to_vec(dirs).unwrap_or_default())
    {
        tracing::warn!("{e}");
    }
}

/// Removes what it can of `dirs` (deepest first); returns what is left.
fn remove_cgroups(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut sorted: Vec<PathBuf> = dirs.to_vec();
    sorted.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    sorted
        .into_iter()
        .filter(|d| d.exists() && fs::remove_dir(d).is_err())
        .collect()
}

static LEFTOVER_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Keeps trying to remove the recorded leftover cgroups (a QEMU that is not our
/// child keeps its group busy until whoever inherited it reaps it).
fn retry_leftovers(d: Arc<Daemon>) {
    tokio::spawn(async move {
        for _ in 0..600 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _g = LEFTOVER_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            let left = remove_cgroups(&load_leftovers(&d));
            save_leftovers(&d, &left);
            if left.is_empty() {
                return;
            }
        }
        tracing::warn!(
            "cgroup directories still busy after 60 s: {:?}",
            load_leftovers(&d)
        );
    });
}

/// Runs the cleanup of a QEMU that is not our child; busy cgroups are recorded and
/// retried (also by the next daemon, should this one stop).
async fn run_cleanup(d: &Arc<Daemon>, cleanup: Cleanup) -> Vec<String> {
    let dirs = cleanup.cgroup_dirs.clone();
    let ledger = d.host.owners.clone();
    let problems = tokio::task::spawn_blocking(move || cleanup.run(&ledger))
        .await
        .unwrap_or_default();
    for p in problems.iter().filter(|p| !p.contains("cgroup")) {
        tracing::warn!("{p}");
    }
    let left: Vec<PathBuf> = dirs.into_iter().filter(|p| p.exists()).collect();
    if !left.is_empty() {
        {
            let _g = LEFTOVER_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            let mut all = load_leftovers(d);
            all.extend(left);
            all.sort();
            all.dedup();
            save_leftovers(d, &all);
        }
        retry_leftovers(d.clone());
    }
    problems
}

/// Every file a status file or start journal says is chowned for QEMU, into the
/// ledger, before any cleanup runs: a cleanup must see which files other domains
/// still hold (and their original owners) whatever order they come in.
fn load_owner_ledger(d: &Daemon) {
    let mut held = d.host.owners.lock();
    for path in status_files(&d.paths.state_dir) {
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let Ok(st) = Status::parse(&path, &text) else {
            continue;
        };
        // A level a running domain holds is never handed out again.
        if let Some(level) = &st.record.cleanup.selinux_mcs {
            crate::launch::selinux::reserve(level);
        }
        if st.record.cleanup.dac_active {
            let t = crate::launch::owner_transaction(&st.record.cleanup.owners);
            held.hold(&st.record.cleanup.domain, &t.items);
        }
    }
    let Ok(rd) = fs::read_dir(&d.paths.state_dir) else {
        return;
    };
    for e in rd.filter_map(Result::ok) {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "starting")
            && let Some(j) = fs::read(&p)
                .ok()
                .and_then(|b| serde_json::from_slice::<StartJournal>(&b).ok())
            && j.cleanup.dac_active
            && !d.paths.status_file(&j.name).exists()
        {
            let t = crate::launch::owner_transaction(&j.cleanup.owners);
            held.hold(&j.cleanup.domain, &t.items);
        }
    }
}

/// Reconnects every domain with a status file, in parallel.
pub async fn reconnect_all(d: &Arc<Daemon>) {
    if !load_leftovers(d).is_empty() {
        retry_leftovers(d.clone());
    }
    load_owner_ledger(d);
    recover_interrupted_starts(d).await;
    let mut tasks = Vec::new();
    for path in status_files(&d.paths.state_dir) {
        let d = d.clone();
        tasks.push(tokio::spawn(async move { reconnect_one(&d, &path).await }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// A hugetlbfs mounted under `/dev` after QEMU started is missing from its private
/// `/dev`: mount it there (inside QEMU's mount namespace) so the path exists.
pub async fn bind_missing_hugetlbfs(d: &Daemon, pid: u32, name: &str) {
    let host = crate::host::hugetlbfs_mounts(&d.host.config.hugetlbfs_mount);
    let inside = fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .map(|m| procfs::mount_points(&m, "hugetlbfs"))
        .unwrap_or_default();
    let ops: Vec<NsOp> = host
        .iter()
        .filter(|m| m.path.starts_with("/dev/") && !inside.contains(&m.path))
        .map(|m| NsOp::BindFromHost {
            source: PathBuf::from(&m.path),
            target: PathBuf::from(&m.path),
        })
        .collect();
    if ops.is_empty() {
        return;
    }
    let launcher = d.host.launcher.clone();
    let what: Vec<String> = host.iter().map(|m| m.path.clone()).collect();
    match tokio::task::spawn_blocking(move || launcher.nsexec(pid, &ops)).await {
        Ok(Ok(())) => {
            tracing::info!("domain '{name}': hugetlbfs {what:?} mounted into QEMU's namespace")
        }
        Ok(Err(e)) => {
            tracing::warn!("domain '{name}': cannot mount hugetlbfs into QEMU's namespace: {e}")
        }
        Err(e) => tracing::warn!("domain '{name}': nsexec: {e}"),
    }
}

fn map_status(qemu_status: &str, before: DomainState) -> DomainState {
    match qemu_status {
        "running" => match before {
            DomainState::Running(r) => DomainState::Running(r),
            _ => DomainState::Running(RunningReason::Unpaused),
        },
        "shutdown" => DomainState::Shutdown(ShutdownReason::Unknown),
        "guest-panicked" => DomainState::Crashed(CrashedReason::Panicked),
        "prelaunch" => DomainState::Paused(PausedReason::StartingUp),
        _ => match before {
            DomainState::Paused(r) => DomainState::Paused(r),
            _ => DomainState::Paused(PausedReason::Unknown),
        },
    }
}

async fn connect(path: &Path, timeout: Duration) -> Result<(QmpClient, QmpEvents, String), String> {
    let (q, e) = tokio::time::timeout(timeout, QmpClient::connect(path, QmpConfig::default()))
        .await
        .map_err(|_| "the monitor did not answer".to_owned())?
        .map_err(|e| e.to_string())?;
    let st = q
        .execute_timeout("query-status", None, timeout)
        .await
        .map_err(|e| format!("query-status: {e}"))?;
    let status = st["status"].as_str().unwrap_or("unknown").to_owned();
    Ok((q, e, status))
}

async fn reconnect_one(d: &Arc<Daemon>, path: &Path) {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("{}: {e}", path.display());
            return;
        }
    };
    let (st, damage_note) = match Status::parse(path, &text) {
        Ok(s) => (s, None),
        Err(e) => match rebuild_status(d, path, &text, &e.to_string()) {
            Some(x) => x,
            None => return damaged(d, path, &text, &e.to_string()),
        },
    };
    let name = st.domain.name.clone();
    let uuid = st.domain.uuid;
    let alive = procfs::is_same_process(st.pid, st.record.start_time)
        && procfs::cmdline_contains(st.pid, &uuid.to_string());
    let obj = match d.registry.by_uuid(&uuid) {
        Some(o) => o,
        None => match d.registry.add_transient(st.domain.clone()) {
            Ok(o) => o,
            Err(e) => {
                tracing::error!("{}: {e}; status file kept", path.display());
                return;
            }
        },
    };
    let pidfd = if alive {
        PidFd::open(st.pid).ok()
    } else {
        None
    };
    let Some(pidfd) = pidfd else {
        return gone(d, &obj, st).await;
    };
    let id = st.record.id;
    d.registry.allocate_id(&obj, Some(id));
    let cgroup = d.host.cgroups.as_ref().and_then(|l| {
        VmCgroup::find_for_pid(
            l,
            st.pid,
            Some(&crate::launch::vm_machine_name(&d.paths, id, &name)),
        )
        .map_err(|e| tracing::warn!("domain '{name}': cgroup not re-adopted: {e}"))
        .ok()
    });
    let cleanup = Cleanup::from_record(&st.record.cleanup, cgroup);
    if st.mount_namespace {
        bind_missing_hugetlbfs(d, st.pid, &name).await;
    }
    let before = st.state;
    let (qmp, state, note) = first_connect(&st).await;
    let connected = qmp.is_some();
    let pid = st.pid;
    let live = Arc::new(st.domain.clone());
    let monitor_path = st.monitor_path.clone();
    let (vm, parts) = Vm::new(st, pidfd, qmp, None, cleanup);
    obj.update(|s| {
        s.id = Some(id);
        s.pid = Some(pid);
        s.live = Some(live);
        s.state = state;
        s.note = note.or(damage_note);
    });
    if state != before {
        vm.update_status(d, |s| s.state = state);
    }
    vm::spawn_actor(d.clone(), obj.clone(), vm.clone(), parts);
    tracing::info!(
        "domain '{name}' (id {id}, pid {pid}) reconnected: {} ({})",
        state.name(),
        state.reason_name()
    );
    if connected {
        after_connect(&vm, state);
    } else {
        retry_monitor(d.clone(), obj, vm, monitor_path);
    }
}

/// The monitor of a QEMU found alive, with the state it reports; a monitor that
/// does not answer leaves the domain listed with a note (QEMU is never killed).
async fn first_connect(
    st: &Status,
) -> (Option<(QmpClient, QmpEvents)>, DomainState, Option<String>) {
    let before = st.state;
    match connect(&st.monitor_path, FIRST_TIMEOUT).await {
        Ok((q, e, s)) => (Some((q, e)), map_status(&s, before), None),
        Err(why) => {
            let note = format!(
                "monitor not reconnected ({why}); QEMU pid {} keeps running, retrying",
                st.pid
            );
            tracing::warn!("domain '{}': {note}", st.domain.name);
            let state = match before {
                DomainState::Shutoff(_) => DomainState::Running(RunningReason::Unknown),
                s => s,
            };
            (None, state, Some(note))
        }
    }
}

/// Keeps trying a wedged monitor in the background until it answers or QEMU ends.
fn retry_monitor(d: Arc<Daemon>, obj: Arc<DomainObj>, vm: Arc<Vm>, monitor_path: PathBuf) {
    tokio::spawn(async move {
        while !vm.is_done() {
            tokio::time::sleep(RETRY_EVERY).await;
            if vm.is_done() {
                break;
            }
            if let Ok((q, e, s)) = connect(&monitor_path, RETRY_TIMEOUT).await {
                let state = map_status(&s, obj.snapshot().state);
                vm.set_monitor(q, e);
                vm.set_state(&d, &obj, state);
                after_connect(&vm, state);
                break;
            }
        }
    });
}

/// The guest powered off while the daemon was away (-no-shutdown kept QEMU): end it.
fn after_connect(vm: &Arc<Vm>, state: DomainState) {
    if matches!(state, DomainState::Shutdown(_))
        && let Some(q) = vm.qmp()
    {
        tokio::spawn(async move {
            let _ = q.execute("quit", None).await;
        });
    }
}

/// QEMU died while the daemon was not running: undo everything from the record.
async fn gone(d: &Arc<Daemon>, obj: &Arc<DomainObj>, st: Status) {
    let name = st.domain.name.clone();
    let reason = if st.record.shutdown_seen {
        ShutoffReason::Shutdown
    } else {
        ShutoffReason::Crashed
    };
    tracing::warn!(
        "domain '{name}': QEMU (pid {}) is gone; cleaning up ({})",
        st.pid,
        reason.as_str()
    );
    let problems = run_cleanup(d, Cleanup::from_record(&st.record.cleanup, None)).await;
    let _ = crate::store::remove_if_exists(&d.paths.status_file(&name));
    let s = obj.update(|s| {
        s.state = DomainState::Shutoff(reason);
        s.id = None;
        s.pid = None;
        if s.persistent {
            s.live = None;
        }
    });
    if s.persistent {
        vm::report_owner_problems(d, obj, &name, &problems);
    } else {
        d.registry.remove(obj);
        if let Some(def) = s.live.as_deref() {
            super::domain_state::remove_transient_state(&d.paths, def);
        }
    }
}

/// A damaged status file of a domain whose QEMU still runs: rebuild what can be
/// known from the definition and from `/proc` (pid by uuid, id from its working
/// directory `domain-ID-NAME`, monitor socket there, mount namespace), keep the
/// damaged file as `NAME.xml.damaged`, and reconnect. What the file alone knew
/// (ownership changes) is lost, which the returned note says.
fn rebuild_status(
    d: &Daemon,
    path: &Path,
    text: &str,
    why: &str,
) -> Option<(Status, Option<String>)> {
    let name = path.file_stem()?.to_string_lossy().into_owned();
    let obj = d.registry.by_name(&name)?;
    let snap = obj.snapshot();
    let mut def = snap.config.as_ref()?.domain().ok()?;
    let uuid = def.uuid.to_string();
    let needle = format!("\0-uuid\0{uuid}\0");
    let pid = salvage_pid(text)
        .filter(|p| procfs::cmdline_contains(*p, &uuid))
        .or_else(|| find_processes(&[&needle]).into_iter().next())?;
    let start_time = procfs::stat(pid)?.start_time;
    let cwd = fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
    let dir = cwd
        .to_string_lossy()
        .trim_end_matches(" (deleted)")
        .to_owned();
    let id: i32 = Path::new(&dir)
        .file_name()?
        .to_string_lossy()
        .strip_prefix("domain-")?
        .split('-')
        .next()?
        .parse()
        .ok()?;
    let lib_dir = d.paths.domain_dir(id, &name);
    if Path::new(&dir) != lib_dir {
        return None;
    }
    let own_ns = fs::read_link("/proc/self/ns/mnt").ok();
    let mount_namespace = fs::read_link(format!("/proc/{pid}/ns/mnt")).ok() != own_ns;
    def.id = Some(id);
    let monitor_path = lib_dir.join("monitor.sock");
    let st = Status {
        state: DomainState::Running(RunningReason::Unknown),
        pid,
        taints: Vec::new(),
        monitor_path: monitor_path.clone(),
        mount_namespace,
        lib_dir: Some(lib_dir.clone()),
        record: super::status::Record {
            id,
            start_time,
            cleanup: crate::launch::CleanupRecord {
                domain: name.clone(),
                lib_dir: Some(lib_dir),
                scratch_dir: Some(
                    d.paths
                        .state_dir
                        .join(format!("{}.dev", crate::paths::short_name(id, &name))),
                ),
                sockets: vec![monitor_path],
                cgroup_name: Some(crate::launch::vm_group_dir_name(&d.paths, id, &name)),
                ..crate::launch::CleanupRecord::default()
            },
            ..super::status::Record::default()
        },
        domain: def,
    };
    let kept = path.with_extension("xml.damaged");
    if let Err(e) = fs::copy(path, &kept) {
        tracing::warn!("cannot keep {}: {e}", kept.display());
    }
    if let Err(e) = st.write(path) {
        tracing::warn!("{e}");
    }
    let note = format!(
        "status file was damaged ({why}; kept as {}); rebuilt from the running QEMU, \
         its ownership changes are not known",
        kept.display()
    );
    tracing::warn!("domain '{name}': {note}");
    Some((st, Some(note)))
}

/// A status file that cannot be read: never kill or forget a QEMU that may be
/// running; show it with a note and keep the file for a human.
fn damaged(d: &Daemon, path: &Path, text: &str, why: &str) {
    let pid = salvage_pid(text).filter(|p| Path::new(&format!("/proc/{p}")).exists());
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    tracing::error!("{why}; file kept");
    match (pid, d.registry.by_name(&name)) {
        (Some(pid), Some(obj)) => {
            obj.update(|s| {
                s.state = DomainState::Running(RunningReason::Unknown);
                s.pid = Some(pid);
                s.note = Some(format!(
                    "status file damaged ({why}); QEMU pid {pid} keeps running but is not managed"
                ));
            });
        }
        (Some(pid), None) => tracing::error!(
            "domain '{name}': QEMU pid {pid} is running, no definition known; left alone"
        ),
        (None, _) => {}
    }
}
