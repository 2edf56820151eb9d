//! Tuning a running QEMU: writes to its per-VM cgroup and its threads' CPU
//! affinities, for the SET calls with `--live` and for the `<cputune>`,
//! `<memtune>` and `<blkiotune>` of a definition when the domain starts.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use domain_xml::Domain;
use remote_protocol::{ErrorCode, ErrorDomain, RemoteError};

use super::hoststats::{self, VmGroups};
use super::stats::vcpu_threads;
use super::vm::{Intent, Vm};
use crate::registry::DomainObj;
use crate::states::{DomainState, ShutoffReason};

/// `VIR_DOMAIN_MEMORY_PARAM_UNLIMITED`, KiB.
pub const MEMORY_UNLIMITED: u64 = 9_007_199_254_740_991;

pub(super) fn unsupported(what: &str) -> RemoteError {
    RemoteError::new(
        ErrorCode::OPERATION_UNSUPPORTED,
        ErrorDomain::QEMU,
        format!("Operation not supported: {what}"),
    )
}

fn system_error(what: String) -> RemoteError {
    RemoteError::new(ErrorCode::SYSTEM_ERROR, ErrorDomain::QEMU, what)
}

/// Writes one cgroup file of the VM.
fn write_file(dir: &Path, file: &str, value: &str) -> Result<(), RemoteError> {
    let p = dir.join(file);
    std::fs::write(&p, value)
        .map_err(|e| system_error(format!("Unable to write '{value}' to {}: {e}", p.display())))
}

fn v2<'g>(g: &'g VmGroups, controller: &str) -> Result<&'g Path, RemoteError> {
    g.v2().ok_or_else(|| {
        unsupported(&format!(
            "the {controller} controller is not mounted for this domain"
        ))
    })
}

/// `cpu_shares`: `cpu.shares` (v1) or `cpu.weight` (v2).
pub fn set_shares(g: &VmGroups, v: u64) -> Result<(), RemoteError> {
    match g.v1("cpu") {
        Some(dir) => write_file(dir, "cpu.shares", &v.to_string()),
        None => write_file(v2(g, "cpu")?, "cpu.weight", &v.to_string()),
    }
}

/// `global_period`, µs.
pub fn set_period(g: &VmGroups, v: u64) -> Result<(), RemoteError> {
    match g.v1("cpu") {
        Some(dir) => write_file(dir, "cpu.cfs_period_us", &v.to_string()),
        None => {
            let cur = g.read("cpu", "", "cpu.max").unwrap_or_default();
            let quota = cur.split_whitespace().next().unwrap_or("max").to_owned();
            write_file(v2(g, "cpu")?, "cpu.max", &format!("{quota} {v}"))
        }
    }
}

/// `global_quota`, µs (negative: no limit).
pub fn set_quota(g: &VmGroups, v: i64) -> Result<(), RemoteError> {
    match g.v1("cpu") {
        Some(dir) => write_file(dir, "cpu.cfs_quota_us", &v.max(-1).to_string()),
        None => {
            let q = if v < 0 { "max".into() } else { v.to_string() };
            write_file(v2(g, "cpu")?, "cpu.max", &q)
        }
    }
}

/// Which memory limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemLimit {
    Hard,
    Soft,
    SwapHard,
}

/// A memory limit in KiB ([`MEMORY_UNLIMITED`] or more: none).
pub fn set_memory(g: &VmGroups, which: MemLimit, kib: u64) -> Result<(), RemoteError> {
    let (v1f, v2f) = match which {
        MemLimit::Hard => ("memory.limit_in_bytes", "memory.max"),
        MemLimit::Soft => ("memory.soft_limit_in_bytes", "memory.high"),
        MemLimit::SwapHard => ("memory.memsw.limit_in_bytes", "memory.swap.max"),
    };
    let unlimited = kib >= MEMORY_UNLIMITED;
    let bytes = kib.saturating_mul(1024).to_string();
    match g.v1("memory") {
        Some(dir) => write_file(dir, v1f, if unlimited { "-1" } else { &bytes }),
        None => write_file(
            v2(g, "memory")?,
            v2f,
            if unlimited { "max" } else { &bytes },
        ),
    }
}

/// The blkio `weight`, in the file the host's I/O scheduler has.
pub fn set_blkio_weight(g: &VmGroups, w: u32) -> Result<(), RemoteError> {
    let dir = g
        .v1("blkio")
        .or(g.v2())
        .ok_or_else(|| unsupported("the blkio controller is not mounted for this domain"))?;
    let file = [
        "blkio.bfq.weight",
        "blkio.weight",
        "io.bfq.weight",
        "io.weight",
    ]
    .into_iter()
    .find(|f| dir.join(f).exists())
    .ok_or_else(|| unsupported("blkio device weight is valid only for bfq or cfq scheduler"))?;
    write_file(dir, file, &w.to_string())
}

/// `MAJ:MIN` of a block device path.
fn dev_numbers(path: &str) -> Result<String, RemoteError> {
    let m =
        std::fs::metadata(path).map_err(|e| system_error(format!("Unable to stat {path}: {e}")))?;
    if !std::os::unix::fs::FileTypeExt::is_block_device(&m.file_type()) {
        return Err(RemoteError::invalid_arg(&format!(
            "path '{path}' must be a block device"
        )));
    }
    let r = m.rdev();
    let major = ((r >> 32) & 0xffff_f000) | ((r >> 8) & 0xfff);
    let minor = ((r >> 12) & 0xffff_ff00) | (r & 0xff);
    Ok(format!("{major}:{minor}"))
}

/// A per-device throttle or weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKnob {
    Weight,
    ReadIops,
    WriteIops,
    ReadBytes,
    WriteBytes,
}

/// Writes a per-device blkio value (0 removes a throttle, as the kernel reads it).
pub fn set_blkio_device(
    g: &VmGroups,
    knob: DeviceKnob,
    path: &str,
    value: u64,
) -> Result<(), RemoteError> {
    let dev = dev_numbers(path)?;
    if let Some(dir) = g.v1("blkio") {
        let file = match knob {
            DeviceKnob::Weight => "blkio.bfq.weight_device",
            DeviceKnob::ReadIops => "blkio.throttle.read_iops_device",
            DeviceKnob::WriteIops => "blkio.throttle.write_iops_device",
            DeviceKnob::ReadBytes => "blkio.throttle.read_bps_device",
            DeviceKnob::WriteBytes => "blkio.throttle.write_bps_device",
        };
        if !dir.join(file).exists() {
            return Err(unsupported(&format!("the host has no {file}")));
        }
        return write_file(dir, file, &format!("{dev} {value}"));
    }
    let dir = v2(g, "io")?;
    let (file, text) = match knob {
        DeviceKnob::Weight => ("io.bfq.weight", format!("{dev} {value}")),
        DeviceKnob::ReadIops => ("io.max", format!("{dev} riops={}", max_or(value))),
        DeviceKnob::WriteIops => ("io.max", format!("{dev} wiops={}", max_or(value))),
        DeviceKnob::ReadBytes => ("io.max", format!("{dev} rbps={}", max_or(value))),
        DeviceKnob::WriteBytes => ("io.max", format!("{dev} wbps={}", max_or(value))),
    };
    write_file(dir, file, &text)
}

fn max_or(v: u64) -> String {
    if v == 0 { "max".into() } else { v.to_string() }
}

/// `cpuset.mems` of the VM.
pub fn set_mems(g: &VmGroups, nodeset: &str) -> Result<(), RemoteError> {
    let dir = g
        .v1("cpuset")
        .or(g.v2())
        .ok_or_else(|| unsupported("the cpuset controller is not mounted for this domain"))?;
    write_file(dir, "cpuset.mems", nodeset)
}

/// Sets a thread's CPU affinity.
pub fn set_affinity(tid: u32, cpus: &[u32]) -> Result<(), RemoteError> {
    let mut set = rustix::thread::CpuSet::new();
    for &c in cpus {
        if (c as usize) < rustix::thread::CpuSet::MAX_CPU {
            set.set(c as usize);
        }
    }
    let pid = rustix::process::Pid::from_raw(tid as i32)
        .ok_or_else(|| RemoteError::internal(&format!("invalid thread id {tid}")))?;
    rustix::thread::sched_setaffinity(Some(pid), &set)
        .map_err(|e| system_error(format!("cannot set CPU affinity on process {tid}: {e}")))
}

/// A libvirt cpuset (`0-3,^2,8`) as host CPUs, checked against the present ones.
pub fn cpuset_cpus(cpuset: &str) -> Result<Vec<u32>, RemoteError> {
    let cpus = hoststats::parse_cpuset(cpuset)
        .ok_or_else(|| RemoteError::invalid_arg(&format!("Failed to parse bitmap '{cpuset}'")))?;
    let present = hoststats::present_cpus();
    if let Some(c) = cpus.iter().find(|c| !present.contains(c)) {
        return Err(RemoteError::invalid_arg(&format!(
            "CPU {c} in cpuset '{cpuset}' is not present on the host"
        )));
    }
    if cpus.is_empty() {
        return Err(RemoteError::invalid_arg("Empty cpu list for pinning"));
    }
    Ok(cpus)
}

/// Pins a vCPU's thread.
pub async fn pin_vcpu_thread(vm: &Vm, vcpu: u32, cpus: &[u32]) -> Result<(), RemoteError> {
    let threads = vcpu_threads(vm).await?;
    let (_, tid) = threads.iter().find(|(i, _)| *i == vcpu).ok_or_else(|| {
        RemoteError::invalid_arg(&format!(
            "vcpu {vcpu} is out of range of live cpu count {}",
            threads.len()
        ))
    })?;
    set_affinity(*tid, cpus)
}

/// Pins every QEMU thread that is not a vCPU (the emulator threads).
pub async fn pin_emulator_threads(vm: &Vm, cpus: &[u32]) -> Result<(), RemoteError> {
    let vcpus: Vec<u32> = vcpu_threads(vm)
        .await?
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    for tid in hoststats::thread_ids(vm.pid) {
        if !vcpus.contains(&tid) {
            set_affinity(tid, cpus)?;
        }
    }
    Ok(())
}

/// The balloon's statistics period (`guest-stats-polling-interval`), seconds.
pub async fn set_balloon_period(vm: &Vm, path: &str, period: u32) -> Result<(), RemoteError> {
    super::stats::qmp(
        vm,
        "qom-set",
        Some(serde_json::json!({
            "path": path,
            "property": "guest-stats-polling-interval",
            "value": period
        })),
    )
    .await
    .map(|_| ())
}

/// Applies a definition's `<cputune>`, `<memtune>`, `<blkiotune>` and the
/// balloon's statistics period to a QEMU that was just started (before its
/// vCPUs run), as libvirt does at start.
pub async fn apply_at_start(vm: &Vm, def: &Domain) -> Result<(), RemoteError> {
    if let Some(period) = def
        .devices
        .memballoon
        .as_ref()
        .and_then(|b| b.stats_period)
        .filter(|p| *p > 0)
        && let Some(path) = super::stats::balloon_path(def)
    {
        set_balloon_period(vm, &path, period).await?;
    }
    let (cputune, memtune, blkiotune) = (
        def.cputune.as_ref(),
        def.memtune.as_ref(),
        def.blkiotune.as_ref(),
    );
    if cputune.is_none() && memtune.is_none() && blkiotune.is_none() {
        return Ok(());
    }
    let g = VmGroups::of_pid(vm.pid);
    if let Some(t) = memtune {
        for (which, v) in [
            (MemLimit::Hard, t.hard_limit),
            (MemLimit::Soft, t.soft_limit),
            (MemLimit::SwapHard, t.swap_hard_limit),
        ] {
            if let Some(v) = v {
                set_memory(&g, which, v)?;
            }
        }
    }
    if let Some(t) = blkiotune {
        if let Some(w) = t.weight {
            set_blkio_weight(&g, w)?;
        }
        for dev in &t.devices {
            for (knob, v) in [
                (DeviceKnob::Weight, dev.weight.map(u64::from)),
                (DeviceKnob::ReadIops, dev.read_iops_sec),
                (DeviceKnob::WriteIops, dev.write_iops_sec),
                (DeviceKnob::ReadBytes, dev.read_bytes_sec),
                (DeviceKnob::WriteBytes, dev.write_bytes_sec),
            ] {
                if let Some(v) = v {
                    set_blkio_device(&g, knob, &dev.path, v)?;
                }
            }
        }
    }
    if let Some(t) = cputune {
        if let Some(v) = t.shares {
            set_shares(&g, v)?;
        }
        if let Some(v) = t.global_period {
            set_period(&g, v)?;
        }
        if let Some(v) = t.global_quota {
            set_quota(&g, v)?;
        }
        if let Some(c) = &t.emulatorpin {
            pin_emulator_threads(vm, &cpuset_cpus(c)?).await?;
        }
        for p in &t.vcpupins {
            pin_vcpu_thread(vm, p.vcpu, &cpuset_cpus(&p.cpuset)?).await?;
        }
    }
    Ok(())
}

/// A start whose tuning could not be applied: QEMU killed, the domain failed.
pub async fn fail_start(obj: &DomainObj, vm: &Vm, e: RemoteError) -> RemoteError {
    vm.set_intent(Intent::Destroy);
    let _ = vm.pidfd.kill(rustix::process::Signal::KILL);
    vm.wait_done(Duration::from_secs(30)).await;
    obj.update(|s| s.state = DomainState::Shutoff(ShutoffReason::Failed));
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpusets_are_checked_against_the_host() {
        assert_eq!(cpuset_cpus("0").unwrap(), [0]);
        assert!(cpuset_cpus("99999").is_err());
        assert!(cpuset_cpus("0,^0").is_err());
        assert!(cpuset_cpus("x").is_err());
        assert_eq!(max_or(0), "max");
    }
}
