//! The statistics calls ([`StatsRequest`]): vCPU and emulator threads, IOThreads,
//! block and interface statistics, memory statistics, all-domain stats, CPU
//! accounting, snapshots and the managed-save image. Every value is read from the
//! running QEMU (QMP), its `/proc` entries or its cgroup, never from what the
//! daemon recorded; tuning (scheduler, memory, blkio, NUMA, pinning) is in
//! [`super::tuning`].

use std::sync::Arc;

use remote_protocol::procs::stats::{
    DiskError, DomainStatsRecord, IothreadInfo, MemoryStat, VcpuInfo, impact, param,
};
use remote_protocol::procs::{StatsReply, StatsRequest, TypedParam, TypedParamValue as V};
use remote_protocol::xdr::Opaque;
use remote_protocol::{Domain, ErrorCode, ErrorDomain, RemoteError};
use serde_json::{Value, json};
use uuid::Uuid;

use super::hoststats::{self, VmGroups};
use super::vm::Vm;
use super::{Daemon, ops, tuning};
use crate::registry::{DomainObj, Snapshot};

/// A domain's object and snapshot, as a read sees it.
pub(super) fn find(
    d: &Daemon,
    dom: &Domain,
) -> Result<(Arc<DomainObj>, Arc<Snapshot>), RemoteError> {
    let obj = d
        .registry
        .by_uuid(&Uuid::from_bytes(dom.uuid))
        .ok_or_else(|| RemoteError::no_domain_uuid(&dom.uuid, &dom.name))?;
    let s = obj.snapshot();
    if s.config.is_none() && s.live.is_none() {
        return Err(s.not_found());
    }
    Ok((obj, s))
}

/// The running VM of a snapshot, or libvirt's "domain is not running".
pub(super) fn running(d: &Daemon, s: &Snapshot) -> Result<Arc<Vm>, RemoteError> {
    if !s.is_active() {
        return Err(ops::not_running());
    }
    d.vm(&s.uuid).ok_or_else(ops::not_running)
}

/// Runs a QMP command on the VM.
pub(super) async fn qmp(vm: &Vm, cmd: &str, args: Option<Value>) -> Result<Value, RemoteError> {
    let q = vm.qmp().ok_or_else(|| {
        RemoteError::operation_failed(&format!(
            "the monitor of domain '{}' is not connected (reconnect is being retried)",
            vm.name
        ))
    })?;
    q.execute(cmd, args)
        .await
        .map_err(|e| RemoteError::operation_failed(&format!("QEMU monitor: {cmd}: {e}")))
}

/// libvirt's refusal of flags it does not know.
pub(super) fn check_flags(flags: u32, known: u32) -> Result<(), RemoteError> {
    if flags & !known != 0 {
        return Err(RemoteError::invalid_arg(&format!(
            "unsupported flags (0x{:x}) in function",
            flags & !known
        )));
    }
    Ok(())
}

/// Whether LIVE/CONFIG/CURRENT flags ask for the persistent definition: CONFIG,
/// or CURRENT on an inactive domain. Both at once is libvirt's invalid-argument.
pub(super) fn wants_config(s: &Snapshot, flags: u32) -> Result<bool, RemoteError> {
    let live = flags & impact::LIVE != 0;
    let config = flags & impact::CONFIG != 0;
    if live && config {
        return Err(RemoteError::invalid_arg(
            "Flags 'VIR_DOMAIN_AFFECT_LIVE' and 'VIR_DOMAIN_AFFECT_CONFIG' are mutually exclusive",
        ));
    }
    if live && !s.is_active() {
        return Err(ops::not_running());
    }
    Ok(config || !s.is_active())
}

/// Answers one statistics or tuning call.
pub async fn handle(d: &Arc<Daemon>, req: StatsRequest) -> Result<StatsReply, RemoteError> {
    use StatsRequest as R;
    if let R::GetAllDomainStats { doms, stats, flags } = req {
        return all_domain_stats(d, &doms, stats, flags).await;
    }
    let Some(dom) = req.domain() else {
        return Err(RemoteError::internal("a statistics call without a domain"));
    };
    let (obj, s) = find(d, dom)?;
    match req {
        R::GetVcpus {
            maxinfo, maplen, ..
        } => vcpus(d, &s, maxinfo, maplen).await,
        R::GetVcpuPinInfo {
            ncpumaps,
            maplen,
            flags,
            ..
        } => tuning::vcpu_pin_info(d, &s, ncpumaps, maplen, flags).await,
        R::GetEmulatorPinInfo { maplen, flags, .. } => {
            tuning::emulator_pin_info(d, &s, maplen, flags)
        }
        R::GetIothreadInfo { flags, .. } => iothreads(d, &s, flags).await,
        R::GetBlockInfo { path, flags, .. } => {
            check_flags(flags, 0)?;
            block_info(d, &s, &path).await
        }
        R::BlockStats {
            path,
            nparams,
            flags,
            ..
        } => block_stats(d, &s, &path, nparams, flags).await,
        R::GetDiskErrors {
            maxerrors, flags, ..
        } => {
            check_flags(flags, 0)?;
            disk_errors(d, &s, maxerrors).await
        }
        R::InterfaceStats { device, .. } => interface_stats(d, &s, &device),
        R::MemoryStats {
            max_stats, flags, ..
        } => {
            check_flags(flags, 0)?;
            let vm = running(d, &s)?;
            let mut v = memory_stats(&vm, &s).await?;
            v.truncate(max_stats as usize);
            Ok(StatsReply::MemoryStats(v))
        }
        R::GetCpuStats {
            nparams,
            start_cpu,
            ncpus,
            flags,
            ..
        } => cpu_stats(d, &s, nparams, start_cpu, ncpus, flags),
        R::ListAllSnapshots { flags, .. } => {
            // No snapshots exist: rvirt does not make them.
            let _ = flags;
            Ok(StatsReply::NoSnapshots)
        }
        R::ManagedSaveGetXmlDesc { flags, .. } => {
            check_flags(flags, 1)?;
            // rvirt makes no managed save images, so there is never one.
            let _ = s;
            Err(RemoteError::operation_invalid(
                "domain does not have managed save image",
            ))
        }
        other => tuning::handle(d, &obj, &s, other).await,
    }
}

/// The vCPU threads of a running QEMU, by vCPU index (`query-cpus-fast`).
pub(super) async fn vcpu_threads(vm: &Vm) -> Result<Vec<(u32, u32)>, RemoteError> {
    let v = qmp(vm, "query-cpus-fast", None).await?;
    let mut out: Vec<(u32, u32)> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| {
                    Some((
                        c.get("cpu-index")?.as_u64()? as u32,
                        c.get("thread-id")?.as_u64()? as u32,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_unstable();
    Ok(out)
}

/// DOMAIN_GET_VCPUS: each vCPU thread's state, time, last CPU and affinity.
async fn vcpus(
    d: &Daemon,
    s: &Snapshot,
    maxinfo: i32,
    maplen: i32,
) -> Result<StatsReply, RemoteError> {
    if maxinfo < 0 || maplen < 0 {
        return Err(RemoteError::internal(
            "maxinfo and maplen must be non-negative",
        ));
    }
    if !s.is_active() {
        return Err(RemoteError::operation_invalid(
            "cannot retrieve vcpu information for inactive domain",
        ));
    }
    let vm = running(d, s)?;
    let threads = vcpu_threads(&vm).await?;
    let maplen = maplen as usize;
    let mut info = Vec::new();
    let mut cpumaps = vec![0u8; maxinfo as usize * maplen];
    for (i, (idx, tid)) in threads.iter().take(maxinfo as usize).enumerate() {
        let st = hoststats::thread_stat(vm.pid, *tid);
        info.push(VcpuInfo {
            number: *idx,
            // libvirt reports an online vCPU as running whatever its thread does.
            state: 1,
            cpu_time: st.map_or(0, |s| s.cpu_time_ns),
            cpu: st.map_or(-1, |s| s.processor),
        });
        if maplen > 0 {
            let aff = hoststats::thread_affinity(vm.pid, *tid).unwrap_or_default();
            cpumaps[i * maplen..(i + 1) * maplen].copy_from_slice(&hoststats::cpumap(&aff, maplen));
        }
    }
    Ok(StatsReply::Vcpus { info, cpumaps })
}

/// DOMAIN_GET_IOTHREAD_INFO: QEMU's IOThreads and their threads' affinities.
async fn iothreads(d: &Daemon, s: &Snapshot, flags: u32) -> Result<StatsReply, RemoteError> {
    check_flags(flags, impact::LIVE | impact::CONFIG)?;
    let maplen = (hoststats::host_cpu_count() as usize).div_ceil(8);
    if wants_config(s, flags)? {
        let n = s
            .start_definition()
            .ok()
            .and_then(|def| def.iothreads)
            .unwrap_or(0);
        let all: Vec<u32> = hoststats::present_cpus();
        return Ok(StatsReply::Iothreads(
            (1..=n)
                .map(|id| IothreadInfo {
                    iothread_id: id,
                    cpumap: Opaque(hoststats::cpumap(&all, maplen)),
                })
                .collect(),
        ));
    }
    let vm = running(d, s)?;
    let v = qmp(&vm, "query-iothreads", None).await?;
    let mut out = Vec::new();
    for t in v.as_array().into_iter().flatten() {
        let id = t
            .get("id")
            .and_then(Value::as_str)
            .and_then(|i| i.strip_prefix("iothread"))
            .and_then(|n| n.parse().ok());
        let tid = t.get("thread-id").and_then(Value::as_u64);
        let (Some(id), Some(tid)) = (id, tid) else {
            continue;
        };
        let aff = hoststats::thread_affinity(vm.pid, tid as u32).unwrap_or_default();
        out.push(IothreadInfo {
            iothread_id: id,
            cpumap: Opaque(hoststats::cpumap(&aff, maplen)),
        });
    }
    out.sort_by_key(|i| i.iothread_id);
    Ok(StatsReply::Iothreads(out))
}

/// A disk of the live definition, by target name or source path.
struct DiskRef {
    target: String,
    path: Option<String>,
    alias: Option<String>,
    /// A qcow2 image (its allocation is the host's, not the highest write).
    qcow2: bool,
}

impl DiskRef {
    fn of(d: &domain_xml::model::devices::Disk) -> DiskRef {
        DiskRef {
            target: d.target.dev.clone(),
            path: d.source.as_ref().and_then(|s| s.path.clone()),
            alias: d.info.alias.clone(),
            qcow2: d
                .driver
                .as_ref()
                .and_then(|a| a.get("type"))
                .is_some_and(|t| t == "qcow2"),
        }
    }
}

fn disk_ref(s: &Snapshot, path: &str) -> Result<DiskRef, RemoteError> {
    let def = s.live.as_deref().ok_or_else(ops::not_running)?;
    def.devices
        .disks
        .iter()
        .find(|d| {
            d.target.dev == path || d.source.as_ref().and_then(|s| s.path.as_deref()) == Some(path)
        })
        .map(DiskRef::of)
        .ok_or_else(|| {
            RemoteError::invalid_arg(&format!("invalid path {path} not assigned to domain"))
        })
}

/// Whether a `query-block`/`query-blockstats` entry is this disk's: its qdev
/// path names the alias, or its image is the disk's file.
fn entry_is(e: &Value, disk: &DiskRef) -> bool {
    let qdev = e.get("qdev").and_then(Value::as_str).unwrap_or("");
    if let Some(a) = &disk.alias
        && (qdev == a || qdev.split('/').any(|c| c == a))
    {
        return true;
    }
    let file = e
        .pointer("/inserted/file")
        .or_else(|| e.pointer("/inserted/image/filename"))
        .and_then(Value::as_str);
    file.is_some() && file == disk.path.as_deref()
}

/// The `query-block` entry of a disk.
async fn block_entry(vm: &Vm, disk: &DiskRef) -> Result<Value, RemoteError> {
    let v = qmp(vm, "query-block", None).await?;
    v.as_array()
        .and_then(|a| a.iter().find(|e| entry_is(e, disk)).cloned())
        .ok_or_else(|| {
            RemoteError::internal(&format!(
                "cannot find statistics for device '{}'",
                disk.target
            ))
        })
}

/// The `query-blockstats` entry of a disk, by its `query-block` qdev path.
async fn block_stats_of(vm: &Vm, qdev: &str) -> Result<Value, RemoteError> {
    let v = qmp(vm, "query-blockstats", None).await?;
    v.as_array()
        .and_then(|a| {
            a.iter()
                .find(|e| e.get("qdev").and_then(Value::as_str) == Some(qdev))
                .cloned()
        })
        .ok_or_else(|| {
            RemoteError::internal(&format!("cannot find statistics for device '{qdev}'"))
        })
}

/// What QEMU says of a disk's sizes: guest-visible size, bytes allocated on
/// the host (`actual-size`) and the highest offset written (of the storage
/// node under the format node when there is one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct QemuSizes {
    capacity: u64,
    actual: u64,
    highest_written: Option<u64>,
}

fn qemu_sizes(block: &Value, stats: Option<&Value>) -> QemuSizes {
    let image = |k: &str| {
        block
            .pointer(&format!("/inserted/image/{k}"))
            .and_then(Value::as_u64)
    };
    let highest_written = stats.and_then(|s| {
        s.pointer("/parent/stats/wr_highest_offset")
            .or_else(|| s.pointer("/stats/wr_highest_offset"))
            .and_then(Value::as_u64)
    });
    QemuSizes {
        capacity: image("virtual-size").unwrap_or(0),
        actual: image("actual-size").unwrap_or(0),
        highest_written,
    }
}

/// DOMAIN_GET_BLOCK_INFO's `(allocation, capacity, physical)` as libvirt
/// defines them: allocation is the highest written offset (a qcow2 file's
/// host allocation), physical the host allocation, and where the two say
/// nothing apart (sparse file, nothing written yet) physical is the file's size.
fn block_info_sizes(q: QemuSizes, disk: &DiskRef) -> (u64, u64, u64) {
    let mut allocation = match q.highest_written {
        Some(h) if !disk.qcow2 => h,
        _ => q.actual,
    };
    let physical = if q.actual == 0 || allocation == 0 || allocation == q.actual {
        if allocation == 0 {
            allocation = q.actual;
        }
        disk.path
            .as_deref()
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(q.actual, |m| m.len())
    } else {
        q.actual
    };
    (allocation, q.capacity, physical)
}

/// DOMAIN_GET_BLOCK_INFO.
async fn block_info(d: &Daemon, s: &Snapshot, path: &str) -> Result<StatsReply, RemoteError> {
    let vm = running(d, s)?;
    let disk = disk_ref(s, path)?;
    let e = block_entry(&vm, &disk).await?;
    let qdev = e.get("qdev").and_then(Value::as_str).unwrap_or("");
    let st = block_stats_of(&vm, qdev).await.ok();
    let (allocation, capacity, physical) = block_info_sizes(qemu_sizes(&e, st.as_ref()), &disk);
    Ok(StatsReply::BlockInfo {
        allocation,
        capacity,
        physical,
    })
}

/// QEMU's block stats as libvirt's typed parameters, in libvirt's order.
fn block_params(st: &Value) -> Vec<TypedParam> {
    let n = |k: &str| st.get(k).and_then(Value::as_i64).unwrap_or(0);
    [
        ("wr_bytes", "wr_bytes"),
        ("wr_operations", "wr_operations"),
        ("rd_bytes", "rd_bytes"),
        ("rd_operations", "rd_operations"),
        ("flush_operations", "flush_operations"),
        ("wr_total_times", "wr_total_time_ns"),
        ("rd_total_times", "rd_total_time_ns"),
        ("flush_total_times", "flush_total_time_ns"),
    ]
    .into_iter()
    .map(|(name, key)| param(name, V::LLong(n(key))))
    .collect()
}

/// DOMAIN_BLOCK_STATS(_FLAGS).
async fn block_stats(
    d: &Daemon,
    s: &Snapshot,
    path: &str,
    nparams: Option<i32>,
    flags: u32,
) -> Result<StatsReply, RemoteError> {
    check_flags(
        flags,
        remote_protocol::procs::stats::TYPED_PARAM_STRING_OKAY,
    )?;
    let vm = running(d, s)?;
    let disk = disk_ref(s, path)?;
    let e = block_entry(&vm, &disk).await?;
    let qdev = e.get("qdev").and_then(Value::as_str).unwrap_or("");
    let entry = block_stats_of(&vm, qdev).await?;
    let st = entry.get("stats").cloned().unwrap_or_default();
    let params = block_params(&st);
    Ok(match nparams {
        None => {
            let n = |k: &str| st.get(k).and_then(Value::as_i64).unwrap_or(-1);
            StatsReply::BlockStats {
                rd_req: n("rd_operations"),
                rd_bytes: n("rd_bytes"),
                wr_req: n("wr_operations"),
                wr_bytes: n("wr_bytes"),
                errs: -1,
            }
        }
        Some(0) => StatsReply::Params {
            params: Vec::new(),
            nparams: params.len() as i32,
        },
        Some(n) => {
            let mut params = params;
            params.truncate(n.max(0) as usize);
            StatsReply::Params {
                nparams: params.len() as i32,
                params,
            }
        }
    })
}

/// DOMAIN_GET_DISK_ERRORS: disks whose I/O status is not `ok`.
async fn disk_errors(d: &Daemon, s: &Snapshot, maxerrors: u32) -> Result<StatsReply, RemoteError> {
    let vm = running(d, s)?;
    let def = s.live.as_deref().ok_or_else(ops::not_running)?;
    let v = qmp(&vm, "query-block", None).await?;
    let mut errors = Vec::new();
    for disk in &def.devices.disks {
        let r = DiskRef::of(disk);
        let Some(e) = v
            .as_array()
            .and_then(|a| a.iter().find(|e| entry_is(e, &r)))
        else {
            continue;
        };
        let code = match e.get("io-status").and_then(Value::as_str) {
            None | Some("ok") => continue,
            Some("nospace") => 2,
            Some(_) => 1,
        };
        errors.push(DiskError {
            disk: r.target,
            error: code,
        });
    }
    let nerrors = errors.len() as i32;
    if maxerrors == 0 {
        errors.clear();
    } else {
        errors.truncate(maxerrors as usize);
    }
    Ok(StatsReply::DiskErrors {
        nerrors: if maxerrors == 0 {
            nerrors
        } else {
            errors.len() as i32
        },
        errors,
    })
}

/// The host device of an interface (its tap, `<target dev>`), by that name or the MAC.
fn interface_host_dev(s: &Snapshot, device: &str) -> Result<String, RemoteError> {
    let def = s.live.as_deref().ok_or_else(ops::not_running)?;
    let net = def
        .devices
        .interfaces
        .iter()
        .find(|i| {
            i.target.as_ref().and_then(|t| t.get("dev")) == Some(device)
                || i.mac
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(device))
        })
        .ok_or_else(|| {
            RemoteError::invalid_arg(&format!(
                "invalid path, '{device}' is not a known interface"
            ))
        })?;
    net.target
        .as_ref()
        .and_then(|t| t.get("dev"))
        .map(str::to_owned)
        .ok_or_else(|| {
            RemoteError::new(
                ErrorCode::OPERATION_UNSUPPORTED,
                ErrorDomain::QEMU,
                format!(
                    "Operation not supported: interface '{device}' has no host device to read statistics from"
                ),
            )
        })
}

/// A host interface's counters from `/sys/class/net/DEV/statistics`, seen from
/// the guest (the tap's rx is the guest's tx, as libvirt swaps them).
fn tap_counters(dev: &str) -> Result<[i64; 8], RemoteError> {
    let read = |k: &str| -> Result<i64, RemoteError> {
        let p = format!("/sys/class/net/{dev}/statistics/{k}");
        std::fs::read_to_string(&p)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .ok_or_else(|| RemoteError::operation_failed(&format!("cannot read {p}")))
    };
    Ok([
        read("tx_bytes")?,
        read("tx_packets")?,
        read("tx_errors")?,
        read("tx_dropped")?,
        read("rx_bytes")?,
        read("rx_packets")?,
        read("rx_errors")?,
        read("rx_dropped")?,
    ])
}

/// DOMAIN_INTERFACE_STATS.
fn interface_stats(d: &Daemon, s: &Snapshot, device: &str) -> Result<StatsReply, RemoteError> {
    running(d, s)?;
    let dev = interface_host_dev(s, device)?;
    Ok(StatsReply::InterfaceStats(tap_counters(&dev)?))
}

/// `virDomainMemoryStatTags` and QEMU's guest-stats names (with their divisor to KiB).
const BALLOON_STATS: [(&str, i32, u64); 10] = [
    ("stat-swap-in", 0, 1024),
    ("stat-swap-out", 1, 1024),
    ("stat-major-faults", 2, 1),
    ("stat-minor-faults", 3, 1),
    ("stat-free-memory", 4, 1024),
    ("stat-total-memory", 5, 1024),
    ("stat-available-memory", 8, 1024),
    ("stat-disk-caches", 10, 1024),
    ("stat-htlb-pgalloc", 11, 1),
    ("stat-htlb-pgfail", 12, 1),
];

/// The balloon device's QOM path, if the definition has a balloon.
pub(super) fn balloon_path(def: &domain_xml::Domain) -> Option<String> {
    let b = def.devices.memballoon.as_ref()?;
    if b.model == "none" {
        return None;
    }
    Some(format!(
        "/machine/peripheral/{}",
        b.info.alias.as_deref().unwrap_or("balloon0")
    ))
}

/// DOMAIN_MEMORY_STATS: the balloon's size and guest statistics over QMP, the
/// QEMU's RSS from `/proc`.
async fn memory_stats(vm: &Vm, s: &Snapshot) -> Result<Vec<MemoryStat>, RemoteError> {
    let mut out = Vec::new();
    if let Some(path) = s.live.as_deref().and_then(balloon_path) {
        if let Ok(b) = qmp(vm, "query-balloon", None).await
            && let Some(actual) = b.get("actual").and_then(Value::as_u64)
        {
            out.push(MemoryStat {
                tag: 6,
                val: actual / 1024,
            });
        }
        let gs = qmp(
            vm,
            "qom-get",
            Some(json!({"path": path, "property": "guest-stats"})),
        )
        .await;
        if let Ok(gs) = gs {
            for (key, tag, div) in BALLOON_STATS {
                // Stats the guest never reported are all-ones (-1).
                if let Some(v) = gs.pointer(&format!("/stats/{key}")).and_then(Value::as_u64)
                    && v != u64::MAX
                {
                    out.push(MemoryStat { tag, val: v / div });
                }
            }
            if let Some(t) = gs.get("last-update").and_then(Value::as_u64) {
                out.push(MemoryStat { tag: 9, val: t });
            }
        }
    } else {
        // No balloon: the whole memory is the guest's.
        out.push(MemoryStat {
            tag: 6,
            val: s.live.as_deref().map_or(0, |l| l.memory_kib),
        });
    }
    if let Some(rss) = hoststats::rss_kib(vm.pid) {
        out.push(MemoryStat { tag: 7, val: rss });
    }
    Ok(out)
}

/// DOMAIN_GET_CPU_STATS: libvirt's two modes, the total (`start_cpu` -1:
/// cpu_time, user_time, system_time) and per host CPU (cpu_time from v1
/// `cpuacct.usage_percpu`; cgroup v2 has no per-CPU accounting, so none).
fn cpu_stats(
    d: &Daemon,
    s: &Snapshot,
    nparams: u32,
    start_cpu: i32,
    ncpus: u32,
    flags: u32,
) -> Result<StatsReply, RemoteError> {
    check_flags(
        flags,
        remote_protocol::procs::stats::TYPED_PARAM_STRING_OKAY,
    )?;
    let vm = running(d, s)?;
    let groups = VmGroups::of_pid(vm.pid);
    let none = || StatsReply::Params {
        params: Vec::new(),
        nparams: 0,
    };
    if start_cpu == -1 {
        if ncpus != 1 {
            return Err(RemoteError::invalid_arg(
                "ncpus must be 1 when start_cpu is -1",
            ));
        }
        if nparams == 0 {
            return Ok(StatsReply::Params {
                params: Vec::new(),
                nparams: 3,
            });
        }
        let (total, user, system) = hoststats::cgroup_cpu_times(&groups).ok_or_else(|| {
            RemoteError::operation_failed(&format!(
                "cannot read the CPU accounting of domain '{}' from its cgroup",
                s.name
            ))
        })?;
        let mut params = vec![
            param("cpu_time", V::ULLong(total)),
            param("user_time", V::ULLong(user)),
            param("system_time", V::ULLong(system)),
        ];
        params.truncate(nparams as usize);
        return Ok(StatsReply::Params {
            nparams: params.len() as i32,
            params,
        });
    }
    if start_cpu < 0 {
        return Err(RemoteError::invalid_arg(
            "start_cpu must be -1 or a CPU number",
        ));
    }
    let percpu = hoststats::cgroup_percpu(&groups);
    if nparams == 0 && ncpus != 0 {
        return Ok(StatsReply::Params {
            params: Vec::new(),
            nparams: i32::from(percpu.is_some()),
        });
    }
    let total_cpus = hoststats::host_cpu_count();
    if ncpus == 0 {
        return Ok(StatsReply::Params {
            params: Vec::new(),
            nparams: total_cpus as i32,
        });
    }
    if start_cpu as u32 >= total_cpus {
        return Err(RemoteError::invalid_arg(&format!(
            "start_cpu {start_cpu} larger than maximum of {}",
            total_cpus - 1
        )));
    }
    let Some(percpu) = percpu else {
        return Ok(none());
    };
    let end = total_cpus.min(start_cpu as u32 + ncpus);
    let params = (start_cpu as u32..end)
        .map(|c| {
            param(
                "cpu_time",
                V::ULLong(percpu.get(c as usize).copied().unwrap_or(0)),
            )
        })
        .collect();
    Ok(StatsReply::Params { params, nparams: 1 })
}

/// `virDomainStatsTypes` groups.
mod group {
    pub const STATE: u32 = 1;
    pub const CPU_TOTAL: u32 = 2;
    pub const BALLOON: u32 = 4;
    pub const VCPU: u32 = 8;
    pub const INTERFACE: u32 = 16;
    pub const BLOCK: u32 = 32;
    /// The groups rvirt reports.
    pub const SUPPORTED: u32 = STATE | CPU_TOTAL | BALLOON | VCPU | INTERFACE | BLOCK;
}

/// `VIR_CONNECT_GET_ALL_DOMAINS_STATS_*` flags beyond the list filters.
const STATS_NOWAIT: u32 = 1 << 29;
const STATS_BACKING: u32 = 1 << 30;
const STATS_ENFORCE: u32 = 1 << 31;

/// CONNECT_GET_ALL_DOMAIN_STATS.
async fn all_domain_stats(
    d: &Arc<Daemon>,
    doms: &[Domain],
    stats: u32,
    flags: u32,
) -> Result<StatsReply, RemoteError> {
    check_flags(flags, 0xff | STATS_NOWAIT | STATS_BACKING | STATS_ENFORCE)?;
    if flags & STATS_ENFORCE != 0 && stats & !group::SUPPORTED != 0 {
        return Err(RemoteError::new(
            ErrorCode::OPERATION_UNSUPPORTED,
            ErrorDomain::QEMU,
            format!(
                "Operation not supported: Stats types bits 0x{:x} are not supported by this daemon",
                stats & !group::SUPPORTED
            ),
        ));
    }
    let groups = if stats == 0 {
        group::SUPPORTED
    } else {
        stats & group::SUPPORTED
    };
    let snaps: Vec<Arc<Snapshot>> = if doms.is_empty() {
        d.registry
            .all()
            .iter()
            .map(|o| o.snapshot())
            .filter(|s| super::backend::list_matches(s, flags & 0xff))
            .collect()
    } else {
        let mut v = Vec::new();
        for dom in doms {
            v.push(find(d, dom)?.1);
        }
        v
    };
    let mut records = Vec::new();
    for s in snaps {
        let params = domain_stats(d, &s, groups).await;
        records.push(DomainStatsRecord {
            dom: Domain {
                name: s.name.clone(),
                uuid: *s.uuid.as_bytes(),
                id: s.id.unwrap_or(-1),
            },
            params,
        });
    }
    Ok(StatsReply::AllDomainStats(records))
}

/// One domain's stats of the asked groups, named as libvirt names them. A group
/// whose source cannot be read is left out, as libvirt does.
async fn domain_stats(d: &Daemon, s: &Snapshot, groups: u32) -> Vec<TypedParam> {
    let mut p = Vec::new();
    if groups & group::STATE != 0 {
        p.push(param("state.state", V::Int(s.state.code())));
        p.push(param("state.reason", V::Int(s.state.reason_code())));
    }
    let vm = running(d, s).ok();
    let def = s.definition(false);
    if groups & group::CPU_TOTAL != 0
        && let Some(vm) = &vm
        && let Some((t, u, sy)) = hoststats::cgroup_cpu_times(&VmGroups::of_pid(vm.pid))
    {
        p.push(param("cpu.time", V::ULLong(t)));
        p.push(param("cpu.user", V::ULLong(u)));
        p.push(param("cpu.system", V::ULLong(sy)));
    }
    if groups & group::BALLOON != 0 {
        let max = def.as_ref().map_or(0, |d| d.memory_kib());
        let mut current = def.as_ref().map_or(0, |d| d.current_memory_kib());
        let mut extra = Vec::new();
        if let Some(vm) = &vm
            && let Ok(stats) = memory_stats(vm, s).await
        {
            for st in stats {
                let name = match st.tag {
                    6 => {
                        current = st.val;
                        continue;
                    }
                    0 => "swap_in",
                    1 => "swap_out",
                    2 => "major_fault",
                    3 => "minor_fault",
                    4 => "unused",
                    5 => "available",
                    7 => "rss",
                    8 => "usable",
                    9 => "last-update",
                    10 => "disk_caches",
                    11 => "hugetlb_pgalloc",
                    12 => "hugetlb_pgfail",
                    _ => continue,
                };
                extra.push(param(format!("balloon.{name}"), V::ULLong(st.val)));
            }
        }
        p.push(param("balloon.current", V::ULLong(current)));
        p.push(param("balloon.maximum", V::ULLong(max)));
        p.extend(extra);
    }
    if groups & group::VCPU != 0 {
        let cur = def.as_ref().map_or(1, |d| d.vcpus_current());
        let max = def.as_ref().map_or(1, |d| d.vcpus_max());
        p.push(param("vcpu.current", V::UInt(cur)));
        p.push(param("vcpu.maximum", V::UInt(max)));
        if let Some(vm) = &vm
            && let Ok(threads) = vcpu_threads(vm).await
        {
            for (idx, tid) in threads {
                let st = hoststats::thread_stat(vm.pid, tid);
                p.push(param(format!("vcpu.{idx}.state"), V::Int(1)));
                p.push(param(
                    format!("vcpu.{idx}.time"),
                    V::ULLong(st.map_or(0, |s| s.cpu_time_ns)),
                ));
                // Time spent runnable but waiting for a host CPU.
                if let Some(delay) = hoststats::thread_run_delay(vm.pid, tid) {
                    p.push(param(format!("vcpu.{idx}.delay"), V::ULLong(delay)));
                }
            }
        }
    }
    if let (Some(vm), Some(live)) = (&vm, s.live.as_deref()) {
        if groups & group::INTERFACE != 0 {
            interface_group(live, &mut p);
        }
        if groups & group::BLOCK != 0 {
            block_group(vm, live, &mut p).await;
        }
    }
    p
}

/// `net.*` as libvirt gives it: the count of interfaces, and by position the
/// host device's name and counters of those that have one.
fn interface_group(live: &domain_xml::Domain, p: &mut Vec<TypedParam>) {
    p.push(param(
        "net.count",
        V::UInt(live.devices.interfaces.len() as u32),
    ));
    let names = [
        "rx.bytes", "rx.pkts", "rx.errs", "rx.drop", "tx.bytes", "tx.pkts", "tx.errs", "tx.drop",
    ];
    for (n, net) in live.devices.interfaces.iter().enumerate() {
        let Some(dev) = net.target.as_ref().and_then(|t| t.get("dev")) else {
            continue;
        };
        p.push(param(format!("net.{n}.name"), V::String(dev.to_owned())));
        let Ok(c) = tap_counters(dev) else {
            continue;
        };
        for (k, v) in names.iter().zip(c) {
            p.push(param(format!("net.{n}.{k}"), V::ULLong(v.max(0) as u64)));
        }
    }
}

/// `block.*` as libvirt gives it: the count of disks and, by position, each
/// one's name and path, and the I/O counters and sizes QEMU reports for it.
async fn block_group(vm: &Vm, live: &domain_xml::Domain, p: &mut Vec<TypedParam>) {
    let blocks = qmp(vm, "query-block", None).await.ok();
    let stats = qmp(vm, "query-blockstats", None).await.ok();
    p.push(param(
        "block.count",
        V::UInt(live.devices.disks.len() as u32),
    ));
    for (n, disk) in live.devices.disks.iter().enumerate() {
        let r = DiskRef::of(disk);
        let pre = format!("block.{n}");
        p.push(param(format!("{pre}.name"), V::String(r.target.clone())));
        if let Some(path) = &r.path {
            p.push(param(format!("{pre}.path"), V::String(path.clone())));
        }
        let Some(e) = blocks
            .as_ref()
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|e| entry_is(e, &r)))
        else {
            continue;
        };
        let qdev = e.get("qdev").and_then(Value::as_str).unwrap_or("");
        let entry = stats.as_ref().and_then(Value::as_array).and_then(|a| {
            a.iter()
                .find(|x| x.get("qdev").and_then(Value::as_str) == Some(qdev))
        });
        if let Some(st) = entry.and_then(|x| x.get("stats")) {
            let g = |k: &str| st.get(k).and_then(Value::as_u64).unwrap_or(0);
            for (name, key) in [
                ("rd.reqs", "rd_operations"),
                ("rd.bytes", "rd_bytes"),
                ("rd.times", "rd_total_time_ns"),
                ("wr.reqs", "wr_operations"),
                ("wr.bytes", "wr_bytes"),
                ("wr.times", "wr_total_time_ns"),
                ("fl.reqs", "flush_operations"),
                ("fl.times", "flush_total_time_ns"),
            ] {
                p.push(param(format!("{pre}.{name}"), V::ULLong(g(key))));
            }
        }
        // libvirt's stats meanings: allocation is the highest written offset,
        // physical the host allocation.
        let q = qemu_sizes(e, entry);
        if let Some(h) = q.highest_written {
            p.push(param(format!("{pre}.allocation"), V::ULLong(h)));
        }
        p.push(param(format!("{pre}.capacity"), V::ULLong(q.capacity)));
        p.push(param(format!("{pre}.physical"), V::ULLong(q.actual)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_params_are_libvirts() {
        let st = json!({"rd_bytes": 10, "wr_bytes": 20, "rd_operations": 1, "wr_operations": 2,
            "flush_operations": 3, "rd_total_time_ns": 4, "wr_total_time_ns": 5,
            "flush_total_time_ns": 6});
        let p = block_params(&st);
        let names: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            names,
            [
                "wr_bytes",
                "wr_operations",
                "rd_bytes",
                "rd_operations",
                "flush_operations",
                "wr_total_times",
                "rd_total_times",
                "flush_total_times"
            ]
        );
        assert_eq!(p[2].value, V::LLong(10));
        assert_eq!(p[7].value, V::LLong(6));
    }

    #[test]
    fn block_entries_match_by_alias_or_file() {
        let disk = DiskRef {
            target: "vda".into(),
            path: Some("/img/a.raw".into()),
            alias: None,
            qcow2: false,
        };
        let by_file = json!({"qdev": "/machine/peripheral/virtio-disk0/virtio-backend",
            "inserted": {"file": "/img/a.raw"}});
        assert!(entry_is(&by_file, &disk));
        let other = json!({"qdev": "x", "inserted": {"file": "/img/b.raw"}});
        assert!(!entry_is(&other, &disk));
        let aliased = DiskRef {
            alias: Some("virtio-disk0".into()),
            path: None,
            ..disk
        };
        assert!(entry_is(&by_file, &aliased));
    }

    #[test]
    fn block_info_sizes_follow_libvirt() {
        let disk = DiskRef {
            target: "vda".into(),
            path: None,
            alias: None,
            qcow2: false,
        };
        let block = json!({"inserted": {"image": {"virtual-size": 1000, "actual-size": 400}}});
        // Written up to 300 of a raw image: allocation is that, physical the host's.
        let st = json!({"stats": {}, "parent": {"stats": {"wr_highest_offset": 300}}});
        let q = qemu_sizes(&block, Some(&st));
        assert_eq!(q.highest_written, Some(300));
        assert_eq!(block_info_sizes(q, &disk), (300, 1000, 400));
        // Nothing written yet: allocation is the host's, physical the file's
        // size (here unknown: the host allocation).
        let st = json!({"stats": {"wr_highest_offset": 0}});
        assert_eq!(
            block_info_sizes(qemu_sizes(&block, Some(&st)), &disk),
            (400, 1000, 400)
        );
        // qcow2: the host allocation.
        let q2 = DiskRef {
            qcow2: true,
            ..disk
        };
        let st = json!({"parent": {"stats": {"wr_highest_offset": 300}}});
        assert_eq!(
            block_info_sizes(qemu_sizes(&block, Some(&st)), &q2),
            (400, 1000, 400)
        );
    }
}
