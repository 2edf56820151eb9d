//! Launcher tests that need no root: argument and fd checks, a launcher that dies,
//! and a full handshake that execs `/bin/sh` with no namespace and no identity change.

use std::fs;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use confine::launcher::{LaunchError, Launcher, Step};
use confine::spec::LaunchSpec;

const LAUNCHER: &str = env!("CARGO_BIN_EXE_rvirt-launch");

fn spec(dir: &Path, script: &str) -> LaunchSpec {
    LaunchSpec {
        name: "proto".into(),
        emulator: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        env: vec![
            ("ZZ_FIRST".into(), "1".into()),
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("EMPTY".into(), String::new()),
        ],
        cwd: dir.to_owned(),
        identity: None,
        namespace: None,
        cgroup_procs: Vec::new(),
        selinux_exec_label: None,
        landlock: None,
        log_path: dir.join("out.log"),
        keep_fds: Vec::new(),
    }
}

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn launch_protocol_exec_without_namespace_keeps_env_order_and_fds() {
    let dir = tempfile::tempdir().unwrap();
    let (_r, w) = rustix::pipe::pipe().unwrap();
    let keep = w.as_raw_fd();
    let script = format!(
        "echo out; echo err >&2; tr '\\0' '\\n' < /proc/self/environ; \
         ls /proc/self/fd | sort -n | tr '\\n' ' '; echo; pwd; test -e /proc/self/fd/{keep} && echo kept"
    );
    let mut s = spec(dir.path(), &script);
    s.keep_fds = vec![keep];
    let mut h = Launcher::new(LAUNCHER).spawn(&s, &[w.as_fd()]).unwrap();
    h.set_timeout(Some(Duration::from_secs(20))).unwrap();
    let pid = h.wait_prepared().unwrap();
    assert_eq!(pid, h.pid());
    h.go().unwrap();
    let mut child = h.wait_exec().unwrap().child;
    assert_eq!(child.id(), pid);
    assert!(wait_exit(&mut child).success());
    let log = fs::read_to_string(dir.path().join("out.log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        &lines[..5],
        ["out", "err", "ZZ_FIRST=1", "PATH=/usr/bin:/bin", "EMPTY="],
        "{log}"
    );
    // Only stdio, the kept fd and the one `ls` opens itself.
    let fds: Vec<i32> = lines[5]
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    assert_eq!(&fds[..3], [0, 1, 2], "{log}");
    assert!(fds.contains(&keep), "{log}");
    assert!(fds.len() <= 5, "unexpected inherited fds: {log}");
    assert_eq!(Path::new(lines[6]), dir.path().canonicalize().unwrap());
    assert_eq!(lines[7], "kept");
}

#[test]
fn launch_protocol_log_is_appended() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("out.log"), "before\n").unwrap();
    let s = spec(dir.path(), "echo after");
    let mut h = Launcher::new(LAUNCHER).spawn(&s, &[]).unwrap();
    h.wait_prepared().unwrap();
    h.go().unwrap();
    let mut child = h.wait_exec().unwrap().child;
    assert!(wait_exit(&mut child).success());
    assert_eq!(
        fs::read_to_string(dir.path().join("out.log")).unwrap(),
        "before\nafter\n"
    );
}

#[test]
fn launch_protocol_request_errors() {
    let dir = tempfile::tempdir().unwrap();
    let launcher = Launcher::new(LAUNCHER);

    let mut s = spec(dir.path(), "true");
    s.keep_fds = vec![3];
    assert!(matches!(
        launcher.spawn(&s, &[]),
        Err(LaunchError::Invalid(_))
    ));

    let s = spec(dir.path(), "true");
    let err = Launcher::new("/nonexistent/rvirt-launch")
        .spawn(&s, &[])
        .unwrap_err();
    assert!(matches!(err, LaunchError::Spawn { .. }), "{err}");

    // A "launcher" that exits without a word.
    // It may be gone before the spec is even written.
    let err = match Launcher::new("/bin/true").spawn(&s, &[]) {
        Ok(mut h) => h.wait_prepared().unwrap_err(),
        Err(e) => e,
    };
    assert!(matches!(err, LaunchError::LauncherDied { .. }), "{err}");

    // The log cannot be opened: OpenLog, with the path and errno.
    let mut s = spec(dir.path(), "true");
    s.log_path = dir.path().join("missing/dir/out.log");
    let mut h = launcher.spawn(&s, &[]).unwrap();
    let err = h.wait_prepared().unwrap_err();
    let f = err.failure().unwrap_or_else(|| panic!("{err}"));
    assert_eq!(f.step, Step::OpenLog);
    assert_eq!(f.path.as_deref(), Some(s.log_path.as_path()));
    assert_eq!(f.errno, Some(libc::ENOENT));

    // chdir into a missing directory fails after Go, before exec.
    let mut s = spec(dir.path(), "true");
    s.cwd = dir.path().join("no-such-dir");
    let mut h = launcher.spawn(&s, &[]).unwrap();
    h.wait_prepared().unwrap();
    h.go().unwrap();
    let err = h.wait_exec().unwrap_err();
    let f = err.failure().unwrap_or_else(|| panic!("{err}"));
    assert_eq!((f.step, f.errno), (Step::Chdir, Some(libc::ENOENT)), "{f}");

    // Without SELinux (or with a bogus label) writing the exec context fails, named.
    let mut s = spec(dir.path(), "true");
    s.selinux_exec_label = Some("system_u:system_r:rvirt_bogus_t:s0".into());
    let mut h = launcher.spawn(&s, &[]).unwrap();
    h.wait_prepared().unwrap();
    h.go().unwrap();
    match h.wait_exec() {
        Err(err) => {
            let f = err.failure().unwrap_or_else(|| panic!("{err}"));
            assert_eq!(f.step, Step::SelinuxExecLabel, "{f}");
            assert!(f.errno.is_some(), "{f}");
            assert!(f.message.contains("rvirt_bogus_t"), "{f}");
        }
        Ok(mut launched) => {
            let child = &mut launched.child;
            // Only possible on a permissive SELinux host that accepts the label.
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                Path::new("/sys/fs/selinux/enforce").exists(),
                "bogus label accepted"
            );
        }
    }

    // A NUL in an argument is refused at exec.
    let s = spec(dir.path(), "true\0false");
    let mut h = launcher.spawn(&s, &[]).unwrap();
    h.wait_prepared().unwrap();
    h.go().unwrap();
    let err = h.wait_exec().unwrap_err();
    assert_eq!(err.failure().map(|f| f.step), Some(Step::Exec), "{err}");
}

#[test]
fn launch_protocol_dropping_the_handle_reaps_the_launcher() {
    let dir = tempfile::tempdir().unwrap();
    let s = spec(dir.path(), "true");
    let mut h = Launcher::new(LAUNCHER).spawn(&s, &[]).unwrap();
    let pid = h.wait_prepared().unwrap();
    drop(h);
    // Killed and reaped: no /proc entry (not even a zombie).
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn launch_protocol_timeout_kills_a_silent_launcher() {
    let dir = tempfile::tempdir().unwrap();
    let s = spec(dir.path(), "true");
    // `sleep` ignores the channel: nothing ever comes back.
    let script = dir.path().join("silent.sh");
    fs::write(&script, "#!/bin/sh\nexec sleep 30\n").unwrap();
    rustix::fs::chmod(&script, rustix::fs::Mode::from_raw_mode(0o755)).unwrap();
    let launcher = Launcher::new(&script).timeout(Duration::from_millis(200));
    let mut h = launcher.spawn(&s, &[]).unwrap();
    let pid = h.pid();
    let started = Instant::now();
    let err = h.wait_prepared().unwrap_err();
    assert!(matches!(err, LaunchError::Channel(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Killed and reaped.
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn launch_protocol_usage_errors_exit_2() {
    let status = std::process::Command::new(LAUNCHER)
        .args(["nsexec", "--pid", "nope"])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
    // No channel on fd 3.
    let status = std::process::Command::new(LAUNCHER)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}

/// Descriptors are placed at the numbers the plan chose, whatever numbers the
/// daemon happened to get, even when a source number is another's target.
#[test]
fn launch_protocol_mapped_fds_arrive_at_their_numbers() {
    use std::os::fd::AsFd;
    let dir = tempfile::tempdir().unwrap();
    let a_path = dir.path().join("a");
    let b_path = dir.path().join("b");
    std::fs::write(&a_path, "A").unwrap();
    std::fs::write(&b_path, "B").unwrap();
    let a = std::fs::File::open(&a_path).unwrap();
    let b = std::fs::File::open(&b_path).unwrap();
    use std::os::fd::AsRawFd;
    // Swap: a goes to b's number and b to a number above both.
    let a_to = b.as_raw_fd();
    let b_to = a.as_raw_fd().max(b.as_raw_fd()) + 7;
    let out = dir.path().join("out");
    let script = format!(
        "readlink /proc/self/fd/{a_to} /proc/self/fd/{b_to} > {}",
        out.display()
    );
    let spec = confine::spec::LaunchSpec {
        name: "mapped".into(),
        emulator: "/bin/sh".into(),
        args: vec!["-c".into(), script],
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        cwd: "/".into(),
        identity: None,
        namespace: None,
        cgroup_procs: vec![],
        selinux_exec_label: None,
        landlock: None,
        log_path: dir.path().join("log"),
        keep_fds: vec![a_to, b_to],
    };
    let launcher = confine::launcher::Launcher::new(env!("CARGO_BIN_EXE_rvirt-launch"));
    let mut h = launcher
        .spawn_mapped(&spec, &[(a.as_fd(), a_to), (b.as_fd(), b_to)])
        .unwrap();
    h.wait_prepared().unwrap();
    h.go().unwrap();
    let mut launched = h.wait_exec().unwrap();
    assert!(launched.child.wait().unwrap().success());
    let seen = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        seen,
        format!("{}\n{}\n", a_path.display(), b_path.display())
    );
}
