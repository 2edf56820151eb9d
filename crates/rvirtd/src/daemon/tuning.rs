//! The tuning calls: vCPU and emulator pinning, scheduler, memory, blkio and NUMA
//! parameters. Live values are read from (and written to) the QEMU's threads and
//! its per-VM cgroup ([`super::tuning_live`]); persistent ones are the
//! definition's `<cputune>`, `<memtune>` and `<blkiotune>` (`<numatune>` is not
//! modelled: its persistent form cannot be changed here yet).

use std::sync::Arc;

use domain_xml::Domain as Def;
use domain_xml::model::tuning::{BlkioDevice, BlkioTune, CpuTune, MemTune, VcpuPin};
use remote_protocol::RemoteError;
use remote_protocol::procs::stats::{TYPED_PARAM_STRING_OKAY, impact, param, params_for};
use remote_protocol::procs::{
    StatsReply, StatsRequest, TuningKind, TypedParam, TypedParamValue as V,
};

use super::hoststats::{self, VmGroups};
use super::stats::{check_flags, running, vcpu_threads, wants_config};
use super::tuning_live::{self as live, DeviceKnob, MEMORY_UNLIMITED, MemLimit, unsupported};
use super::{Daemon, ops};
use crate::registry::{DomainObj, Snapshot};

/// The flags every tuning call takes.
const IMPACT: u32 = impact::LIVE | impact::CONFIG;

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
            set_parameters(d, obj, kind, &params, flags)?;
            Ok(StatsReply::Void)
        }
        R::PinVcpu {
            vcpu,
            cpumap,
            flags,
            ..
        } => {
            let _job = obj.job.lock().await;
            pin(d, obj, Some(vcpu), &cpumap, flags).await?;
            Ok(StatsReply::Void)
        }
        R::PinEmulator { cpumap, flags, .. } => {
            let _job = obj.job.lock().await;
            pin(d, obj, None, &cpumap, flags).await?;
            Ok(StatsReply::Void)
        }
        R::SetMemoryStatsPeriod { period, flags, .. } => {
            let _job = obj.job.lock().await;
            memory_stats_period(d, obj, period, flags).await?;
            Ok(StatsReply::Void)
        }
        other => Err(RemoteError::internal(&format!(
            "no handler for statistics call {other:?}"
        ))),
    }
}

/// The persistent definition (or a transient domain's own).
fn persistent_def(s: &Snapshot) -> Result<Def, RemoteError> {
    s.start_definition().map_err(|_| s.not_found())
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

/// Scheduler parameters: `cpu_shares`, `global_period` and `global_quota` (rvirt
/// has no per-vCPU sub-groups, so there are no vcpu_*, emulator_* or iothread_*
/// values). Live from the per-VM cgroup; persistent from `<cputune>` (0: unset).
fn scheduler_params(d: &Daemon, s: &Snapshot, flags: u32) -> Result<Vec<TypedParam>, RemoteError> {
    if wants_config(s, flags & IMPACT)? {
        let t = persistent_def(s)?.cputune.unwrap_or_default();
        return Ok(vec![
            param("cpu_shares", V::ULLong(t.shares.unwrap_or(0))),
            param("global_period", V::ULLong(t.global_period.unwrap_or(0))),
            param("global_quota", V::LLong(t.global_quota.unwrap_or(0))),
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
        let t = persistent_def(s)?.memtune.unwrap_or_default();
        let u = |v: Option<u64>| v.unwrap_or(MEMORY_UNLIMITED);
        (u(t.hard_limit), u(t.soft_limit), u(t.swap_hard_limit))
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

/// `MAJ:MIN value` lines of a blkio file as libvirt's `/dev/path,value,...`.
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
        if dev.contains(':') {
            parts.push(format!("/dev/block/{dev},{val}"));
        }
    }
    parts.join(",")
}

/// The blkio parameter names of the per-device knobs, in libvirt's order.
const DEVICE_PARAMS: [(&str, DeviceKnob, &str); 5] = [
    (
        "device_weight",
        DeviceKnob::Weight,
        "blkio.bfq.weight_device",
    ),
    (
        "device_read_iops_sec",
        DeviceKnob::ReadIops,
        "blkio.throttle.read_iops_device",
    ),
    (
        "device_write_iops_sec",
        DeviceKnob::WriteIops,
        "blkio.throttle.write_iops_device",
    ),
    (
        "device_read_bytes_sec",
        DeviceKnob::ReadBytes,
        "blkio.throttle.read_bps_device",
    ),
    (
        "device_write_bytes_sec",
        DeviceKnob::WriteBytes,
        "blkio.throttle.write_bps_device",
    ),
];

fn device_value(dev: &BlkioDevice, knob: DeviceKnob) -> Option<u64> {
    match knob {
        DeviceKnob::Weight => dev.weight.map(u64::from),
        DeviceKnob::ReadIops => dev.read_iops_sec,
        DeviceKnob::WriteIops => dev.write_iops_sec,
        DeviceKnob::ReadBytes => dev.read_bytes_sec,
        DeviceKnob::WriteBytes => dev.write_bytes_sec,
    }
}

fn set_device_value(dev: &mut BlkioDevice, knob: DeviceKnob, v: Option<u64>) {
    match knob {
        DeviceKnob::Weight => dev.weight = v.map(|v| v as u32),
        DeviceKnob::ReadIops => dev.read_iops_sec = v,
        DeviceKnob::WriteIops => dev.write_iops_sec = v,
        DeviceKnob::ReadBytes => dev.read_bytes_sec = v,
        DeviceKnob::WriteBytes => dev.write_bytes_sec = v,
    }
}

/// Blkio parameters: the weight (live: where the I/O scheduler has one) and the
/// per-device weights and throttles.
fn blkio_params(d: &Daemon, s: &Snapshot, flags: u32) -> Result<Vec<TypedParam>, RemoteError> {
    if wants_config(s, flags & IMPACT)? {
        let t = persistent_def(s)?.blkiotune.unwrap_or_default();
        let mut out = vec![param("weight", V::UInt(t.weight.unwrap_or(0)))];
        for (name, knob, _) in DEVICE_PARAMS {
            let text: Vec<String> = t
                .devices
                .iter()
                .filter_map(|dev| device_value(dev, knob).map(|v| format!("{},{v}", dev.path)))
                .collect();
            out.push(param(name, V::String(text.join(","))));
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
    if g.is_v1("blkio") {
        for (name, _, file) in DEVICE_PARAMS {
            out.push(param(
                name,
                V::String(throttle_string(g.read("blkio", file, ""))),
            ));
        }
    } else {
        out.push(param(
            "device_weight",
            V::String(throttle_string(g.read("blkio", "", "io.bfq.weight"))),
        ));
    }
    Ok(out)
}

/// NUMA parameters: the memory mode (strict: `<numatune>` is not modelled, so
/// no other mode can be in force) and the nodes the VM's memory may come from
/// (`cpuset.mems`).
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

fn ullong(p: &TypedParam) -> Result<u64, RemoteError> {
    match p.value {
        V::ULLong(v) => Ok(v),
        V::UInt(v) => Ok(u64::from(v)),
        _ => Err(type_error(p)),
    }
}

fn llong(p: &TypedParam) -> Result<i64, RemoteError> {
    match p.value {
        V::LLong(v) => Ok(v),
        V::Int(v) => Ok(i64::from(v)),
        _ => Err(type_error(p)),
    }
}

fn type_error(p: &TypedParam) -> RemoteError {
    RemoteError::invalid_arg(&format!("invalid type for parameter '{}'", p.field))
}

/// Which of the live domain and the persistent definition a SET changes:
/// LIVE and CONFIG together are allowed, CURRENT is the domain's state.
fn targets(s: &Snapshot, flags: u32) -> Result<(bool, bool), RemoteError> {
    let (mut live, mut config) = (flags & impact::LIVE != 0, flags & impact::CONFIG != 0);
    if !live && !config {
        live = s.is_active();
        config = !s.is_active();
    }
    if live && !s.is_active() {
        return Err(ops::not_running());
    }
    if config && !s.persistent {
        return Err(RemoteError::operation_invalid(
            "transient domains do not have any persistent config",
        ));
    }
    Ok((live, config))
}

/// `path,value,path,value` (blkio device strings) into pairs.
fn device_pairs(p: &TypedParam) -> Result<Vec<(String, u64)>, RemoteError> {
    let V::String(text) = &p.value else {
        return Err(type_error(p));
    };
    let items: Vec<&str> = text.split(',').filter(|x| !x.is_empty()).collect();
    if !items.len().is_multiple_of(2) {
        return Err(RemoteError::invalid_arg(&format!(
            "unable to parse blkio device '{text}': expected path,value pairs"
        )));
    }
    items
        .chunks(2)
        .map(|c| {
            let v = c[1].trim().parse().map_err(|_| {
                RemoteError::invalid_arg(&format!(
                    "invalid value '{}' for blkio device '{}'",
                    c[1], c[0]
                ))
            })?;
            Ok((c[0].trim().to_owned(), v))
        })
        .collect()
}

/// libvirt's ranges of the CFS bandwidth values (µs; a quota may also be
/// negative: no limit).
fn check_range(p: &TypedParam) -> Result<(), RemoteError> {
    let (lo, hi, v): (i128, i128, i128) = match (p.field.as_str(), &p.value) {
        ("global_period", V::ULLong(v)) => (1000, 1_000_000, i128::from(*v)),
        ("global_quota", V::LLong(v)) if *v >= 0 => (1000, 17_592_186_044_415, i128::from(*v)),
        _ => return Ok(()),
    };
    if v < lo || v > hi {
        return Err(RemoteError::invalid_arg(&format!(
            "value of '{}' is out of range [{lo}, {hi}]",
            p.field
        )));
    }
    Ok(())
}

/// One parameter on the running domain's cgroup.
fn set_live(g: &VmGroups, kind: TuningKind, p: &TypedParam) -> Result<(), RemoteError> {
    match (kind, p.field.as_str()) {
        (TuningKind::Scheduler, "cpu_shares") => live::set_shares(g, ullong(p)?),
        (TuningKind::Scheduler, "global_period") => live::set_period(g, ullong(p)?),
        (TuningKind::Scheduler, "global_quota") => live::set_quota(g, llong(p)?),
        (TuningKind::Memory, "hard_limit") => live::set_memory(g, MemLimit::Hard, ullong(p)?),
        (TuningKind::Memory, "soft_limit") => live::set_memory(g, MemLimit::Soft, ullong(p)?),
        (TuningKind::Memory, "swap_hard_limit") => {
            live::set_memory(g, MemLimit::SwapHard, ullong(p)?)
        }
        (TuningKind::Blkio, "weight") => live::set_blkio_weight(g, ullong(p)? as u32),
        (TuningKind::Blkio, f) if DEVICE_PARAMS.iter().any(|(n, ..)| *n == f) => {
            let knob = DEVICE_PARAMS.iter().find(|(n, ..)| *n == f).map(|x| x.1);
            for (path, v) in device_pairs(p)? {
                live::set_blkio_device(g, knob.unwrap_or(DeviceKnob::Weight), &path, v)?;
            }
            Ok(())
        }
        (TuningKind::Numa, "numa_nodeset") => {
            let V::String(set) = &p.value else {
                return Err(type_error(p));
            };
            hoststats::parse_cpuset(set)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    RemoteError::invalid_arg(&format!("Invalid value of 'nodeset': {set}"))
                })?;
            live::set_mems(g, set)
        }
        (TuningKind::Numa, "numa_mode") => Err(RemoteError::operation_invalid(
            "can't change numatune mode for running domain",
        )),
        (_, f) => Err(RemoteError::invalid_arg(&format!(
            "parameter '{f}' not supported"
        ))),
    }
}

/// One parameter in a definition's tuning.
fn set_config(def: &mut Def, kind: TuningKind, p: &TypedParam) -> Result<(), RemoteError> {
    let mem = |v: u64| (v < MEMORY_UNLIMITED).then_some(v);
    match (kind, p.field.as_str()) {
        (TuningKind::Scheduler, "cpu_shares") => {
            def.cputune.get_or_insert_with(CpuTune::default).shares = Some(ullong(p)?)
        }
        (TuningKind::Scheduler, "global_period") => {
            def.cputune
                .get_or_insert_with(CpuTune::default)
                .global_period = Some(ullong(p)?)
        }
        (TuningKind::Scheduler, "global_quota") => {
            def.cputune
                .get_or_insert_with(CpuTune::default)
                .global_quota = Some(llong(p)?)
        }
        (TuningKind::Memory, "hard_limit") => {
            def.memtune.get_or_insert_with(MemTune::default).hard_limit = mem(ullong(p)?)
        }
        (TuningKind::Memory, "soft_limit") => {
            def.memtune.get_or_insert_with(MemTune::default).soft_limit = mem(ullong(p)?)
        }
        (TuningKind::Memory, "swap_hard_limit") => {
            def.memtune
                .get_or_insert_with(MemTune::default)
                .swap_hard_limit = mem(ullong(p)?)
        }
        (TuningKind::Blkio, "weight") => {
            def.blkiotune.get_or_insert_with(BlkioTune::default).weight = Some(ullong(p)? as u32)
        }
        (TuningKind::Blkio, f) if DEVICE_PARAMS.iter().any(|(n, ..)| *n == f) => {
            let knob = DEVICE_PARAMS
                .iter()
                .find(|(n, ..)| *n == f)
                .map_or(DeviceKnob::Weight, |x| x.1);
            let t = def.blkiotune.get_or_insert_with(BlkioTune::default);
            for (path, v) in device_pairs(p)? {
                let i = match t.devices.iter().position(|d| d.path == path) {
                    Some(i) => i,
                    None => {
                        t.devices.push(BlkioDevice {
                            path,
                            ..BlkioDevice::default()
                        });
                        t.devices.len() - 1
                    }
                };
                // 0 takes the setting away, as libvirt does.
                set_device_value(&mut t.devices[i], knob, (v != 0).then_some(v));
            }
            t.devices.retain(|d| {
                DEVICE_PARAMS
                    .iter()
                    .any(|(_, k, _)| device_value(d, *k).is_some())
                    || !d.extras.is_empty()
            });
        }
        (TuningKind::Numa, _) => {
            return Err(unsupported(
                "changing <numatune> in the persistent definition is not supported yet",
            ));
        }
        (_, f) => {
            return Err(RemoteError::invalid_arg(&format!(
                "parameter '{f}' not supported"
            )));
        }
    }
    Ok(())
}

/// The SET_*_PARAMETERS calls: the running domain's cgroup (LIVE) and the
/// persistent definition (CONFIG), the live definition kept in step.
fn set_parameters(
    d: &Daemon,
    obj: &Arc<DomainObj>,
    kind: TuningKind,
    params: &[TypedParam],
    flags: u32,
) -> Result<(), RemoteError> {
    check_flags(flags, IMPACT)?;
    for p in params {
        check_range(p)?;
    }
    let s = obj.snapshot();
    let (to_live, to_config) = targets(&s, flags)?;
    // The persistent change is checked before anything is written.
    let new_config = if to_config {
        let mut def = persistent_def(&s)?;
        for p in params {
            set_config(&mut def, kind, p)?;
        }
        Some(def)
    } else {
        None
    };
    if to_live {
        let g = live_groups(d, &s)?;
        let mut def = s.live.as_deref().cloned();
        for p in params {
            set_live(&g, kind, p)?;
            if let Some(def) = def.as_mut()
                && kind != TuningKind::Numa
            {
                set_config(def, kind, p)?;
            }
        }
        if let Some(def) = def {
            publish_live(d, obj, def);
        }
    }
    if let Some(def) = new_config {
        ops::define(d, &def.to_xml())?;
    }
    Ok(())
}

/// The running domain's definition after a live change (dumpxml, the status file).
fn publish_live(d: &Daemon, obj: &DomainObj, def: Def) {
    let def = Arc::new(def);
    obj.update(|s| s.live = Some(def.clone()));
    if let Some(vm) = d.vm(&obj.uuid) {
        vm.update_status(d, |st| st.domain = (*def).clone());
    }
}

/// DOMAIN_SET_MEMORY_STATS_PERIOD: how often the balloon collects guest
/// statistics, in QEMU (LIVE) and as `<memballoon><stats period>` (CONFIG).
async fn memory_stats_period(
    d: &Daemon,
    obj: &Arc<DomainObj>,
    period: i32,
    flags: u32,
) -> Result<(), RemoteError> {
    check_flags(flags, IMPACT)?;
    let period = u32::try_from(period)
        .map_err(|_| RemoteError::invalid_arg("invalid value for collection period"))?;
    let s = obj.snapshot();
    let (to_live, to_config) = targets(&s, flags)?;
    let no_balloon = || {
        RemoteError::operation_invalid(
            "No memory balloon device configured, can not set the collection period",
        )
    };
    let edit = |def: &mut Def| -> Result<(), RemoteError> {
        let b = def
            .devices
            .memballoon
            .as_mut()
            .filter(|b| b.model != "none")
            .ok_or_else(no_balloon)?;
        b.stats_period = (period > 0).then_some(period);
        Ok(())
    };
    let new_config = if to_config {
        let mut def = persistent_def(&s)?;
        edit(&mut def)?;
        Some(def)
    } else {
        None
    };
    if to_live {
        let vm = running(d, &s)?;
        let mut def = s.live.as_deref().cloned().ok_or_else(ops::not_running)?;
        let path = super::stats::balloon_path(&def).ok_or_else(no_balloon)?;
        live::set_balloon_period(&vm, &path, period).await?;
        edit(&mut def)?;
        publish_live(d, obj, def);
    }
    if let Some(def) = new_config {
        ops::define(d, &def.to_xml())?;
    }
    Ok(())
}

/// DOMAIN_GET_VCPU_PIN_INFO: each vCPU thread's affinity (live), or the
/// definition's `<vcpupin>` (else `<vcpu cpuset>`, else every host CPU).
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
    let mut put = |i: usize, cpus: &[u32]| {
        cpumaps[i * maplen..(i + 1) * maplen].copy_from_slice(&hoststats::cpumap(cpus, maplen));
    };
    let num = if wants_config(s, flags)? {
        let def = persistent_def(s)?;
        let default = default_cpus(&def);
        let pins = def.cputune.map(|t| t.vcpupins).unwrap_or_default();
        let vcpus = def.vcpu.count as usize;
        for i in 0..vcpus.min(n) {
            match pins.iter().find(|p| p.vcpu as usize == i) {
                Some(p) => put(i, &hoststats::parse_cpuset(&p.cpuset).unwrap_or_default()),
                None => put(i, &default),
            }
        }
        vcpus.min(n)
    } else {
        let vm = running(d, s)?;
        let threads = vcpu_threads(&vm).await?;
        for (i, (_, tid)) in threads.iter().take(n).enumerate() {
            put(
                i,
                &hoststats::thread_affinity(vm.pid, *tid).unwrap_or_default(),
            );
        }
        threads.len().min(n)
    };
    Ok(StatsReply::CpuMaps {
        cpumaps,
        num: num as i32,
    })
}

/// The CPUs a definition's threads run on when nothing pins them.
fn default_cpus(def: &Def) -> Vec<u32> {
    def.vcpu
        .cpuset
        .as_deref()
        .and_then(hoststats::parse_cpuset)
        .unwrap_or_else(hoststats::present_cpus)
}

/// DOMAIN_GET_EMULATOR_PIN_INFO: the QEMU main thread's affinity (live), or
/// `<emulatorpin>` of the definition.
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
        let def = persistent_def(s)?;
        match def.cputune.as_ref().and_then(|t| t.emulatorpin.as_deref()) {
            Some(c) => hoststats::parse_cpuset(c).unwrap_or_default(),
            None => default_cpus(&def),
        }
    } else {
        let vm = running(d, s)?;
        hoststats::thread_affinity(vm.pid, vm.pid).unwrap_or_default()
    };
    Ok(StatsReply::CpuMaps {
        cpumaps: hoststats::cpumap(&cpus, maplen as usize),
        num: 1,
    })
}

/// DOMAIN_PIN_VCPU(_FLAGS) (`vcpu` given) and DOMAIN_PIN_EMULATOR: the threads'
/// affinity (LIVE) and `<vcpupin>`/`<emulatorpin>` (CONFIG); pinning to every
/// host CPU removes the pin from the definition, as libvirt does.
async fn pin(
    d: &Daemon,
    obj: &Arc<DomainObj>,
    vcpu: Option<u32>,
    cpumap: &[u8],
    flags: u32,
) -> Result<(), RemoteError> {
    check_flags(flags, IMPACT)?;
    let s = obj.snapshot();
    let (to_live, to_config) = targets(&s, flags)?;
    let present = hoststats::present_cpus();
    let cpus: Vec<u32> = hoststats::cpus_of_map(cpumap)
        .into_iter()
        .filter(|c| present.contains(c))
        .collect();
    if cpus.is_empty() {
        return Err(RemoteError::invalid_arg("Empty cpu list for pinning"));
    }
    let cpuset = hoststats::format_cpu_list(&cpus);
    let all = cpus == present;
    let edit = |def: &mut Def| -> Result<(), RemoteError> {
        if let Some(v) = vcpu
            && v >= def.vcpu.count
        {
            return Err(RemoteError::invalid_arg(&format!(
                "vcpu {v} is out of range of persistent cpu count {}",
                def.vcpu.count
            )));
        }
        let t = def.cputune.get_or_insert_with(CpuTune::default);
        match vcpu {
            Some(v) => {
                t.vcpupins.retain(|p| p.vcpu != v);
                if !all {
                    t.vcpupins.push(VcpuPin {
                        vcpu: v,
                        cpuset: cpuset.clone(),
                    });
                    t.vcpupins.sort_by_key(|p| p.vcpu);
                }
            }
            None => t.emulatorpin = (!all).then(|| cpuset.clone()),
        }
        Ok(())
    };
    let new_config = if to_config {
        let mut def = persistent_def(&s)?;
        edit(&mut def)?;
        Some(def)
    } else {
        None
    };
    if to_live {
        let vm = running(d, &s)?;
        match vcpu {
            Some(v) => live::pin_vcpu_thread(&vm, v, &cpus).await?,
            None => live::pin_emulator_threads(&vm, &cpus).await?,
        }
        if let Some(mut def) = s.live.as_deref().cloned() {
            edit(&mut def)?;
            publish_live(d, obj, def);
        }
    }
    if let Some(def) = new_config {
        ops::define(d, &def.to_xml())?;
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

    #[test]
    fn config_changes_edit_the_definition() {
        let text = "<domain type='kvm'><name>t</name><memory>65536</memory>\
                    <os><type>hvm</type></os></domain>";
        let mut def = domain_xml::parse_domain_with(text, &mut uuid::Uuid::new_v4)
            .unwrap()
            .value;
        set_config(
            &mut def,
            TuningKind::Scheduler,
            &param("cpu_shares", V::ULLong(512)),
        )
        .unwrap();
        set_config(
            &mut def,
            TuningKind::Memory,
            &param("hard_limit", V::ULLong(1024)),
        )
        .unwrap();
        set_config(
            &mut def,
            TuningKind::Blkio,
            &param("device_read_bytes_sec", V::String("/dev/sda,100".into())),
        )
        .unwrap();
        let xml = def.to_xml();
        assert!(xml.contains("<shares>512</shares>"), "{xml}");
        assert!(
            xml.contains("<hard_limit unit='KiB'>1024</hard_limit>"),
            "{xml}"
        );
        assert!(
            xml.contains("<read_bytes_sec>100</read_bytes_sec>"),
            "{xml}"
        );
        // 0 removes the throttle, and the device with it.
        set_config(
            &mut def,
            TuningKind::Blkio,
            &param("device_read_bytes_sec", V::String("/dev/sda,0".into())),
        )
        .unwrap();
        assert!(!def.to_xml().contains("<device>"));
        // Unlimited is no limit in the XML.
        set_config(
            &mut def,
            TuningKind::Memory,
            &param("hard_limit", V::ULLong(MEMORY_UNLIMITED)),
        )
        .unwrap();
        assert!(!def.to_xml().contains("hard_limit"));
        assert!(
            set_config(
                &mut def,
                TuningKind::Scheduler,
                &param("vcpu_quota", V::LLong(1))
            )
            .is_err()
        );
        assert!(
            set_config(
                &mut def,
                TuningKind::Scheduler,
                &param("cpu_shares", V::String("x".into()))
            )
            .is_err()
        );
    }

    #[test]
    fn bandwidth_ranges_are_libvirts() {
        assert!(check_range(&param("global_period", V::ULLong(999))).is_err());
        assert!(check_range(&param("global_period", V::ULLong(100_000))).is_ok());
        assert!(check_range(&param("global_quota", V::LLong(-1))).is_ok());
        assert!(check_range(&param("global_quota", V::LLong(10))).is_err());
    }

    #[test]
    fn device_strings_parse_in_pairs() {
        let p = param("device_weight", V::String("/dev/sda,100,/dev/sdb,5".into()));
        assert_eq!(
            device_pairs(&p).unwrap(),
            [("/dev/sda".to_owned(), 100), ("/dev/sdb".to_owned(), 5)]
        );
        assert!(device_pairs(&param("device_weight", V::String("/dev/sda".into()))).is_err());
        assert!(device_pairs(&param("device_weight", V::String("/dev/sda,x".into()))).is_err());
    }
}
