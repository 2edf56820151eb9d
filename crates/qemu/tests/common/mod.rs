//! Helpers for tests that start a real QEMU.
#![allow(dead_code)]

use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream as StdUnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use qemu::qmp::{self, QmpEvent, QmpEvents};

pub const QEMU: &str = "/usr/bin/qemu-system-x86_64";

/// The emulator path; fails the test (never skips) if it is missing.
pub fn qemu_binary() -> &'static Path {
    let p = Path::new(QEMU);
    assert!(
        p.exists(),
        "{QEMU} is missing: qemu_live_* tests need QEMU installed \
         (apt-get install qemu-system-x86)"
    );
    p
}

/// A QEMU process killed and reaped on drop, even when the test fails.
pub struct Qemu {
    child: Child,
    /// Keeps the socket directory alive.
    pub dir: tempfile::TempDir,
    /// Path of the monitor socket, if it has one.
    pub socket: Option<PathBuf>,
}

impl Qemu {
    /// Whether the process has exited, reaping it if so.
    pub fn try_wait(&mut self) -> Result<Option<std::process::ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// Kills (SIGKILL) and reaps the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits (polling) for the process to exit on its own.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait()? {
                return Ok(st);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("QEMU did not exit within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base_command(extra: &[&str]) -> Command {
    let mut cmd = Command::new(qemu_binary());
    cmd.args(["-S", "-nodefaults", "-no-user-config", "-display", "none"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    cmd
}

/// Starts QEMU the way the daemon does: we bind and listen on the monitor
/// socket ourselves and hand QEMU the listening descriptor.
pub fn spawn_with_listener(extra: &[&str]) -> Result<Qemu> {
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("monitor.sock");
    let listener = UnixListener::bind(&socket)?;
    let mut cmd = base_command(extra);
    let fd = qmp::inherit_fd(&mut cmd, listener.as_fd());
    cmd.args([
        "-chardev",
        &format!("socket,id=mon,fd={fd},server=on,wait=off"),
        "-mon",
        "chardev=mon,mode=control",
    ]);
    let child = cmd.spawn().context("spawning QEMU")?;
    // QEMU holds its own copy now.
    drop(listener);
    Ok(Qemu {
        child,
        dir,
        socket: Some(socket),
    })
}

/// Starts QEMU with one end of a socketpair as an already-connected monitor.
pub fn spawn_with_socketpair(extra: &[&str]) -> Result<(Qemu, tokio::net::UnixStream)> {
    let dir = tempfile::tempdir()?;
    let (ours, theirs) = StdUnixStream::pair()?;
    let mut cmd = base_command(extra);
    let fd = qmp::inherit_fd(&mut cmd, theirs.as_fd());
    cmd.args([
        "-chardev",
        &format!("socket,id=mon,fd={fd}"),
        "-mon",
        "chardev=mon,mode=control",
    ]);
    let child = cmd.spawn().context("spawning QEMU")?;
    drop(theirs);
    ours.set_nonblocking(true)?;
    let ours = tokio::net::UnixStream::from_std(ours)?;
    Ok((
        Qemu {
            child,
            dir,
            socket: None,
        },
        ours,
    ))
}

/// Waits for the named event, skipping others.
pub async fn wait_event(events: &mut QmpEvents, name: &str, timeout: Duration) -> Result<QmpEvent> {
    tokio::time::timeout(timeout, async {
        while let Some(e) = events.recv().await {
            if e.name == name {
                return Ok(e);
            }
        }
        bail!("event stream ended before {name}")
    })
    .await
    .with_context(|| format!("no {name} event within {timeout:?}"))?
}
