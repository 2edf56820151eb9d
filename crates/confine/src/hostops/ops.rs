//! The [`HostOps`] trait, what it reports about files, and errno helpers.

use std::io;
use std::path::{Path, PathBuf};

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

pub(super) fn errno(e: i32) -> io::Error {
    io::Error::from_raw_os_error(e)
}

pub(super) fn is_errno(e: &io::Error, n: i32) -> bool {
    e.raw_os_error() == Some(n)
}

/// Whether an error means "extended attributes are not supported here"
/// (`ENOTSUP`/`EOPNOTSUPP`, `ENOSYS`).
pub fn is_xattr_unsupported(e: &io::Error) -> bool {
    is_errno(e, libc::ENOTSUP) || is_errno(e, libc::EOPNOTSUPP) || is_errno(e, libc::ENOSYS)
}
