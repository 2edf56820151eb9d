//! The tuning calls: vCPU and emulator pinning, scheduler, memory, blkio and NUMA
//! parameters. Live values are read from (and written to) the QEMU's threads and
//! its per-VM cgroup; persistent ones are the definition's `<cputune>`,
//! `<memtune>`, `<blkiotune>` and `<numatune>`.

use std::path::Path;
use std::sync::Arc;

use remote_protocol::procs::stats::{TYPED_PARAM_STRING_OKAY, impact, param, params_for};
use remote_protocol::procs::{
    StatsReply, StatsRequest, TuningKind, TypedParam, TypedParamValue as V,
};
use remote_protocol::{ErrorCode, ErrorDomain, RemoteError};

use super::Daemon;
use super::hoststats::{self, VmGroups};
use super::stats::{check_flags, running, vcpu_threads, wants_config};
use crate::registry::{DomainObj, Snapshot};

/// `VIR_DOMAIN_MEMORY_PARAM_UNLIMITED`, KiB.
pub const MEMORY_UNLIMITED: u64 = 9_007_199_254_740_991;

/// The flags every tuning call takes.
const IMPACT: u32 = impact::LIVE | impact::CONFIG;

fn unsupported(what: &str) -> RemoteError {
    RemoteError::new(
        ErrorCode::OPERATION_UNSUPPORTED,
        ErrorDomain::QEMU,
        format!("Operation not supported: {what}"),
    )
}

fn cgroup_error(name: &str, what: &str, e: impl std::fmt::Display) -> RemoteError {
    RemoteError::new(
        ErrorCode::SYSTEM_ERROR,
        ErrorDomain::QEMU,
        format!("Unable to {what} of domain '{name}': {e}"),
    )
}

/// The tuning requests [`super::stats::handle`] passes on.
pub async fn handle(
    d: &Arc<Daemon>,
    obj: &Arc<DomainObj>,
    s: &Snapshot,
    req: StatsRequest,
) -> Result<StatsReply, RemoteError> {
    use StatsRequest as R;
    match req {
        R::GetSchedulerType { .. } => {
            let n = scheduler_params(d, s, 0)?.len();
            Ok(StatsReply::SchedulerType {
                typ: "posix".into(),
                nparams: n as i32,
            })
        }
        R::GetParameters {
            kind,
            nparams,
            flags,
            ..
        } => get_parameters(d, s, kind, nparams, flags),
        R::SetParameters {
            kind,
            params,
            flags,
            ..
        } => {
            let _job = obj.job.lock().await;
            set_parameters(d, s, kind, &params, flags)?;
            Ok(StatsReply::Void)
        }
        R::PinVcpu {
            vcpu,
            cpumap,
            flags,
            ..
        } => {
            let _job = obj.job.lock().await;
            pin_vcpu(d, s, vcpu, &cpumap, flags).await?;
            Ok(StatsReply::Void)
        }
        R::PinEmulator { cpumap, flags, .. } => {
            let _job = obj.job.lock().await;
            pin_emulator(d, s, &cpumap, flags).await?;
            Ok(StatsReply::Void)
        }
        other => Err(RemoteError::internal(&format!(
            "no handler for statistics call {other:?}"
        ))),
    }
}

/// The GET_*_PARAMETERS calls: the count when `nparams` is 0, else up to
/// `nparams` values (strings only for callers that take them).
fn get_parameters(
    d: &Daemon,
    s: &Snapshot,
    kind: TuningKind,
    nparams: i32,
    flags: u32,
) -> Result<StatsReply, RemoteError> {
    if nparams < 0 {
        return Err(RemoteError::internal("nparams must be non-negative"));
    }
    check_flags(flags, IMPACT | TYPED_PARAM_STRING_OKAY)?;
    let all = match kind {
        TuningKind::Scheduler => scheduler_params(d, s, flags)?,
        TuningKind::Memory => memory_params(d, s, flags)?,
        TuningKind::Blkio => blkio_params(d, s, flags)?,
        TuningKind::Numa => numa_params(d, s, flags)?,
    };
    let mut params = params_for(flags, all);
    if kind == TuningKind::Scheduler {
        params.truncate(nparams as usize);
        return Ok(StatsReply::ParamsOnly(params));
    }
    if nparams == 0 {
        return Ok(StatsReply::Params {
            nparams: params.len() as i32,
            params: Vec::new(),
        });
    }
    params.truncate(nparams as usize);
    Ok(StatsReply::Params {
        nparams: params.len() as i32,
        params,
    })
}

/// The VM's cgroups, for a live read or write.
fn live_groups(d: &Daemon, s: &Snapshot) -> Result<VmGroups, RemoteError> {
    let vm = running(d, s)?;
    Ok(VmGroups::of_pid(vm.pid))
}

fn read_u64(text: Option<String>) -> Option<u64> {
    text?.trim().parse().ok()
}

/// Scheduler parameters: `cpu_shares`, `global_period` and `global_quota` of the
/// per-VM cgroup (rvirt has no per-vCPU sub-groups, so it reports no vcpu_*,
/// emulator_* or iothread_* values).
fn scheduler_params(d: &Daemon, s: &Snapshot, flags: u32) -> Result<Vec<TypedParam>, RemoteError> {
    if wants_config(s, flags & IMPACT)? {
        // The persistent `<cputune>`: unset values are 0, as libvirt shows them.
        return Ok(vec![
            param("cpu_shares", V::ULLong(0)),
            param("global_period", V::ULLong(0)),
            param("global_quota", V::LLong(0)),
        ]);
    }
    let g = live_groups(d, s)?;
    let mut out = Vec::new();
    if g.is_v1("cpu") {
        if let Some(v) = read_u64(g.read("cpu", "cpu.shares", "")) {
            out.push(param("cpu_shares", V::ULLong(v)));
        }
        if let Some(v) = read_u64(g.read("cpu", "cpu.cfs_period_us", "")) {
            out.push(param("global_period", V::ULLong(v)));
        }
        if let Some(v) = g
            .read("cpu", "cpu.cfs_quota_us", "")
            .and_then(|t| t.trim().parse::<i64>().ok())
        {
            out.push(param("global_quota", V::LLong(v)));
        }
    } else if g.v2().is_some() {
        if let Some(v) = read_u64(g.read("cpu", "", "cpu.weight")) {
            out.push(param("cpu_shares", V::ULLong(v)));
        }
        if let Some(t) = g.read("cpu", "", "cpu.max") {
            let mut it = t.split_whitespace();
            let quota = it.next().unwrap_or("max");
            let period = it.next().and_then(|p| p.parse().ok()).unwrap_or(100_000);
            out.push(param("global_period", V::ULLong(period)));
            out.push(param("global_quota", V::LLong(quota.parse().unwrap_or(-1))));
        }
    }
    Ok(out)
}

/// A memory cgroup limit in bytes as KiB, libvirt's "unlimited" for no limit.
fn limit_kib(text: Option<String>) -> u64 {
    let Some(t) = text else {
        return MEMORY_UNLIMITED;
    };
    let t = t.trim();
    if t == "max" {
        return MEMORY_UNLIMITED;
    }
    match t.parse::<u64>() {
        // v1 writes its "no limit" as the largest page-aligned value.
        Ok(b) if b / 1024 < MEMORY_UNLIMITED - 8 => b / 1024,
        _ => MEMORY_UNLIMITED,
    }
}

/// Memory parameters: hard, soft and swap-hard limits (KiB).
fn memory_params(d: &Daemon, s: &Snapshot, flags: u32) -> Result<Vec<TypedParam>, RemoteError> {
    let (hard, soft, swap) = if wants_config(s, flags & IMPACT)? {
        (MEMORY_UNLIMITED, MEMORY_UNLIMITED, MEMORY_UNLIMITED)
    } else {
        let g = live_groups(d, s)?;
        (
            limit_kib(g.read("memory", "memory.limit_in_bytes", "memory.max")),
            limit_kib(g.read("memory", "memory.soft_limit_in_bytes", "memory.high")),
            limit_kib(g.read("memory", "memory.memsw.limit_in_bytes", "memory.swap.max")),
        )
    };
    Ok(vec![
        param("hard_limit", V::ULLong(hard)),
        param("soft_limit", V::ULLong(soft)),
        param("swap_hard_limit", V::ULLong(swap)),
    ])
}

/// `MAJ:MIN value` lines of a blkio throttle file as libvirt's
/// `/dev/path,value,...` string.
fn throttle_string(text: Option<String>) -> String {
    let Some(t) = text else {
        return String::new();
    };
    let mut parts = Vec::new();
    for line in t.lines() {
        let mut it = line.split_whitespace();
        let (Some(dev), Some(val)) = (it.next(), it.next()) else {
            continue;
        };
        parts.push(format!("/dev/block/{dev},{val}"));
    }
    parts.join(",")
}

/// Blkio parameters: the weight where the I/O scheduler has one, and the
/// per-device throttles.
fn blkio_params(d: &Daemon, s: &Snapshot, flags: u32) -> Result<Vec<TypedParam>, RemoteError> {
    let names = [
        ("device_read_iops_sec", "blkio.throttle.read_iops_device"),
        ("device_write_iops_sec", "blkio.throttle.write_iops_device"),
        ("device_read_bytes_sec", "blkio.throttle.read_bps_device"),
        ("device_write_bytes_sec", "blkio.throttle.write_bps_device"),
    ];
    if wants_config(s, flags & IMPACT)? {
        let mut out = vec![
            param("weight", V::UInt(0)),
            param("device_weight", V::String(String::new())),
        ];
        for (n, _) in names {
            out.push(param(n, V::String(String::new())));
        }
        return Ok(out);
    }
    let g = live_groups(d, s)?;
    let mut out = Vec::new();
    let weight = read_u64(g.read("blkio", "blkio.bfq.weight", "io.bfq.weight"))
        .or_else(|| read_u64(g.read("blkio", "blkio.weight", "io.weight")));
    if let Some(w) = weight {
        out.push(param("weight", V::UInt(w as u32)));
    }
    out.push(param(
        "device_weight",
        V::String(throttle_string(g.read(
            "blkio",
            "blkio.bfq.weight_device",
            "io.bfq.weight",
        ))),
    ));
    if g.is_v1("blkio") {
        for (n, f) in names {
            out.push(param(n, V::String(throttle_string(g.read("blkio", f, "")))));
        }
    }
    Ok(out)
}

/// NUMA parameters: the memory mode (strict unless the definition says
/// otherwise) and the nodes the VM's memory may come from (`cpuset.mems`).
fn numa_params(d: &Daemon, s: &Snapshot, flags: u32) -> Result<Vec<TypedParam>, RemoteError> {
    let nodeset = if wants_config(s, flags & IMPACT)? {
        String::new()
    } else {
        let g = live_groups(d, s)?;
        g.read("cpuset", "cpuset.mems", "cpuset.mems.effective")
            .map(|t| t.trim().to_owned())
            .unwrap_or_default()
    };
    Ok(vec![
        param("numa_mode", V::Int(0)),
        param("numa_nodeset", V::String(nodeset)),
    ])
}

/// Writes one cgroup file of the VM.
fn write_cgroup(dir: &Path, file: &str, value: &str, name: &str) -> Result<(), RemoteError> {
    std::fs::write(dir.join(file), value)
        .map_err(|e| cgroup_error(name, &format!("write {file}"), e))
}

fn ullong(p: &TypedParam) -> Result<u64, RemoteError> {
    match p.value {
        V::ULLong(v) => Ok(v),
        V::UInt(v) => Ok(u64::from(v)),
        _ => Err(RemoteError::invalid_arg(&format!(
            "invalid type for parameter '{}'",
            p.field
        ))),
    }
}

fn llong(p: &TypedParam) -> Result<i64, RemoteError> {
    match p.value {
        V::LLong(v) => Ok(v),
        V::Int(v) => Ok(i64::from(v)),
        _ => Err(RemoteError::invalid_arg(&format!(
            "invalid type for parameter '{}'",
            p.field
        ))),
    }
}

/// The SET_*_PARAMETERS calls on the running domain's cgroup.
fn set_parameters(
    d: &Daemon,
    s: &Snapshot,
    kind: TuningKind,
    params: &[TypedParam],
    flags: u32,
) -> Result<(), RemoteError> {
    check_flags(flags, IMPACT)?;
    let config = wants_config(s, flags)?;
    if config || flags & impact::CONFIG != 0 {
        return Err(unsupported(
            "changing the persistent tuning (<cputune>, <memtune>, <blkiotune>, <numatune>) is not supported yet",
        ));
    }
    let g = live_groups(d, s)?;
    let name = &s.name;
    for p in params {
        match (kind, p.field.as_str()) {
            (TuningKind::Scheduler, "cpu_shares") => {
                let v = ullong(p)?;
                match g.v1("cpu") {
                    Some(dir) => write_cgroup(dir, "cpu.shares", &v.to_string(), name)?,
                    None => write_cgroup(v2(&g)?, "cpu.weight", &v.to_string(), name)?,
                }
            }
            (TuningKind::Scheduler, "global_period") => {
                let v = ullong(p)?;
                match g.v1("cpu") {
                    Some(dir) => write_cgroup(dir, "cpu.cfs_period_us", &v.to_string(), name)?,
                    None => {
                        let cur = g.read("cpu", "", "cpu.max").unwrap_or_default();
                        let quota = cur.split_whitespace().next().unwrap_or("max").to_owned();
                        write_cgroup(v2(&g)?, "cpu.max", &format!("{quota} {v}"), name)?;
                    }
                }
            }
            (TuningKind::Scheduler, "global_quota") => {
                let v = llong(p)?;
                match g.v1("cpu") {
                    Some(dir) => write_cgroup(dir, "cpu.cfs_quota_us", &v.to_string(), name)?,
                    None => {
                        let q = if v < 0 { "max".into() } else { v.to_string() };
                        write_cgroup(v2(&g)?, "cpu.max", &q, name)?;
                    }
                }
            }
            (TuningKind::Memory, f @ ("hard_limit" | "soft_limit" | "swap_hard_limit")) => {
                let kib = ullong(p)?;
                let (v1f, v2f) = match f {
                    "hard_limit" => ("memory.limit_in_bytes", "memory.max"),
                    "soft_limit" => ("memory.soft_limit_in_bytes", "memory.high"),
                    _ => ("memory.memsw.limit_in_bytes", "memory.swap.max"),
                };
                match g.v1("memory") {
                    Some(dir) => {
                        let v = if kib >= MEMORY_UNLIMITED {
                            "-1".to_owned()
                        } else {
                            (kib * 1024).to_string()
                        };
                        write_cgroup(dir, v1f, &v, name)?;
                    }
                    None => {
                        let v = if kib >= MEMORY_UNLIMITED {
                            "max".to_owned()
                        } else {
                            (kib * 1024).to_string()
                        };
                        write_cgroup(v2(&g)?, v2f, &v, name)?;
                    }
                }
            }
            (TuningKind::Blkio, "weight") => {
                let w = ullong(p)?;
                let dir = g.v1("blkio").or(g.v2()).ok_or_else(|| {
                    unsupported("the blkio controller is not mounted for this domain")
                })?;
                let file = [
                    "blkio.bfq.weight",
                    "blkio.weight",
                    "io.bfq.weight",
                    "io.weight",
                ]
                .into_iter()
                .find(|f| dir.join(f).exists())
                .ok_or_else(|| unsupported("the host's I/O scheduler has no blkio weight"))?;
                write_cgroup(dir, file, &w.to_string(), name)?;
            }
            (TuningKind::Numa, "numa_nodeset") => {
                let V::String(set) = &p.value else {
                    return Err(RemoteError::invalid_arg("numa_nodeset must be a string"));
                };
                hoststats::parse_cpu_list(set)
                    .ok_or_else(|| RemoteError::invalid_arg(&format!("invalid nodeset '{set}'")))?;
                let dir = g.v1("cpuset").or(g.v2()).ok_or_else(|| {
                    unsupported("the cpuset controller is not mounted for this domain")
                })?;
                write_cgroup(dir, "cpuset.mems", set, name)?;
            }
            (TuningKind::Numa, "numa_mode") => {
                return Err(RemoteError::operation_invalid(
                    "can't change numatune mode for running domain",
                ));
            }
            (_, f) => {
                return Err(RemoteError::invalid_arg(&format!(
                    "parameter '{f}' not supported"
                )));
            }
        }
    }
    Ok(())
}

fn v2(g: &VmGroups) -> Result<&Path, RemoteError> {
    g.v2()
        .ok_or_else(|| unsupported("the controller is not mounted for this domain"))
}

/// DOMAIN_GET_VCPU_PIN_INFO: each vCPU thread's affinity (live), or every host
/// CPU for the persistent definition (no `<vcpupin>` is modelled yet).
pub async fn vcpu_pin_info(
    d: &Daemon,
    s: &Snapshot,
    ncpumaps: i32,
    maplen: i32,
    flags: u32,
) -> Result<StatsReply, RemoteError> {
    check_flags(flags, IMPACT)?;
    if ncpumaps < 0 || maplen < 0 {
        return Err(RemoteError::internal(
            "ncpumaps and maplen must be non-negative",
        ));
    }
    let maplen = maplen as usize;
    let n = ncpumaps as usize;
    let mut cpumaps = vec![0u8; n * maplen];
    let num = if wants_config(s, flags)? {
        let vcpus = s.definition(true).map_or(1, |d| d.vcpus_max()) as usize;
        let all = hoststats::present_cpus();
        for i in 0..vcpus.min(n) {
            cpumaps[i * maplen..(i + 1) * maplen].copy_from_slice(&hoststats::cpumap(&all, maplen));
        }
        vcpus.min(n)
    } else {
        let vm = running(d, s)?;
        let threads = vcpu_threads(&vm).await?;
        for (i, (_, tid)) in threads.iter().take(n).enumerate() {
            let aff = hoststats::thread_affinity(vm.pid, *tid).unwrap_or_default();
            cpumaps[i * maplen..(i + 1) * maplen].copy_from_slice(&hoststats::cpumap(&aff, maplen));
        }
        threads.len().min(n)
    };
    Ok(StatsReply::CpuMaps {
        cpumaps,
        num: num as i32,
    })
}

/// DOMAIN_GET_EMULATOR_PIN_INFO: the QEMU main thread's affinity (live).
pub fn emulator_pin_info(
    d: &Daemon,
    s: &Snapshot,
    maplen: i32,
    flags: u32,
) -> Result<StatsReply, RemoteError> {
    check_flags(flags, IMPACT)?;
    if maplen < 0 {
        return Err(RemoteError::internal("maplen must be non-negative"));
    }
    let cpus = if wants_config(s, flags)? {
        hoststats::present_cpus()
    } else {
        let vm = running(d, s)?;
        hoststats::thread_affinity(vm.pid, vm.pid).unwrap_or_default()
    };
    Ok(StatsReply::CpuMaps {
        cpumaps: hoststats::cpumap(&cpus, maplen as usize),
        num: 1,
    })
}

/// Sets a thread's CPU affinity.
fn set_affinity(tid: u32, cpus: &[u32]) -> Result<(), RemoteError> {
    let mut set = rustix::thread::CpuSet::new();
    for &c in cpus {
        if (c as usize) < rustix::thread::CpuSet::MAX_CPU {
            set.set(c as usize);
        }
    }
    let pid = rustix::process::Pid::from_raw(tid as i32)
        .ok_or_else(|| RemoteError::internal(&format!("invalid thread id {tid}")))?;
    rustix::thread::sched_setaffinity(Some(pid), &set).map_err(|e| {
        RemoteError::new(
            ErrorCode::SYSTEM_ERROR,
            ErrorDomain::QEMU,
            format!("cannot set CPU affinity on process {tid}: {e}"),
        )
    })
}

/// The CPUs of a map, checked against the host's.
fn map_cpus(cpumap: &[u8]) -> Result<Vec<u32>, RemoteError> {
    let present = hoststats::present_cpus();
    let cpus: Vec<u32> = hoststats::cpus_of_map(cpumap)
        .into_iter()
        .filter(|c| present.contains(c))
        .collect();
    if cpus.is_empty() {
        return Err(RemoteError::invalid_arg("Empty cpu list for pinning"));
    }
    Ok(cpus)
}

/// DOMAIN_PIN_VCPU(_FLAGS), live: the vCPU thread's affinity.
async fn pin_vcpu(
    d: &Daemon,
    s: &Snapshot,
    vcpu: u32,
    cpumap: &[u8],
    flags: u32,
) -> Result<(), RemoteError> {
    check_flags(flags, IMPACT)?;
    if wants_config(s, flags)? || flags & impact::CONFIG != 0 {
        return Err(unsupported(
            "pinning in the persistent definition (<cputune><vcpupin>) is not supported yet",
        ));
    }
    let cpus = map_cpus(cpumap)?;
    let vm = running(d, s)?;
    let threads = vcpu_threads(&vm).await?;
    let (_, tid) = threads.iter().find(|(i, _)| *i == vcpu).ok_or_else(|| {
        RemoteError::invalid_arg(&format!(
            "vcpu {vcpu} is out of range of live cpu count {}",
            threads.len()
        ))
    })?;
    set_affinity(*tid, &cpus)
}

/// DOMAIN_PIN_EMULATOR, live: every QEMU thread that is not a vCPU.
async fn pin_emulator(
    d: &Daemon,
    s: &Snapshot,
    cpumap: &[u8],
    flags: u32,
) -> Result<(), RemoteError> {
    check_flags(flags, IMPACT)?;
    if wants_config(s, flags)? || flags & impact::CONFIG != 0 {
        return Err(unsupported(
            "pinning in the persistent definition (<cputune><emulatorpin>) is not supported yet",
        ));
    }
    let cpus = map_cpus(cpumap)?;
    let vm = running(d, s)?;
    let vcpus: Vec<u32> = vcpu_threads(&vm)
        .await?
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    for tid in hoststats::thread_ids(vm.pid) {
        if !vcpus.contains(&tid) {
            set_affinity(tid, &cpus)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_limits_read_as_libvirt_shows_them() {
        assert_eq!(
            limit_kib(Some("9223372036854771712\n".into())),
            MEMORY_UNLIMITED
        );
        assert_eq!(limit_kib(Some("max\n".into())), MEMORY_UNLIMITED);
        assert_eq!(limit_kib(None), MEMORY_UNLIMITED);
        assert_eq!(limit_kib(Some("1073741824".into())), 1_048_576);
    }

    #[test]
    fn throttles_as_device_strings() {
        assert_eq!(throttle_string(Some(String::new())), "");
        assert_eq!(
            throttle_string(Some("8:0 100\n8:16 200\n".into())),
            "/dev/block/8:0,100,/dev/block/8:16,200"
        );
    }
}
