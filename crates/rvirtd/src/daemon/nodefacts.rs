//! Host facts over the remote protocol: domain capabilities (342), the CPU map
//! (293), CPU model names (312), sysinfo (203), node CPU and memory counters
//! (227, 228), free memory per cell (101), and CPU comparison and baseline
//! (158, 162, 393, 394). The XML builders and parsers they use are pure (the
//! domain capabilities in `qemu_runtime::domcaps`, the rest in this module's
//! children); this file reads the host and maps errors to libvirt's.

mod cpuxml;
mod stats;
mod sysinfo;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use qemu::Capabilities;
use qemu_runtime::domcaps::{self, DomCapsQuery, HostCpu, HostView};
use qemu_runtime::firmware;
use remote_protocol::procs::{CpuMapRet, CpuModelNamesRet, NodeStat, NodeStatsRet, cpu_compare};
use remote_protocol::xdr::Opaque;
use remote_protocol::{ErrorCode, ErrorDomain, RemoteError, Request, Response};

pub use cpuxml::libvirt_feature_name;

use super::Daemon;

/// `VIR_ERR_CPU_INCOMPATIBLE`.
const CPU_INCOMPATIBLE: ErrorCode = ErrorCode(91);
/// `VIR_FROM_CPU`.
const FROM_CPU: ErrorDomain = ErrorDomain(31);

/// The host as domain capabilities see it, gathered once: firmware
/// descriptors, swtpm, VFIO, the CPU vendor and flags.
pub fn host_view() -> &'static HostView {
    static VIEW: OnceLock<HostView> = OnceLock::new();
    VIEW.get_or_init(|| {
        let privileged = rustix::process::geteuid().is_root();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let xdg = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from);
        let dirs = firmware::search_dirs(privileged, xdg.as_deref(), home.as_deref());
        // A broken descriptor is skipped (as libvirt does) but said.
        let descs = match firmware::load(&dirs) {
            Ok((descs, broken)) => {
                for e in broken {
                    tracing::warn!("firmware descriptor skipped: {e}");
                }
                descs
            }
            Err(e) => {
                tracing::warn!("firmware descriptors unreadable: {e}");
                Vec::new()
            }
        };
        let absent_images = domcaps::firmware_images(&descs)
            .into_iter()
            .filter(|p| !p.exists())
            .collect();
        let swtpm = which("swtpm").is_some() && which("swtpm_setup").is_some();
        HostView {
            arch: std::env::consts::ARCH.to_owned(),
            firmware: descs,
            absent_images,
            swtpm,
            swtpm_versions: if swtpm { swtpm_versions() } else { Vec::new() },
            vfio: Path::new("/dev/vfio/vfio").exists()
                && fs::read_dir("/sys/kernel/iommu_groups").is_ok_and(|mut d| d.next().is_some()),
            kvm_max_vcpus: kvm_max_vcpus(),
            cpu: host_cpu(),
        }
    })
}

/// `KVM_CHECK_EXTENSION` on `/dev/kvm`: its answer is the ioctl's return
/// value, which rustix's integer patterns drop, hence this small pattern.
struct CheckExtension(usize);

/// `_IO(KVMIO, 0x03)`.
const KVM_CHECK_EXTENSION: rustix::ioctl::Opcode = rustix::ioctl::opcode::none(0xAE, 0x03);

// SAFETY: KVM_CHECK_EXTENSION takes an integer argument (the capability
// number) by value, writes no memory, and answers in its return value.
unsafe impl rustix::ioctl::Ioctl for CheckExtension {
    type Output = u32;
    const IS_MUTATING: bool = false;

    fn opcode(&self) -> rustix::ioctl::Opcode {
        KVM_CHECK_EXTENSION
    }

    fn as_ptr(&mut self) -> *mut std::ffi::c_void {
        self.0 as *mut std::ffi::c_void
    }

    unsafe fn output_from_ptr(
        out: rustix::ioctl::IoctlOutput,
        _: *mut std::ffi::c_void,
    ) -> rustix::io::Result<u32> {
        Ok(u32::try_from(out).unwrap_or(0))
    }
}

/// The most vCPUs KVM gives one guest (`KVM_CAP_MAX_VCPUS`, else the
/// recommended `KVM_CAP_NR_VCPUS`), as libvirt caps domain capabilities'
/// `<vcpu max>` for kvm; `None` without a usable `/dev/kvm`.
fn kvm_max_vcpus() -> Option<u32> {
    const KVM_CAP_NR_VCPUS: usize = 9;
    const KVM_CAP_MAX_VCPUS: usize = 66;
    let kvm = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .ok()?;
    let ask = |cap| {
        // SAFETY: the opcode and argument form a valid KVM_CHECK_EXTENSION
        // call on an open /dev/kvm (see `CheckExtension`).
        unsafe { rustix::ioctl::ioctl(&kvm, CheckExtension(cap)) }
            .ok()
            .filter(|n| *n > 0)
    };
    ask(KVM_CAP_MAX_VCPUS).or_else(|| ask(KVM_CAP_NR_VCPUS))
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_else(|| vec!["/usr/bin".into(), "/usr/sbin".into()])
        .into_iter()
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

/// TPM versions swtpm_setup offers (`tpm-1.2`, `tpm-2.0` in its
/// `--print-capabilities` features).
fn swtpm_versions() -> Vec<String> {
    let out = std::process::Command::new("swtpm_setup")
        .arg("--print-capabilities")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    let Ok(out) = out else { return Vec::new() };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let feats: Vec<&str> = v
        .get("features")
        .and_then(|f| f.as_array())
        .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    [("tpm-1.2", "1.2"), ("tpm-2.0", "2.0")]
        .iter()
        .filter(|(f, _)| feats.contains(f))
        .map(|(_, v)| (*v).to_owned())
        .collect()
}

/// Vendor and flags of the first CPU in `/proc/cpuinfo`.
pub fn host_cpu() -> HostCpu {
    let info = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |k: &str| {
        info.lines().find_map(|l| {
            let (a, b) = l.split_once(':')?;
            (a.trim() == k).then(|| b.trim().to_owned())
        })
    };
    let mut flags: Vec<String> = field("flags")
        .unwrap_or_default()
        .split_whitespace()
        .map(libvirt_feature_name)
        .collect();
    flags.sort();
    flags.dedup();
    HostCpu {
        vendor: field("vendor_id")
            .and_then(|v| HostCpu::vendor_name(&v))
            .map(str::to_owned),
        flags,
    }
}

fn caps(d: &Daemon) -> Result<&Capabilities, RemoteError> {
    d.caps
        .as_ref()
        .map(|c| &**c)
        .map_err(|m| RemoteError::operation_failed(m))
}

fn invalid(msg: &str) -> RemoteError {
    RemoteError::new(
        ErrorCode::INVALID_ARG,
        ErrorDomain::NONE,
        format!("invalid argument: {msg}"),
    )
}

/// Answers the host-fact requests; `None` for any other.
pub fn answer(d: &Daemon, req: &Request) -> Option<Result<Response, RemoteError>> {
    use Request as R;
    Some(match req {
        R::ConnectGetDomainCapabilities {
            emulatorbin,
            arch,
            machine,
            virttype,
            ..
        } => domain_capabilities(
            d,
            &DomCapsQuery {
                emulator: emulatorbin.clone(),
                arch: arch.clone(),
                machine: machine.clone(),
                virttype: virttype.clone(),
            },
        ),
        R::NodeGetCpuMap {
            need_map,
            need_online,
            ..
        } => cpu_map(*need_map, *need_online),
        R::ConnectGetCpuModelNames {
            arch, need_results, ..
        } => cpu_model_names(d, arch, *need_results),
        R::ConnectGetSysinfo { .. } => Ok(Response::String(sysinfo::read(Path::new(
            "/sys/class/dmi/id",
        )))),
        R::NodeGetCpuStats {
            cpu_num, nparams, ..
        } => cpu_stats(*cpu_num, *nparams),
        R::NodeGetMemoryStats {
            nparams, cell_num, ..
        } => memory_stats(*cell_num, *nparams),
        R::NodeGetCellsFreeMemory {
            start_cell,
            max_cells,
        } => cells_free_memory(*start_cell, *max_cells),
        R::ConnectCompareCpu { xml, flags } => compare(d, xml, *flags),
        R::ConnectCompareHypervisorCpu {
            emulator,
            arch,
            machine,
            virttype,
            xml_cpu,
            flags,
        } => resolve_hv(d, emulator, arch, machine, virttype)
            .and_then(|()| compare(d, xml_cpu, *flags)),
        R::ConnectBaselineCpu { xml_cpus, flags } => baseline(d, xml_cpus, *flags, false),
        R::ConnectBaselineHypervisorCpu {
            emulator,
            arch,
            machine,
            virttype,
            xml_cpus,
            flags,
        } => resolve_hv(d, emulator, arch, machine, virttype)
            .and_then(|()| baseline(d, xml_cpus, *flags, true)),
        _ => return None,
    })
}

fn domain_capabilities(d: &Daemon, q: &DomCapsQuery) -> Result<Response, RemoteError> {
    let c = caps(d)?;
    domcaps::domain_capabilities(c, host_view(), q)
        .map(Response::String)
        .map_err(|e| {
            let code = if e.is_config_unsupported() {
                ErrorCode::CONFIG_UNSUPPORTED
            } else {
                ErrorCode::INVALID_ARG
            };
            let text = if code == ErrorCode::INVALID_ARG {
                format!("invalid argument: {e}")
            } else {
                format!("unsupported configuration: {e}")
            };
            RemoteError::new(code, ErrorDomain::QEMU, text)
        })
}

/// The emulator/arch/machine/virttype of the hypervisor CPU calls, checked
/// as for domain capabilities.
fn resolve_hv(
    d: &Daemon,
    emulator: &Option<String>,
    arch: &Option<String>,
    machine: &Option<String>,
    virttype: &Option<String>,
) -> Result<(), RemoteError> {
    domain_capabilities(
        d,
        &DomCapsQuery {
            emulator: emulator.clone(),
            arch: arch.clone(),
            machine: machine.clone(),
            virttype: virttype.clone(),
        },
    )
    .map(|_| ())
}

fn read_cpu_list(file: &str) -> Option<Vec<u32>> {
    stats::parse_cpu_list(
        &fs::read_to_string(Path::new("/sys/devices/system/cpu").join(file)).ok()?,
    )
}

fn cpu_map(need_map: bool, need_online: bool) -> Result<Response, RemoteError> {
    let present = read_cpu_list("present")
        .ok_or_else(|| RemoteError::internal("cannot read /sys/devices/system/cpu/present"))?;
    let online = read_cpu_list("online").unwrap_or_else(|| present.clone());
    let count = present.iter().max().map_or(0, |m| m + 1);
    let mut map = vec![0u8; count.div_ceil(8) as usize];
    for c in &online {
        if let Some(b) = map.get_mut((*c / 8) as usize) {
            *b |= 1 << (c % 8);
        }
    }
    Ok(Response::CpuMap(CpuMapRet {
        cpumap: Opaque(if need_map { map } else { Vec::new() }),
        online: if need_online { online.len() as u32 } else { 0 },
        ret: count as i32,
    }))
}

fn cpu_model_names(d: &Daemon, arch: &str, need_results: bool) -> Result<Response, RemoteError> {
    let c = caps(d)?;
    let view = host_view();
    // The arch must be one the probed emulator serves.
    domcaps::resolve(
        c,
        view,
        &DomCapsQuery {
            arch: Some(arch.to_owned()),
            ..DomCapsQuery::default()
        },
    )
    .map_err(|e| invalid(&e.to_string()))?;
    let models: Vec<String> = c
        .cpu_models
        .iter()
        .filter(|m| !matches!(m.name.as_str(), "host" | "max" | "base"))
        .map(|m| m.name.clone())
        .collect();
    Ok(Response::CpuModelNames(CpuModelNamesRet {
        ret: models.len() as i32,
        models: if need_results { models } else { Vec::new() },
    }))
}

fn node_stats(
    all: Vec<(&'static str, u64)>,
    nparams: i32,
    func: &str,
) -> Result<Response, RemoteError> {
    let n = all.len() as i32;
    if nparams == 0 {
        return Ok(Response::NodeStats(NodeStatsRet {
            params: Vec::new(),
            nparams: n,
        }));
    }
    if nparams != n {
        // libvirt words the two checks differently.
        let rule = if func.contains("CPU") {
            "must be equal to"
        } else {
            "must be"
        };
        return Err(invalid(&format!("nparams in {func} {rule} {n}")));
    }
    Ok(Response::NodeStats(NodeStatsRet {
        params: all
            .into_iter()
            .map(|(f, v)| NodeStat {
                field: f.to_owned(),
                value: v,
            })
            .collect(),
        nparams: n,
    }))
}

fn cpu_stats(cpu_num: i32, nparams: i32) -> Result<Response, RemoteError> {
    let stat = fs::read_to_string("/proc/stat")
        .map_err(|e| RemoteError::internal(&format!("cannot read /proc/stat: {e}")))?;
    let cpu = (cpu_num >= 0).then_some(cpu_num as u32);
    if cpu_num < -1 {
        return Err(invalid("Invalid cpuNum in virHostCPUGetStatsLinux"));
    }
    let Some(s) = stats::cpu_stats(&stat, cpu) else {
        return Err(invalid("Invalid cpuNum in virHostCPUGetStatsLinux"));
    };
    node_stats(s.to_vec(), nparams, "virHostCPUGetStatsLinux")
}

/// NUMA node directories present (`node0`, ...), as indices.
fn numa_nodes() -> Vec<u32> {
    let mut v: Vec<u32> = fs::read_dir("/sys/devices/system/node")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str()?.strip_prefix("node")?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort_unstable();
    v
}

fn node_meminfo(cell: u32) -> Option<String> {
    fs::read_to_string(format!("/sys/devices/system/node/node{cell}/meminfo")).ok()
}

fn memory_stats(cell_num: i32, nparams: i32) -> Result<Response, RemoteError> {
    let text = if cell_num == -1 {
        fs::read_to_string("/proc/meminfo")
            .map_err(|e| RemoteError::internal(&format!("cannot read /proc/meminfo: {e}")))?
    } else {
        let nodes = numa_nodes();
        let max = nodes.iter().max().copied().unwrap_or(0);
        let text = u32::try_from(cell_num).ok().and_then(|c| {
            if nodes.is_empty() && c == 0 {
                fs::read_to_string("/proc/meminfo").ok()
            } else {
                node_meminfo(c)
            }
        });
        text.ok_or_else(|| {
            invalid(&format!(
                "cellNum in virHostMemGetStats must be less than or equal to {max}"
            ))
        })?
    };
    let all = stats::mem_stats(&text, cell_num == -1);
    if all.is_empty() {
        return Err(RemoteError::internal("no available memory line found"));
    }
    node_stats(all, nparams, "virHostMemGetStatsLinux")
}

fn cells_free_memory(start: i32, max_cells: i32) -> Result<Response, RemoteError> {
    let nodes = numa_nodes();
    let last = nodes.iter().max().copied().unwrap_or(0) as i32;
    if start < 0 || start > last {
        return Err(RemoteError::internal(&format!(
            "start cell {start} out of range (0-{last})"
        )));
    }
    let end = (last + 1).min(start.saturating_add(max_cells.max(0)));
    let mut cells = Vec::new();
    for c in start..end {
        let text = if nodes.is_empty() {
            fs::read_to_string("/proc/meminfo").ok()
        } else {
            node_meminfo(c as u32)
        };
        let kib = text
            .as_deref()
            .and_then(|t| stats::meminfo_kib(t, "MemFree:"))
            .unwrap_or(0);
        cells.push(kib * 1024);
    }
    Ok(Response::UHypers(cells))
}

fn xml_err(e: cpuxml::CpuXmlError) -> RemoteError {
    match e {
        cpuxml::CpuXmlError::UnknownModel(m) => RemoteError::new(
            ErrorCode::CONFIG_UNSUPPORTED,
            FROM_CPU,
            format!("unsupported configuration: Unknown CPU model {m}"),
        ),
        cpuxml::CpuXmlError::Empty => RemoteError::new(
            ErrorCode::INVALID_ARG,
            FROM_CPU,
            "invalid argument: no CPU model given".to_owned(),
        ),
        other => RemoteError::xml_error(&format!("failed to parse CPU definition: {other}")),
    }
}

fn compare(d: &Daemon, xml: &str, flags: u32) -> Result<Response, RemoteError> {
    let c = caps(d)?;
    let def = cpuxml::parse(xml).map_err(xml_err)?;
    let view = host_view();
    let virttype = if c.kvm.enabled { "kvm" } else { "qemu" };
    let host_model = domcaps::host_model_name(c, virttype, &view.cpu);
    // Both forms compare with what QEMU can give a guest here: the host CPU
    // as KVM exposes it is what the emulator's model usability measures.
    let (result, why) = cpuxml::compare(&def, c, host_model.as_deref(), &view.cpu.flags, |m| {
        domcaps::model_usable(c, virttype, m)
    })
    .map_err(xml_err)?;
    if result == cpu_compare::INCOMPATIBLE && flags & cpu_compare::FLAG_FAIL_INCOMPATIBLE != 0 {
        let mut msg = "the CPU is incompatible with host CPU".to_owned();
        if let Some(w) = why {
            msg.push_str(": ");
            msg.push_str(&w);
        }
        return Err(RemoteError::new(CPU_INCOMPATIBLE, FROM_CPU, msg));
    }
    Ok(Response::Int(result))
}

/// `VIR_CONNECT_BASELINE_CPU_MIGRATABLE`.
const BASELINE_MIGRATABLE: u32 = 2;

fn baseline(
    d: &Daemon,
    xmls: &[String],
    flags: u32,
    hypervisor: bool,
) -> Result<Response, RemoteError> {
    let defs = xmls
        .iter()
        .map(|x| cpuxml::parse(x))
        .collect::<Result<Vec<_>, _>>()
        .map_err(xml_err)?;
    let c = if hypervisor { Some(caps(d)?) } else { None };
    cpuxml::baseline(&defs, c, flags & BASELINE_MIGRATABLE != 0)
        .map(Response::String)
        .map_err(xml_err)
}
