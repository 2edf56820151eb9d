//! [`RealHostOps`]: the [`HostOps`] calls as rustix syscalls on the host, and the
//! host boot time as libvirt computes it.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::ops::{FileKind, FileStat, HostOps, errno};

/// The real thing: rustix syscalls on the host.
///
/// Boot time follows libvirt's `virHostGetBootTime` so the `timestamp_*` attributes
/// match between libvirt and rvirt: the `BOOT_TIME` record of the utmp database
/// (`ut_tv.tv_sec`) when there is one, otherwise `now - uptime` from `/proc/uptime`,
/// rounded to the nearest second. Computed once per process.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealHostOps;

fn kind_of(mode: u32) -> FileKind {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => FileKind::Dir,
        libc::S_IFLNK => FileKind::Symlink,
        libc::S_IFCHR => FileKind::Char,
        libc::S_IFBLK => FileKind::Block,
        libc::S_IFIFO => FileKind::Fifo,
        libc::S_IFSOCK => FileKind::Socket,
        _ => FileKind::File,
    }
}

fn from_rustix(st: &rustix::fs::Stat) -> FileStat {
    FileStat {
        kind: kind_of(st.st_mode),
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
    }
}

/// Parse the boot time out of a glibc x86-64/aarch64 utmp file (384-byte records,
/// `ut_type` i16 at 0, `ut_tv.tv_sec` i32 at 340). `BOOT_TIME` is type 2.
pub fn parse_utmp_boot_time(data: &[u8]) -> Option<u64> {
    const RECORD: usize = 384;
    const TV_SEC: usize = 340;
    data.chunks_exact(RECORD).find_map(|rec| {
        let ty = i16::from_ne_bytes([rec[0], rec[1]]);
        if ty != 2 {
            return None;
        }
        let sec = i32::from_ne_bytes(rec[TV_SEC..TV_SEC + 4].try_into().ok()?);
        u64::try_from(sec).ok().filter(|s| *s != 0)
    })
}

/// libvirt's `/proc/uptime` fallback: `now_ms / 1000 - uptime + 0.5`, truncated.
pub fn boot_time_from_uptime(now_ms: u64, uptime_text: &str) -> Option<u64> {
    let first = uptime_text.split_whitespace().next()?;
    let up: f64 = first.parse().ok()?;
    #[allow(clippy::cast_precision_loss)]
    let now_s = (now_ms / 1000) as f64;
    let bt = now_s - up + 0.5;
    if bt.is_finite() && bt >= 0.0 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(bt as u64)
    } else {
        None
    }
}

fn compute_boot_time() -> Result<u64, i32> {
    for utmp in ["/var/run/utmp", "/run/utmp"] {
        if let Ok(data) = std::fs::read(utmp)
            && let Some(t) = parse_utmp_boot_time(&data)
        {
            return Ok(t);
        }
    }
    // The kernel's own boot time: exact and the same in every process. libvirt goes
    // to /proc/uptime next, which is ±1 s between processes, so remembered owners
    // written by one daemon process could look stale to the next.
    if let Ok(stat) = std::fs::read_to_string("/proc/stat")
        && let Some(bt) = stat
            .lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse().ok())
    {
        return Ok(bt);
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| libc::EINVAL)?
        .as_millis();
    let now_ms = u64::try_from(now_ms).map_err(|_| libc::EINVAL)?;
    let text = std::fs::read_to_string("/proc/uptime")
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    boot_time_from_uptime(now_ms, &text).ok_or(libc::EINVAL)
}

impl HostOps for RealHostOps {
    fn stat(&self, path: &Path) -> io::Result<FileStat> {
        Ok(from_rustix(&rustix::fs::stat(path)?))
    }
    fn lstat(&self, path: &Path) -> io::Result<FileStat> {
        Ok(from_rustix(&rustix::fs::lstat(path)?))
    }
    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::read_link(path)
    }
    fn chown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        rustix::fs::chown(
            path,
            Some(rustix::fs::Uid::from_raw_unchecked(uid)),
            Some(rustix::fs::Gid::from_raw_unchecked(gid)),
        )?;
        Ok(())
    }
    fn lchown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        rustix::fs::chownat(
            rustix::fs::CWD,
            path,
            Some(rustix::fs::Uid::from_raw_unchecked(uid)),
            Some(rustix::fs::Gid::from_raw_unchecked(gid)),
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )?;
        Ok(())
    }
    fn chmod(&self, path: &Path, mode: u32) -> io::Result<()> {
        rustix::fs::chmod(path, rustix::fs::Mode::from_raw_mode(mode & 0o7777))?;
        Ok(())
    }
    fn get_xattr(&self, path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
        loop {
            let size = match rustix::fs::getxattr_query(path, name) {
                Ok(n) => n,
                Err(rustix::io::Errno::NODATA) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let mut buf = vec![0u8; size.max(1)];
            match rustix::fs::getxattr(path, name, &mut buf[..]) {
                Ok(n) => {
                    buf.truncate(n);
                    return Ok(Some(buf));
                }
                Err(rustix::io::Errno::NODATA) => return Ok(None),
                // The value grew between the two calls: ask again.
                Err(rustix::io::Errno::RANGE) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    fn set_xattr(&self, path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
        rustix::fs::setxattr(path, name, value, rustix::fs::XattrFlags::empty())?;
        Ok(())
    }
    fn remove_xattr(&self, path: &Path, name: &str) -> io::Result<()> {
        rustix::fs::removexattr(path, name)?;
        Ok(())
    }
    fn boot_time(&self) -> io::Result<u64> {
        static BOOT: OnceLock<Result<u64, i32>> = OnceLock::new();
        BOOT.get_or_init(compute_boot_time)
            .as_ref()
            .copied()
            .map_err(|e| errno(*e))
    }
    fn boot_id(&self) -> io::Result<String> {
        Ok(std::fs::read_to_string("/proc/sys/kernel/random/boot_id")?
            .trim()
            .to_owned())
    }
    fn read_file(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }
    fn write_file(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
        f.write_all(data)
    }
    fn sync_owner(&self, path: &Path) -> io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: a FIFO or device must not block the open.
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)?;
        if f.metadata()?.is_file() {
            f.sync_all()?;
        }
        Ok(())
    }
}
