//! The daemon ↔ launcher message protocol.
//!
//! Framing: each message is a 4-byte big-endian length followed by that many bytes of
//! JSON (serde_json of [`ToLauncher`] or [`FromLauncher`]). A message larger than
//! [`MAX_MESSAGE`] is refused by both sides. The channel is a unix stream socketpair;
//! the launcher side is fd [`CHANNEL_FD`] and carries `FD_CLOEXEC`, so a successful
//! `execve` of QEMU shows up on the daemon side as end-of-file.
//!
//! Conversation of `rvirt-launch launch`:
//!
//! ```text
//! daemon                          launcher
//! Launch(spec)          ──────▶
//!                       ◀──────   Prepared { pid }     (or Failed)
//! Go | Abort            ──────▶
//!                       ◀──────   Executing{landlock}  (or Failed)
//!                       ◀──────   EOF: exec succeeded  (or Failed)
//! ```
//!
//! Conversation of `rvirt-launch nsexec --pid PID`:
//!
//! ```text
//! NsExec(ops)           ──────▶
//!                       ◀──────   NsDone               (or Failed)
//! ```

use std::fmt;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::spec::{DevNode, LaunchSpec};

/// The launcher's end of the channel socket: fd 3, by convention.
pub const CHANNEL_FD: i32 = 3;

/// Largest accepted message body, in bytes.
pub const MAX_MESSAGE: usize = 16 << 20;

/// Daemon → launcher.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToLauncher {
    /// First message of `launch` mode.
    Launch(Box<LaunchSpec>),
    /// The daemon has placed, chowned and labelled everything: exec QEMU.
    Go,
    /// Give up: the launcher exits (status 0) without exec.
    Abort,
    /// First and only message of `nsexec` mode.
    NsExec(Vec<NsOp>),
}

/// Launcher → daemon.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromLauncher {
    /// The namespace is built and the pid is in the cgroups; waiting for `Go`.
    Prepared { pid: u32 },
    /// Everything before `execve` is done; the next thing on the channel is either
    /// end-of-file (the exec succeeded and closed the CLOEXEC channel) or `Failed`.
    /// `landlock` is what Landlock achieved, when rules were given.
    Executing { landlock: Option<LandlockReport> },
    /// A step failed; the launcher exits after sending this.
    Failed(Failure),
    /// All `nsexec` operations were performed.
    NsDone,
}

/// How far the kernel enforces the Landlock rules (best effort on older kernels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LandlockEnforcement {
    Full,
    /// The kernel's ABI lacks some of the rights: those stay allowed.
    Partial,
    /// Landlock is unavailable: nothing is restricted.
    None,
}

/// Landlock's outcome, sent with [`FromLauncher::Executing`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LandlockReport {
    /// The ABI in force (0 when nothing is enforced).
    pub abi: u32,
    pub enforcement: LandlockEnforcement,
}

/// One operation performed inside a running QEMU's mount namespace (`nsexec` mode).
/// Targets must be plain paths below `/dev`. Operations run in order and are not
/// rolled back: on a failure the earlier ones stay done and the [`Failure`] names the
/// failing one's path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NsOp {
    /// Create a device node (parents created 0755 root:root), then chown and chmod it.
    /// An existing node of the same kind and device number is kept (and re-owned).
    Mknod(DevNode),
    /// Create a directory (and missing parents), then chown and chmod the last one.
    Mkdir {
        path: PathBuf,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// Clone the mount tree at `source` (a path of the *host* namespace, e.g. a
    /// hugetlbfs mounted by the daemon) and attach it at `target` inside the
    /// namespace. A placeholder (directory or empty file, matching the source) is
    /// created at `target` when missing. The host mount stays; the daemon unmounts it
    /// if it wants a move rather than a bind.
    BindFromHost { source: PathBuf, target: PathBuf },
    /// Detach the mount on `path` (teardown of a `BindFromHost`); no mount or no
    /// path is an error only when something else is wrong (`EINVAL`: not a mount).
    Unmount { path: PathBuf },
    /// Remove a node, file or empty directory (hot-unplug teardown); already gone is
    /// fine.
    Remove { path: PathBuf },
    /// Create a symlink at `path` (parents created 0755 root:root) pointing to
    /// `target`; an existing symlink with the same target is kept.
    Symlink { path: PathBuf, target: PathBuf },
}

/// Every step the launcher can fail at; [`Failure::step`] names one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Step {
    /// Reading or decoding the first message, or a malformed command line.
    ReadRequest,
    Setsid,
    OpenLog,
    OpenDevNull,
    UnshareMountNs,
    MakeRootSlave,
    ReadMountinfo,
    /// Refusing a device node path (not under `/dev`, `..`, duplicate).
    ValidateDevNode,
    CreateScratch,
    MountDevTmpfs,
    MkdirDevDir,
    MknodDevNode,
    ChownDevNode,
    ChmodDevNode,
    CreatePlaceholder,
    MoveSubmount,
    UnmountOldDev,
    MoveNewDev,
    CleanupScratch,
    JoinCgroup,
    SendPrepared,
    WaitGo,
    SetupStdio,
    CloseFds,
    SetGroups,
    SetGid,
    SetUid,
    NoNewPrivs,
    SelinuxExecLabel,
    Landlock,
    Chdir,
    Exec,
    /// nsexec: opening the source tree of a [`NsOp::BindFromHost`].
    OpenTree,
    /// nsexec: opening `/proc/PID/ns/mnt` or `setns` into it.
    EnterMountNs,
    /// nsexec: attaching a cloned tree at its target.
    AttachMount,
    /// nsexec: [`NsOp::Unmount`].
    UnmountPath,
    /// nsexec: [`NsOp::Remove`].
    RemovePath,
    /// nsexec: [`NsOp::Symlink`].
    SymlinkPath,
}

/// Why the launcher stopped: the step, the path it was working on, and the errno.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub step: Step,
    pub path: Option<PathBuf>,
    pub errno: Option<i32>,
    pub message: String,
}

impl Failure {
    /// A failure with no errno.
    pub fn new(step: Step, path: Option<PathBuf>, message: impl Into<String>) -> Self {
        Self {
            step,
            path,
            errno: None,
            message: message.into(),
        }
    }

    /// A failure carrying the errno of `err` (when it has one) and its text.
    pub fn io(step: Step, path: Option<PathBuf>, err: &io::Error) -> Self {
        Self {
            step,
            path,
            errno: err.raw_os_error(),
            message: err.to_string(),
        }
    }

    /// A failure from a rustix errno.
    pub fn errno(step: Step, path: Option<PathBuf>, err: rustix::io::Errno) -> Self {
        Self::io(step, path, &io::Error::from(err))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "launcher step {:?} failed", self.step)?;
        if let Some(path) = &self.path {
            write!(f, " on {}", path.display())?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(errno) = self.errno {
            write!(f, " (errno {errno})")?;
        }
        Ok(())
    }
}

/// Why a frame could not be read or written.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// Clean end of file before the first byte of a frame.
    Eof,
    Io(io::Error),
    TooLarge(usize),
    Json(serde_json::Error),
}

/// Write one length-prefixed JSON message.
pub(crate) fn write_msg<W: Write, T: Serialize>(w: &mut W, msg: &T) -> Result<(), FrameError> {
    let body = serde_json::to_vec(msg).map_err(FrameError::Json)?;
    if body.len() > MAX_MESSAGE {
        return Err(FrameError::TooLarge(body.len()));
    }
    let len = u32::try_from(body.len()).map_err(|_| FrameError::TooLarge(body.len()))?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    w.write_all(&frame).map_err(FrameError::Io)?;
    w.flush().map_err(FrameError::Io)
}

/// Read one length-prefixed JSON message. A clean EOF before the header is
/// [`FrameError::Eof`]; an EOF inside a frame is an I/O error.
pub(crate) fn read_msg<R: Read, T: for<'de> Deserialize<'de>>(r: &mut R) -> Result<T, FrameError> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < header.len() {
        match r.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Err(FrameError::Eof),
            Ok(0) => {
                return Err(FrameError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "end of file inside a frame header",
                )));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_MESSAGE {
        return Err(FrameError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).map_err(FrameError::Io)?;
    serde_json::from_slice(&body).map_err(FrameError::Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_in_order() {
        let mut buf = Vec::new();
        write_msg(&mut buf, &FromLauncher::Prepared { pid: 42 }).unwrap();
        let failure = Failure {
            step: Step::MknodDevNode,
            path: Some("/dev/kvm".into()),
            errno: Some(libc::EPERM),
            message: "Operation not permitted".into(),
        };
        write_msg(&mut buf, &FromLauncher::Failed(failure.clone())).unwrap();
        let mut r = &buf[..];
        assert_eq!(
            read_msg::<_, FromLauncher>(&mut r).unwrap(),
            FromLauncher::Prepared { pid: 42 }
        );
        assert_eq!(
            read_msg::<_, FromLauncher>(&mut r).unwrap(),
            FromLauncher::Failed(failure)
        );
        assert!(matches!(
            read_msg::<_, FromLauncher>(&mut r),
            Err(FrameError::Eof)
        ));
    }

    #[test]
    fn truncated_and_oversized_frames_are_errors() {
        let mut buf = Vec::new();
        write_msg(&mut buf, &ToLauncher::Go).unwrap();
        let mut short = &buf[..buf.len() - 1];
        assert!(matches!(
            read_msg::<_, ToLauncher>(&mut short),
            Err(FrameError::Io(_))
        ));
        let mut half_header = &buf[..2];
        assert!(matches!(
            read_msg::<_, ToLauncher>(&mut half_header),
            Err(FrameError::Io(_))
        ));
        let huge = ((MAX_MESSAGE + 1) as u32).to_be_bytes();
        assert!(matches!(
            read_msg::<_, ToLauncher>(&mut &huge[..]),
            Err(FrameError::TooLarge(_))
        ));
        let mut garbage = Vec::new();
        garbage.extend_from_slice(&3u32.to_be_bytes());
        garbage.extend_from_slice(b"{x}");
        assert!(matches!(
            read_msg::<_, ToLauncher>(&mut &garbage[..]),
            Err(FrameError::Json(_))
        ));
    }

    #[test]
    fn wire_format_is_externally_tagged_json() {
        let mut buf = Vec::new();
        write_msg(&mut buf, &FromLauncher::Prepared { pid: 7 }).unwrap();
        assert_eq!(&buf[4..], br#"{"Prepared":{"pid":7}}"#);
        assert_eq!(
            u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize,
            buf.len() - 4
        );
    }

    #[test]
    fn failure_display_names_step_path_and_errno() {
        let f = Failure {
            step: Step::Exec,
            path: Some("/nonexistent/qemu".into()),
            errno: Some(libc::ENOENT),
            message: "No such file or directory".into(),
        };
        assert_eq!(
            f.to_string(),
            "launcher step Exec failed on /nonexistent/qemu: No such file or directory (errno 2)"
        );
    }
}
