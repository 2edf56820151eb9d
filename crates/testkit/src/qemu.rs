//! QEMU as a child process of a test.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::guest::Guest;
use crate::qmp::Qmp;
use crate::require::require_binary;

/// How often files and the child are polled while waiting.
const POLL: Duration = Duration::from_millis(10);
/// Lines of serial console / stderr quoted in failure messages.
const TAIL_LINES: usize = 60;

/// A running `qemu-system-x86_64`, owned by a test.
///
/// * stdin is `/dev/null`; stdout and stderr go to files in the run directory;
/// * the serial console goes to `<rundir>/serial.log`, QMP listens on
///   `<rundir>/qmp.sock`, and there is no display or monitor;
/// * dropping it (also while unwinding from a panic) kills QEMU with SIGKILL and reaps it;
/// * if the test process dies without unwinding, the kernel sends QEMU SIGKILL
///   (`PR_SET_PDEATHSIG`).  That signal is tied to the *thread* that spawned QEMU, so keep
///   a `Qemu` on the thread that created it.
#[derive(Debug)]
pub struct Qemu {
    child: Child,
    status: Option<ExitStatus>,
    started: Instant,
    serial: PathBuf,
    qmp: PathBuf,
    stdout: PathBuf,
    stderr: PathBuf,
    args: Vec<OsString>,
}

impl Qemu {
    /// The arguments for booting the test guest under TCG through PVH, as in the
    /// guest recipe: q35, 128 MiB, no NIC, `-no-reboot` with `panic=-1` so a guest panic
    /// ends QEMU.  Never KVM: the machines' `/dev/kvm` cannot boot Linux.
    pub fn guest_args(guest: &Guest) -> Vec<OsString> {
        let mut args: Vec<OsString> = [
            "-machine",
            "q35,accel=tcg",
            "-m",
            "128",
            "-no-reboot",
            "-nic",
            "none",
            "-kernel",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        args.push(guest.vmlinux.clone().into());
        args.push("-initrd".into());
        args.push(guest.initramfs.clone().into());
        args.push("-append".into());
        args.push("console=ttyS0 panic=-1 quiet".into());
        args
    }

    /// Boots the test guest ([`Qemu::guest_args`]) plus `extra` arguments (disks, NICs),
    /// with its files in `rundir`.
    pub fn boot<S: AsRef<OsStr>>(guest: &Guest, rundir: &Path, extra: &[S]) -> Qemu {
        let mut args = Qemu::guest_args(guest);
        args.extend(extra.iter().map(|a| a.as_ref().to_os_string()));
        Qemu::spawn(rundir, &args)
    }

    /// Starts `qemu-system-x86_64 <args> -display none -monitor none -serial
    /// file:<rundir>/serial.log -qmp unix:<rundir>/qmp.sock,server=on,wait=off`.
    ///
    /// `rundir` must not contain commas (QEMU option syntax); temp dirs don't.  Panics if
    /// QEMU is missing or cannot be started.
    pub fn spawn<S: AsRef<OsStr>>(rundir: &Path, args: &[S]) -> Qemu {
        let binary = require_binary("qemu-system-x86_64");
        assert!(
            !rundir.to_string_lossy().contains(','),
            "testkit: QEMU run directory {} contains a comma",
            rundir.display()
        );
        let serial = rundir.join("serial.log");
        let qmp = rundir.join("qmp.sock");
        let stdout = rundir.join("qemu.stdout");
        let stderr = rundir.join("qemu.stderr");
        let _ = fs::remove_file(&qmp);

        let mut all: Vec<OsString> = args.iter().map(|a| a.as_ref().to_os_string()).collect();
        all.extend(["-display", "none", "-monitor", "none", "-serial"].map(OsString::from));
        all.push(concat_os("file:", &serial));
        all.push("-qmp".into());
        let mut qmp_arg = concat_os("unix:", &qmp);
        qmp_arg.push(",server=on,wait=off");
        all.push(qmp_arg);

        let create = |p: &Path| {
            File::create(p)
                .unwrap_or_else(|e| panic!("testkit: cannot create {}: {e}", p.display()))
        };
        let mut command = Command::new(&binary);
        command
            .args(&all)
            .stdin(Stdio::null())
            .stdout(create(&stdout))
            .stderr(create(&stderr));
        let parent = rustix::process::getpid();
        // SAFETY: the closure runs in the forked child before exec and only makes two
        // system calls (prctl, getppid) through rustix, which are async-signal-safe; it
        // neither allocates nor takes locks.
        unsafe {
            command.pre_exec(move || {
                rustix::process::set_parent_process_death_signal(Some(
                    rustix::process::Signal::KILL,
                ))?;
                // The parent may have died between fork and prctl.
                if rustix::process::getppid() != Some(parent) {
                    return Err(io::Error::other("parent exited"));
                }
                Ok(())
            });
        }
        let started = Instant::now();
        let child = command.spawn().unwrap_or_else(|e| {
            panic!("testkit: cannot start {}: {e}", binary.display());
        });
        Qemu {
            child,
            status: None,
            started,
            serial,
            qmp,
            stdout,
            stderr,
            args: all,
        }
    }

    /// QEMU's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// When QEMU was started (just before the spawn).
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The file receiving the guest's serial console.
    pub fn serial_path(&self) -> &Path {
        &self.serial
    }

    /// The QMP socket.
    pub fn qmp_path(&self) -> &Path {
        &self.qmp
    }

    /// The full argument list QEMU was started with.
    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// The serial console output so far (lossy UTF-8).
    pub fn serial_output(&self) -> String {
        read_lossy(&self.serial)
    }

    /// What QEMU wrote to stderr so far.
    pub fn stderr_output(&self) -> String {
        read_lossy(&self.stderr)
    }

    /// The first complete serial line that ends with `marker` (trailing whitespace and
    /// `\r` ignored).  Matching the end, not the whole line, is deliberate: with `quiet`
    /// the guest's first line can be glued to the firmware's last one.
    pub fn serial_line_ending_with(&self, marker: &str) -> Option<String> {
        find_line_ending_with(&self.serial_output(), marker)
    }

    /// Waits up to `timeout` for a serial line ending with `marker` and returns the line.
    /// Fails early if QEMU exits.  The error text quotes the serial console and stderr.
    pub fn try_wait_for_serial_line(
        &mut self,
        marker: &str,
        timeout: Duration,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.serial_line_ending_with(marker) {
                return Ok(line);
            }
            if let Some(status) = self.try_wait() {
                // One more look: the line may have been written just before the exit.
                if let Some(line) = self.serial_line_ending_with(marker) {
                    return Ok(line);
                }
                return Err(self.failure(&format!(
                    "QEMU exited ({status}) before a serial line ending with '{marker}'"
                )));
            }
            if Instant::now() >= deadline {
                return Err(self.failure(&format!(
                    "no serial line ending with '{marker}' within {timeout:?}"
                )));
            }
            thread::sleep(POLL);
        }
    }

    /// [`Qemu::try_wait_for_serial_line`] that panics (fails the test) on error.
    pub fn wait_for_serial_line(&mut self, marker: &str, timeout: Duration) -> String {
        self.try_wait_for_serial_line(marker, timeout)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Connects a [`Qmp`] client to this QEMU's socket, or panics.
    pub fn qmp(&mut self, timeout: Duration) -> Qmp {
        match Qmp::connect(&self.qmp, timeout) {
            Ok(qmp) => qmp,
            Err(e) => {
                let msg = self.failure(&format!("QMP connection failed: {e}"));
                panic!("{msg}")
            }
        }
    }

    /// The exit status if QEMU has exited (reaping it), without blocking.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            match self.child.try_wait() {
                Ok(status) => self.status = status,
                Err(e) => panic!("testkit: waitpid on QEMU failed: {e}"),
            }
        }
        self.status
    }

    /// Waits up to `timeout` for QEMU to exit; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(POLL);
        }
    }

    /// Kills QEMU (SIGKILL) if it still runs and reaps it.
    pub fn kill(&mut self) -> ExitStatus {
        if let Some(status) = self.try_wait() {
            return status;
        }
        // Fails only if the child already exited, which `wait` then reports.
        let _ = self.child.kill();
        let status = self
            .child
            .wait()
            .unwrap_or_else(|e| panic!("testkit: waitpid on QEMU failed: {e}"));
        self.status = Some(status);
        status
    }

    /// A failure message with context: the QEMU command line, the tail of the serial
    /// console and QEMU's stderr.
    pub fn failure(&self, what: &str) -> String {
        let stdout = read_lossy(&self.stdout);
        let mut msg = format!(
            "testkit: {what}\n--- QEMU ({:.1?} since start, pid {}) ---\n{}\n\
             --- serial console (last {TAIL_LINES} lines) ---\n{}\n--- QEMU stderr ---\n{}",
            self.started.elapsed(),
            self.child.id(),
            self.args
                .iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            tail(&self.serial_output(), TAIL_LINES),
            tail(&self.stderr_output(), TAIL_LINES),
        );
        if !stdout.trim().is_empty() {
            msg.push_str("\n--- QEMU stdout ---\n");
            msg.push_str(&tail(&stdout, TAIL_LINES));
        }
        msg
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn concat_os(prefix: &str, path: &Path) -> OsString {
    let mut s = OsString::from(prefix);
    s.push(path);
    s
}

fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The first complete line (terminated by `\n`) of `text` whose end, ignoring trailing
/// whitespace, is `marker`.
fn find_line_ending_with(text: &str, marker: &str) -> Option<String> {
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    complete
        .lines()
        .map(str::trim_end)
        .find(|line| line.ends_with(marker))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_matches_line_ends_only_complete_lines() {
        let text = "Booting from ROM..\r\nBooting from ROM..GUEST-READY\r\nGUEST-BLOCK: vda";
        assert_eq!(
            find_line_ending_with(text, "GUEST-READY").as_deref(),
            Some("Booting from ROM..GUEST-READY")
        );
        // The last line has no newline yet.
        assert_eq!(find_line_ending_with(text, "vda"), None);
        assert_eq!(
            find_line_ending_with("GUEST-READY-NOT\n", "GUEST-READY"),
            None
        );
        assert_eq!(find_line_ending_with("", "x"), None);
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
