//! A real `rvirtd --root <tempdir>` for the daemon tests, driven by the stock
//! `virsh` and python3-libvirt. The guard stops every QEMU it started (through the
//! daemon, then by pid as a last resort), the daemon, and removes leftover cgroups,
//! so a failing assertion leaves nothing behind.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test needs root (the daemon launches QEMU confined)"
    );
}

pub fn require_qemu() {
    assert!(
        Path::new("/usr/bin/qemu-system-x86_64").exists(),
        "qemu-system-x86_64 is missing: install qemu-system-x86 (tools/setup-host.sh does)"
    );
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    assert!(
        passwd.lines().any(|l| l.starts_with("rvirt-qemu:")),
        "the QEMU account rvirt-qemu is missing: run tools/setup-host.sh"
    );
}

pub fn require_clients() {
    assert!(
        Path::new("/usr/bin/virsh").exists(),
        "virsh is missing: install libvirt-clients (Debian)"
    );
}

/// A unique domain name for this test process.
pub fn name(base: &str) -> String {
    format!("{base}-{}", std::process::id())
}

/// A `type='kvm'` domain: SeaBIOS, no disk; starts in tens of milliseconds.
pub fn kvm_xml(name: &str) -> String {
    format!(
        "<domain type='kvm'><name>{name}</name><memory unit='MiB'>128</memory>\
         <os><type arch='x86_64' machine='pc'>hvm</type></os></domain>"
    )
}

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    log: PathBuf,
    /// Domain names this test uses (their cgroups are removed on drop).
    pub names: Vec<String>,
}

impl Daemon {
    /// A daemon on a fresh root (the daemon makes its tree traversable for QEMU's
    /// account; `daemon_root.rs` tests that from 0700).
    pub fn start() -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("rvirtd-test-")
            .tempdir()
            .unwrap();
        Daemon::start_in(dir)
    }

    /// A daemon whose root is `dir`.
    pub fn start_in(dir: tempfile::TempDir) -> Daemon {
        let log = dir.path().join("rvirtd.log");
        let mut d = Daemon {
            dir,
            child: None,
            log,
            names: Vec::new(),
        };
        d.spawn();
        d
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn socket(&self) -> PathBuf {
        self.root().join("run/rvirt/rvirt-sock")
    }

    pub fn uri(&self) -> String {
        format!("qemu+unix:///system?socket={}", self.socket().display())
    }

    pub fn ro_uri(&self) -> String {
        format!(
            "qemu+unix:///system?socket={}",
            self.root().join("run/rvirt/rvirt-sock-ro").display()
        )
    }

    /// The daemon binary: `RVIRTD_BIN` (e.g. a release build for the bench), else
    /// the one cargo built for this test.
    pub fn bin() -> PathBuf {
        std::env::var_os("RVIRTD_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_rvirtd")))
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(Self::bin());
        c.arg("--root").arg(self.root());
        c
    }

    /// Starts the daemon and waits for its socket to answer.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let _ = std::fs::remove_file(self.socket());
        let child = self
            .command()
            .env(
                "RVIRTD_LOG",
                std::env::var("RVIRTD_TEST_LOG").unwrap_or_else(|_| "debug".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start rvirtd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::os::unix::net::UnixStream::connect(self.socket()).is_err() {
            if let Some(s) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("rvirtd exited ({s}):\n{}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "rvirtd did not listen within 30 s:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGTERM and wait: running QEMUs must stay.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(c.id() as i32).unwrap(),
                rustix::process::Signal::TERM,
            );
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if c.try_wait().unwrap().is_some() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    panic!("rvirtd did not exit on SIGTERM:\n{}", self.log_text());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn client(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env_remove("LIBVIRT_DEFAULT_URI")
            .env("HOME", self.root())
            .env("XDG_CACHE_HOME", self.root().join("xdg-cache"))
            .env("XDG_CONFIG_HOME", self.root().join("xdg-config"))
            .env("XDG_RUNTIME_DIR", self.root().join("xdg-run"));
        c
    }

    pub fn virsh_uri(&self, uri: &str, args: &[&str]) -> Output {
        let mut c = self.client("virsh");
        c.arg("-c").arg(uri).args(args);
        run(c)
    }

    pub fn virsh(&self, args: &[&str]) -> Output {
        self.virsh_uri(&self.uri(), args)
    }

    /// `virsh` that must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.virsh(args);
        assert!(
            out.status.success(),
            "virsh {args:?} failed ({}):\nstdout: {}\nstderr: {}\ndaemon log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `virsh` that must fail; its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.virsh(args);
        assert!(
            !out.status.success(),
            "virsh {args:?} should have failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    pub fn log_tail(&self) -> String {
        let t = self.log_text();
        let lines: Vec<&str> = t.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    pub fn write(&self, file: &str, text: &str) -> PathBuf {
        let p = self.root().join(file);
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn define(&mut self, name: &str, xml: &str) {
        self.names.push(name.to_owned());
        let f = self.write(&format!("{name}.def.xml"), xml);
        self.ok(&["define", f.to_str().unwrap()]);
    }

    /// The pid of the QEMU of `name` (from the status file).
    pub fn qemu_pid(&self, name: &str) -> u32 {
        let text = std::fs::read_to_string(self.status_file(name)).unwrap();
        let i = text.find(" pid='").unwrap() + 6;
        text[i..i + text[i..].find('\'').unwrap()].parse().unwrap()
    }

    pub fn status_file(&self, name: &str) -> PathBuf {
        self.root().join(format!("run/rvirt/qemu/{name}.xml"))
    }

    /// Every QEMU of this root: its working directory (the per-domain directory)
    /// or its command line is under the root.
    pub fn qemu_pids(&self) -> Vec<u32> {
        let root = self.root().to_string_lossy().into_owned();
        let mut v = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            let cmd = String::from_utf8_lossy(&cmd);
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
            if cmd.starts_with("/usr/bin/qemu-system")
                && (cmd.contains(&root) || cwd.starts_with(self.root()))
            {
                v.push(pid);
            }
        }
        v
    }
}

/// The `rvirt` CLI next to the daemon binary, brought up to date with `cargo build`
/// (a no-op when fresh: a workspace test run has built it already).
pub fn rvirt_bin() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(build_rvirt).clone()
}

fn build_rvirt() -> PathBuf {
    testkit::sibling_binary(&Daemon::bin(), "rvirt", "rvirt")
}

impl Daemon {
    /// `rvirt -c <this daemon> ARGS`.
    pub fn rvirt(&self, args: &[&str]) -> Output {
        let mut c = self.client(rvirt_bin().to_str().unwrap());
        c.arg("-c").arg(self.uri()).args(args);
        run(c)
    }
}

/// cgroup directories of a domain name (any id), under any hierarchy.
pub fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from("/sys/fs/cgroup")];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.filter_map(Result::ok) {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let n = e.file_name().to_string_lossy().into_owned();
            if n.ends_with(".rvirt-qemu") {
                if n.contains(name) {
                    out.push(e.path());
                }
            } else if d.components().count() < 6 {
                stack.push(e.path());
            }
        }
    }
    out
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            for pid in self.qemu_pids() {
                // Through the daemon first, so it cleans up.
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cmd = String::from_utf8_lossy(&cmd).into_owned();
                if let Some(n) = cmd
                    .split('\0')
                    .skip_while(|a| *a != "-name")
                    .nth(1)
                    .and_then(|a| a.strip_prefix("guest="))
                    .map(|a| a.split(',').next().unwrap_or("").to_owned())
                {
                    let _ = self.virsh(&["destroy", &n]);
                }
            }
        }
        for pid in self.qemu_pids() {
            if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
            }
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        std::thread::sleep(Duration::from_millis(50));
        for n in &self.names {
            for d in cgroup_dirs(n) {
                let _ = std::fs::remove_dir(&d);
            }
        }
    }
}

/// Runs a client with a 60 s guard; never skips (a missing client is a failure).
pub fn run(c: Command) -> Output {
    testkit::run_bounded(
        c,
        Duration::from_secs(60),
        "install libvirt-clients / python3-libvirt",
    )
}

/// Polls `f` until it returns `Some` or the timeout passes.
pub fn wait_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
