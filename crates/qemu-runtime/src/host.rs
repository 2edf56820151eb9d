//! Facts about this host the daemon reads once (or when asked): hugetlbfs mounts and
//! their page sizes.

use std::path::PathBuf;

use host_config::settings::HugetlbfsMount;
use qemu_plan::runtime::HugetlbfsMountInfo;

/// Page size in KiB from a hugetlbfs mount's options (`pagesize=2M`), else the
/// host default from /proc/meminfo's `Hugepagesize:`.
fn page_size_kib(options: &str, default_kib: Option<u64>) -> Option<u64> {
    for opt in options.split(',') {
        if let Some(v) = opt.strip_prefix("pagesize=") {
            let (num, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
            let n: u64 = num.parse().ok()?;
            return Some(match unit {
                "" | "K" | "k" => n,
                "M" | "m" => n * 1024,
                "G" | "g" => n * 1024 * 1024,
                _ => return None,
            });
        }
    }
    default_kib
}

fn meminfo_hugepagesize(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("Hugepagesize:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The hugetlbfs mounts in a `/proc/mounts` text, in order.
pub fn parse_hugetlbfs_mounts(mounts: &str, meminfo: &str) -> Vec<HugetlbfsMountInfo> {
    let default_kib = meminfo_hugepagesize(meminfo);
    let mut out: Vec<HugetlbfsMountInfo> = Vec::new();
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 || f[2] != "hugetlbfs" {
            continue;
        }
        let path = f[1].replace("\\040", " ");
        let Some(size) = page_size_kib(f[3], default_kib) else {
            continue;
        };
        if out.iter().any(|m| m.path == path) {
            continue;
        }
        let default = Some(size) == default_kib && !out.iter().any(|m| m.default);
        out.push(HugetlbfsMountInfo {
            path,
            page_size_kib: size,
            default,
        });
    }
    out
}

/// hugetlbfs mounts as qemu.conf's `hugetlbfs_mount` asks: auto-detected, none, or
/// the configured list (page sizes from the mount table).
pub fn hugetlbfs_mounts(setting: &HugetlbfsMount) -> Vec<HugetlbfsMountInfo> {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let found = parse_hugetlbfs_mounts(&mounts, &meminfo);
    match setting {
        HugetlbfsMount::AutoDetect => found,
        HugetlbfsMount::Disabled => Vec::new(),
        HugetlbfsMount::Explicit(paths) => {
            let mut out: Vec<HugetlbfsMountInfo> = paths
                .iter()
                .filter_map(|p: &PathBuf| {
                    let p = p.to_string_lossy();
                    found.iter().find(|m| m.path == p).cloned()
                })
                .collect();
            // The first configured mount serves `<hugepages/>` without a size.
            for (i, m) in out.iter_mut().enumerate() {
                m.default = i == 0;
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_mounts_and_sizes() {
        let mounts = "none /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n\
                      none /dev/hugepages1G hugetlbfs rw,relatime,pagesize=1024M 0 0\n\
                      proc /proc proc rw 0 0\n\
                      none /mnt/huge\\040x hugetlbfs rw 0 0\n";
        let meminfo = "MemTotal: 1 kB\nHugepagesize:       2048 kB\n";
        let m = parse_hugetlbfs_mounts(mounts, meminfo);
        assert_eq!(m.len(), 3);
        assert_eq!(
            (m[0].path.as_str(), m[0].page_size_kib, m[0].default),
            ("/dev/hugepages", 2048, true)
        );
        assert_eq!((m[1].page_size_kib, m[1].default), (1024 * 1024, false));
        assert_eq!(
            (m[2].path.as_str(), m[2].page_size_kib, m[2].default),
            ("/mnt/huge x", 2048, false)
        );
    }
}
