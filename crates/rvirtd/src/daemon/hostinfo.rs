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

/// A libvirt-shaped `<capabilities>`: host cpu/arch, and one hvm guest for the
/// emulator's arch with its machines and the `qemu`/`kvm` domain types.
pub fn capabilities_xml(caps: Option<&Capabilities>) -> String {
    let arch = std::env::consts::ARCH;
    let ni = node_info_raw();
    let mut x = String::new();
    let _ = write!(
        x,
        "<capabilities>\n\n  <host>\n    <uuid>{}</uuid>\n    <cpu>\n      <arch>{arch}</arch>\n      \
         <topology sockets='{}' dies='1' cores='{}' threads='{}'/>\n    </cpu>\n    \
         <power_management/>\n    <iommu support='no'/>\n    <migration_features>\n      <live/>\n    \
         </migration_features>\n    <secmodel>\n      <model>none</model>\n      <doi>0</doi>\n    \
         </secmodel>\n  </host>\n\n",
        host_uuid(),
        ni.sockets,
        ni.cores,
        ni.threads
    );
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
    fn capabilities_without_emulator_is_well_formed() {
        let x = capabilities_xml(None);
        assert!(x.starts_with("<capabilities>"));
        assert!(x.contains("<arch>"));
    }
}
