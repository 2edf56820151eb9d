//! Golden test against the real daemon: one `rvirtd --root <tempdir>`, the
//! real `virsh` and `rvirt` on the same socket. Queries are compared at the
//! same daemon state; a mutating command is run by virsh, undone by virsh,
//! then run by rvirt, and the two outputs compared (stdout, stderr, exit
//! code, byte for byte). Needs root, QEMU and the `rvirt-qemu` account (as
//! the rvirtd live tests do) and FAILS if `virsh` is missing.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn run(c: Command, what: &str) -> Output {
    testkit::run_bounded(c, Duration::from_secs(60), what)
}

/// The `rvirtd` binary next to `rvirt`, brought up to date.
fn rvirtd_binary() -> PathBuf {
    testkit::sibling_binary(Path::new(env!("CARGO_BIN_EXE_rvirt")), "rvirtd", "rvirtd")
}

struct Daemon {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Daemon {
    fn start() -> Daemon {
        assert!(
            rustix::process::geteuid().is_root(),
            "this test needs root (rvirtd launches QEMU confined)"
        );
        let dir = tempfile::Builder::new()
            .prefix("rvirt-cli-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let log = std::fs::File::create(dir.path().join("rvirtd.log")).unwrap();
        let child = Command::new(rvirtd_binary())
            .arg("--root")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start rvirtd");
        let mut d = Daemon {
            dir,
            child: Some(child),
        };
        let sock = d.dir.path().join("run/rvirt/rvirt-sock");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::os::unix::net::UnixStream::connect(&sock).is_err() {
            if let Some(s) = d.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("rvirtd exited ({s}):\n{}", d.log());
            }
            assert!(
                Instant::now() < deadline,
                "rvirtd did not listen:\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rvirtd.log")).unwrap_or_default()
    }

    fn client(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        // Relative socket path: `uri` prints the same text for both clients.
        c.current_dir(self.dir.path().join("run/rvirt"))
            .env_remove("LIBVIRT_DEFAULT_URI")
            .env("HOME", self.dir.path())
            .env("XDG_CACHE_HOME", self.dir.path().join("xdg-cache"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("xdg-config"))
            .env("XDG_RUNTIME_DIR", self.dir.path().join("xdg-run"))
            .env("LC_ALL", "C")
            .arg("-c")
            .arg("qemu+unix:///system?socket=rvirt-sock")
            .args(args);
        c
    }

    fn virsh(&self, args: &[&str]) -> Output {
        run(
            self.client("virsh", args),
            "the real `virsh` (Debian: apt-get install libvirt-clients)",
        )
    }

    fn rvirt(&self, args: &[&str]) -> Output {
        run(self.client(env!("CARGO_BIN_EXE_rvirt"), args), "rvirt")
    }

    fn virsh_ok(&self, args: &[&str]) {
        let o = self.virsh(args);
        assert!(
            o.status.success(),
            "virsh {args:?}: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            self.log()
        );
    }

    fn assert_same(&self, args: &[&str], v: &Output, r: &Output) {
        // A running guest's CPU time moves between the two calls: compare the rest.
        let cpu_masked = |o: &Output| {
            let mut o = o.clone();
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let lines: Vec<String> = text
                .split_inclusive('\n')
                .map(|l| match l.strip_prefix("CPU time:") {
                    Some(_) => "CPU time: (masked)\n".to_owned(),
                    None => l.to_owned(),
                })
                .collect();
            o.stdout = lines.concat().into_bytes();
            o
        };
        let v = &cpu_masked(v);
        let mut r = cpu_masked(r);
        r.stdout = testkit::as_virsh_client(args, &r.stdout);
        let r = &r;
        let show = |o: &Output| {
            format!(
                "status {:?}\n--- stdout\n{}--- stderr\n{}",
                o.status.code(),
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        };
        assert!(
            v.stdout == r.stdout && v.stderr == r.stderr && v.status.code() == r.status.code(),
            "outputs differ for {args:?}\n=== virsh: {}\n=== rvirt: {}",
            show(v),
            show(r)
        );
    }

    /// A query: both at the same state.
    fn same(&self, args: &[&str]) {
        let v = self.virsh(args);
        let r = self.rvirt(args);
        self.assert_same(args, &v, &r);
    }

    /// A mutation: virsh does it, virsh undoes it, rvirt does it.
    fn same_mut(&self, args: &[&str], undo: &[&str]) {
        let v = self.virsh(args);
        self.virsh_ok(undo);
        let r = self.rvirt(args);
        self.assert_same(args, &v, &r);
    }
}

impl Daemon {
    /// Stop every guest (SIGTERM leaves them running), then the daemon.
    fn stop(&mut self) {
        if self.child.is_none() {
            return;
        }
        let o = self.virsh(&["list", "--name"]);
        for name in String::from_utf8_lossy(&o.stdout).lines() {
            if !name.is_empty() {
                let _ = self.virsh(&["destroy", name]);
            }
        }
        if let Some(mut c) = self.child.take() {
            if let Some(pid) = rustix::process::Pid::from_raw(c.id() as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

fn write(d: &Daemon, name: &str, text: &str) {
    std::fs::write(d.dir.path().join("run/rvirt").join(name), text).unwrap();
}

#[test]
fn rpc_live_cli_matches_virsh_against_rvirtd() {
    let mut d = Daemon::start();
    let dom = format!("cli-{}", std::process::id());
    write(
        &d,
        "g.xml",
        &format!(
            "<domain type='kvm'><name>{dom}</name>\
             <uuid>3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a</uuid>\
             <memory unit='MiB'>128</memory>\
             <os><type arch='x86_64' machine='pc'>hvm</type></os></domain>\n"
        ),
    );
    write(
        &d,
        "bad.xml",
        "<domain type='kvm'><memory>1</memory></domain>\n",
    );
    let uuid = "3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a";
    for q in [
        &["version"][..],
        &["version", "--daemon"],
        &["uri"],
        &["hostname"],
        &["nodeinfo"],
        &["capabilities"],
        &["domcapabilities"],
        &["domcapabilities", "--virttype", "qemu", "--machine", "q35"],
        &["domcapabilities", "--machine", "no-such-machine"],
        &["sysinfo"],
        &["list"],
        &["list", "--all"],
    ] {
        d.same(q);
    }
    d.same_mut(&["define", "g.xml"], &["undefine", &dom]);
    d.same(&["define", "bad.xml"]);
    d.same(&["define", "missing.xml"]);
    for q in [
        &["list", "--all"][..],
        &["list", "--inactive", "--name"],
        &["list", "--all", "--uuid"],
        &["dominfo", &dom],
        &["dominfo", uuid],
        &["dominfo", "nosuch"],
        &["domstate", &dom],
        &["domstate", "--reason", &dom],
        &["domid", &dom],
        &["domuuid", &dom],
        &["domname", uuid],
        &["dumpxml", &dom],
        &["dumpxml", "--inactive", &dom],
        &["domxml-to-native", "qemu-argv", "g.xml"],
        &["destroy", &dom],
        &["shutdown", &dom],
        &["suspend", &dom],
    ] {
        d.same(q);
    }
    d.same_mut(&["autostart", &dom], &["autostart", "--disable", &dom]);
    d.same(&["autostart", "--disable", &dom]);
    d.same_mut(&["start", &dom], &["destroy", &dom]);
    for q in [
        &["list"][..],
        &["list", "--all"],
        &["domstate", "--reason", &dom],
        &["domid", &dom],
        &["start", &dom],
        &["create", "g.xml"],
    ] {
        d.same(q);
    }
    // Each same_mut leaves the state rvirt's run produced.
    d.same_mut(&["suspend", &dom], &["resume", &dom]);
    d.same(&["domstate", "--reason", &dom]);
    d.same(&["list"]);
    d.same_mut(&["resume", &dom], &["suspend", &dom]);
    d.same(&["domstate", "--reason", &dom]);
    d.same_mut(&["destroy", &dom], &["start", &dom]);
    d.same(&["domstate", "--reason", &dom]);
    d.same_mut(&["undefine", &dom], &["define", "g.xml"]);
    // A transient domain.
    d.same_mut(&["create", "g.xml"], &["destroy", &dom]);
    d.same(&["dominfo", &dom]);
    d.same(&["undefine", &dom]);
    d.same_mut(&["destroy", &dom], &["create", "g.xml"]);
    d.same(&["list", "--all"]);

    // rvirt's own forms reach the same daemon: qemu:///embed?root=DIR (from
    // -c or LIBVIRT_DEFAULT_URI), and -r picks the read-only socket.
    d.same_mut(&["create", "g.xml"], &["destroy", &dom]);
    let embed = format!("qemu:///embed?root={}", d.dir.path().display());
    let v = d.virsh(&["list", "--all"]);
    let mut c = Command::new(env!("CARGO_BIN_EXE_rvirt"));
    c.env("LIBVIRT_DEFAULT_URI", &embed).args(["list", "--all"]);
    let r = run(c, "rvirt");
    d.assert_same(&["list", "--all"], &v, &r);
    let v = d.virsh(&["-r", "destroy", &dom]);
    let mut c = Command::new(env!("CARGO_BIN_EXE_rvirt"));
    c.env_remove("LIBVIRT_DEFAULT_URI")
        .args(["-r", "-c", &embed, "destroy", &dom]);
    let r = run(c, "rvirt");
    d.assert_same(&["-r", "destroy", &dom], &v, &r);
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("read only access prevents"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let mut c = Command::new(env!("CARGO_BIN_EXE_rvirt"));
    c.env("LIBVIRT_DEFAULT_URI", &embed).arg("uri");
    let r = run(c, "rvirt");
    assert_eq!(String::from_utf8_lossy(&r.stdout), format!("{embed}\n\n"));
    d.virsh_ok(&["destroy", &dom]);

    // domxml-to-native: the daemon's answer and the offline plan (same
    // instance layout, daemon stopped) are the same bytes.
    let native = &["domxml-to-native", "qemu-argv", "g.xml"];
    let online = d.rvirt(native);
    assert!(online.status.success());
    d.stop();
    let mut c = Command::new(env!("CARGO_BIN_EXE_rvirt"));
    c.current_dir(d.dir.path().join("run/rvirt"))
        .env_remove("LIBVIRT_DEFAULT_URI")
        .arg("-c")
        .arg(&embed)
        .args(native);
    let offline = run(c, "rvirt");
    d.assert_same(native, &online, &offline);
}
