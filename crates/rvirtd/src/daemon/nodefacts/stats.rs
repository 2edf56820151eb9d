//! Host counters as libvirt reads them: CPU time from `/proc/stat`, memory from
//! `/proc/meminfo` (or a NUMA node's `meminfo`), CPU lists from sysfs. Pure
//! parsers over the files' text.

/// A sysfs CPU list (`0-3,8,10-11`) as indices; `None` if malformed.
pub fn parse_cpu_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if b < a || b - a > 1 << 16 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// `/proc/stat` ticks are USER_HZ (100 on Linux): 10 ms each.
const TICK_NS: u64 = 10_000_000;

/// libvirt's four CPU counters (ns) for `cpu` (the total line) or `cpuN`:
/// kernel (system+irq+softirq), user (user+nice), idle, iowait.
pub fn cpu_stats(proc_stat: &str, cpu: Option<u32>) -> Option<[(&'static str, u64); 4]> {
    let head = match cpu {
        None => "cpu".to_owned(),
        Some(n) => format!("cpu{n}"),
    };
    let line = proc_stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(head.as_str()))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    if v.len() < 4 {
        return None;
    }
    let (usr, ni, sys, idle, iowait, irq, softirq) =
        (at(0), at(1), at(2), at(3), at(4), at(5), at(6));
    Some([
        ("kernel", (sys + irq + softirq) * TICK_NS),
        ("user", (usr + ni) * TICK_NS),
        ("idle", idle * TICK_NS),
        ("iowait", iowait * TICK_NS),
    ])
}

/// The memory counters (KiB) libvirt reports: `total`, `free`, and for the
/// whole host also `buffers`, `cached`. Node files prefix lines with
/// `Node N `.
pub fn mem_stats(meminfo: &str, whole_host: bool) -> Vec<(&'static str, u64)> {
    let keys: &[(&str, &'static str)] = if whole_host {
        &[
            ("MemTotal:", "total"),
            ("MemFree:", "free"),
            ("Buffers:", "buffers"),
            ("Cached:", "cached"),
        ]
    } else {
        &[("MemTotal:", "total"), ("MemFree:", "free")]
    };
    let mut out = Vec::new();
    for line in meminfo.lines() {
        let mut words = line.split_whitespace().peekable();
        if words.peek() == Some(&"Node") {
            words.next();
            words.next();
        }
        let (Some(k), Some(v)) = (words.next(), words.next()) else {
            continue;
        };
        if let Some((_, field)) = keys.iter().find(|(h, _)| *h == k)
            && let Ok(v) = v.parse()
        {
            out.push((*field, v));
        }
    }
    out
}

/// One field of a `meminfo` in KiB (`MemFree:`), node prefix allowed.
pub fn meminfo_kib(meminfo: &str, key: &str) -> Option<u64> {
    meminfo.lines().find_map(|line| {
        let mut words = line.split_whitespace().peekable();
        if words.peek() == Some(&"Node") {
            words.next();
            words.next();
        }
        (words.next()? == key).then(|| words.next()?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11\n"),
            Some(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(parse_cpu_list("0"), Some(vec![0]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn proc_stat_in_ns() {
        let stat = "cpu  10 2 30 400 5 6 7 0 0 0\ncpu0 1 0 3 40 0 0 0 0 0 0\nintr 1\n";
        let all = cpu_stats(stat, None).unwrap();
        assert_eq!(
            all,
            [
                ("kernel", 43 * TICK_NS),
                ("user", 12 * TICK_NS),
                ("idle", 400 * TICK_NS),
                ("iowait", 5 * TICK_NS),
            ]
        );
        assert_eq!(
            cpu_stats(stat, Some(0)).unwrap()[0],
            ("kernel", 3 * TICK_NS)
        );
        assert!(cpu_stats(stat, Some(1)).is_none());
    }

    #[test]
    fn meminfo_fields() {
        let m =
            "MemTotal: 100 kB\nMemFree: 40 kB\nMemAvailable: 60 kB\nBuffers: 5 kB\nCached: 20 kB\n";
        assert_eq!(
            mem_stats(m, true),
            vec![("total", 100), ("free", 40), ("buffers", 5), ("cached", 20)]
        );
        let node = "Node 0 MemTotal: 100 kB\nNode 0 MemFree: 40 kB\n";
        assert_eq!(mem_stats(node, false), vec![("total", 100), ("free", 40)]);
        assert_eq!(meminfo_kib(node, "MemFree:"), Some(40));
    }
}
