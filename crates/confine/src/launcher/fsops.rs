//! Filesystem primitives of the launcher. Inside a running QEMU's namespace
//! (`nsexec`) QEMU may have planted symlinks where it can write (`/dev/shm` is 1777),
//! so paths are walked with `O_PATH|O_NOFOLLOW` directory descriptors and nodes are
//! re-owned through a descriptor of the node itself, never by path.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags};
use rustix::process::{Gid, Uid};

use crate::spec::{DevNode, NodeKind};

use super::protocol::{Failure, Step};

const DIR_PATH: OFlags = OFlags::PATH
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Open the directory `name` beneath `dir` without following a symlink.
fn open_dir_at<P: rustix::path::Arg>(dir: BorrowedFd<'_>, name: P) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(dir, name, DIR_PATH, Mode::empty())?)
}

/// chmod through a descriptor (an `O_PATH` one cannot `fchmod`): the magic link in
/// `/proc/self/fd` names exactly that inode.
fn chmod_fd(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    Ok(rustix::fs::chmod(link.as_str(), Mode::from_raw_mode(mode))?)
}

fn chown_fd(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    Ok(rustix::fs::chownat(
        fd,
        "",
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::EMPTY_PATH,
    )?)
}

/// Create `path` and its missing parents (for trusted paths: the daemon's scratch
/// directory and the fresh private tmpfs); directories created get exactly `mode`.
pub(super) fn mkdir_all(path: &Path, mode: u32, step: Step, shown: &Path) -> Result<(), Failure> {
    let fail = |e: io::Error| Failure::io(step, Some(shown.to_owned()), &e);
    let mut cur = PathBuf::new();
    for comp in path.components() {
        cur.push(comp);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => continue,
            Ok(_) => return Err(fail(io::Error::from_raw_os_error(libc::ENOTDIR))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail(e)),
        }
        match rustix::fs::mkdir(&cur, Mode::from_raw_mode(mode)) {
            Ok(()) => {
                rustix::fs::chmod(&cur, Mode::from_raw_mode(mode)).map_err(|e| fail(e.into()))?
            }
            Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(fail(e.into())),
        }
    }
    Ok(())
}

/// Open the parent directory of `/dev/<rel>`, creating missing directories when
/// `create` (0755, owned by the caller) and refusing symlinks anywhere on the way.
/// Returns the parent descriptor and the last component.
pub(super) fn walk_dev_parent(rel: &Path, create: bool) -> Result<(OwnedFd, OsString), Failure> {
    let mut shown = PathBuf::from(super::plan::DEV);
    let fail = |shown: &Path, e: io::Error| Failure::io(Step::MkdirDevDir, Some(shown.into()), &e);
    let mut dir = open_dir_at(CWD, super::plan::DEV).map_err(|e| fail(&shown, e))?;
    let names: Vec<&OsStr> = rel
        .components()
        .map(|c| match c {
            Component::Normal(n) => Ok(n),
            _ => Err(Failure::new(
                Step::ValidateDevNode,
                Some(rel.to_owned()),
                "not a plain relative path",
            )),
        })
        .collect::<Result<_, _>>()?;
    let Some((last, parents)) = names.split_last() else {
        return Err(Failure::new(
            Step::ValidateDevNode,
            Some(rel.to_owned()),
            "empty path",
        ));
    };
    for name in parents {
        shown.push(name);
        if !create {
            dir = open_dir_at(dir.as_fd(), *name).map_err(|e| fail(&shown, e))?;
            continue;
        }
        match rustix::fs::mkdirat(&dir, *name, Mode::from_raw_mode(0o755)) {
            Ok(()) => {
                let created = open_dir_at(dir.as_fd(), *name).map_err(|e| fail(&shown, e))?;
                chmod_fd(created.as_fd(), 0o755).map_err(|e| fail(&shown, e))?;
                dir = created;
                continue;
            }
            Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(fail(&shown, e.into())),
        }
        dir = open_dir_at(dir.as_fd(), *name).map_err(|e| fail(&shown, e))?;
    }
    Ok((dir, last.to_os_string()))
}

/// mknod + chmod + chown of `name` in `dir`. The node is re-opened `O_PATH|O_NOFOLLOW`
/// and checked before its mode and owner are set through that descriptor. With
/// `keep_existing`, a node of the same kind and number already there is kept (and
/// re-owned); anything else there is an error.
pub(super) fn make_node_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    shown: &Path,
    n: &DevNode,
    keep_existing: bool,
) -> Result<(), Failure> {
    let ft = match n.kind {
        NodeKind::Char => FileType::CharacterDevice,
        NodeKind::Block => FileType::BlockDevice,
    };
    let dev = rustix::fs::makedev(n.major, n.minor);
    let perm = n.mode & 0o7777;
    let shown_f = || Some(shown.to_owned());
    match rustix::fs::mknodat(dir, name, ft, Mode::from_raw_mode(perm), dev) {
        Ok(()) => {}
        Err(rustix::io::Errno::EXIST) if keep_existing => {}
        Err(e) => return Err(Failure::errno(Step::MknodDevNode, shown_f(), e)),
    }
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Failure::errno(Step::MknodDevNode, shown_f(), e))?;
    let st =
        rustix::fs::fstat(&fd).map_err(|e| Failure::errno(Step::MknodDevNode, shown_f(), e))?;
    if FileType::from_raw_mode(st.st_mode) != ft || st.st_rdev != dev {
        return Err(Failure {
            step: Step::MknodDevNode,
            path: shown_f(),
            errno: Some(libc::EEXIST),
            message: format!(
                "a different file is already there (wanted {:?} {}:{})",
                n.kind, n.major, n.minor
            ),
        });
    }
    // Mode first, owner last: until the chown the node is root's, so a QEMU-writable
    // sticky directory (/dev/shm) does not let QEMU swap it.
    chmod_fd(fd.as_fd(), perm).map_err(|e| Failure::io(Step::ChmodDevNode, shown_f(), &e))?;
    chown_fd(fd.as_fd(), n.uid, n.gid).map_err(|e| Failure::io(Step::ChownDevNode, shown_f(), &e))
}

/// Create directory `name` in `dir` (or accept an existing one, never a symlink),
/// then set its mode and owner through a descriptor.
pub(super) fn mkdir_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    shown: &Path,
    mode: u32,
    uid: u32,
    gid: u32,
) -> Result<(), Failure> {
    let fail = |e: io::Error| Failure::io(Step::MkdirDevDir, Some(shown.to_owned()), &e);
    match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(mode & 0o7777)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(fail(e.into())),
    }
    let fd = open_dir_at(dir, name).map_err(fail)?;
    chmod_fd(fd.as_fd(), mode & 0o7777).map_err(fail)?;
    chown_fd(fd.as_fd(), uid, gid).map_err(fail)
}

/// An empty directory (0755) or file (0644) named `name` in `dir` to mount on; an
/// existing one of the right type is fine, a symlink never is.
pub(super) fn placeholder_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    is_dir: bool,
    shown: &Path,
) -> Result<(), Failure> {
    let fail = |e: io::Error| Failure::io(Step::CreatePlaceholder, Some(shown.to_owned()), &e);
    if is_dir {
        match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(fail(e.into())),
        }
        open_dir_at(dir, name).map(drop).map_err(fail)
    } else {
        rustix::fs::openat(
            dir,
            name,
            OFlags::CREATE | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .map(drop)
        .map_err(|e| fail(e.into()))
    }
}

/// Open the parent of a trusted absolute `path` (no symlink checks) and split off
/// its last component.
pub(super) fn open_parent(
    path: &Path,
    step: Step,
    shown: &Path,
) -> Result<(OwnedFd, OsString), Failure> {
    let fail = |e: io::Error| Failure::io(step, Some(shown.to_owned()), &e);
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(fail(io::Error::from_raw_os_error(libc::EINVAL)));
    };
    let fd = rustix::fs::openat(
        CWD,
        parent,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fail(e.into()))?;
    Ok((fd, name.to_os_string()))
}

/// Remove `name` from `dir` (a node, file or empty directory). Already gone is fine.
pub(super) fn remove_at(dir: BorrowedFd<'_>, name: &OsStr, shown: &Path) -> Result<(), Failure> {
    let fail = |e: rustix::io::Errno| Failure::errno(Step::RemovePath, Some(shown.to_owned()), e);
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(rustix::io::Errno::ISDIR) => rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)
            .or_else(|e| {
                if e == rustix::io::Errno::NOENT {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(fail),
        Err(e) => Err(fail(e)),
    }
}

/// Detach the mount on `name` in `dir` without following a symlink there: the path
/// goes through the walked directory's `/proc/self/fd` link. Nothing there is fine.
pub(super) fn unmount_at(dir: BorrowedFd<'_>, name: &OsStr, shown: &Path) -> Result<(), Failure> {
    let mut path = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    path.push(name);
    match rustix::mount::unmount(
        &path,
        rustix::mount::UnmountFlags::DETACH | rustix::mount::UnmountFlags::NOFOLLOW,
    ) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(Failure::errno(Step::UnmountPath, Some(shown.to_owned()), e)),
    }
}

/// Create the symlink `name` in `dir` pointing to `target`. A symlink already there
/// with the same target is kept; anything else there is `EEXIST`.
pub(super) fn symlink_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    target: &Path,
    shown: &Path,
) -> Result<(), Failure> {
    let fail = |e: rustix::io::Errno| Failure::errno(Step::SymlinkPath, Some(shown.to_owned()), e);
    match rustix::fs::symlinkat(target, dir, name) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::EXIST) => match rustix::fs::readlinkat(dir, name, Vec::new()) {
            Ok(t) if t.as_bytes() == target.as_os_str().as_encoded_bytes() => Ok(()),
            Ok(_) | Err(rustix::io::Errno::INVAL) => Err(fail(rustix::io::Errno::EXIST)),
            Err(e) => Err(fail(e)),
        },
        Err(e) => Err(fail(e)),
    }
}
