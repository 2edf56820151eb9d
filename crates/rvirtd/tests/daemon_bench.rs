//! Issue 5's benchmark as a live test: prints a table of the daemon's figures next
//! to the floor measured in the same run (bare `qemu-system-x86_64 -S` with the same
//! machine until QMP answers) and the targets. `RVIRTD_BIN=target/release/rvirtd`
//! measures a release build (the default is the test's debug build).
//! API calls are timed inside one python3-libvirt connection, so client start-up
//! (about 20 ms per `virsh` process) is not counted; `virsh list --all` is timed as
//! a whole process, as the target is written.

mod daemon_support;

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use daemon_support::{Daemon, kvm_xml, name};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Bare QEMU with the domain's machine, paused, until QMP answers `query-status`.
fn floor_ms(dir: &Path) -> f64 {
    let sock = dir.join("floor-qmp.sock");
    let _ = std::fs::remove_file(&sock);
    let t = Instant::now();
    let mut c = Command::new("/usr/bin/qemu-system-x86_64")
        .args([
            "-S",
            "-machine",
            "pc,usb=off",
            "-accel",
            "kvm",
            "-m",
            "128",
            "-display",
            "none",
            "-nodefaults",
            "-no-user-config",
            "-qmp",
        ])
        .arg(format!("unix:{},server=on,wait=off", sock.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ms = loop {
        if let Ok(mut s) = std::os::unix::net::UnixStream::connect(&sock) {
            use std::io::{BufRead, BufReader, Write};
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            s.write_all(b"{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"query-status\"}\n")
                .unwrap();
            line.clear();
            r.read_line(&mut line).unwrap();
            line.clear();
            r.read_line(&mut line).unwrap();
            assert!(line.contains("prelaunch"), "{line}");
            break t.elapsed().as_secs_f64() * 1000.0;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "bare QEMU did not answer"
        );
        std::thread::sleep(Duration::from_micros(500));
    };
    let _ = c.kill();
    let _ = c.wait();
    ms
}

const API: &str = r#"
import os, time, libvirt
c = libvirt.open(os.environ["URI"])
xml = os.environ["XML"]
name = os.environ["DOM"]
d = c.defineXML(xml)
start, destroy, defund = [], [], []
for i in range(7):
    t = time.monotonic(); d.create(); start.append(time.monotonic() - t)
    time.sleep(0.05)
    t = time.monotonic(); d.destroy(); destroy.append(time.monotonic() - t)
d.undefine()
for i in range(15):
    t = time.monotonic()
    x = c.defineXML(xml)
    x.undefine()
    defund.append(time.monotonic() - t)
med = lambda v: sorted(v)[len(v) // 2] * 1000
print("start %.2f destroy %.2f defund %.2f" % (med(start), med(destroy), med(defund)))
"#;

const DEFINE_MANY: &str = r#"
import os, libvirt
c = libvirt.open(os.environ["URI"])
base = os.environ["BASE"]
for i in range(int(os.environ["N"])):
    c.defineXML("<domain type='kvm'><name>%s-%d</name><memory unit='MiB'>128</memory><os><type arch='x86_64' machine='pc'>hvm</type></os></domain>" % (base, i))
print("ok")
"#;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

fn py(d: &Daemon, script: &str, env: &[(&str, String)]) -> String {
    let mut c = d.client("/usr/bin/python3");
    c.arg("-c").arg(script).env("URI", d.uri());
    for (k, v) in env {
        c.env(k, v);
    }
    let out = daemon_support::run(c);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.log_tail()
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Restarts the daemon; milliseconds from exec to the socket accepting.
fn restart_ms(d: &mut Daemon) -> f64 {
    d.stop();
    let t = Instant::now();
    d.spawn();
    t.elapsed().as_secs_f64() * 1000.0
}

#[test]
fn qemu_live_bench_table() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    let mut d = Daemon::start();
    std::thread::sleep(Duration::from_millis(300));
    // The first start probes QEMU (capabilities cache empty): its garbage stays
    // in the allocator. Idle is measured after a restart, as the daemon normally runs.
    let rss_cold = rss_kib(d.child.as_ref().unwrap().id());
    restart_ms(&mut d);
    std::thread::sleep(Duration::from_millis(300));
    let rss_idle = rss_kib(d.child.as_ref().unwrap().id());

    let floor = median((0..5).map(|_| floor_ms(d.root())).collect());
    let a = name("ba");
    d.names.push(a.clone());
    let out = py(&d, API, &[("XML", kvm_xml(&a)), ("DOM", a.clone())]);
    let f: Vec<f64> = out
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let (start, destroy, defund) = (f[0], f[1], f[2]);

    // 5 running, then reconnect.
    let five: Vec<String> = (0..5).map(|i| name(&format!("b5{i}"))).collect();
    for n in &five {
        d.define(n, &kvm_xml(n));
        d.ok(&["start", n]);
    }
    let reconnect = median((0..3).map(|_| restart_ms(&mut d)).collect());
    for n in &five {
        d.ok(&["destroy", n]);
        d.ok(&["undefine", n]);
    }
    let empty_start = median((0..3).map(|_| restart_ms(&mut d)).collect());

    // 1000 defined.
    py(
        &d,
        DEFINE_MANY,
        &[("BASE", name("bk")), ("N", "1000".into())],
    );
    let list = median(
        (0..5)
            .map(|_| {
                let t = Instant::now();
                let out = d.ok(&["list", "--all"]);
                assert!(out.lines().count() > 1000);
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect(),
    );
    let start_1000 = median((0..3).map(|_| restart_ms(&mut d)).collect());
    std::thread::sleep(Duration::from_millis(300));
    let _ = d.ok(&["list", "--all", "--name"]);
    let rss_1000 = rss_kib(d.child.as_ref().unwrap().id());

    let mut t = String::new();
    let _ = writeln!(t, "{:<44} {:>10} {:>16}", "measure", "rvirtd", "target");
    let row = |t: &mut String, m: &str, v: String, target: &str| {
        let _ = writeln!(t, "{m:<44} {v:>10} {target:>16}");
    };
    row(
        &mut t,
        "floor: bare QEMU -S until QMP answers",
        format!("{floor:.1} ms"),
        "",
    );
    row(
        &mut t,
        "start (kvm, SeaBIOS, no disk)",
        format!("{start:.1} ms"),
        &format!("<= {:.1} ms", floor + 25.0),
    );
    row(&mut t, "destroy", format!("{destroy:.1} ms"), "<= 40 ms");
    row(
        &mut t,
        "define + undefine",
        format!("{defund:.1} ms"),
        "<= 18 ms",
    );
    row(
        &mut t,
        "virsh list --all, 1000 defined (process)",
        format!("{list:.1} ms"),
        "<= 25 ms",
    );
    row(
        &mut t,
        "daemon start -> listening, empty",
        format!("{empty_start:.1} ms"),
        "",
    );
    row(
        &mut t,
        "daemon start -> listening, 1000 defined",
        format!("{start_1000:.1} ms"),
        "<= 100 ms",
    );
    row(
        &mut t,
        "daemon start -> listening, 5 running",
        format!("{reconnect:.1} ms"),
        "<= 30 ms",
    );
    row(
        &mut t,
        "RSS idle",
        format!("{:.1} MB", rss_idle as f64 / 1024.0),
        "<= 6 MB",
    );
    row(
        &mut t,
        "RSS idle, first start (probed QEMU)",
        format!("{:.1} MB", rss_cold as f64 / 1024.0),
        "",
    );
    row(
        &mut t,
        "RSS with 1000 defined",
        format!("{:.1} MB", rss_1000 as f64 / 1024.0),
        "<= 12 MB",
    );
    println!("daemon binary: {}\n{t}", Daemon::bin().display());
}
