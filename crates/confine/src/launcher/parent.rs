//! The daemon side: spawn `rvirt-launch`, drive the handshake, get QEMU's pid.
//!
//! All calls block (std I/O); the async daemon runs them in `spawn_blocking`.

use std::collections::BTreeSet;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::spec::LaunchSpec;

use super::error::LaunchError;
use super::protocol::{
    CHANNEL_FD, FrameError, FromLauncher, LandlockReport, NsOp, ToLauncher, read_msg, write_msg,
};

/// The launcher binary and how to start it.
#[derive(Clone, Debug)]
pub struct Launcher {
    bin: PathBuf,
    stderr_to_null: bool,
    timeout: Option<Duration>,
}

impl Launcher {
    /// `bin` is the `rvirt-launch` executable.
    pub fn new(bin: impl Into<PathBuf>) -> Self {
        Self {
            bin: bin.into(),
            stderr_to_null: false,
            timeout: None,
        }
    }

    /// Bound every wait for a launcher message (handles start with this timeout; a
    /// timed-out wait kills the launcher). Default: wait forever.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Send the launcher's own stderr (usage errors, panics before the handshake)
    /// to /dev/null instead of inheriting the daemon's.
    pub fn quiet(mut self) -> Self {
        self.stderr_to_null = true;
        self
    }

    /// The launcher binary.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    fn command(&self, fds: &[(BorrowedFd<'_>, i32)], child_end: &UnixStream) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if self.stderr_to_null {
                Stdio::null()
            } else {
                Stdio::inherit()
            });
        let chan = child_end.as_raw_fd();
        let pairs: Vec<(i32, i32)> = fds.iter().map(|(f, to)| (f.as_raw_fd(), *to)).collect();
        // Above every descriptor involved, so the temporary copies collide with none.
        let high = pairs
            .iter()
            .flat_map(|(a, b)| [*a, *b])
            .chain([chan, CHANNEL_FD])
            .max()
            .unwrap_or(CHANNEL_FD)
            + 1;
        let mut tmps = vec![-1; pairs.len() + 1];
        // SAFETY: the closure runs in the forked child before exec and only makes
        // async-signal-safe calls (fcntl, dup2, close) on descriptors that are open in
        // the parent (the borrowed fds and the socket outlive `spawn`); it allocates
        // nothing (the Vecs were built before fork and are only indexed).
        unsafe {
            cmd.pre_exec(move || {
                // Two phases: copy every source above all targets first, so moving
                // one descriptor to its number can never clobber another source.
                tmps[0] = libc::fcntl(chan, libc::F_DUPFD_CLOEXEC, high);
                if tmps[0] == -1 {
                    return Err(io::Error::last_os_error());
                }
                for (k, (from, _)) in pairs.iter().enumerate() {
                    tmps[k + 1] = libc::fcntl(*from, libc::F_DUPFD_CLOEXEC, high);
                    if tmps[k + 1] == -1 {
                        return Err(io::Error::last_os_error());
                    }
                }
                // dup2 leaves the new descriptor without FD_CLOEXEC: inherited.
                if libc::dup2(tmps[0], CHANNEL_FD) == -1 {
                    return Err(io::Error::last_os_error());
                }
                libc::close(tmps[0]);
                for (k, (_, to)) in pairs.iter().enumerate() {
                    if libc::dup2(tmps[k + 1], *to) == -1 {
                        return Err(io::Error::last_os_error());
                    }
                    libc::close(tmps[k + 1]);
                }
                Ok(())
            });
        }
        cmd
    }

    fn start(
        &self,
        args: &[String],
        fds: &[(BorrowedFd<'_>, i32)],
    ) -> Result<(Child, UnixStream), LaunchError> {
        let (ours, theirs) = UnixStream::pair().map_err(LaunchError::Channel)?;
        let mut cmd = self.command(fds, &theirs);
        cmd.args(args);
        let child = cmd.spawn().map_err(|source| LaunchError::Spawn {
            path: self.bin.clone(),
            source,
        })?;
        // Close our copy of the launcher's end at once so its exit reads as EOF.
        drop(theirs);
        if let Err(e) = ours.set_read_timeout(self.timeout) {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
            return Err(LaunchError::Channel(e));
        }
        Ok((child, ours))
    }

    /// Start a launch: spawn the launcher with the channel on fd 3 and `extra_fds`
    /// inherited at their own numbers, and send `spec`. `extra_fds` must be exactly
    /// the descriptors listed in `spec.keep_fds` (and none of 0–3).
    pub fn spawn(
        &self,
        spec: &LaunchSpec,
        extra_fds: &[BorrowedFd<'_>],
    ) -> Result<LaunchHandle, LaunchError> {
        let same: Vec<(BorrowedFd<'_>, i32)> =
            extra_fds.iter().map(|f| (*f, f.as_raw_fd())).collect();
        self.spawn_mapped(spec, &same)
    }

    /// Like [`Launcher::spawn`], but each descriptor is placed at the number given
    /// with it in the launcher (and so in QEMU). A multi-threaded daemon cannot
    /// choose its own descriptor numbers safely; the child can.
    pub fn spawn_mapped(
        &self,
        spec: &LaunchSpec,
        fds: &[(BorrowedFd<'_>, i32)],
    ) -> Result<LaunchHandle, LaunchError> {
        check_fds(spec, fds)?;
        let (child, mut chan) = self.start(&["launch".to_owned()], fds)?;
        let mut handle = LaunchHandle {
            child: Some(child),
            chan: None,
            pid: 0,
        };
        handle.pid = handle.child.as_ref().map_or(0, Child::id);
        write_msg(&mut chan, &ToLauncher::Launch(Box::new(spec.clone())))
            .map_err(|e| handle.frame_error(e))?;
        handle.chan = Some(chan);
        Ok(handle)
    }

    /// Run `ops` inside the mount namespace of the running process `pid` (a QEMU
    /// started with a private namespace) through `rvirt-launch nsexec --pid PID`.
    pub fn nsexec(&self, pid: u32, ops: &[NsOp]) -> Result<(), LaunchError> {
        let (child, mut chan) =
            self.start(&["nsexec".into(), "--pid".into(), pid.to_string()], &[])?;
        let mut handle = LaunchHandle {
            pid: child.id(),
            child: Some(child),
            chan: None,
        };
        write_msg(&mut chan, &ToLauncher::NsExec(ops.to_vec()))
            .map_err(|e| handle.frame_error(e))?;
        let reply = read_msg::<_, FromLauncher>(&mut chan);
        let status = handle.reap();
        match reply {
            Ok(FromLauncher::NsDone) => match status {
                Some(s) if s.success() => Ok(()),
                status => Err(LaunchError::LauncherDied { status }),
            },
            Ok(FromLauncher::Failed(f)) => Err(LaunchError::Failed(f)),
            Ok(other) => Err(LaunchError::Unexpected(format!("{other:?}"))),
            Err(FrameError::Eof) => Err(LaunchError::LauncherDied { status }),
            Err(e) => Err(frame_to_error(e)),
        }
    }
}

/// Shorthand for [`Launcher::new`]`(launcher_bin).spawn(spec, extra_fds)`.
pub fn spawn(
    launcher_bin: &Path,
    spec: &LaunchSpec,
    extra_fds: &[BorrowedFd<'_>],
) -> Result<LaunchHandle, LaunchError> {
    Launcher::new(launcher_bin).spawn(spec, extra_fds)
}

fn check_fds(spec: &LaunchSpec, fds: &[(BorrowedFd<'_>, i32)]) -> Result<(), LaunchError> {
    let given: BTreeSet<i32> = fds.iter().map(|(_, to)| *to).collect();
    if given.len() != fds.len() {
        return Err(LaunchError::Invalid(
            "two descriptors mapped to one number".into(),
        ));
    }
    let wanted: BTreeSet<i32> = spec.keep_fds.iter().copied().collect();
    if let Some(fd) = wanted.iter().find(|fd| **fd <= CHANNEL_FD) {
        return Err(LaunchError::Invalid(format!(
            "keep_fds may not contain {fd}: 0-2 are stdio and 3 is the launcher channel"
        )));
    }
    if given != wanted {
        return Err(LaunchError::Invalid(format!(
            "extra fds {given:?} differ from spec.keep_fds {wanted:?}"
        )));
    }
    Ok(())
}

fn frame_to_error(e: FrameError) -> LaunchError {
    match e {
        FrameError::Eof => LaunchError::LauncherDied { status: None },
        FrameError::Io(e) => LaunchError::Channel(e),
        FrameError::TooLarge(n) => LaunchError::TooLarge(n),
        FrameError::Json(e) => LaunchError::Decode(e),
    }
}

/// A QEMU that was exec'd.
#[derive(Debug)]
pub struct Launched {
    /// The QEMU process (the launcher's pid).
    pub child: Child,
    /// What Landlock achieved, when the spec had rules.
    pub landlock: Option<LandlockReport>,
}

/// A launch in progress. Dropping it before [`LaunchHandle::wait_exec`] succeeded
/// kills and reaps the launcher (or the QEMU it became).
#[derive(Debug)]
pub struct LaunchHandle {
    child: Option<Child>,
    chan: Option<UnixStream>,
    pid: u32,
}

impl LaunchHandle {
    /// The launcher's pid, which will be QEMU's pid after exec.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Bound every later wait on the launcher (`None`: wait forever).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), LaunchError> {
        if let Some(chan) = &self.chan {
            chan.set_read_timeout(timeout)
                .map_err(LaunchError::Channel)?;
        }
        Ok(())
    }

    fn chan(&mut self) -> Result<&mut UnixStream, LaunchError> {
        self.chan
            .as_mut()
            .ok_or_else(|| LaunchError::Unexpected("the channel is already closed".into()))
    }

    /// Kill (if still running) and reap the child; its status if it could be had.
    fn reap(&mut self) -> Option<ExitStatus> {
        self.chan = None;
        let mut child = self.child.take()?;
        // Give a process that is already exiting a moment before killing it.
        for _ in 0..50 {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(_) => break,
            }
        }
        let _ = child.kill();
        child.wait().ok()
    }

    fn frame_error(&mut self, e: FrameError) -> LaunchError {
        match e {
            FrameError::Eof => LaunchError::LauncherDied {
                status: self.reap(),
            },
            // The launcher went away while we were writing to it.
            FrameError::Io(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                ) =>
            {
                LaunchError::LauncherDied {
                    status: self.reap(),
                }
            }
            other => {
                self.reap();
                frame_to_error(other)
            }
        }
    }

    fn failed_or_unexpected(&mut self, msg: FromLauncher) -> LaunchError {
        self.reap();
        match msg {
            FromLauncher::Failed(f) => LaunchError::Failed(f),
            other => LaunchError::Unexpected(format!("{other:?}")),
        }
    }

    /// Wait until the launcher built the namespace and joined the cgroups; returns
    /// its pid. On `Failed` the launcher is reaped and the failure returned.
    pub fn wait_prepared(&mut self) -> Result<u32, LaunchError> {
        let msg = read_msg::<_, FromLauncher>(self.chan()?);
        match msg {
            Ok(FromLauncher::Prepared { pid }) if pid == self.pid => Ok(pid),
            Ok(FromLauncher::Prepared { pid }) => {
                let expected = self.pid;
                self.reap();
                Err(LaunchError::Unexpected(format!(
                    "Prepared with pid {pid}, expected {expected}"
                )))
            }
            Ok(other) => Err(self.failed_or_unexpected(other)),
            Err(e) => Err(self.frame_error(e)),
        }
    }

    /// Tell the launcher to exec QEMU.
    pub fn go(&mut self) -> Result<(), LaunchError> {
        let r = write_msg(self.chan()?, &ToLauncher::Go);
        r.map_err(|e| self.frame_error(e))
    }

    /// After [`go`](Self::go): wait for the exec. `Executing` followed by end-of-file
    /// on the (close-on-exec) channel means QEMU is running; [`Launched::child`] is
    /// QEMU, which the caller must eventually wait for. QEMU may of course exit at
    /// once (bad arguments); that shows in its exit status and log, not here.
    pub fn wait_exec(mut self) -> Result<Launched, LaunchError> {
        let landlock = match read_msg::<_, FromLauncher>(self.chan()?) {
            Ok(FromLauncher::Executing { landlock }) => landlock,
            Ok(other) => return Err(self.failed_or_unexpected(other)),
            Err(e) => return Err(self.frame_error(e)),
        };
        match read_msg::<_, FromLauncher>(self.chan()?) {
            Err(FrameError::Eof) => {
                self.chan = None;
                let child = self
                    .child
                    .take()
                    .ok_or_else(|| LaunchError::Unexpected("no child".into()))?;
                Ok(Launched { child, landlock })
            }
            Ok(other) => Err(self.failed_or_unexpected(other)),
            Err(e) => Err(self.frame_error(e)),
        }
    }

    /// Tell the launcher to give up and reap it; returns its exit status.
    pub fn abort(mut self) -> Result<Option<ExitStatus>, LaunchError> {
        if let Some(chan) = self.chan.as_mut() {
            // A launcher that already exited cannot read it; reaping is what matters.
            let _ = write_msg(chan, &ToLauncher::Abort);
        }
        self.chan = None;
        let status = self.child.take().and_then(|mut c| c.wait().ok());
        Ok(status)
    }
}

impl Drop for LaunchHandle {
    fn drop(&mut self) {
        self.chan = None;
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
