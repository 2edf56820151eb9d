//! The launcher: a freshly exec'd, single-threaded helper (`rvirt-launch`) that
//! builds QEMU's private mount namespace and `/dev`, joins the cgroups, waits for the
//! daemon's go-ahead, drops privileges and execs QEMU, so the QEMU process is the
//! launcher process itself (and the daemon's child).
//!
//! # Calling convention
//!
//! The daemon ([`Launcher::spawn`]) starts `rvirt-launch launch` with:
//! * fd 0 and 1 on `/dev/null`, fd 2 inherited (or `/dev/null`, [`Launcher::quiet`]);
//! * **fd 3: one end of a unix stream socketpair** ([`protocol::CHANNEL_FD`]), the
//!   message channel (see [`protocol`] for framing and the conversation);
//! * the descriptors of `LaunchSpec::keep_fds`, inherited **at the same numbers**
//!   (never 0–3); every other descriptor is close-on-exec;
//! * an empty environment (QEMU's environment is exactly `LaunchSpec::env`).
//!
//! `rvirt-launch nsexec --pid PID` uses the same fd 3 channel to run a few
//! [`NsOp`]s inside the mount namespace of a running QEMU ([`Launcher::nsexec`]).
//!
//! # Order of operations (launch mode)
//!
//! read `Launch(spec)` → `setsid` → open the log (append) and `/dev/null` (still root,
//! host namespace) → if `spec.namespace`: `unshare(CLONE_NEWNS)`, `/` made
//! `MS_SLAVE|MS_REC`, `/proc/self/mountinfo` read, new tmpfs `devfs`
//! (`mode=755,size=64k`, `MS_NOSUID`) mounted on a scratch mount point under
//! `scratch_dir`, nodes made (mknod, chmod, chown copying mode and owner), the host's
//! `/dev` submounts moved in (outermost only), old `/dev` detached, new one moved onto
//! `/dev`, scratch removed → pid written to each `cgroup_procs` file → `Prepared{pid}`
//! → wait for `Go` (or `Abort`) → stdin `/dev/null`, stdout/stderr the log → all fds
//! ≥ 3 close-on-exec except `keep_fds` → setgroups → setresgid → setresuid →
//! `PR_SET_NO_NEW_PRIVS` → SELinux exec label → Landlock → `chdir(cwd)` →
//! `Executing{landlock}` → `execve` (argv\[0\] is the emulator path, envp exactly
//! `spec.env` in order, SIGPIPE back to default). Any failure is sent as
//! `Failed(Failure{step, path, errno, message})` and the launcher exits 1; `Abort`
//! makes it exit 0; the daemon closing the channel before `Go` makes it exit 1.
//!
//! # nsexec
//!
//! Every target must be a plain path below `/dev`. Host-side work (`open_tree` of a
//! [`NsOp::BindFromHost`] source) happens before `setns`; inside, paths are walked
//! with `O_PATH|O_NOFOLLOW` descriptors and nodes get their mode and owner through
//! their own descriptor, so symlinks QEMU may plant in `/dev/shm` are never followed.
//!
//! # Pure parts
//!
//! [`mountinfo`] (parsing, choice of the submounts to keep) and [`plan`] (the list of
//! operations that builds `/dev`) make no syscalls and are unit-tested without root.

mod child;
mod error;
mod fsops;
pub mod mountinfo;
mod parent;
pub mod plan;
pub mod protocol;

pub use child::main as launcher_main;
pub use error::LaunchError;
pub use parent::{LaunchHandle, Launched, Launcher, spawn};
pub use protocol::{
    Failure, FromLauncher, LandlockEnforcement, LandlockReport, NsOp, Step, ToLauncher,
};
