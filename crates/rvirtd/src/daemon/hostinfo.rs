//! Connect-level answers: the capabilities XML and node info, from the probed
//! emulator and `/proc`.

use std::fmt::Write as _;
use std::fs;

use qemu::Capabilities;
use remote_protocol::procs::NodeInfo;
use remote_protocol::xdr::FixedChars;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
}

/// The host uuid libvirt shows: `/etc/machine-id` as a uuid, else nil.
fn host_uuid() -> String {
    let id = fs::read_to_string("/etc/machine-id").unwrap_or_default();
    let id = id.trim();
    uuid::Uuid::try_parse(id)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| uuid::Uuid::nil().to_string())
}

/// One logical CPU of the host topology (sysfs `cpuN/topology`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopoCpu {
    /// CPU number.
    pub id: u32,
    /// `physical_package_id`.
    pub socket: i64,
    /// `die_id`.
    pub die: i64,
    /// `cluster_id`.
    pub cluster: i64,
    /// `core_id`.
    pub core: i64,
    /// `thread_siblings_list`.
    pub siblings: String,
}

/// One NUMA cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// Node number.
    pub id: u32,
    /// `MemTotal`, KiB.
    pub memory_kib: u64,
    /// `(page size KiB, pages)`: as libvirt counts them, the base pages the
    /// node's memory makes (`MemTotal`) and the huge pages reserved
    /// (`nr_hugepages`) — totals, so the document is stable between calls.
    pub pages: Vec<(u64, u64)>,
    /// Distances to every node, in node order.
    pub distances: Vec<(u32, u32)>,
    /// The node's CPUs.
    pub cpus: Vec<TopoCpu>,
}

/// The host facts `<host>` shows, gathered from `/proc` and sysfs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostFacts {
    /// `/etc/machine-id` as a uuid.
    pub uuid: String,
    /// Host arch.
    pub arch: String,
    /// Model name libvirt would give the host CPU, when known.
    pub model: Option<String>,
    /// libvirt vendor name.
    pub vendor: Option<String>,
    /// `microcode`.
    pub microcode: Option<u32>,
    /// `(family, model, stepping)`.
    pub signature: Option<(u32, u32, u32)>,
    /// `(sockets per node, dies, clusters, cores, threads)`.
    pub topology: (i32, i32, i32, i32, i32),
    /// Physical address bits.
    pub phys_bits: Option<u32>,
    /// CPU features (libvirt spelling).
    pub features: Vec<String>,
    /// Page sizes in KiB (base first).
    pub page_sizes: Vec<u64>,
    /// NUMA cells.
    pub cells: Vec<Cell>,
    /// The DAC base label (`+UID:+GID` of qemu.conf's user and group) when
    /// the DAC driver is on.
    pub dac_label: Option<String>,
}

/// The `<host>` element of the capabilities XML.
pub fn host_xml(h: &HostFacts) -> String {
    let mut x = String::new();
    let _ = write!(
        x,
        "  <host>\n    <uuid>{}</uuid>\n    <cpu>\n      <arch>{}</arch>\n",
        h.uuid,
        esc(&h.arch)
    );
    if let Some(m) = &h.model {
        let _ = writeln!(x, "      <model>{}</model>", esc(m));
    }
    if let Some(v) = &h.vendor {
        let _ = writeln!(x, "      <vendor>{}</vendor>", esc(v));
    }
    if let Some(m) = h.microcode {
        let _ = writeln!(x, "      <microcode version='{m}'/>");
    }
    if let Some((f, m, s)) = h.signature {
        let _ = writeln!(
            x,
            "      <signature family='{f}' model='{m}' stepping='{s}'/>"
        );
    }
    let (so, di, cl, co, th) = h.topology;
    let _ = writeln!(
        x,
        "      <topology sockets='{so}' dies='{di}' clusters='{cl}' cores='{co}' threads='{th}'/>"
    );
    if let Some(b) = h.phys_bits {
        let _ = writeln!(x, "      <maxphysaddr mode='emulate' bits='{b}'/>");
    }
    for f in &h.features {
        let _ = writeln!(x, "      <feature name='{}'/>", esc(f));
    }
    for p in &h.page_sizes {
        let _ = writeln!(x, "      <pages unit='KiB' size='{p}'/>");
    }
    x.push_str(
        "    </cpu>\n    <power_management/>\n    <iommu support='no'/>\n    <migration_features>\n      \
         <live/>\n      <uri_transports>\n        <uri_transport>tcp</uri_transport>\n        \
         <uri_transport>rdma</uri_transport>\n      </uri_transports>\n    </migration_features>\n",
    );
    if !h.cells.is_empty() {
        let _ = writeln!(x, "    <topology>\n      <cells num='{}'>", h.cells.len());
        for c in &h.cells {
            let _ = writeln!(x, "        <cell id='{}'>", c.id);
            let _ = writeln!(x, "          <memory unit='KiB'>{}</memory>", c.memory_kib);
            for (size, n) in &c.pages {
                let _ = writeln!(x, "          <pages unit='KiB' size='{size}'>{n}</pages>");
            }
            if !c.distances.is_empty() {
                x.push_str("          <distances>\n");
                for (id, v) in &c.distances {
                    let _ = writeln!(x, "            <sibling id='{id}' value='{v}'/>");
                }
                x.push_str("          </distances>\n");
            }
            let _ = writeln!(x, "          <cpus num='{}'>", c.cpus.len());
            for p in &c.cpus {
                let _ = writeln!(
                    x,
                    "            <cpu id='{}' socket_id='{}' die_id='{}' cluster_id='{}' core_id='{}' siblings='{}'/>",
                    p.id,
                    p.socket,
                    p.die,
                    p.cluster,
                    p.core,
                    esc(&p.siblings)
                );
            }
            x.push_str("          </cpus>\n        </cell>\n");
        }
        x.push_str("      </cells>\n    </topology>\n");
    }
    x.push_str("    <secmodel>\n      <model>none</model>\n      <doi>0</doi>\n    </secmodel>\n");
    if let Some(l) = &h.dac_label {
        let _ = write!(
            x,
            "    <secmodel>\n      <model>dac</model>\n      <doi>0</doi>\n      \
             <baselabel type='kvm'>{l}</baselabel>\n      <baselabel type='qemu'>{l}</baselabel>\n    \
             </secmodel>\n"
        );
    }
    x.push_str("  </host>\n\n");
    x
}

/// A libvirt-shaped `<capabilities>`: the host (CPU, topology, migration,
/// security model), and one hvm guest for the emulator's arch with its
/// machines and the `qemu`/`kvm` domain types.
pub fn capabilities_xml(caps: Option<&Capabilities>, dac_label: Option<String>) -> String {
    let arch = std::env::consts::ARCH;
    let mut x = String::from("<capabilities>\n\n");
    let mut host = gather_host(caps);
    host.dac_label = dac_label;
    x.push_str(&host_xml(&host));
    if let Some(c) = caps {
        let garch = if c.arch.is_empty() { arch } else { &c.arch };
        let _ = write!(
            x,
            "  <guest>\n    <os_type>hvm</os_type>\n    <arch name='{}'>\n      <wordsize>64</wordsize>\n      \
             <emulator>{}</emulator>\n",
            esc(garch),
            esc(&c.emulator.to_string_lossy())
        );
        let machines = |x: &mut String, indent: &str| {
            for m in &c.machines {
                let _ = writeln!(
                    x,
                    "{indent}<machine maxCpus='{}'{}>{}</machine>",
                    m.cpu_max,
                    if m.deprecated {
                        " deprecated='yes'"
                    } else {
                        ""
                    },
                    esc(&m.name)
                );
                if let Some(a) = &m.alias {
                    let _ = writeln!(
                        x,
                        "{indent}<machine canonical='{}' maxCpus='{}'>{}</machine>",
                        esc(&m.name),
                        m.cpu_max,
                        esc(a)
                    );
                }
            }
        };
        machines(&mut x, "      ");
        x.push_str("      <domain type='qemu'/>\n");
        if c.kvm.present || std::path::Path::new("/dev/kvm").exists() {
            x.push_str("      <domain type='kvm'/>\n");
        }
        x.push_str(
            "    </arch>\n    <features>\n      <acpi default='on' toggle='yes'/>\n      \
             <apic default='on' toggle='no'/>\n      <cpuselection/>\n      <deviceboot/>\n      \
             <disksnapshot default='on' toggle='no'/>\n    </features>\n  </guest>\n\n",
        );
    }
    x.push_str("</capabilities>\n");
    x
}

fn read_trim(p: impl AsRef<std::path::Path>) -> Option<String> {
    fs::read_to_string(p).ok().map(|s| s.trim().to_owned())
}

/// The host facts from `/proc/cpuinfo`, `/proc/meminfo` and sysfs.
pub fn gather_host(caps: Option<&Capabilities>) -> HostFacts {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let first = cpuinfo.split("\n\n").next().unwrap_or("");
    let field = |k: &str| {
        first.lines().find_map(|l| {
            let (a, b) = l.split_once(':')?;
            (a.trim() == k).then(|| b.trim().to_owned())
        })
    };
    let num = |k: &str| field(k).and_then(|v| v.parse::<u32>().ok());
    let cpu = super::nodefacts::host_cpu();
    let ni = node_info_raw();
    let model = caps.and_then(|c| {
        let vt = if c.kvm.enabled { "kvm" } else { "qemu" };
        qemu_runtime::domcaps::host_model_name(c, vt, &cpu)
    });
    let phys_bits = field("address sizes")
        .and_then(|v| v.split_whitespace().next().and_then(|b| b.parse().ok()));
    let microcode = field("microcode").and_then(|m| {
        let m = m.trim_start_matches("0x");
        u32::from_str_radix(m, 16).ok()
    });
    let mut page_sizes = vec![rustix::param::page_size() as u64 / 1024];
    let mut huge: Vec<u64> = fs::read_dir("/sys/kernel/mm/hugepages")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| {
                    e.file_name()
                        .to_str()?
                        .strip_prefix("hugepages-")?
                        .strip_suffix("kB")?
                        .parse()
                        .ok()
                })
                .collect()
        })
        .unwrap_or_default();
    huge.sort_unstable();
    page_sizes.extend(huge);
    HostFacts {
        uuid: host_uuid(),
        arch: std::env::consts::ARCH.to_owned(),
        model,
        vendor: cpu.vendor.clone(),
        microcode,
        signature: match (num("cpu family"), num("model"), num("stepping")) {
            (Some(f), Some(m), Some(s)) => Some((f, m, s)),
            _ => None,
        },
        topology: (ni.sockets, 1, 1, ni.cores, ni.threads),
        phys_bits,
        features: cpu.flags,
        cells: gather_cells(&page_sizes),
        page_sizes,
        dac_label: None,
    }
}

fn topo_cpu(id: u32) -> TopoCpu {
    let t = format!("/sys/devices/system/cpu/cpu{id}/topology");
    let n = |f: &str| {
        read_trim(format!("{t}/{f}"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    TopoCpu {
        id,
        socket: n("physical_package_id"),
        die: n("die_id"),
        cluster: n("cluster_id"),
        core: n("core_id"),
        siblings: read_trim(format!("{t}/thread_siblings_list")).unwrap_or_else(|| id.to_string()),
    }
}

fn cpu_list(s: &str) -> Vec<u32> {
    let mut v = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    v.extend(a..=b.min(a + 65_535));
                }
            }
            None => v.extend(part.parse::<u32>().ok()),
        }
    }
    v
}

/// NUMA cells from `/sys/devices/system/node`, or one cell of the whole host
/// where the kernel has no NUMA nodes.
fn gather_cells(page_sizes: &[u64]) -> Vec<Cell> {
    let base = "/sys/devices/system/node";
    let mut ids: Vec<u32> = fs::read_dir(base)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str()?.strip_prefix("node")?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    ids.sort_unstable();
    let meminfo_kib = |text: &str, key: &str| {
        text.lines().find_map(|l| {
            let mut w = l.split_whitespace().peekable();
            if w.peek() == Some(&"Node") {
                w.next();
                w.next();
            }
            (w.next()? == key).then(|| w.next()?.parse::<u64>().ok())?
        })
    };
    let pages = |dir: &str, meminfo: &str| {
        let mut v = Vec::new();
        for (i, size) in page_sizes.iter().enumerate() {
            if i == 0 {
                let total = meminfo_kib(meminfo, "MemTotal:").unwrap_or(0);
                v.push((*size, total / size.max(&1)));
            } else {
                let n = read_trim(format!("{dir}/hugepages/hugepages-{size}kB/nr_hugepages"))
                    .and_then(|x| x.parse().ok())
                    .unwrap_or(0);
                v.push((*size, n));
            }
        }
        v
    };
    if ids.is_empty() {
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let online = read_trim("/sys/devices/system/cpu/online").unwrap_or_default();
        return vec![Cell {
            id: 0,
            memory_kib: meminfo_kib(&meminfo, "MemTotal:").unwrap_or(0),
            pages: pages("/sys/kernel/mm", &meminfo),
            distances: Vec::new(),
            cpus: cpu_list(&online).into_iter().map(topo_cpu).collect(),
        }];
    }
    ids.iter()
        .map(|&id| {
            let dir = format!("{base}/node{id}");
            let meminfo = fs::read_to_string(format!("{dir}/meminfo")).unwrap_or_default();
            let distances = read_trim(format!("{dir}/distance"))
                .map(|d| {
                    d.split_whitespace()
                        .filter_map(|v| v.parse().ok())
                        .zip(ids.iter().copied())
                        .map(|(v, i)| (i, v))
                        .collect()
                })
                .unwrap_or_default();
            Cell {
                id,
                memory_kib: meminfo_kib(&meminfo, "MemTotal:").unwrap_or(0),
                pages: pages(&dir, &meminfo),
                distances,
                cpus: cpu_list(&read_trim(format!("{dir}/cpulist")).unwrap_or_default())
                    .into_iter()
                    .map(topo_cpu)
                    .collect(),
            }
        })
        .collect()
}

#[derive(Debug, Default, Clone, Copy)]
struct RawNode {
    memory_kib: u64,
    cpus: i32,
    mhz: i32,
    nodes: i32,
    sockets: i32,
    cores: i32,
    threads: i32,
}

fn node_info_raw() -> RawNode {
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    parse_node(&meminfo, &cpuinfo, count_numa_nodes())
}

fn count_numa_nodes() -> i32 {
    fs::read_dir("/sys/devices/system/node")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    n.strip_prefix("node")
                        .is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_digit()))
                })
                .count() as i32
        })
        .unwrap_or(1)
        .max(1)
}

fn parse_node(meminfo: &str, cpuinfo: &str, nodes: i32) -> RawNode {
    let memory_kib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let field = |block: &str, key: &str| -> Option<String> {
        block.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_owned())
        })
    };
    let blocks: Vec<&str> = cpuinfo
        .split("\n\n")
        .filter(|b| b.contains("processor"))
        .collect();
    let cpus = blocks.len().max(1) as i32;
    let mhz = blocks
        .first()
        .and_then(|b| field(b, "cpu MHz"))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0) as i32;
    let mut sockets: Vec<String> = blocks
        .iter()
        .filter_map(|b| field(b, "physical id"))
        .collect();
    sockets.sort();
    sockets.dedup();
    let sockets = sockets.len().max(1) as i32;
    let cores = blocks
        .first()
        .and_then(|b| field(b, "cpu cores"))
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(cpus / sockets)
        .max(1);
    let threads = (cpus / (sockets * cores)).max(1);
    // libvirt reports sockets per NUMA node.
    let sockets = (sockets / nodes).max(1);
    RawNode {
        memory_kib,
        cpus,
        mhz,
        nodes,
        sockets,
        cores,
        threads,
    }
}

pub fn node_info() -> NodeInfo {
    let n = node_info_raw();
    NodeInfo {
        model: FixedChars::from_str_lossy(std::env::consts::ARCH),
        memory: n.memory_kib,
        cpus: n.cpus,
        mhz: n.mhz,
        nodes: n.nodes,
        sockets: n.sockets,
        cores: n.cores,
        threads: n.threads,
    }
}

/// Free memory in bytes (`MemFree`, as libvirt's nodeGetFreeMemory).
pub fn free_memory() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemFree:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

/// The DAC base label libvirt shows in capabilities: qemu.conf's user and
/// group as `+UID:+GID`, when a security driver (DAC) is on.
pub fn dac_base_label(host: &crate::launch::Host) -> Option<String> {
    use host_config::SecurityDrivers;
    if matches!(host.config.security_driver, SecurityDrivers::None) {
        return None;
    }
    let id = host
        .passwd
        .resolve_account(
            &host.config.user.to_string(),
            Some(&host.config.group.to_string()),
        )
        .ok()?;
    Some(confine::dac::base_label(id.uid, id.gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_from_proc() {
        let meminfo = "MemTotal:       16314660 kB\nMemFree: 1 kB\n";
        let cpu = |n: u32, core: u32| {
            format!(
                "processor\t: {n}\nphysical id\t: 0\ncpu MHz\t\t: 2899.998\ncpu cores\t: 2\ncore id\t: {core}\n"
            )
        };
        let cpuinfo = [cpu(0, 0), cpu(1, 0), cpu(2, 1), cpu(3, 1)].join("\n");
        let n = parse_node(meminfo, &cpuinfo, 1);
        assert_eq!(n.memory_kib, 16314660);
        assert_eq!(
            (n.cpus, n.mhz, n.sockets, n.cores, n.threads),
            (4, 2899, 1, 2, 2)
        );
    }

    #[test]
    fn host_element_in_libvirts_shape() {
        let h = HostFacts {
            uuid: "00000000-0000-0000-0000-000000000001".into(),
            arch: "x86_64".into(),
            model: Some("EPYC-Rome".into()),
            vendor: Some("AMD".into()),
            microcode: Some(0x1000065),
            signature: Some((25, 17, 1)),
            topology: (1, 1, 1, 2, 1),
            phys_bits: Some(48),
            features: vec!["x2apic".into()],
            page_sizes: vec![4, 2048],
            cells: vec![Cell {
                id: 0,
                memory_kib: 1024,
                pages: vec![(4, 100), (2048, 0)],
                distances: vec![(0, 10)],
                cpus: vec![TopoCpu {
                    id: 0,
                    socket: 0,
                    die: 0,
                    cluster: 65535,
                    core: 0,
                    siblings: "0".into(),
                }],
            }],
            dac_label: Some("+64055:+994".into()),
        };
        let x = host_xml(&h);
        for want in [
            "<model>EPYC-Rome</model>\n      <vendor>AMD</vendor>\n      <microcode version='16777317'/>",
            "<signature family='25' model='17' stepping='1'/>",
            "<topology sockets='1' dies='1' clusters='1' cores='2' threads='1'/>",
            "<feature name='x2apic'/>\n      <pages unit='KiB' size='4'/>\n      <pages unit='KiB' size='2048'/>\n    </cpu>",
            "<uri_transport>tcp</uri_transport>",
            "<cells num='1'>\n        <cell id='0'>\n          <memory unit='KiB'>1024</memory>\n          <pages unit='KiB' size='4'>100</pages>",
            "<sibling id='0' value='10'/>",
            "<cpus num='1'>\n            <cpu id='0' socket_id='0' die_id='0' cluster_id='65535' core_id='0' siblings='0'/>",
            "<secmodel>\n      <model>none</model>",
            "<model>dac</model>\n      <doi>0</doi>\n      <baselabel type='kvm'>+64055:+994</baselabel>",
        ] {
            assert!(x.contains(want), "{want}\n{x}");
        }
        assert!(roxmltree::Document::parse(&format!("<capabilities>{x}</capabilities>")).is_ok());
    }

    #[test]
    fn capabilities_without_emulator_is_well_formed() {
        let x = capabilities_xml(None, None);
        assert!(x.starts_with("<capabilities>"));
        assert!(x.contains("<arch>"));
    }
}
