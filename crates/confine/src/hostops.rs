//! Privileged file operations the security drivers need, behind a trait so the driver
//! logic can be unit-tested without root: [`RealHostOps`] does the syscalls (rustix),
//! [`RecordingHostOps`] is an in-memory fake that records every call in order.
//!
//! Also holds the "remember the original label" protocol shared by the DAC and SELinux
//! drivers ([`remember_label`], [`recall_label`]). It uses the same extended attributes
//! and value formats as libvirt, so a host switching from libvirt keeps working:
//!
//! * `trusted.libvirt.security.<driver>`: the original label (DAC: `+UID:+GID`);
//! * `trusted.libvirt.security.ref_<driver>`: decimal reference count;
//! * `trusted.libvirt.security.timestamp_<driver>`: host boot time, decimal seconds
//!   since the epoch. A value that does not match the current boot marks all three
//!   attributes stale: they are removed and treated as absent.

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// What a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Char,
    Block,
    Fifo,
    Socket,
}

/// The parts of `stat(2)` the drivers look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStat {
    pub kind: FileKind,
    /// Permission bits including setuid/setgid/sticky (`st_mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Privileged file operations. Errors are plain [`io::Error`]s carrying the errno.
pub trait HostOps {
    /// `stat(2)`: follows symlinks.
    fn stat(&self, path: &Path) -> io::Result<FileStat>;
    /// `lstat(2)`.
    fn lstat(&self, path: &Path) -> io::Result<FileStat>;
    /// `readlink(2)`.
    fn read_link(&self, path: &Path) -> io::Result<PathBuf>;
    /// `chown(2)`: follows symlinks.
    fn chown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()>;
    /// `lchown(2)`.
    fn lchown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()>;
    /// `chmod(2)` with permission bits (`0o7777` mask).
    fn chmod(&self, path: &Path, mode: u32) -> io::Result<()>;
    /// `getxattr(2)` (follows symlinks). `Ok(None)` when the attribute is absent
    /// (`ENODATA`); `ENOTSUP` is returned as an error.
    fn get_xattr(&self, path: &Path, name: &str) -> io::Result<Option<Vec<u8>>>;
    /// `setxattr(2)` (follows symlinks), create or replace.
    fn set_xattr(&self, path: &Path, name: &str, value: &[u8]) -> io::Result<()>;
    /// `removexattr(2)` (follows symlinks). Removing an absent attribute is `ENODATA`.
    fn remove_xattr(&self, path: &Path, name: &str) -> io::Result<()>;
    /// Host boot time in seconds since the epoch, as libvirt computes it (see
    /// [`RealHostOps`]). Stable for the life of the process.
    fn boot_time(&self) -> io::Result<u64>;
    /// `/proc/sys/kernel/random/boot_id`, trimmed.
    fn boot_id(&self) -> io::Result<String>;
    /// Read a whole (small) text file.
    fn read_file(&self, path: &Path) -> io::Result<String>;
    /// Write a whole file (no create, no truncate semantics beyond `O_WRONLY`): used for
    /// `/proc` and `/sys` attribute files.
    fn write_file(&self, path: &Path, data: &[u8]) -> io::Result<()>;
    /// Makes an ownership change of `path` durable (`fsync` of a regular file; other
    /// kinds are left alone: a block device's flush is not ours to force).
    fn sync_owner(&self, path: &Path) -> io::Result<()>;
}

impl<T: HostOps + ?Sized> HostOps for &T {
    fn stat(&self, path: &Path) -> io::Result<FileStat> {
        (**self).stat(path)
    }
    fn lstat(&self, path: &Path) -> io::Result<FileStat> {
        (**self).lstat(path)
    }
    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        (**self).read_link(path)
    }
    fn chown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        (**self).chown(path, uid, gid)
    }
    fn lchown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        (**self).lchown(path, uid, gid)
    }
    fn chmod(&self, path: &Path, mode: u32) -> io::Result<()> {
        (**self).chmod(path, mode)
    }
    fn get_xattr(&self, path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
        (**self).get_xattr(path, name)
    }
    fn set_xattr(&self, path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
        (**self).set_xattr(path, name, value)
    }
    fn remove_xattr(&self, path: &Path, name: &str) -> io::Result<()> {
        (**self).remove_xattr(path, name)
    }
    fn boot_time(&self) -> io::Result<u64> {
        (**self).boot_time()
    }
    fn boot_id(&self) -> io::Result<String> {
        (**self).boot_id()
    }
    fn read_file(&self, path: &Path) -> io::Result<String> {
        (**self).read_file(path)
    }
    fn write_file(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        (**self).write_file(path, data)
    }
    fn sync_owner(&self, path: &Path) -> io::Result<()> {
        (**self).sync_owner(path)
    }
}

fn errno(e: i32) -> io::Error {
    io::Error::from_raw_os_error(e)
}

fn is_errno(e: &io::Error, n: i32) -> bool {
    e.raw_os_error() == Some(n)
}

/// Whether an error means "extended attributes are not supported here"
/// (`ENOTSUP`/`EOPNOTSUPP`, `ENOSYS`).
pub fn is_xattr_unsupported(e: &io::Error) -> bool {
    is_errno(e, libc::ENOTSUP) || is_errno(e, libc::EOPNOTSUPP) || is_errno(e, libc::ENOSYS)
}

// ---------------------------------------------------------------------------------------
// Real implementation
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// Recording fake
// ---------------------------------------------------------------------------------------

/// One call made on a [`RecordingHostOps`], in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostCall {
    Stat(PathBuf),
    Lstat(PathBuf),
    ReadLink(PathBuf),
    Chown(PathBuf, u32, u32),
    Lchown(PathBuf, u32, u32),
    Chmod(PathBuf, u32),
    GetXattr(PathBuf, String),
    /// The value, lossily as text.
    SetXattr(PathBuf, String, String),
    RemoveXattr(PathBuf, String),
    BootTime,
    BootId,
    ReadFile(PathBuf),
    WriteFile(PathBuf, String),
    SyncOwner(PathBuf),
}

impl HostCall {
    /// Whether the call changes something.
    pub fn is_mutation(&self) -> bool {
        matches!(
            self,
            HostCall::Chown(..)
                | HostCall::Lchown(..)
                | HostCall::Chmod(..)
                | HostCall::SetXattr(..)
                | HostCall::RemoveXattr(..)
                | HostCall::WriteFile(..)
        )
    }
}

/// Which operation a failure is injected into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostOp {
    Stat,
    Chown,
    Chmod,
    GetXattr,
    SetXattr,
    RemoveXattr,
    ReadFile,
    WriteFile,
}

/// A file in the fake host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeFile {
    pub kind: FileKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// Text content (regular files), or the target (symlinks).
    pub content: String,
    /// `false`: every xattr call fails with `ENOTSUP` (e.g. NFS).
    pub xattr_support: bool,
}

#[derive(Debug, Default)]
struct FakeState {
    files: BTreeMap<PathBuf, FakeFile>,
    calls: Vec<HostCall>,
    failures: BTreeMap<(HostOp, PathBuf), i32>,
    boot_time: u64,
    boot_id: String,
}

/// In-memory fake host: files with owners, modes and xattrs; records every call.
/// Parent directories are not implied: add them with [`RecordingHostOps::add_dir`] when
/// a test walks them (e.g. `check_access`).
#[derive(Debug)]
pub struct RecordingHostOps {
    state: Mutex<FakeState>,
}

impl Default for RecordingHostOps {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordingHostOps {
    /// Empty host, boot time 1_700_000_000.
    pub fn new() -> Self {
        RecordingHostOps {
            state: Mutex::new(FakeState {
                boot_time: 1_700_000_000,
                boot_id: "00000000-0000-0000-0000-000000000000".into(),
                ..FakeState::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn add(&self, path: &Path, kind: FileKind, uid: u32, gid: u32, mode: u32, content: &str) {
        self.lock().files.insert(
            path.to_path_buf(),
            FakeFile {
                kind,
                mode,
                uid,
                gid,
                xattrs: BTreeMap::new(),
                content: content.to_owned(),
                xattr_support: true,
            },
        );
    }

    /// Add a regular file.
    pub fn add_file(&self, path: impl AsRef<Path>, uid: u32, gid: u32, mode: u32) {
        self.add(path.as_ref(), FileKind::File, uid, gid, mode, "");
    }

    /// Add a regular file with text content (for `read_file`).
    pub fn add_text(&self, path: impl AsRef<Path>, content: &str) {
        self.add(path.as_ref(), FileKind::File, 0, 0, 0o644, content);
    }

    /// Add a directory.
    pub fn add_dir(&self, path: impl AsRef<Path>, uid: u32, gid: u32, mode: u32) {
        self.add(path.as_ref(), FileKind::Dir, uid, gid, mode, "");
    }

    /// Add a node of any kind.
    pub fn add_node(&self, path: impl AsRef<Path>, kind: FileKind, uid: u32, gid: u32, mode: u32) {
        self.add(path.as_ref(), kind, uid, gid, mode, "");
    }

    /// Add a symlink (absolute or relative target).
    pub fn add_symlink(&self, path: impl AsRef<Path>, target: impl AsRef<Path>) {
        let t = target.as_ref().to_string_lossy().into_owned();
        self.add(path.as_ref(), FileKind::Symlink, 0, 0, 0o777, &t);
    }

    /// Make every xattr call on `path` fail with `ENOTSUP`.
    pub fn set_xattr_support(&self, path: impl AsRef<Path>, supported: bool) {
        if let Some(f) = self.lock().files.get_mut(path.as_ref()) {
            f.xattr_support = supported;
        }
    }

    /// Make `op` on `path` fail with `errno` (every time, until cleared).
    pub fn fail(&self, op: HostOp, path: impl AsRef<Path>, errno: i32) {
        self.lock()
            .failures
            .insert((op, path.as_ref().to_path_buf()), errno);
    }

    /// Remove all injected failures.
    pub fn clear_failures(&self) {
        self.lock().failures.clear();
    }

    pub fn set_boot_time(&self, t: u64) {
        self.lock().boot_time = t;
    }

    /// A copy of the file (after following nothing).
    pub fn file(&self, path: impl AsRef<Path>) -> Option<FakeFile> {
        self.lock().files.get(path.as_ref()).cloned()
    }

    /// `uid:gid` of a file.
    pub fn owner(&self, path: impl AsRef<Path>) -> Option<(u32, u32)> {
        self.file(path).map(|f| (f.uid, f.gid))
    }

    /// An xattr as text.
    pub fn xattr(&self, path: impl AsRef<Path>, name: &str) -> Option<String> {
        self.file(path).and_then(|f| {
            f.xattrs
                .get(name)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        })
    }

    /// Set an xattr directly (not recorded).
    pub fn put_xattr(&self, path: impl AsRef<Path>, name: &str, value: &str) {
        if let Some(f) = self.lock().files.get_mut(path.as_ref()) {
            f.xattrs.insert(name.to_owned(), value.as_bytes().to_vec());
        }
    }

    /// All calls so far.
    pub fn calls(&self) -> Vec<HostCall> {
        self.lock().calls.clone()
    }

    /// Calls that changed something.
    pub fn mutations(&self) -> Vec<HostCall> {
        self.calls()
            .into_iter()
            .filter(HostCall::is_mutation)
            .collect()
    }

    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    fn check_fail(st: &FakeState, op: HostOp, path: &Path) -> io::Result<()> {
        match st.failures.get(&(op, path.to_path_buf())) {
            Some(e) => Err(errno(*e)),
            None => Ok(()),
        }
    }

    /// Follow symlinks to the final path (lexically normalised).
    fn resolve(st: &FakeState, path: &Path) -> io::Result<PathBuf> {
        let mut p = normalise(path);
        for _ in 0..40 {
            match st.files.get(&p) {
                Some(f) if f.kind == FileKind::Symlink => {
                    let t = Path::new(&f.content);
                    p = if t.is_absolute() {
                        normalise(t)
                    } else {
                        normalise(&p.parent().unwrap_or(Path::new("/")).join(t))
                    };
                }
                Some(_) => return Ok(p),
                None => return Err(errno(libc::ENOENT)),
            }
        }
        Err(errno(libc::ELOOP))
    }

    fn with_file<R>(
        &self,
        call: HostCall,
        op: HostOp,
        path: &Path,
        follow: bool,
        f: impl FnOnce(&mut FakeFile) -> io::Result<R>,
    ) -> io::Result<R> {
        let mut st = self.lock();
        st.calls.push(call);
        Self::check_fail(&st, op, path)?;
        let p = if follow {
            Self::resolve(&st, path)?
        } else {
            normalise(path)
        };
        match st.files.get_mut(&p) {
            Some(file) => f(file),
            None => Err(errno(libc::ENOENT)),
        }
    }
}

fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

fn fake_stat(f: &FakeFile) -> FileStat {
    FileStat {
        kind: f.kind,
        mode: f.mode,
        uid: f.uid,
        gid: f.gid,
    }
}

fn xattr_ok(f: &FakeFile) -> io::Result<()> {
    if f.xattr_support {
        Ok(())
    } else {
        Err(errno(libc::ENOTSUP))
    }
}

impl HostOps for RecordingHostOps {
    fn stat(&self, path: &Path) -> io::Result<FileStat> {
        self.with_file(HostCall::Stat(path.into()), HostOp::Stat, path, true, |f| {
            Ok(fake_stat(f))
        })
    }
    fn lstat(&self, path: &Path) -> io::Result<FileStat> {
        self.with_file(
            HostCall::Lstat(path.into()),
            HostOp::Stat,
            path,
            false,
            |f| Ok(fake_stat(f)),
        )
    }
    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        self.with_file(
            HostCall::ReadLink(path.into()),
            HostOp::Stat,
            path,
            false,
            |f| match f.kind {
                FileKind::Symlink => Ok(PathBuf::from(&f.content)),
                _ => Err(errno(libc::EINVAL)),
            },
        )
    }
    fn chown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        let call = HostCall::Chown(path.into(), uid, gid);
        self.with_file(call, HostOp::Chown, path, true, |f| {
            f.uid = uid;
            f.gid = gid;
            Ok(())
        })
    }
    fn lchown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        let call = HostCall::Lchown(path.into(), uid, gid);
        self.with_file(call, HostOp::Chown, path, false, |f| {
            f.uid = uid;
            f.gid = gid;
            Ok(())
        })
    }
    fn chmod(&self, path: &Path, mode: u32) -> io::Result<()> {
        let call = HostCall::Chmod(path.into(), mode);
        self.with_file(call, HostOp::Chmod, path, true, |f| {
            f.mode = mode & 0o7777;
            Ok(())
        })
    }
    fn get_xattr(&self, path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
        let call = HostCall::GetXattr(path.into(), name.into());
        self.with_file(call, HostOp::GetXattr, path, true, |f| {
            xattr_ok(f)?;
            Ok(f.xattrs.get(name).cloned())
        })
    }
    fn set_xattr(&self, path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
        let call = HostCall::SetXattr(
            path.into(),
            name.into(),
            String::from_utf8_lossy(value).into_owned(),
        );
        self.with_file(call, HostOp::SetXattr, path, true, |f| {
            xattr_ok(f)?;
            f.xattrs.insert(name.to_owned(), value.to_vec());
            Ok(())
        })
    }
    fn remove_xattr(&self, path: &Path, name: &str) -> io::Result<()> {
        let call = HostCall::RemoveXattr(path.into(), name.into());
        self.with_file(call, HostOp::RemoveXattr, path, true, |f| {
            xattr_ok(f)?;
            match f.xattrs.remove(name) {
                Some(_) => Ok(()),
                None => Err(errno(libc::ENODATA)),
            }
        })
    }
    fn boot_time(&self) -> io::Result<u64> {
        let mut st = self.lock();
        st.calls.push(HostCall::BootTime);
        Ok(st.boot_time)
    }
    fn boot_id(&self) -> io::Result<String> {
        let mut st = self.lock();
        st.calls.push(HostCall::BootId);
        Ok(st.boot_id.clone())
    }
    fn read_file(&self, path: &Path) -> io::Result<String> {
        self.with_file(
            HostCall::ReadFile(path.into()),
            HostOp::ReadFile,
            path,
            true,
            |f| match f.kind {
                FileKind::Dir => Err(errno(libc::EISDIR)),
                _ => Ok(f.content.clone()),
            },
        )
    }
    fn write_file(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let call = HostCall::WriteFile(path.into(), String::from_utf8_lossy(data).into_owned());
        self.with_file(call, HostOp::WriteFile, path, true, |f| {
            f.content = String::from_utf8_lossy(data).into_owned();
            Ok(())
        })
    }
    fn sync_owner(&self, path: &Path) -> io::Result<()> {
        self.with_file(
            HostCall::SyncOwner(path.into()),
            HostOp::Stat,
            path,
            true,
            |_| Ok(()),
        )
    }
}

// ---------------------------------------------------------------------------------------
// Remembered labels (shared by DAC and SELinux)
// ---------------------------------------------------------------------------------------

/// Errors of the remembered-label protocol.
#[derive(Debug, thiserror::Error)]
pub enum RememberError {
    #[error("cannot {step} XATTR {name} on '{path}': {source}")]
    Xattr {
        step: &'static str,
        name: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("malformed refcount '{value}' in {name} on '{path}'")]
    MalformedRefcount {
        name: String,
        value: String,
        path: PathBuf,
    },
    #[error("remembered label missing in {name} on '{path}' although the refcount dropped to 0")]
    MissingLabel { name: String, path: PathBuf },
    #[error("unable to get host boot time: {0}")]
    BootTime(#[source] io::Error),
}

/// `trusted.libvirt.security.<driver>`.
pub fn label_attr(driver: &str) -> String {
    format!("trusted.libvirt.security.{driver}")
}

/// `trusted.libvirt.security.ref_<driver>`.
pub fn ref_attr(driver: &str) -> String {
    format!("trusted.libvirt.security.ref_{driver}")
}

/// `trusted.libvirt.security.timestamp_<driver>`.
pub fn timestamp_attr(driver: &str) -> String {
    format!("trusted.libvirt.security.timestamp_{driver}")
}

/// Result of [`remember_label`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remembered {
    /// The file system has no xattrs: nothing was recorded (not an error).
    Unsupported,
    /// The new reference count (1: this call recorded the label).
    Count(u32),
}

/// Result of [`recall_label`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recalled {
    /// Nothing remembered (no xattrs, stale xattrs, or no xattr support).
    NotRemembered,
    /// Others still use the file: the count was decremented to this, leave it alone.
    InUse(u32),
    /// Last user gone: restore this label. The xattrs were removed.
    Restore(String),
}

fn xerr(step: &'static str, name: &str, path: &Path, source: io::Error) -> RememberError {
    RememberError::Xattr {
        step,
        name: name.to_owned(),
        path: path.to_path_buf(),
        source,
    }
}

/// Get an xattr as text; `Ok(None)` when absent, `Err(None)` when unsupported.
fn get_text(
    ops: &dyn HostOps,
    path: &Path,
    name: &str,
) -> Result<Option<String>, Option<RememberError>> {
    match ops.get_xattr(path, name) {
        Ok(v) => Ok(v.map(|v| {
            let s = String::from_utf8_lossy(&v).into_owned();
            s.trim_end_matches('\0').to_owned()
        })),
        Err(e) if is_xattr_unsupported(&e) => Err(None),
        Err(e) => Err(Some(xerr("get", name, path, e))),
    }
}

fn remove_if_present(ops: &dyn HostOps, path: &Path, name: &str) -> Result<(), RememberError> {
    match ops.remove_xattr(path, name) {
        Ok(()) => Ok(()),
        Err(e) if is_errno(&e, libc::ENODATA) => Ok(()),
        Err(e) => Err(xerr("remove", name, path, e)),
    }
}

/// Remove all three attributes of `driver` from `path` (absent ones are fine).
pub fn forget_label(ops: &dyn HostOps, driver: &str, path: &Path) -> Result<(), RememberError> {
    for name in [ref_attr(driver), label_attr(driver), timestamp_attr(driver)] {
        remove_if_present(ops, path, &name)?;
    }
    Ok(())
}

/// `Ok(true)`: timestamp matches this boot. `Ok(false)`: stale (the attributes were
/// removed).
fn validate_timestamp(ops: &dyn HostOps, driver: &str, path: &Path) -> Result<bool, RememberError> {
    let now = ops
        .boot_time()
        .map_err(RememberError::BootTime)?
        .to_string();
    let name = timestamp_attr(driver);
    let value = match get_text(ops, path, &name) {
        Ok(v) => v,
        Err(None) => None,
        Err(Some(e)) => return Err(e),
    };
    if value.as_deref() == Some(now.as_str()) {
        return Ok(true);
    }
    forget_label(ops, driver, path)?;
    Ok(false)
}

fn parse_count(name: &str, value: &str, path: &Path) -> Result<u32, RememberError> {
    value
        .trim()
        .parse::<u32>()
        .map_err(|_| RememberError::MalformedRefcount {
            name: name.to_owned(),
            value: value.to_owned(),
            path: path.to_path_buf(),
        })
}

/// Record `label` as the original label of `path` for `driver` if this is the first
/// user (count 0 → 1, label and boot timestamp written), otherwise only increment the
/// count. Stale attributes (timestamp of another boot, or missing) are dropped first.
pub fn remember_label(
    ops: &dyn HostOps,
    driver: &str,
    path: &Path,
    label: &str,
) -> Result<Remembered, RememberError> {
    let ref_name = ref_attr(driver);
    let mut current = match get_text(ops, path, &ref_name) {
        Ok(v) => v,
        Err(None) => return Ok(Remembered::Unsupported),
        Err(Some(e)) => return Err(e),
    };
    if current.is_some() && !validate_timestamp(ops, driver, path)? {
        current = None;
    }
    let count = match current {
        Some(v) => parse_count(&ref_name, &v, path)?,
        None => 0,
    };
    let count = count.saturating_add(1);
    if count == 1 {
        let name = label_attr(driver);
        ops.set_xattr(path, &name, label.as_bytes())
            .map_err(|e| xerr("set", &name, path, e))?;
        let ts_name = timestamp_attr(driver);
        let ts = ops
            .boot_time()
            .map_err(RememberError::BootTime)?
            .to_string();
        ops.set_xattr(path, &ts_name, ts.as_bytes())
            .map_err(|e| xerr("set", &ts_name, path, e))?;
    }
    ops.set_xattr(path, &ref_name, count.to_string().as_bytes())
        .map_err(|e| xerr("set", &ref_name, path, e))?;
    Ok(Remembered::Count(count))
}

/// Drop one reference on `path`. At 0 the remembered label is returned and all three
/// attributes are removed.
pub fn recall_label(
    ops: &dyn HostOps,
    driver: &str,
    path: &Path,
) -> Result<Recalled, RememberError> {
    let ref_name = ref_attr(driver);
    let current = match get_text(ops, path, &ref_name) {
        Ok(Some(v)) => v,
        Ok(None) | Err(None) => return Ok(Recalled::NotRemembered),
        Err(Some(e)) => return Err(e),
    };
    if !validate_timestamp(ops, driver, path)? {
        return Ok(Recalled::NotRemembered);
    }
    let count = parse_count(&ref_name, &current, path)?.saturating_sub(1);
    if count > 0 {
        ops.set_xattr(path, &ref_name, count.to_string().as_bytes())
            .map_err(|e| xerr("set", &ref_name, path, e))?;
        return Ok(Recalled::InUse(count));
    }
    remove_if_present(ops, path, &ref_name)?;
    let name = label_attr(driver);
    let label = match get_text(ops, path, &name) {
        Ok(Some(v)) => v,
        Ok(None) | Err(None) => {
            return Err(RememberError::MissingLabel {
                name,
                path: path.to_path_buf(),
            });
        }
        Err(Some(e)) => return Err(e),
    };
    remove_if_present(ops, path, &name)?;
    remove_if_present(ops, path, &timestamp_attr(driver))?;
    Ok(Recalled::Restore(label))
}

/// The remembered label of `path` for `driver`, read without changing anything:
/// `None` when nothing valid is remembered (no attributes, no xattr support, a
/// timestamp of another boot, or no reference left).
pub fn peek_label(
    ops: &dyn HostOps,
    driver: &str,
    path: &Path,
) -> Result<Option<String>, RememberError> {
    let text = |name: &str| match get_text(ops, path, name) {
        Ok(v) => Ok(v),
        Err(None) => Ok(None),
        Err(Some(e)) => Err(e),
    };
    let ref_name = ref_attr(driver);
    let Some(count) = text(&ref_name)? else {
        return Ok(None);
    };
    if parse_count(&ref_name, &count, path)? == 0 {
        return Ok(None);
    }
    let now = ops
        .boot_time()
        .map_err(RememberError::BootTime)?
        .to_string();
    if text(&timestamp_attr(driver))?.as_deref() != Some(now.as_str()) {
        return Ok(None);
    }
    text(&label_attr(driver))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utmp_boot_record() {
        let mut data = vec![0u8; 384 * 3];
        // record 0: RUN_LVL (1), record 1: BOOT_TIME (2)
        data[0..2].copy_from_slice(&1i16.to_ne_bytes());
        data[384..386].copy_from_slice(&2i16.to_ne_bytes());
        data[384 + 340..384 + 344].copy_from_slice(&1_795_885_383i32.to_ne_bytes());
        assert_eq!(parse_utmp_boot_time(&data), Some(1_795_885_383));
        assert_eq!(parse_utmp_boot_time(&data[..384]), None);
    }

    #[test]
    fn uptime_rounding() {
        assert_eq!(boot_time_from_uptime(1_000_999, "100.40 5.0\n"), Some(900));
        assert_eq!(boot_time_from_uptime(1_000_000, "100.60 5.0\n"), Some(899));
        assert_eq!(boot_time_from_uptime(1_000_000, "garbage"), None);
    }

    #[test]
    fn real_boot_time_is_stable_and_plausible() {
        let a = RealHostOps.boot_time().unwrap();
        let b = RealHostOps.boot_time().unwrap();
        assert_eq!(a, b);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(a <= now && a > 1_000_000_000);
    }

    #[test]
    fn fake_symlinks_and_failures() {
        let ops = RecordingHostOps::new();
        ops.add_dir("/a", 0, 0, 0o755);
        ops.add_file("/a/f", 1, 2, 0o600);
        ops.add_symlink("/a/l", "f");
        assert_eq!(ops.stat(Path::new("/a/l")).unwrap().uid, 1);
        assert_eq!(
            ops.lstat(Path::new("/a/l")).unwrap().kind,
            FileKind::Symlink
        );
        ops.chown(Path::new("/a/l"), 5, 6).unwrap();
        assert_eq!(ops.owner("/a/f"), Some((5, 6)));
        ops.fail(HostOp::Chown, "/a/f", libc::EACCES);
        let e = ops.chown(Path::new("/a/f"), 7, 7).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EACCES));
        assert_eq!(
            ops.stat(Path::new("/nope")).unwrap_err().raw_os_error(),
            Some(libc::ENOENT)
        );
        assert_eq!(ops.mutations().len(), 2);
    }

    #[test]
    fn remember_recall_cycle() {
        let ops = RecordingHostOps::new();
        ops.add_file("/f", 0, 0, 0o644);
        let p = Path::new("/f");
        assert_eq!(
            remember_label(&ops, "dac", p, "+0:+0").unwrap(),
            Remembered::Count(1)
        );
        assert_eq!(
            ops.xattr(p, "trusted.libvirt.security.dac").as_deref(),
            Some("+0:+0")
        );
        assert_eq!(
            ops.xattr(p, "trusted.libvirt.security.timestamp_dac")
                .as_deref(),
            Some("1700000000")
        );
        assert_eq!(
            remember_label(&ops, "dac", p, "+9:+9").unwrap(),
            Remembered::Count(2)
        );
        assert_eq!(
            ops.xattr(p, "trusted.libvirt.security.dac").as_deref(),
            Some("+0:+0")
        );
        assert_eq!(recall_label(&ops, "dac", p).unwrap(), Recalled::InUse(1));
        assert_eq!(
            recall_label(&ops, "dac", p).unwrap(),
            Recalled::Restore("+0:+0".into())
        );
        assert!(ops.file(p).unwrap().xattrs.is_empty());
        assert_eq!(
            recall_label(&ops, "dac", p).unwrap(),
            Recalled::NotRemembered
        );
    }

    #[test]
    fn unsupported_and_malformed() {
        let ops = RecordingHostOps::new();
        ops.add_file("/nfs", 0, 0, 0o644);
        ops.set_xattr_support("/nfs", false);
        let p = Path::new("/nfs");
        assert_eq!(
            remember_label(&ops, "dac", p, "+0:+0").unwrap(),
            Remembered::Unsupported
        );
        assert_eq!(
            recall_label(&ops, "dac", p).unwrap(),
            Recalled::NotRemembered
        );

        ops.add_file("/bad", 0, 0, 0o644);
        ops.put_xattr("/bad", "trusted.libvirt.security.ref_dac", "x");
        ops.put_xattr(
            "/bad",
            "trusted.libvirt.security.timestamp_dac",
            "1700000000",
        );
        let e = remember_label(&ops, "dac", Path::new("/bad"), "+0:+0").unwrap_err();
        assert!(e.to_string().contains("malformed refcount 'x'"), "{e}");
    }
}
