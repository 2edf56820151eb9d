//! What the daemon reads about a QEMU process from `/proc`, and its pidfd.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;

use rustix::process::{Pid, PidfdFlags, Signal};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// The fields of `/proc/PID/stat` the daemon uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcStat {
    pub state: char,
    /// Field 14/15: user and system time in clock ticks.
    pub utime: u64,
    pub stime: u64,
    /// Field 22: start time in clock ticks after boot (identifies the process
    /// across pid reuse).
    pub start_time: u64,
}

/// Parses a `/proc/PID/stat` line (the command name may hold spaces and parentheses).
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = text.get(text.rfind(')')? + 1..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `f[0]` is field 3 (state): field n is f[n - 3].
    Some(ProcStat {
        state: f.first()?.chars().next()?,
        utime: f.get(11)?.parse().ok()?,
        stime: f.get(12)?.parse().ok()?,
        start_time: f.get(19)?.parse().ok()?,
    })
}

pub fn stat(pid: u32) -> Option<ProcStat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// CPU time used by a process, in nanoseconds.
pub fn cpu_time_ns(pid: u32) -> u64 {
    let Some(s) = stat(pid) else { return 0 };
    let hz = rustix::param::clock_ticks_per_second().max(1);
    (s.utime + s.stime).saturating_mul(1_000_000_000 / hz)
}

/// Whether `/proc/PID/cmdline` contains `needle` in one of its arguments.
pub fn cmdline_contains(pid: u32, needle: &str) -> bool {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            c.split(|b| *b == 0)
                .any(|a| String::from_utf8_lossy(a).contains(needle))
        })
        .unwrap_or(false)
}

/// Whether a process is alive (not a zombie) and is the one that started at
/// `start_time`.
pub fn is_same_process(pid: u32, start_time: u64) -> bool {
    matches!(stat(pid), Some(s) if s.start_time == start_time && s.state != 'Z' && s.state != 'X')
}

/// The mount points of a given file system type in a `mountinfo` text.
pub fn mount_points(mountinfo: &str, fstype: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fs = right.split_whitespace().next()?;
            let mp = left.split_whitespace().nth(4)?;
            (fs == fstype).then(|| mp.replace("\\040", " "))
        })
        .collect()
}

/// A process's pidfd, readable once the process has exited (also when it is not
/// our child, e.g. after a daemon restart).
#[derive(Debug)]
pub struct PidFd {
    fd: AsyncFd<OwnedFd>,
}

impl PidFd {
    /// Opens the pidfd. Must run inside a tokio runtime.
    pub fn open(pid: u32) -> io::Result<PidFd> {
        let p = i32::try_from(pid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let fd = rustix::process::pidfd_open(p, PidfdFlags::empty())?;
        // SAFETY: `fd` is an open pidfd owned by the `OwnedFd` moved into the
        // `AsyncFd`; nothing else closes or replaces it while the `AsyncFd` lives.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?;
        Ok(PidFd { fd })
    }

    /// Resolves once the process has exited. Readiness is never cleared, so every
    /// later call returns at once.
    pub async fn exited(&self) {
        let _ = self.fd.readable().await;
    }

    pub fn kill(&self, sig: Signal) -> io::Result<()> {
        rustix::process::pidfd_send_signal(self.fd.get_ref(), sig).map_err(io::Error::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields() {
        let s = "1234 (qemu (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 17 23 0 0 20 0 5 0 987654 100000 2000 18446744073709551615";
        let p = parse_stat(s).unwrap();
        assert_eq!(p.state, 'S');
        assert_eq!((p.utime, p.stime), (17, 23));
        assert_eq!(p.start_time, 987654);
    }

    #[test]
    fn mountinfo_points() {
        let m = "22 1 0:5 / /dev rw - tmpfs tmpfs rw\n\
                 30 22 0:44 / /dev/hugepages rw,relatime - hugetlbfs none rw,pagesize=2M\n\
                 31 22 0:45 / /dev/huge\\040x rw - hugetlbfs none rw\n";
        assert_eq!(
            mount_points(m, "hugetlbfs"),
            vec!["/dev/hugepages".to_owned(), "/dev/huge x".to_owned()]
        );
    }

    #[tokio::test]
    async fn pidfd_sees_exit_of_a_child() {
        let mut c = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pfd = PidFd::open(c.id()).unwrap();
        pfd.kill(Signal::KILL).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), pfd.exited())
            .await
            .unwrap();
        assert!(!c.wait().unwrap().success());
    }
}

/// QEMU's account as the kernel sees it: real uid and gid and the supplementary
/// groups, from `/proc/PID/status`.
pub fn identity(pid: u32) -> Option<(u32, u32, Vec<u32>)> {
    parse_identity(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

pub fn parse_identity(status: &str) -> Option<(u32, u32, Vec<u32>)> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    let first = |v: &str| v.split_whitespace().next()?.parse::<u32>().ok();
    let uid = first(field("Uid:")?)?;
    let gid = first(field("Gid:")?)?;
    let groups = field("Groups:")
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|g| g.parse().ok())
        .collect();
    Some((uid, gid, groups))
}

#[cfg(test)]
mod identity_tests {
    #[test]
    fn parses_ids_and_groups() {
        let s =
            "Name:\tqemu\nUid:\t999\t999\t999\t999\nGid:\t994\t994\t994\t994\nGroups:\t994 995 \n";
        assert_eq!(super::parse_identity(s), Some((999, 994, vec![994, 995])));
        assert_eq!(
            super::parse_identity("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n"),
            Some((0, 0, vec![]))
        );
        assert_eq!(super::parse_identity("Name: x\n"), None);
    }
}
