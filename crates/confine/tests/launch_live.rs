//! Live tests of the launcher: real namespaces, real QEMU. They need root, QEMU at
//! /usr/bin/qemu-system-x86_64 and the `rvirt-qemu` account; they FAIL (never skip)
//! when any of that is missing. Names start with `launch_live_` so nextest runs them
//! serially.

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use confine::launcher::{LandlockEnforcement, LandlockReport, LaunchError, Launcher, NsOp, Step};
use confine::spec::{DevNode, Identity, LandlockRules, LaunchSpec, NamespaceSpec, NodeKind};

const QEMU: &str = "/usr/bin/qemu-system-x86_64";
const LAUNCHER: &str = env!("CARGO_BIN_EXE_rvirt-launch");
const DEFAULT_NODES: [&str; 7] = ["null", "full", "zero", "random", "urandom", "ptmx", "kvm"];

/// Panic (not skip) unless the machine can run these tests.
fn require_live() {
    assert!(
        rustix::process::geteuid().is_root(),
        "launch_live_* tests must run as root (they unshare, mount and mknod)"
    );
    assert!(
        Path::new(QEMU).exists(),
        "{QEMU} is missing: install qemu-system-x86 to run launch_live_* tests"
    );
}

fn account(file: &str, name: &str) -> Vec<String> {
    let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("read {file}: {e}"));
    text.lines()
        .map(|l| l.split(':').map(str::to_owned).collect::<Vec<_>>())
        .find(|f| f.first().map(String::as_str) == Some(name))
        .unwrap_or_else(|| panic!("{name} is not in {file}: the live tests need it"))
}

/// rvirt-qemu with supplementary group kvm.
fn qemu_identity() -> Identity {
    let pw = account("/etc/passwd", "rvirt-qemu");
    let kvm = account("/etc/group", "kvm");
    Identity {
        uid: pw[2].parse().unwrap(),
        gid: pw[3].parse().unwrap(),
        groups: vec![kvm[2].parse().unwrap()],
    }
}

/// A DevNode copying the host node's numbers, owner and mode.
fn host_node(name: &str) -> DevNode {
    let path = Path::new("/dev").join(name);
    let m = fs::metadata(&path).unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
    let kind = if m.file_type().is_char_device() {
        NodeKind::Char
    } else if m.file_type().is_block_device() {
        NodeKind::Block
    } else {
        panic!("{} is not a device node", path.display())
    };
    DevNode {
        path,
        kind,
        major: rustix::fs::major(m.rdev()),
        minor: rustix::fs::minor(m.rdev()),
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
    }
}

/// First path components of the mounts under the host /dev (computed independently
/// of the launcher's own parser).
fn host_dev_mount_names() -> BTreeSet<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
        .filter_map(|mp| {
            mp.strip_prefix("/dev/")
                .map(|r| r.split('/').next().unwrap().to_owned())
        })
        .collect()
}

/// Owns the temp dir, any host mounts made and the QEMU child: all cleaned up on
/// drop, also when the test panics.
struct Fixture {
    dir: tempfile::TempDir,
    child: Option<Child>,
    host_mounts: Vec<PathBuf>,
    /// Cgroup directories to remove once the child is gone.
    cgroups: Vec<PathBuf>,
    /// Host files (symlinks) to remove.
    files: Vec<PathBuf>,
    /// Landlock's outcome as reported by the last launch.
    landlock: Option<LandlockReport>,
}

impl Fixture {
    fn new(owner: Option<&Identity>) -> Self {
        require_live();
        let dir = tempfile::Builder::new()
            .prefix("rvirt-launch-live")
            .tempdir()
            .unwrap();
        if let Some(id) = owner {
            rustix::fs::chown(
                dir.path(),
                Some(rustix::fs::Uid::from_raw(id.uid)),
                Some(rustix::fs::Gid::from_raw(id.gid)),
            )
            .unwrap();
        }
        Self {
            dir,
            child: None,
            host_mounts: Vec::new(),
            cgroups: Vec::new(),
            files: Vec::new(),
            landlock: None,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn qmp_path(&self) -> PathBuf {
        self.path().join("qmp.sock")
    }

    fn log(&self) -> String {
        fs::read_to_string(self.path().join("qemu.log")).unwrap_or_default()
    }

    fn spec(&self, identity: Option<Identity>, namespace: bool) -> LaunchSpec {
        let dir = self.path();
        LaunchSpec {
            name: "live".into(),
            emulator: QEMU.into(),
            args: [
                "-machine",
                "none",
                "-S",
                "-display",
                "none",
                "-nodefaults",
                "-qmp",
                &format!("unix:{},server=on,wait=off", self.qmp_path().display()),
                "-sandbox",
                "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
            ]
            .map(str::to_owned)
            .to_vec(),
            // Deliberately not sorted, with an empty value and a space.
            env: vec![
                ("LC_ALL".into(), "C".into()),
                ("PATH".into(), "/usr/sbin:/usr/bin:/sbin:/bin".into()),
                ("HOME".into(), dir.display().to_string()),
                ("RVIRT_EMPTY".into(), String::new()),
                ("A_SPACE".into(), "a b=c".into()),
            ],
            cwd: dir.to_owned(),
            identity,
            namespace: namespace.then(|| NamespaceSpec {
                dev_nodes: DEFAULT_NODES.iter().map(|n| host_node(n)).collect(),
                dirs: Vec::new(),
                scratch_dir: dir.join("state"),
            }),
            cgroup_procs: Vec::new(),
            selinux_exec_label: None,
            landlock: None,
            log_path: dir.join("qemu.log"),
            keep_fds: Vec::new(),
        }
    }

    /// Launch through the whole handshake; QEMU's pid.
    fn launch(&mut self, spec: &LaunchSpec) -> u32 {
        self.launch_with(&Launcher::new(LAUNCHER), spec)
    }

    fn launch_with(&mut self, launcher: &Launcher, spec: &LaunchSpec) -> u32 {
        let mut h = launcher.spawn(spec, &[]).expect("spawn");
        h.set_timeout(Some(Duration::from_secs(20))).unwrap();
        let pid = h.wait_prepared().expect("wait_prepared");
        assert_eq!(pid, h.pid());
        h.go().expect("go");
        let launched = h
            .wait_exec()
            .unwrap_or_else(|e| panic!("wait_exec: {e}; log: {}", self.log()));
        assert_eq!(launched.child.id(), pid);
        assert_eq!(launched.landlock.is_some(), spec.landlock.is_some());
        self.landlock = launched.landlock;
        self.child = Some(launched.child);
        self.wait_for_qmp();
        pid
    }

    fn wait_for_qmp(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.qmp_path().exists() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "QEMU exited ({status}) before creating its QMP socket; log: {}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no QMP socket after 20 s; log: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Send `quit` over QMP and wait for QEMU to exit.
    fn quit(&mut self) {
        let replies = qmp(&self.qmp_path(), &[r#"{"execute":"quit"}"#]);
        assert!(replies[0].get("return").is_some(), "quit: {replies:?}");
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "QEMU exit status {status}; log: {}",
                    self.log()
                );
                return;
            }
            if Instant::now() > deadline {
                self.child = Some(child);
                panic!("QEMU did not exit after quit");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for m in self.host_mounts.drain(..).rev() {
            let _ = rustix::mount::unmount(&m, rustix::mount::UnmountFlags::DETACH);
        }
        for f in self.files.drain(..) {
            let _ = fs::remove_file(f);
        }
        for cg in self.cgroups.drain(..) {
            // A killed process leaves its cgroup a moment after being reaped.
            for _ in 0..100 {
                if fs::remove_dir(&cg).is_ok() || !cg.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Connect to QMP, negotiate, run each command; the replies (events skipped).
fn qmp(sock: &Path, commands: &[&str]) -> Vec<serde_json::Value> {
    let stream =
        UnixStream::connect(sock).unwrap_or_else(|e| panic!("connect {}: {e}", sock.display()));
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut next = || -> serde_json::Value {
        loop {
            let mut line = String::new();
            assert!(reader.read_line(&mut line).unwrap() > 0, "QMP closed");
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            if v.get("event").is_none() {
                return v;
            }
        }
    };
    let greeting = next();
    assert!(greeting.get("QMP").is_some(), "greeting: {greeting}");
    writer
        .write_all(br#"{"execute":"qmp_capabilities"}"#)
        .unwrap();
    assert!(next().get("return").is_some());
    commands
        .iter()
        .map(|c| {
            writer.write_all(c.as_bytes()).unwrap();
            next()
        })
        .collect()
}

fn status_field(pid: u32, name: &str) -> String {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn mnt_ns(pid: &str) -> PathBuf {
    fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap()
}

fn environ(pid: u32) -> Vec<(String, String)> {
    let raw = fs::read(format!("/proc/{pid}/environ")).unwrap();
    raw.split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let s = String::from_utf8(s.to_vec()).unwrap();
            let (k, v) = s.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn launch_live_qemu_in_private_dev_as_rvirt_qemu() {
    let id = qemu_identity();
    let mut fx = Fixture::new(Some(&id));
    let spec = fx.spec(Some(id.clone()), true);
    let pid = fx.launch(&spec);

    // Identity, NNP, seccomp (from QEMU's -sandbox).
    assert_eq!(status_field(pid, "Uid"), format!("{0} {0} {0} {0}", id.uid));
    assert_eq!(status_field(pid, "Gid"), format!("{0} {0} {0} {0}", id.gid));
    assert_eq!(status_field(pid, "Groups"), id.groups[0].to_string());
    assert_eq!(status_field(pid, "NoNewPrivs"), "1");
    assert_eq!(status_field(pid, "Seccomp"), "2");

    // A private mount namespace with exactly the nodes plus the host's /dev mounts.
    assert_ne!(mnt_ns(&pid.to_string()), mnt_ns("self"));
    let dev = PathBuf::from(format!("/proc/{pid}/root/dev"));
    let listed: BTreeSet<String> = fs::read_dir(&dev)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let mut expected: BTreeSet<String> = DEFAULT_NODES.iter().map(|s| s.to_string()).collect();
    expected.extend(host_dev_mount_names());
    assert_eq!(listed, expected);
    for name in DEFAULT_NODES {
        let want = host_node(name);
        let got = fs::symlink_metadata(dev.join(name)).unwrap();
        assert!(got.file_type().is_char_device(), "{name}");
        assert_eq!(
            got.rdev(),
            rustix::fs::makedev(want.major, want.minor),
            "{name}"
        );
        assert_eq!(got.mode() & 0o7777, want.mode, "{name}");
        assert_eq!((got.uid(), got.gid()), (want.uid, want.gid), "{name}");
    }
    // The preserved mounts are the host's (same filesystem device).
    for name in host_dev_mount_names() {
        let host = fs::metadata(Path::new("/dev").join(&name)).unwrap();
        let inner = fs::metadata(dev.join(&name)).unwrap();
        assert_eq!(host.dev(), inner.dev(), "/dev/{name} is not the host mount");
    }
    let mountinfo = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let dev_line = mountinfo
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some("/dev"))
        .unwrap_or_else(|| panic!("no /dev in QEMU mountinfo:\n{mountinfo}"));
    assert!(dev_line.contains(" - tmpfs devfs "), "{dev_line}");
    assert!(dev_line.contains("nosuid"), "{dev_line}");
    assert!(dev_line.contains("size=64k"), "{dev_line}");
    assert!(dev_line.contains("mode=755"), "{dev_line}");
    // The scratch mount point is gone from the host.
    let state: Vec<_> = fs::read_dir(fx.path().join("state")).unwrap().collect();
    assert!(state.is_empty(), "scratch left behind: {state:?}");

    // Environment exactly as given, in order.
    assert_eq!(environ(pid), spec.env);
    // stdout/stderr go to the log.
    assert_eq!(
        fs::read_link(format!("/proc/{pid}/fd/1")).unwrap(),
        spec.log_path
    );
    assert_eq!(
        fs::read_link(format!("/proc/{pid}/fd/2")).unwrap(),
        spec.log_path
    );

    let replies = qmp(&fx.qmp_path(), &[r#"{"execute":"query-status"}"#]);
    assert_eq!(replies[0]["return"]["status"], "prelaunch", "{replies:?}");
    fx.quit();
}

#[test]
fn launch_live_keep_fds_are_inherited_at_their_numbers() {
    let id = qemu_identity();
    let mut fx = Fixture::new(Some(&id));
    let (r, w) = rustix::pipe::pipe().unwrap();
    let mut spec = fx.spec(Some(id), true);
    let fd = std::os::fd::AsRawFd::as_raw_fd(&w);
    spec.keep_fds = vec![fd];
    // Mismatched fd lists are refused before anything starts.
    let err = Launcher::new(LAUNCHER).spawn(&spec, &[]).unwrap_err();
    assert!(matches!(err, LaunchError::Invalid(_)), "{err}");

    let mut h = Launcher::new(LAUNCHER).spawn(&spec, &[w.as_fd()]).unwrap();
    h.set_timeout(Some(Duration::from_secs(20))).unwrap();
    let pid = h.wait_prepared().unwrap();
    h.go().unwrap();
    fx.child = Some(h.wait_exec().unwrap().child);
    fx.wait_for_qmp();
    let ours = fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
    let theirs = fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
    assert_eq!(ours, theirs);
    drop(r);
    fx.quit();
}

#[test]
fn launch_live_failures_name_the_step() {
    let id = qemu_identity();
    let fx = Fixture::new(Some(&id));
    let launcher = Launcher::new(LAUNCHER);

    // A node path outside /dev is refused before anything is created.
    let mut spec = fx.spec(Some(id.clone()), true);
    let mut bogus = host_node("null");
    bogus.path = "/dev/../etc/bogus".into();
    spec.namespace.as_mut().unwrap().dev_nodes.push(bogus);
    let mut h = launcher.spawn(&spec, &[]).unwrap();
    let err = h.wait_prepared().unwrap_err();
    let f = err
        .failure()
        .unwrap_or_else(|| panic!("not a Failed: {err}"));
    assert_eq!(f.step, Step::ValidateDevNode, "{f}");
    assert_eq!(f.path.as_deref(), Some(Path::new("/dev/../etc/bogus")));
    assert_eq!(f.errno, Some(libc::EINVAL));

    // A node whose name the kernel refuses fails at mknod, naming the /dev path.
    let mut spec = fx.spec(Some(id.clone()), true);
    let mut long = host_node("null");
    long.path = Path::new("/dev").join("x".repeat(300));
    spec.namespace
        .as_mut()
        .unwrap()
        .dev_nodes
        .push(long.clone());
    let mut h = launcher.spawn(&spec, &[]).unwrap();
    let err = h.wait_prepared().unwrap_err();
    let f = err
        .failure()
        .unwrap_or_else(|| panic!("not a Failed: {err}"));
    assert_eq!(f.step, Step::MknodDevNode, "{f}");
    assert_eq!(f.path.as_deref(), Some(long.path.as_path()));
    assert_eq!(f.errno, Some(libc::ENAMETOOLONG));
    // The scratch mount point was cleaned up after the failure.
    let state: Vec<_> = fs::read_dir(fx.path().join("state")).unwrap().collect();
    assert!(state.is_empty(), "scratch left behind: {state:?}");

    // A missing emulator fails at exec with ENOENT.
    let mut spec = fx.spec(Some(id.clone()), true);
    spec.emulator = fx.path().join("no-such-qemu");
    let mut h = launcher.spawn(&spec, &[]).unwrap();
    h.set_timeout(Some(Duration::from_secs(20))).unwrap();
    h.wait_prepared().unwrap();
    h.go().unwrap();
    let err = h.wait_exec().unwrap_err();
    let f = err
        .failure()
        .unwrap_or_else(|| panic!("not a Failed: {err}"));
    assert_eq!(f.step, Step::Exec, "{f}");
    assert_eq!(f.errno, Some(libc::ENOENT), "{f}");
    assert_eq!(f.path.as_deref(), Some(spec.emulator.as_path()));

    // A missing cgroup.procs file fails at JoinCgroup.
    let mut spec = fx.spec(Some(id.clone()), false);
    spec.cgroup_procs = vec![fx.path().join("no-cgroup/cgroup.procs")];
    let mut h = launcher.spawn(&spec, &[]).unwrap();
    let err = h.wait_prepared().unwrap_err();
    let f = err
        .failure()
        .unwrap_or_else(|| panic!("not a Failed: {err}"));
    assert_eq!(f.step, Step::JoinCgroup, "{f}");
    assert_eq!(f.errno, Some(libc::ENOENT));

    // A Landlock rule on a missing path fails at the Landlock step, naming it.
    let mut spec = fx.spec(Some(id.clone()), true);
    let missing = fx.path().join("no-such-dir");
    spec.landlock = Some(LandlockRules {
        read: vec!["/usr".into(), missing.clone()],
        read_write: Vec::new(),
    });
    let mut h = launcher.spawn(&spec, &[]).unwrap();
    h.set_timeout(Some(Duration::from_secs(20))).unwrap();
    h.wait_prepared().unwrap();
    h.go().unwrap();
    let err = h.wait_exec().unwrap_err();
    let f = err
        .failure()
        .unwrap_or_else(|| panic!("not a Failed: {err}"));
    assert_eq!(f.step, Step::Landlock, "{f}");
    assert_eq!(f.path.as_deref(), Some(missing.as_path()), "{f}");
    assert_eq!(f.errno, Some(libc::ENOENT), "{f}");

    // Abort after Prepared: the launcher exits cleanly without exec.
    let spec = fx.spec(Some(id), true);
    let mut h = launcher.spawn(&spec, &[]).unwrap();
    h.wait_prepared().unwrap();
    let status = h.abort().unwrap().expect("exit status");
    assert!(status.success(), "{status}");
}

#[test]
fn launch_live_root_identity_stays_root() {
    let mut fx = Fixture::new(None);
    let spec = fx.spec(None, true);
    let pid = fx.launch(&spec);
    assert_eq!(status_field(pid, "Uid"), "0 0 0 0");
    assert_eq!(status_field(pid, "Gid"), "0 0 0 0");
    assert_eq!(status_field(pid, "NoNewPrivs"), "1");
    assert_eq!(status_field(pid, "Seccomp"), "2");
    fx.quit();
}

#[test]
fn launch_live_without_namespace_shares_the_host_mount_ns() {
    let id = qemu_identity();
    let mut fx = Fixture::new(Some(&id));
    let spec = fx.spec(Some(id), false);
    let pid = fx.launch(&spec);
    assert_eq!(mnt_ns(&pid.to_string()), mnt_ns("self"));
    assert_eq!(environ(pid), spec.env);
    // nsexec refuses to work on the host's own /dev.
    let node = host_node("null");
    let mut probe = node.clone();
    probe.path = format!("/dev/rvirt-launch-live-{}", std::process::id()).into();
    let err = Launcher::new(LAUNCHER)
        .nsexec(pid, &[NsOp::Mknod(probe.clone())])
        .unwrap_err();
    let f = err
        .failure()
        .unwrap_or_else(|| panic!("not a Failed: {err}"));
    assert_eq!(
        (f.step, f.errno),
        (Step::EnterMountNs, Some(libc::EINVAL)),
        "{f}"
    );
    assert!(!probe.path.exists(), "a node was made on the host");
    fx.quit();
}

#[test]
fn launch_live_nsexec_mknod_and_bind_into_running_qemu() {
    let id = qemu_identity();
    let mut fx = Fixture::new(Some(&id));
    let spec = fx.spec(Some(id.clone()), true);
    let pid = fx.launch(&spec);
    let launcher = Launcher::new(LAUNCHER);
    let root = PathBuf::from(format!("/proc/{pid}/root"));

    // A host tmpfs with a marker, to be bound into QEMU's /dev.
    let src = fx.path().join("hp-src");
    fs::create_dir(&src).unwrap();
    rustix::mount::mount(
        "rvirt-test",
        &src,
        "tmpfs",
        rustix::mount::MountFlags::empty(),
        c"size=64k",
    )
    .unwrap();
    fx.host_mounts.push(src.clone());
    fs::write(src.join("marker"), b"hello").unwrap();
    // And a hugetlbfs, the real use: hugepages mounted after QEMU started.
    let huge = fx.path().join("hugetlbfs-src");
    fs::create_dir(&huge).unwrap();
    rustix::mount::mount(
        "rvirt-hugetlbfs",
        &huge,
        "hugetlbfs",
        rustix::mount::MountFlags::empty(),
        None,
    )
    .unwrap_or_else(|e| panic!("mount hugetlbfs (needed by this test): {e}"));
    fx.host_mounts.push(huge.clone());

    let node = DevNode {
        path: "/dev/rvirt-test-null".into(),
        kind: NodeKind::Char,
        major: 1,
        minor: 3,
        mode: 0o640,
        uid: id.uid,
        gid: id.gid,
    };
    let mut nested = node.clone();
    nested.path = "/dev/rvirt-sub/dir/null".into();
    let ops = vec![
        NsOp::Mknod(node.clone()),
        NsOp::Mknod(nested.clone()),
        // Same node again: kept, not an error.
        NsOp::Mknod(node.clone()),
        NsOp::Mkdir {
            path: "/dev/rvirt-dir".into(),
            mode: 0o750,
            uid: id.uid,
            gid: 0,
        },
        NsOp::BindFromHost {
            source: src.clone(),
            target: "/dev/rvirt-hugepages".into(),
        },
        NsOp::BindFromHost {
            source: huge.clone(),
            target: "/dev/hugepages-rvirt/2M".into(),
        },
    ];
    launcher
        .nsexec(pid, &ops)
        .unwrap_or_else(|e| panic!("nsexec: {e}"));

    let m = fs::symlink_metadata(root.join("dev/rvirt-test-null")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(m.mode() & 0o7777, 0o640);
    assert_eq!((m.uid(), m.gid()), (id.uid, id.gid));
    assert!(
        fs::symlink_metadata(root.join("dev/rvirt-sub/dir/null"))
            .unwrap()
            .file_type()
            .is_char_device()
    );
    let d = fs::symlink_metadata(root.join("dev/rvirt-dir")).unwrap();
    assert!(d.is_dir());
    assert_eq!((d.mode() & 0o7777, d.uid(), d.gid()), (0o750, id.uid, 0));
    assert_eq!(
        fs::read(root.join("dev/rvirt-hugepages/marker")).unwrap(),
        b"hello"
    );
    let mountinfo = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    assert!(
        mountinfo
            .lines()
            .any(|l| l.split(' ').nth(4) == Some("/dev/rvirt-hugepages")),
        "{mountinfo}"
    );
    assert!(
        mountinfo
            .lines()
            .any(|l| l.split(' ').nth(4) == Some("/dev/hugepages-rvirt/2M")
                && l.contains(" - hugetlbfs rvirt-hugetlbfs ")),
        "{mountinfo}"
    );
    // None of it leaked to the host.
    assert!(!Path::new("/dev/rvirt-test-null").exists());
    assert!(!Path::new("/dev/rvirt-hugepages").exists());

    // Teardown: unmount the binds, remove nodes and placeholders; gone is fine.
    let teardown = vec![
        NsOp::Unmount {
            path: "/dev/rvirt-hugepages".into(),
        },
        NsOp::Unmount {
            path: "/dev/hugepages-rvirt/2M".into(),
        },
        NsOp::Remove {
            path: "/dev/hugepages-rvirt/2M".into(),
        },
        NsOp::Remove {
            path: "/dev/rvirt-sub/dir/null".into(),
        },
        NsOp::Remove {
            path: "/dev/rvirt-never-made".into(),
        },
        NsOp::Remove {
            path: "/dev/no-such-dir/x".into(),
        },
    ];
    launcher
        .nsexec(pid, &teardown)
        .unwrap_or_else(|e| panic!("nsexec teardown: {e}"));
    let mountinfo = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    assert!(!mountinfo.contains("rvirt-hugetlbfs"), "{mountinfo}");
    assert!(!mountinfo.contains(" /dev/rvirt-hugepages "), "{mountinfo}");
    assert!(!root.join("dev/hugepages-rvirt/2M").exists());
    assert!(!root.join("dev/rvirt-sub/dir/null").exists());
    assert!(
        root.join("dev/rvirt-hugepages").is_dir(),
        "placeholder kept"
    );
    // Unmounting something that is no mount point is an error.
    let err = launcher
        .nsexec(
            pid,
            &[NsOp::Unmount {
                path: "/dev/rvirt-hugepages".into(),
            }],
        )
        .unwrap_err();
    let f = err
        .failure()
        .unwrap_or_else(|| panic!("not a Failed: {err}"));
    assert_eq!(
        (f.step, f.errno),
        (Step::UnmountPath, Some(libc::EINVAL)),
        "{f}"
    );

    // A different node on an existing path is refused, naming the step and path.
    let mut clash = node.clone();
    clash.minor = 5;
    let err = launcher.nsexec(pid, &[NsOp::Mknod(clash)]).unwrap_err();
    let f = err
        .failure()
        .unwrap_or_else(|| panic!("not a Failed: {err}"));
    assert_eq!(f.step, Step::MknodDevNode, "{f}");
    assert_eq!(f.path.as_deref(), Some(node.path.as_path()));
    // Targets outside /dev are refused.
    let mut outside = node.clone();
    outside.path = "/etc/rvirt-test".into();
    let err = launcher.nsexec(pid, &[NsOp::Mknod(outside)]).unwrap_err();
    assert_eq!(
        err.failure().map(|f| f.step),
        Some(Step::ValidateDevNode),
        "{err}"
    );
    // Symlinks planted where QEMU can write (/dev/shm is the host's, 1777) are
    // never followed: not as a parent directory, not as the node itself.
    let victim_dir = fx.path().join("victim");
    fs::create_dir(&victim_dir).unwrap();
    let victim_file = fx.path().join("victim-file");
    fs::write(&victim_file, b"x").unwrap();
    rustix::fs::chmod(&victim_file, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
    let tag = std::process::id();
    let dir_link = PathBuf::from(format!("/dev/shm/rvirt-launch-live-dir-{tag}"));
    let file_link = PathBuf::from(format!("/dev/shm/rvirt-launch-live-file-{tag}"));
    fx.files.push(dir_link.clone());
    fx.files.push(file_link.clone());
    std::os::unix::fs::symlink(&victim_dir, &dir_link).unwrap();
    std::os::unix::fs::symlink(&victim_file, &file_link).unwrap();
    let mut through_dir = node.clone();
    through_dir.path = dir_link.join("null");
    let err = launcher
        .nsexec(pid, &[NsOp::Mknod(through_dir)])
        .unwrap_err();
    let f = err
        .failure()
        .unwrap_or_else(|| panic!("not a Failed: {err}"));
    assert_eq!(f.step, Step::MkdirDevDir, "{f}");
    assert_eq!(f.path.as_deref(), Some(dir_link.as_path()), "{f}");
    assert_eq!(fs::read_dir(&victim_dir).unwrap().count(), 0);
    let mut onto_file = node.clone();
    onto_file.path = file_link.clone();
    onto_file.mode = 0o666;
    let err = launcher.nsexec(pid, &[NsOp::Mknod(onto_file)]).unwrap_err();
    let f = err
        .failure()
        .unwrap_or_else(|| panic!("not a Failed: {err}"));
    assert_eq!(
        (f.step, f.errno),
        (Step::MknodDevNode, Some(libc::EEXIST)),
        "{f}"
    );
    let m = fs::metadata(&victim_file).unwrap();
    assert_eq!(
        (m.mode() & 0o7777, m.uid()),
        (0o600, 0),
        "the symlink target was changed"
    );

    // A process that does not exist: EnterMountNs with ENOENT.
    let err = launcher
        .nsexec(u32::MAX - 1, &[NsOp::Mknod(node)])
        .unwrap_err();
    let f = err
        .failure()
        .unwrap_or_else(|| panic!("not a Failed: {err}"));
    assert_eq!(
        (f.step, f.errno),
        (Step::EnterMountNs, Some(libc::ENOENT)),
        "{f}"
    );

    fx.quit();
}

#[test]
fn launch_live_under_shared_propagation_root_becomes_slave() {
    // `mount --make-rshared /` on the real host would change every other test's
    // world, so the launcher runs inside `unshare -m --propagation shared` (same pid,
    // fds kept): its `/` is shared there, as on a systemd host. That namespace is
    // kept alive through a bind of its ns file, so it can act as "the host".
    let id = qemu_identity();
    let mut fx = Fixture::new(Some(&id));
    for tool in ["/usr/bin/unshare", "/usr/bin/nsenter", "/usr/bin/mount"] {
        assert!(Path::new(tool).exists(), "{tool} (util-linux) is needed");
    }
    let ns_file = fx.path().join("outer-mnt-ns");
    fs::write(&ns_file, b"").unwrap();
    let wrapper = fx.path().join("shared-launch.sh");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec /usr/bin/unshare --mount={} --propagation shared {LAUNCHER} \"$@\"\n",
            ns_file.display()
        ),
    )
    .unwrap();
    rustix::fs::chmod(&wrapper, rustix::fs::Mode::from_raw_mode(0o755)).unwrap();
    let spec = fx.spec(Some(id), true);
    // Registered first so a failing launch still unmounts it.
    fx.host_mounts.push(ns_file.clone());
    let pid = fx.launch_with(&Launcher::new(&wrapper), &spec);

    let mountinfo = || fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let line = |mp: &str| {
        let text = mountinfo();
        text.lines()
            .rfind(|l| l.split(' ').nth(4) == Some(mp))
            .unwrap_or_else(|| panic!("no {mp} in:\n{text}"))
            .to_owned()
    };
    let root = line("/");
    assert!(root.contains(" master:"), "/ is not a slave: {root}");
    assert!(!root.contains(" shared:"), "/ is still shared: {root}");
    let dev = line("/dev");
    assert!(dev.contains(" - tmpfs devfs "), "{dev}");
    assert!(!dev.contains("shared:"), "{dev}");

    // A mount made in the outer namespace afterwards propagates into QEMU's.
    let late = fx.path().join("late-mount");
    fs::create_dir(&late).unwrap();
    let status = std::process::Command::new("/usr/bin/nsenter")
        .arg(format!("--mount={}", ns_file.display()))
        .args(["/usr/bin/mount", "-t", "tmpfs", "rvirt-late"])
        .arg(&late)
        .status()
        .unwrap();
    assert!(status.success(), "nsenter mount: {status}");
    let late_line = line(late.to_str().unwrap());
    assert!(late_line.contains("rvirt-late"), "{late_line}");
    let listed: BTreeSet<String> = fs::read_dir(format!("/proc/{pid}/root/dev"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let mut expected: BTreeSet<String> = DEFAULT_NODES.iter().map(|s| s.to_string()).collect();
    expected.extend(host_dev_mount_names());
    assert_eq!(listed, expected);
    fx.quit();
}

#[test]
fn launch_live_joins_cgroups_before_prepared() {
    let id = qemu_identity();
    let mut fx = Fixture::new(Some(&id));
    let name = format!("rvirt-launch-live-{}", std::process::id());
    // cgroup v2 (pure or the hybrid `unified` mount) and, if present, v1 `pids`.
    let mut roots = Vec::new();
    for (root, marker) in [
        ("/sys/fs/cgroup/unified", "cgroup.procs"),
        ("/sys/fs/cgroup", "cgroup.controllers"),
        ("/sys/fs/cgroup/pids", "pids.max"),
    ] {
        if Path::new(root).join(marker).exists()
            || (marker == "pids.max" && Path::new(root).join("tasks").exists())
        {
            roots.push(PathBuf::from(root));
        }
    }
    assert!(
        !roots.is_empty(),
        "no cgroup hierarchy found under /sys/fs/cgroup"
    );
    let mut spec = fx.spec(Some(id), true);
    for root in &roots {
        let dir = root.join(&name);
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        fx.cgroups.push(dir.clone());
        spec.cgroup_procs.push(dir.join("cgroup.procs"));
    }

    let mut h = Launcher::new(LAUNCHER).spawn(&spec, &[]).unwrap();
    h.set_timeout(Some(Duration::from_secs(20))).unwrap();
    let pid = h.wait_prepared().unwrap();
    // Already placed while the launcher waits for Go.
    for procs in &spec.cgroup_procs {
        let members = fs::read_to_string(procs).unwrap();
        assert!(
            members.lines().any(|l| l == pid.to_string()),
            "{pid} not in {}: {members:?}",
            procs.display()
        );
    }
    h.go().unwrap();
    fx.child = Some(h.wait_exec().unwrap().child);
    fx.wait_for_qmp();
    let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let placed = cgroup
        .lines()
        .filter(|l| l.ends_with(&format!(":/{name}")))
        .count();
    assert_eq!(placed, roots.len(), "{cgroup}");
    fx.quit();
}

#[test]
fn launch_live_landlock_confines_qemu() {
    let id = qemu_identity();
    let mut fx = Fixture::new(Some(&id));
    let allowed = fx.path().join("allowed.img");
    fs::write(&allowed, vec![0u8; 4096]).unwrap();
    // DAC allows both files; only Landlock tells them apart.
    let outside = tempfile::Builder::new()
        .prefix("rvirt-launch-outside")
        .tempdir()
        .unwrap();
    rustix::fs::chmod(outside.path(), rustix::fs::Mode::from_raw_mode(0o755)).unwrap();
    let denied = outside.path().join("denied.img");
    fs::write(&denied, vec![0u8; 4096]).unwrap();
    rustix::fs::chmod(&denied, rustix::fs::Mode::from_raw_mode(0o644)).unwrap();

    let mut spec = fx.spec(Some(id), true);
    spec.landlock = Some(LandlockRules {
        read: ["/usr", "/etc", "/proc", "/sys"]
            .into_iter()
            .map(PathBuf::from)
            .filter(|p| p.exists())
            .collect(),
        read_write: vec![fx.path().to_owned(), "/dev".into()],
    });
    let pid = fx.launch(&spec);
    assert_eq!(status_field(pid, "NoNewPrivs"), "1");
    let report = fx.landlock.expect("a Landlock report");
    // Partial when the kernel's ABI is older than the newest the crate knows.
    assert_ne!(report.enforcement, LandlockEnforcement::None, "{report:?}");
    assert!(report.abi >= 1, "{report:?}");
    let add = |node: &str, file: &Path| {
        format!(
            r#"{{"execute":"blockdev-add","arguments":{{"driver":"file","node-name":"{node}","filename":"{}","read-only":true}}}}"#,
            file.display()
        )
    };
    let replies = qmp(&fx.qmp_path(), &[&add("ok", &allowed), &add("no", &denied)]);
    assert!(
        replies[0].get("return").is_some(),
        "allowed file refused: {replies:?}"
    );
    let desc = replies[1]["error"]["desc"].as_str().unwrap_or_default();
    assert!(
        desc.contains("Permission denied"),
        "denied file opened: {replies:?}"
    );
    fx.quit();
}

#[test]
fn launch_live_preserves_stacked_nested_and_file_submounts() {
    // The odd /dev layouts are built in a private namespace of a wrapper (same pid,
    // fds kept), so the real host /dev is never touched: a tmpfs stacked on /dev/shm
    // with a nested mount inside, a tmpfs on /dev/net, a file bound over /dev/console.
    let id = qemu_identity();
    let mut fx = Fixture::new(Some(&id));
    let dir = fx.path().to_owned();
    let console_src = dir.join("console-src");
    fs::write(&console_src, "console\n").unwrap();
    let setup = dir.join("setup.sh");
    fs::write(
        &setup,
        format!(
            "#!/bin/sh\nset -e\n\
             /usr/bin/mount -t tmpfs -o size=64k rvirt-shm /dev/shm\n\
             /usr/bin/mkdir /dev/shm/inner\n\
             /usr/bin/mount -t tmpfs -o size=64k rvirt-inner /dev/shm/inner\n\
             echo inner > /dev/shm/inner/marker\n\
             /usr/bin/mount -t tmpfs -o size=64k rvirt-net /dev/net\n\
             echo net > /dev/net/marker\n\
             /usr/bin/mount --bind {} /dev/console\n\
             exec {LAUNCHER} \"$@\"\n",
            console_src.display()
        ),
    )
    .unwrap();
    let wrapper = dir.join("wrapper.sh");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec /usr/bin/unshare --mount --propagation private /bin/sh {} \"$@\"\n",
            setup.display()
        ),
    )
    .unwrap();
    rustix::fs::chmod(&wrapper, rustix::fs::Mode::from_raw_mode(0o755)).unwrap();
    assert!(
        Path::new("/dev/net").is_dir() && Path::new("/dev/console").exists(),
        "this test needs /dev/net and /dev/console on the host"
    );
    let spec = fx.spec(Some(id), true);
    let pid = fx.launch_with(&Launcher::new(&wrapper), &spec);

    let dev = PathBuf::from(format!("/proc/{pid}/root/dev"));
    let listed: BTreeSet<String> = fs::read_dir(&dev)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let mut expected: BTreeSet<String> = DEFAULT_NODES.iter().map(|s| s.to_string()).collect();
    expected.extend(host_dev_mount_names());
    expected.extend(["net".to_owned(), "console".to_owned()]);
    assert_eq!(listed, expected);
    // The visible (stacked) /dev/shm came along with its nested mount.
    assert_eq!(
        fs::read_to_string(dev.join("shm/inner/marker")).unwrap(),
        "inner\n"
    );
    assert_eq!(fs::read_to_string(dev.join("net/marker")).unwrap(), "net\n");
    let console = fs::symlink_metadata(dev.join("console")).unwrap();
    assert!(console.is_file(), "the file mount point became {console:?}");
    assert_eq!(
        fs::read_to_string(dev.join("console")).unwrap(),
        "console\n"
    );
    let mountinfo = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    for (mp, source) in [
        ("/dev/shm", "rvirt-shm"),
        ("/dev/shm/inner", "rvirt-inner"),
        ("/dev/net", "rvirt-net"),
    ] {
        assert!(
            mountinfo.lines().any(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                f.get(4) == Some(&mp) && l.contains(&format!(" - tmpfs {source} "))
            }),
            "{mp} ({source}) missing:\n{mountinfo}"
        );
    }
    fx.quit();
}
