//! [`RecordingHostOps`]: an in-memory fake host for unit tests (files with owners,
//! modes and xattrs, injected failures), recording every call in order. Built only for
//! tests and with the `testing` feature.

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use super::ops::{FileKind, FileStat, HostOps, errno};

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
