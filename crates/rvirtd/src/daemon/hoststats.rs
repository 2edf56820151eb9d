//! Host-side facts of a running QEMU read for the statistics and tuning calls:
//! a thread's `/proc` stat and affinity, the host's present CPUs, CPU maps in
//! libvirt's byte form, and the per-VM cgroup's files. Parsers are pure and
//! tested; the readers are thin.

use std::path::{Path, PathBuf};

/// Clock ticks per second of `/proc/*/stat` times (USER_HZ, 100 on Linux).
const USER_HZ: u64 = 100;

/// What `/proc/PID/task/TID/stat` tells of one thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadStat {
    /// Scheduler state letter (`R`, `S`, ...).
    pub state: char,
    /// User + system time, ns.
    pub cpu_time_ns: u64,
    /// User time, ns.
    pub user_ns: u64,
    /// System time, ns.
    pub system_ns: u64,
    /// Host CPU it last ran on.
    pub processor: i32,
}

/// Parses a `stat` line (the command may hold spaces and parentheses: the
/// fields start after the last `)`).
pub fn parse_thread_stat(text: &str) -> Option<ThreadStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state); utime is field 14, stime 15, processor 39.
    let tick_ns = 1_000_000_000 / USER_HZ;
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(ThreadStat {
        state: f.first()?.chars().next()?,
        cpu_time_ns: (utime + stime) * tick_ns,
        user_ns: utime * tick_ns,
        system_ns: stime * tick_ns,
        processor: f.get(36)?.parse().ok()?,
    })
}

/// One thread of process `pid`.
pub fn thread_stat(pid: u32, tid: u32) -> Option<ThreadStat> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat"))
        .ok()
        .and_then(|t| parse_thread_stat(&t))
}

/// `run_delay` of `/proc/PID/task/TID/schedstat` (ns spent waiting on a run
/// queue), what libvirt reports as a vCPU's `wait`/`delay`.
pub fn thread_run_delay(pid: u32, tid: u32) -> Option<u64> {
    let t = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/schedstat")).ok()?;
    t.split_whitespace().nth(1)?.parse().ok()
}

/// Parses a CPU list (`0-3,8,10-11`) into CPU numbers.
pub fn parse_cpu_list(text: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if b < a || b - a > 1 << 16 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.trim().parse().ok()?),
        }
    }
    Some(out)
}

/// Parses a libvirt cpuset (`0-3,^2`): the definition's own parser.
pub fn parse_cpuset(text: &str) -> Option<Vec<u32>> {
    domain_xml::model::tuning::parse_cpuset(text)
}

/// CPU numbers as a list in the kernel's form (`0-3,8`).
pub fn format_cpu_list(cpus: &[u32]) -> String {
    let mut v = cpus.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        let mut end = start;
        while i + 1 < v.len() && v[i + 1] == end + 1 {
            i += 1;
            end = v[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// A thread's allowed CPUs (`Cpus_allowed_list` of its status).
pub fn thread_affinity(pid: u32, tid: u32) -> Option<Vec<u32>> {
    let t = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).ok()?;
    let line = t.lines().find(|l| l.starts_with("Cpus_allowed_list:"))?;
    parse_cpu_list(line.split_once(':')?.1)
}

/// The ids of every thread of `pid`.
pub fn thread_ids(pid: u32) -> Vec<u32> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The host's present CPUs (`/sys/devices/system/cpu/present`), as libvirt
/// counts them for CPU maps and per-CPU stats.
pub fn present_cpus() -> Vec<u32> {
    std::fs::read_to_string("/sys/devices/system/cpu/present")
        .ok()
        .and_then(|t| parse_cpu_list(&t))
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            (0..n as u32).collect()
        })
}

/// The host CPU count libvirt uses for map sizes: highest present CPU + 1.
pub fn host_cpu_count() -> u32 {
    present_cpus().iter().max().map_or(1, |m| m + 1)
}

/// CPU numbers as a libvirt CPU map of `maplen` bytes (bit `n % 8` of byte
/// `n / 8`); CPUs beyond the map are left out.
pub fn cpumap(cpus: &[u32], maplen: usize) -> Vec<u8> {
    let mut m = vec![0u8; maplen];
    for &c in cpus {
        if let Some(b) = m.get_mut(c as usize / 8) {
            *b |= 1 << (c % 8);
        }
    }
    m
}

/// The CPUs set in a libvirt CPU map.
pub fn cpus_of_map(map: &[u8]) -> Vec<u32> {
    let mut v = Vec::new();
    for (i, b) in map.iter().enumerate() {
        for bit in 0..8 {
            if b & (1 << bit) != 0 {
                v.push(i as u32 * 8 + bit);
            }
        }
    }
    v
}

/// `VmRSS` of `/proc/PID/status`, KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let t = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = t.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The per-VM cgroup's directories, found from the QEMU's `/proc/PID/cgroup`
/// (what the kernel says the process is in, not what we recorded).
#[derive(Debug, Clone, Default)]
pub struct VmGroups {
    /// v1: controller name → directory.
    v1: Vec<(String, PathBuf)>,
    /// The v2 directory, if the unified hierarchy holds the VM.
    v2: Option<PathBuf>,
}

/// Mount points of cgroup hierarchies: (v1 controller names, mount point) and
/// the v2 mount point.
fn cgroup_mounts() -> (Vec<(Vec<String>, PathBuf)>, Option<PathBuf>) {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v1 = Vec::new();
    let mut v2 = None;
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        let (Some(mp), Some(fstype)) = (pre.get(4), post.first()) else {
            continue;
        };
        match *fstype {
            "cgroup2" => v2 = Some(PathBuf::from(mp)),
            "cgroup" => {
                let opts = post.get(2).copied().unwrap_or("");
                let names = opts
                    .split(',')
                    .filter(|o| {
                        !matches!(*o, "rw" | "ro") && !o.contains('=') || o.starts_with("name=")
                    })
                    .map(str::to_owned)
                    .collect();
                v1.push((names, PathBuf::from(mp)));
            }
            _ => {}
        }
    }
    (v1, v2)
}

impl VmGroups {
    /// The groups of process `pid` whose path ends in an rvirt VM group.
    pub fn of_pid(pid: u32) -> VmGroups {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let (mounts, v2_mount) = cgroup_mounts();
        let mut g = VmGroups::default();
        for line in text.lines() {
            let mut it = line.splitn(3, ':');
            let (Some(id), Some(ctrls), Some(path)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            if !path.contains(confine::cgroup::GROUP_SUFFIX) {
                continue;
            }
            let rel = path.trim_start_matches('/');
            if id == "0" && ctrls.is_empty() {
                g.v2 = v2_mount.as_ref().map(|m| m.join(rel));
                continue;
            }
            let names: Vec<&str> = ctrls.split(',').collect();
            if let Some((_, mp)) = mounts
                .iter()
                .find(|(n, _)| names.iter().all(|c| n.iter().any(|m| m == c)))
            {
                for c in names {
                    g.v1.push((c.to_owned(), mp.join(rel)));
                }
            }
        }
        g
    }

    /// The v1 directory of `controller`.
    pub fn v1(&self, controller: &str) -> Option<&Path> {
        self.v1
            .iter()
            .find(|(c, _)| c == controller)
            .map(|(_, p)| p.as_path())
    }

    /// The v2 directory.
    pub fn v2(&self) -> Option<&Path> {
        self.v2.as_deref()
    }

    /// Reads `file` of the v1 `controller`'s group, or of the v2 group.
    pub fn read(&self, controller: &str, v1_file: &str, v2_file: &str) -> Option<String> {
        if let Some(d) = self.v1(controller) {
            return std::fs::read_to_string(d.join(v1_file)).ok();
        }
        let d = self.v2()?;
        std::fs::read_to_string(d.join(v2_file)).ok()
    }

    /// Whether the VM's `controller` is a v1 hierarchy.
    pub fn is_v1(&self, controller: &str) -> bool {
        self.v1(controller).is_some()
    }
}

/// The CPU times of a cgroup: (total, user, system) in ns, from cpuacct (v1:
/// `cpuacct.usage` and `cpuacct.stat` in USER_HZ ticks) or `cpu.stat` (v2, µs).
pub fn cgroup_cpu_times(g: &VmGroups) -> Option<(u64, u64, u64)> {
    if let Some(d) = g.v1("cpuacct") {
        let total = std::fs::read_to_string(d.join("cpuacct.usage"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let stat = std::fs::read_to_string(d.join("cpuacct.stat")).ok()?;
        let tick_ns = 1_000_000_000 / USER_HZ;
        let key = |k: &str| -> Option<u64> {
            stat.lines()
                .find_map(|l| l.strip_prefix(k)?.trim().parse::<u64>().ok())
        };
        return Some((total, key("user ")? * tick_ns, key("system ")? * tick_ns));
    }
    let stat = std::fs::read_to_string(g.v2()?.join("cpu.stat")).ok()?;
    let key = |k: &str| -> Option<u64> {
        stat.lines()
            .find_map(|l| l.strip_prefix(k)?.trim().parse::<u64>().ok())
    };
    Some((
        key("usage_usec ")? * 1000,
        key("user_usec ")? * 1000,
        key("system_usec ")? * 1000,
    ))
}

/// Per-host-CPU usage of a v1 cpuacct group, ns (`cpuacct.usage_percpu`);
/// `None` on v2, which has no per-CPU accounting.
pub fn cgroup_percpu(g: &VmGroups) -> Option<Vec<u64>> {
    let d = g.v1("cpuacct")?;
    let t = std::fs::read_to_string(d.join("cpuacct.usage_percpu")).ok()?;
    t.split_whitespace().map(|v| v.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_stat_fields() {
        let line = "4242 (CPU 0/TCG) S 1 2 3 0 -1 4194368 10 0 0 0 150 25 0 0 20 0 4 0 \
                    12345 1000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 -1 1 0 0 0 0 0";
        let s = parse_thread_stat(line).unwrap();
        assert_eq!(s.state, 'S');
        assert_eq!(s.user_ns, 1_500_000_000);
        assert_eq!(s.system_ns, 250_000_000);
        assert_eq!(s.cpu_time_ns, 1_750_000_000);
        assert_eq!(s.processor, 1);
        // A real thread of this process parses too.
        let me = std::process::id();
        assert!(thread_stat(me, me).is_some());
    }

    #[test]
    fn cpu_lists_and_maps() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11\n").unwrap(),
            [0, 1, 2, 3, 8, 10, 11]
        );
        assert_eq!(parse_cpu_list("").unwrap(), Vec::<u32>::new());
        assert!(parse_cpu_list("3-1").is_none());
        assert!(parse_cpu_list("x").is_none());
        assert_eq!(parse_cpuset("0-3,^2").unwrap(), [0, 1, 3]);
        assert_eq!(parse_cpuset("0,^0").unwrap(), Vec::<u32>::new());
        assert_eq!(format_cpu_list(&[3, 0, 1, 2, 8, 10, 11]), "0-3,8,10-11");
        assert_eq!(cpumap(&[0, 1, 9], 2), [0b11, 0b10]);
        assert_eq!(cpumap(&[0, 17], 2), [1, 0]);
        assert_eq!(cpus_of_map(&[0b101, 1]), [0, 2, 8]);
        assert!(host_cpu_count() >= 1);
    }
}
