//! The launcher side: what `rvirt-launch` runs. The process is freshly exec'd and
//! single-threaded, so `unshare`/`setns`, per-thread id changes and `execve` are all
//! sound here (they are not in the tokio daemon).

use std::ffi::{CString, OsString};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use rustix::fs::{CWD, FileType};
use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};
use rustix::process::{Gid, Uid};

use crate::spec::{DevNode, Identity, LandlockRules, LaunchSpec, NamespaceSpec};

use super::fsops::{
    make_node_at, mkdir_all, mkdir_at, open_parent, placeholder_at, remove_at, symlink_at,
    unmount_at, walk_dev_parent,
};
use super::mountinfo::{dev_submounts, parse_mountinfo};
use super::plan::{DEV, HostDev, Op, Submount, dev_relative, plan_namespace, scratch_mount_point};
use super::protocol::{
    CHANNEL_FD, Failure, FrameError, FromLauncher, LandlockEnforcement, LandlockReport, NsOp, Step,
    ToLauncher, read_msg, write_msg,
};

/// Exit status after a failure was reported (or could not be).
const EXIT_FAILED: i32 = 1;
/// Exit status for a bad command line or a missing channel.
const EXIT_USAGE: i32 = 2;

/// Entry point of the `rvirt-launch` binary; returns the exit status.
///
/// Usage: `rvirt-launch [launch]` or `rvirt-launch nsexec --pid PID`, with the channel
/// socket on fd 3.
pub fn main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let args: Vec<OsString> = args.into_iter().skip(1).collect();
    let mode = match parse_args(&args) {
        Ok(m) => m,
        Err(msg) => {
            eprintln!("rvirt-launch: {msg}");
            eprintln!(
                "usage: rvirt-launch [launch] | rvirt-launch nsexec --pid PID  (channel on fd 3)"
            );
            return EXIT_USAGE;
        }
    };
    let mut chan = match take_channel() {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("rvirt-launch: {msg}");
            return EXIT_USAGE;
        }
    };
    let result = match mode {
        RunMode::Launch => launch(&mut chan),
        RunMode::NsExec(pid) => nsexec(&mut chan, pid).map(|()| Done::NsCompleted),
    };
    match result {
        Ok(Done::Aborted) => 0,
        Ok(Done::NsCompleted) => {
            if write_msg(&mut chan, &FromLauncher::NsDone).is_err() {
                return EXIT_FAILED;
            }
            0
        }
        Ok(Done::ChannelClosed) => EXIT_FAILED,
        Err(failure) => {
            // The daemon may be gone; nothing else to do with the error then.
            let _ = write_msg(&mut chan, &FromLauncher::Failed(failure));
            EXIT_FAILED
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum RunMode {
    Launch,
    NsExec(u32),
}

fn parse_args(args: &[OsString]) -> Result<RunMode, String> {
    let strs: Vec<&str> = args
        .iter()
        .map(|a| {
            a.to_str()
                .ok_or_else(|| format!("non-UTF-8 argument {a:?}"))
        })
        .collect::<Result<_, _>>()?;
    match strs.as_slice() {
        [] | ["launch"] => Ok(RunMode::Launch),
        ["nsexec", "--pid", pid] => pid
            .parse::<u32>()
            .ok()
            .filter(|p| *p > 0)
            .map(RunMode::NsExec)
            .ok_or_else(|| format!("invalid pid {pid:?}")),
        _ => Err(format!("unexpected arguments {strs:?}")),
    }
}

/// Take ownership of fd 3 after checking it is an open socket, and make it CLOEXEC so
/// that a successful exec closes it.
fn take_channel() -> Result<UnixStream, String> {
    // SAFETY: fcntl(F_GETFD) only queries the descriptor table; any int is acceptable.
    if unsafe { libc::fcntl(CHANNEL_FD, libc::F_GETFD) } == -1 {
        return Err(format!(
            "fd {CHANNEL_FD} (the channel to the daemon) is not open: {}",
            io::Error::last_os_error()
        ));
    }
    // SAFETY: fd 3 is open (checked above) and, by the launcher's calling convention,
    // is the channel socket inherited from the daemon; nothing else in this process
    // owns or closes it, so the OwnedFd becomes its only owner.
    let fd = unsafe { OwnedFd::from_raw_fd(CHANNEL_FD) };
    let st = rustix::fs::fstat(&fd).map_err(|e| format!("fstat fd {CHANNEL_FD}: {e}"))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Socket {
        // Do not close a descriptor we do not understand.
        std::mem::forget(fd);
        return Err(format!("fd {CHANNEL_FD} is not a socket"));
    }
    rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)
        .map_err(|e| format!("set FD_CLOEXEC on fd {CHANNEL_FD}: {e}"))?;
    Ok(UnixStream::from(fd))
}

enum Done {
    Aborted,
    NsCompleted,
    /// The daemon closed the channel while we waited for Go: nobody to tell.
    ChannelClosed,
}

fn frame_failure(step: Step, e: FrameError) -> Failure {
    match e {
        FrameError::Eof => Failure::new(step, None, "the daemon closed the channel"),
        FrameError::Io(e) => Failure::io(step, None, &e),
        FrameError::TooLarge(n) => Failure::new(step, None, format!("message of {n} bytes")),
        FrameError::Json(e) => Failure::new(step, None, format!("malformed message: {e}")),
    }
}

/// `launch` mode; the order of the steps is the one in the module documentation of
/// [`crate::launcher`].
fn launch(chan: &mut UnixStream) -> Result<Done, Failure> {
    let spec = read_launch_request(chan)?;
    let spec: &LaunchSpec = &spec;

    rustix::process::setsid().map_err(|e| Failure::errno(Step::Setsid, None, e))?;
    let pid = std::process::id();

    // Opened while still root and in the host namespace.
    let (log, null) = open_log_and_null(spec)?;
    if let Some(ns) = &spec.namespace {
        build_namespace(ns, pid)?;
    }
    join_cgroups(&spec.cgroup_procs, pid)?;

    write_msg(chan, &FromLauncher::Prepared { pid })
        .map_err(|e| frame_failure(Step::SendPrepared, e))?;
    if let Some(done) = wait_go(chan)? {
        return Ok(done);
    }

    setup_stdio(&null, &log)?;
    drop(null);
    drop(log);
    let landlock = confine(spec)?;
    // From here on, EOF on the channel means the exec succeeded (the channel is
    // CLOEXEC): an EOF without this message means the launcher died.
    write_msg(chan, &FromLauncher::Executing { landlock })
        .map_err(|e| frame_failure(Step::Exec, e))?;
    Err(exec(spec))
}

/// The first message: `Launch(spec)`.
fn read_launch_request(chan: &mut UnixStream) -> Result<Box<LaunchSpec>, Failure> {
    match read_msg::<_, ToLauncher>(chan) {
        Ok(ToLauncher::Launch(spec)) => Ok(spec),
        Ok(other) => Err(Failure::new(
            Step::ReadRequest,
            None,
            format!("expected Launch, got {other:?}"),
        )),
        Err(e) => Err(frame_failure(Step::ReadRequest, e)),
    }
}

/// The log (append, created 0600) and `/dev/null`, in that order.
fn open_log_and_null(spec: &LaunchSpec) -> Result<(File, File), Failure> {
    let log = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&spec.log_path)
        .map_err(|e| Failure::io(Step::OpenLog, Some(spec.log_path.clone()), &e))?;
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| Failure::io(Step::OpenDevNull, Some("/dev/null".into()), &e))?;
    Ok((log, null))
}

/// Writes `pid` to each `cgroup.procs` file, in order.
fn join_cgroups(cgroup_procs: &[PathBuf], pid: u32) -> Result<(), Failure> {
    for procs in cgroup_procs {
        OpenOptions::new()
            .write(true)
            .open(procs)
            .and_then(|mut f| f.write_all(pid.to_string().as_bytes()))
            .map_err(|e| Failure::io(Step::JoinCgroup, Some(procs.clone()), &e))?;
    }
    Ok(())
}

/// Waits for `Go`: `Ok(None)` to go on, `Ok(Some(done))` when the daemon aborted or
/// closed the channel.
fn wait_go(chan: &mut UnixStream) -> Result<Option<Done>, Failure> {
    match read_msg::<_, ToLauncher>(chan) {
        Ok(ToLauncher::Go) => Ok(None),
        Ok(ToLauncher::Abort) => Ok(Some(Done::Aborted)),
        Ok(other) => Err(Failure::new(
            Step::WaitGo,
            None,
            format!("expected Go or Abort, got {other:?}"),
        )),
        Err(FrameError::Eof) => Ok(Some(Done::ChannelClosed)),
        Err(e) => Err(frame_failure(Step::WaitGo, e)),
    }
}

/// After `Go` and the stdio set-up: descriptors close-on-exec except `keep_fds`,
/// setgroups → setresgid → setresuid, `PR_SET_NO_NEW_PRIVS`, the SELinux exec label,
/// Landlock, `chdir(cwd)`. Returns the Landlock report for `Executing`.
fn confine(spec: &LaunchSpec) -> Result<Option<LandlockReport>, Failure> {
    close_fds(&spec.keep_fds)?;
    if let Some(id) = &spec.identity {
        set_identity(id)?;
    }
    rustix::thread::set_no_new_privs(true)
        .map_err(|e| Failure::errno(Step::NoNewPrivs, None, e))?;
    if let Some(label) = &spec.selinux_exec_label {
        set_exec_label(label)?;
    }
    let landlock = match &spec.landlock {
        Some(rules) => Some(apply_landlock(rules)?),
        None => None,
    };
    rustix::process::chdir(&spec.cwd)
        .map_err(|e| Failure::errno(Step::Chdir, Some(spec.cwd.clone()), e))?;
    Ok(landlock)
}

/// unshare, make `/` a recursive slave, then build and swap in the private `/dev`.
fn build_namespace(ns: &NamespaceSpec, pid: u32) -> Result<(), Failure> {
    // SAFETY: CLONE_NEWNS only gives this (single-threaded) process its own copy of
    // the mount table; it does not touch the file descriptor table, which is what
    // makes the general `unshare` unsafe.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS) }
        .map_err(|e| Failure::errno(Step::UnshareMountNs, None, e))?;
    rustix::mount::mount_change(
        "/",
        MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
    )
    .map_err(|e| Failure::errno(Step::MakeRootSlave, Some("/".into()), e))?;

    let mountinfo_path = Path::new("/proc/self/mountinfo");
    let text = std::fs::read_to_string(mountinfo_path)
        .map_err(|e| Failure::io(Step::ReadMountinfo, Some(mountinfo_path.into()), &e))?;
    let mounts = parse_mountinfo(&text).map_err(|line| {
        Failure::new(
            Step::ReadMountinfo,
            Some(mountinfo_path.into()),
            format!("malformed line {line}"),
        )
    })?;
    let mut host = HostDev {
        dev_is_mount: mounts.iter().any(|m| m.mount_point == Path::new(DEV)),
        submounts: Vec::new(),
    };
    for path in dev_submounts(&mounts, Path::new(DEV)) {
        let meta = std::fs::symlink_metadata(&path)
            .map_err(|e| Failure::io(Step::ReadMountinfo, Some(path.clone()), &e))?;
        host.submounts.push(Submount {
            path,
            is_dir: meta.is_dir(),
        });
    }
    let scratch = scratch_mount_point(&ns.scratch_dir, pid);
    let ops = plan_namespace(ns, &host, &scratch)?;
    run_ops(&ops).inspect_err(|_| {
        // Best effort: the mount dies with this namespace, the directory would not.
        let _ = rustix::mount::unmount(&scratch, UnmountFlags::DETACH);
        let _ = std::fs::remove_dir(&scratch);
    })
}

fn run_ops(ops: &[Op]) -> Result<(), Failure> {
    for op in ops {
        match op {
            Op::MkdirAll {
                step,
                path,
                mode,
                shown,
            } => mkdir_all(path, *mode, *step, shown)?,
            Op::MountTmpfs { target, options } => {
                let data = CString::new(options.as_str()).map_err(|_| {
                    Failure::new(Step::MountDevTmpfs, Some(target.clone()), "NUL in options")
                })?;
                rustix::mount::mount("devfs", target, "tmpfs", MountFlags::NOSUID, &*data)
                    .map_err(|e| Failure::errno(Step::MountDevTmpfs, Some(target.clone()), e))?;
            }
            Op::Mknod {
                path,
                shown,
                kind,
                major,
                minor,
                mode,
                uid,
                gid,
            } => {
                let (dir, name) = open_parent(path, Step::MknodDevNode, shown)?;
                let node = DevNode {
                    path: path.clone(),
                    kind: *kind,
                    major: *major,
                    minor: *minor,
                    mode: *mode,
                    uid: *uid,
                    gid: *gid,
                };
                make_node_at(dir.as_fd(), &name, shown, &node, false)?;
            }
            Op::Placeholder { path, dir } => {
                let (parent, name) = open_parent(path, Step::CreatePlaceholder, path)?;
                placeholder_at(parent.as_fd(), &name, *dir, path)?;
            }
            Op::MoveMount { step, from, to } => {
                rustix::mount::mount_move(from, to).map_err(|e| {
                    let mut f = Failure::errno(*step, Some(from.clone()), e);
                    f.message = format!("move to {}: {}", to.display(), f.message);
                    f
                })?
            }
            Op::DetachMount { step, path } => rustix::mount::unmount(path, UnmountFlags::DETACH)
                .map_err(|e| Failure::errno(*step, Some(path.clone()), e))?,
            Op::RemoveDir { step, path } => {
                std::fs::remove_dir(path).map_err(|e| Failure::io(*step, Some(path.clone()), &e))?
            }
        }
    }
    Ok(())
}

fn setup_stdio(null: &File, log: &File) -> Result<(), Failure> {
    for (src, dst) in [(null, 0), (log, 1), (log, 2)] {
        // SAFETY: `src` is an open descriptor owned by a live File and `dst` is one of
        // the standard descriptors, which this process owns by convention; dup2
        // atomically replaces it and the copy does not carry FD_CLOEXEC.
        if unsafe { libc::dup2(src.as_raw_fd(), dst) } == -1 {
            return Err(Failure::io(
                Step::SetupStdio,
                None,
                &io::Error::last_os_error(),
            ));
        }
    }
    Ok(())
}

/// Mark every descriptor from 3 up close-on-exec, then clear the flag on `keep`.
/// The channel (fd 3) stays close-on-exec so the daemon sees EOF at exec.
fn close_fds(keep: &[i32]) -> Result<(), Failure> {
    for &fd in keep {
        if fd <= CHANNEL_FD {
            return Err(Failure {
                step: Step::CloseFds,
                path: None,
                errno: Some(libc::EINVAL),
                message: format!("keep_fds may not contain {fd} (0-2 are stdio, 3 the channel)"),
            });
        }
    }
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC closes nothing; it only sets
    // FD_CLOEXEC on descriptors 3 and up, so no owned descriptor is invalidated.
    let rc = unsafe { libc::close_range(3, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as i32) };
    if rc == -1 {
        return Err(Failure::io(
            Step::CloseFds,
            None,
            &io::Error::last_os_error(),
        ));
    }
    for &fd in keep {
        // SAFETY: F_SETFD only changes the close-on-exec flag of `fd`; an fd that is
        // not open makes it fail with EBADF, which is reported.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } == -1 {
            let e = io::Error::last_os_error();
            let mut f = Failure::io(Step::CloseFds, None, &e);
            f.message = format!("keep fd {fd}: {}", f.message);
            return Err(f);
        }
    }
    Ok(())
}

/// setgroups → setresgid → setresuid. The process is single-threaded, so the
/// per-thread raw syscalls change the whole process.
fn set_identity(id: &Identity) -> Result<(), Failure> {
    let bad = |what: &str| Failure {
        step: Step::SetUid,
        path: None,
        errno: Some(libc::EINVAL),
        message: format!("{what} -1 is not a valid id"),
    };
    if id.uid == u32::MAX {
        return Err(bad("uid"));
    }
    if id.gid == u32::MAX || id.groups.contains(&u32::MAX) {
        return Err(bad("gid"));
    }
    let groups: Vec<Gid> = id.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    rustix::thread::set_thread_groups(&groups)
        .map_err(|e| Failure::errno(Step::SetGroups, None, e))?;
    let gid = Gid::from_raw(id.gid);
    rustix::thread::set_thread_res_gid(gid, gid, gid)
        .map_err(|e| Failure::errno(Step::SetGid, None, e))?;
    let uid = Uid::from_raw(id.uid);
    rustix::thread::set_thread_res_uid(uid, uid, uid)
        .map_err(|e| Failure::errno(Step::SetUid, None, e))
}

fn set_exec_label(label: &str) -> Result<(), Failure> {
    let path = Path::new("/proc/thread-self/attr/exec");
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(label.as_bytes()))
        .map_err(|e| {
            let mut f = Failure::io(Step::SelinuxExecLabel, Some(path.into()), &e);
            f.message = format!("label {label:?}: {}", f.message);
            f
        })
}

/// Landlock through the security driver's entry point. A path error names the path
/// and errno; a kernel without Landlock is not an error (best effort, as the driver
/// decides).
fn apply_landlock(rules: &LandlockRules) -> Result<LandlockReport, Failure> {
    use crate::landlock::{Enforcement, LandlockError};
    match crate::landlock::apply(rules) {
        Ok(status) => Ok(LandlockReport {
            abi: status.abi,
            enforcement: match status.enforcement {
                Enforcement::Full => LandlockEnforcement::Full,
                Enforcement::Partial => LandlockEnforcement::Partial,
                Enforcement::None => LandlockEnforcement::None,
            },
        }),
        Err(LandlockError::Path { path, source, .. }) => {
            Err(Failure::io(Step::Landlock, Some(path), &source))
        }
        Err(e) => Err(Failure::new(Step::Landlock, None, e.to_string())),
    }
}

/// `execve(emulator, [emulator, args...], env)`. Returns only on failure.
fn exec(spec: &LaunchSpec) -> Failure {
    let path = Some(spec.emulator.clone());
    let cstr = |b: &[u8]| {
        CString::new(b).map_err(|_| Failure {
            step: Step::Exec,
            path: path.clone(),
            errno: Some(libc::EINVAL),
            message: format!("NUL byte in {:?}", String::from_utf8_lossy(b)),
        })
    };
    let build = || -> Result<(CString, Vec<CString>, Vec<CString>), Failure> {
        let prog = cstr(spec.emulator.as_os_str().as_bytes())?;
        let mut argv = vec![prog.clone()];
        for a in &spec.args {
            argv.push(cstr(a.as_bytes())?);
        }
        let mut envp = Vec::with_capacity(spec.env.len());
        for (k, v) in &spec.env {
            if k.is_empty() || k.contains('=') {
                return Err(Failure {
                    step: Step::Exec,
                    path: path.clone(),
                    errno: Some(libc::EINVAL),
                    message: format!("invalid environment variable name {k:?}"),
                });
            }
            envp.push(cstr(format!("{k}={v}").as_bytes())?);
        }
        Ok((prog, argv, envp))
    };
    let (prog, argv, envp) = match build() {
        Ok(t) => t,
        Err(f) => return f,
    };
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|c| c.as_ptr()).collect();
    envp_p.push(std::ptr::null());
    // SAFETY: restoring the default SIGPIPE disposition (the Rust runtime ignores it,
    // and ignored dispositions survive exec) installs no handler code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // SAFETY: `prog` and every element of `argv_p`/`envp_p` point to NUL-terminated
    // strings owned by CStrings that outlive the call; both arrays end with NULL.
    unsafe { libc::execve(prog.as_ptr(), argv_p.as_ptr(), envp_p.as_ptr()) };
    Failure::io(Step::Exec, path, &io::Error::last_os_error())
}

/// `nsexec` mode: perform `NsExec` operations inside the mount namespace of `pid`.
fn nsexec(chan: &mut UnixStream, pid: u32) -> Result<(), Failure> {
    let ops = read_nsexec_request(chan)?;
    // Everything that needs the host namespace happens before setns.
    let trees = open_host_trees(&ops)?;
    enter_mount_ns(pid)?;
    for (op, tree) in ops.iter().zip(trees) {
        run_ns_op(op, tree)?;
    }
    Ok(())
}

/// The first message: `NsExec(ops)`.
fn read_nsexec_request(chan: &mut UnixStream) -> Result<Vec<NsOp>, Failure> {
    match read_msg::<_, ToLauncher>(chan) {
        Ok(ToLauncher::NsExec(ops)) => Ok(ops),
        Ok(other) => Err(Failure::new(
            Step::ReadRequest,
            None,
            format!("expected NsExec, got {other:?}"),
        )),
        Err(e) => Err(frame_failure(Step::ReadRequest, e)),
    }
}

/// A ValidateDevNode failure (EINVAL) naming `path`.
fn invalid(path: &Path, message: String) -> Failure {
    Failure {
        step: Step::ValidateDevNode,
        path: Some(path.to_owned()),
        errno: Some(libc::EINVAL),
        message,
    }
}

/// In the host namespace, op by op: checks every target is below `/dev` and opens
/// (`open_tree`, cloned, recursive) the source of each `BindFromHost`, noting whether
/// it is a directory. One entry per op, `None` for the others.
fn open_host_trees(ops: &[NsOp]) -> Result<Vec<Option<(OwnedFd, bool)>>, Failure> {
    let mut trees: Vec<Option<(OwnedFd, bool)>> = Vec::with_capacity(ops.len());
    for op in ops {
        let target = match op {
            NsOp::Mknod(n) => &n.path,
            NsOp::Mkdir { path, .. } => path,
            NsOp::BindFromHost { target, .. } => target,
            NsOp::Unmount { path } | NsOp::Remove { path } | NsOp::Symlink { path, .. } => path,
        };
        dev_relative(target).map_err(|m| invalid(target, m))?;
        if let NsOp::BindFromHost { source, .. } = op {
            if !source.is_absolute() {
                return Err(invalid(source, "source must be absolute".into()));
            }
            // Followed like open_tree follows it.
            let is_dir = std::fs::metadata(source)
                .map_err(|e| Failure::io(Step::OpenTree, Some(source.clone()), &e))?
                .is_dir();
            let fd = rustix::mount::open_tree(
                CWD,
                source,
                rustix::mount::OpenTreeFlags::OPEN_TREE_CLONE
                    | rustix::mount::OpenTreeFlags::OPEN_TREE_CLOEXEC
                    | rustix::mount::OpenTreeFlags::AT_RECURSIVE,
            )
            .map_err(|e| Failure::errno(Step::OpenTree, Some(source.clone()), e))?;
            trees.push(Some((fd, is_dir)));
        } else {
            trees.push(None);
        }
    }
    Ok(trees)
}

/// `setns` into the mount namespace of `pid`, refusing one that is our own.
fn enter_mount_ns(pid: u32) -> Result<(), Failure> {
    let ns_path = PathBuf::from(format!("/proc/{pid}/ns/mnt"));
    let ns = File::open(&ns_path)
        .map_err(|e| Failure::io(Step::EnterMountNs, Some(ns_path.clone()), &e))?;
    // Refuse a process in our own (the host's) mount namespace: its /dev is the
    // host's, and nodes made there would be made on the host.
    let own = std::fs::metadata("/proc/self/ns/mnt")
        .map_err(|e| Failure::io(Step::EnterMountNs, Some("/proc/self/ns/mnt".into()), &e))?;
    let target = ns
        .metadata()
        .map_err(|e| Failure::io(Step::EnterMountNs, Some(ns_path.clone()), &e))?;
    if (own.dev(), own.ino()) == (target.dev(), target.ino()) {
        return Err(Failure {
            step: Step::EnterMountNs,
            path: Some(ns_path),
            errno: Some(libc::EINVAL),
            message: format!("process {pid} has no private mount namespace"),
        });
    }
    rustix::thread::move_into_link_name_space(
        ns.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Mount),
    )
    .map_err(|e| Failure::errno(Step::EnterMountNs, Some(ns_path.clone()), e))?;
    drop(ns);
    Ok(())
}

/// One op inside the namespace; `tree` is what [`open_host_trees`] opened for it.
/// Paths are walked with `O_PATH|O_NOFOLLOW` descriptors (see `fsops`).
fn run_ns_op(op: &NsOp, tree: Option<(OwnedFd, bool)>) -> Result<(), Failure> {
    match op {
        NsOp::Mknod(n) => {
            let (dir, name) = walk_dev_parent(&dev_rel(&n.path)?, true)?;
            make_node_at(dir.as_fd(), &name, &n.path, n, true)?;
        }
        NsOp::Mkdir {
            path,
            mode,
            uid,
            gid,
        } => {
            let (dir, name) = walk_dev_parent(&dev_rel(path)?, true)?;
            mkdir_at(dir.as_fd(), &name, path, *mode, *uid, *gid)?;
        }
        NsOp::BindFromHost { target, .. } => {
            let Some((tree, is_dir)) = tree else {
                return Err(Failure::new(
                    Step::AttachMount,
                    Some(target.clone()),
                    "no tree",
                ));
            };
            let (dir, name) = walk_dev_parent(&dev_rel(target)?, true)?;
            placeholder_at(dir.as_fd(), &name, is_dir, target)?;
            rustix::mount::move_mount(
                &tree,
                "",
                &dir,
                &name,
                rustix::mount::MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
            )
            .map_err(|e| Failure::errno(Step::AttachMount, Some(target.clone()), e))?;
        }
        NsOp::Symlink { path, target } => {
            let (dir, name) = walk_dev_parent(&dev_rel(path)?, true)?;
            symlink_at(dir.as_fd(), &name, target, path)?;
        }
        NsOp::Unmount { path } | NsOp::Remove { path } => {
            let (dir, name) = match walk_dev_parent(&dev_rel(path)?, false) {
                Ok(found) => found,
                // The parent directory is gone: so is the path.
                Err(f) if f.errno == Some(libc::ENOENT) => return Ok(()),
                Err(f) => return Err(f),
            };
            if matches!(op, NsOp::Unmount { .. }) {
                unmount_at(dir.as_fd(), &name, path)?;
            } else {
                remove_at(dir.as_fd(), &name, path)?;
            }
        }
    }
    Ok(())
}

/// `path` below `/dev`, as a ValidateDevNode failure when it is not.
fn dev_rel(path: &Path) -> Result<PathBuf, Failure> {
    dev_relative(path).map_err(|m| invalid(path, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn command_line_modes() {
        assert_eq!(parse_args(&os(&[])), Ok(RunMode::Launch));
        assert_eq!(parse_args(&os(&["launch"])), Ok(RunMode::Launch));
        assert_eq!(
            parse_args(&os(&["nsexec", "--pid", "4242"])),
            Ok(RunMode::NsExec(4242))
        );
        assert!(parse_args(&os(&["nsexec", "--pid", "0"])).is_err());
        assert!(parse_args(&os(&["nsexec", "--pid", "x"])).is_err());
        assert!(parse_args(&os(&["nsexec"])).is_err());
        assert!(parse_args(&os(&["bogus"])).is_err());
    }
}
