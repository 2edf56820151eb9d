//! A QEMU that does not answer never harms the daemon or the guest: reads are
//! answered from snapshots while a job waits on it, and a daemon restart keeps
//! (never kills) a domain whose monitor is wedged, retrying in the background.
//!
//! The read test prints how many of its calls took over 50 ms (issue 5's bound);
//! it tolerates 1 in 10000 (scheduling noise on a busy 2-core host), never a call
//! of 1 s or more — a read queued behind the job would wait the 30 s monitor timeout.

mod daemon_support;

use std::time::Duration;

use daemon_support::{Daemon, kvm_xml, name, wait_until};
use rustix::process::{Pid, Signal, kill_process};

fn signal(pid: u32, sig: Signal) {
    kill_process(Pid::from_raw(pid as i32).unwrap(), sig).unwrap();
}

/// SIGCONTs QEMU when dropped, so a failing test never leaves it stopped.
struct Stopped(u32);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = kill_process(Pid::from_raw(self.0 as i32).unwrap(), Signal::CONT);
    }
}

const POLL: &str = r#"
import os, sys, time, threading, libvirt
uri, name, secs = os.environ["URI"], os.environ["DOM"], float(os.environ["SECS"])
worst, calls, slow, errors = [0.0] * 8, [0] * 8, [0] * 8, []
def run(i):
    try:
        c = libvirt.open(uri)
        end = time.monotonic() + secs
        while time.monotonic() < end:
            for f in (lambda: c.listAllDomains(0),
                      lambda: c.lookupByName(name).state(),
                      lambda: c.lookupByName(name).XMLDesc(0)):
                t = time.monotonic()
                f()
                dt = time.monotonic() - t
                worst[i] = max(worst[i], dt)
                if dt > 0.050:
                    slow[i] += 1
                calls[i] += 1
            time.sleep(0.002)
        c.close()
    except Exception as e:
        errors.append(repr(e))
ts = [threading.Thread(target=run, args=(i,)) for i in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
print("calls", sum(calls), "over_50ms", sum(slow), "worst_ms", round(max(worst) * 1000, 1), "errors", errors)
# A read queued behind the stuck job would take the monitor timeout (30 s). On a
# loaded 2-core CI host an isolated scheduling hiccup of the client or the daemon
# can pass 50 ms: at most 1 in 10000 calls may, none may reach 1 s.
ok = not errors and sum(slow) <= max(1, sum(calls) // 10000) and max(worst) < 1.0
sys.exit(0 if ok else 1)
"#;

#[test]
fn qemu_live_reads_never_wait_for_a_stopped_qemu() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    let mut d = Daemon::start();
    let a = name("wa");
    d.define(&a, &kvm_xml(&a));
    d.ok(&["start", &a]);
    let pid = d.qemu_pid(&a);
    signal(pid, Signal::STOP);
    let stopped = Stopped(pid);
    // A shutdown that waits on the stopped QEMU (holds the domain's job).
    let mut shut = d.client("virsh");
    shut.arg("-c").arg(d.uri()).args(["shutdown", &a]);
    let shut = std::thread::spawn(move || daemon_support::run(shut));
    std::thread::sleep(Duration::from_millis(200));
    let secs = std::env::var("RVIRT_WEDGED_SECS").unwrap_or_else(|_| "30".into());
    let mut py = d.client("/usr/bin/python3");
    py.arg("-c")
        .arg(POLL)
        .env("URI", d.uri())
        .env("DOM", &a)
        .env("SECS", &secs);
    let out = daemon_support::run(py);
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("8 clients for {secs} s: {stdout}");
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // destroy works while the job is still stuck.
    d.ok(&["destroy", &a]);
    drop(stopped);
    let _ = shut.join();
    assert_eq!(
        d.ok(&["domstate", "--reason", &a]).trim(),
        "shut off (destroyed)"
    );
}

#[test]
fn qemu_live_wedged_monitor_at_restart_is_kept_and_retried() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    let mut d = Daemon::start();
    let a = name("wr");
    d.define(&a, &kvm_xml(&a));
    d.ok(&["start", &a]);
    let pid = d.qemu_pid(&a);
    d.stop();
    signal(pid, Signal::STOP);
    let stopped = Stopped(pid);
    d.spawn();
    // Kept, listed, with the state of the status file; never killed.
    assert_eq!(d.qemu_pid(&a), pid);
    assert_eq!(
        d.ok(&["domstate", "--reason", &a]).trim(),
        "running (booted)"
    );
    assert!(d.ok(&["list", "--name"]).lines().any(|l| l == a));
    let info = d.ok(&["dominfo", &a]);
    assert!(info.contains("monitor not reconnected"), "{info}");
    let e = d.fails(&["suspend", &a]);
    assert!(e.contains("not connected"), "{e}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists());
    // QEMU answers again: the background retry reconnects.
    drop(stopped);
    let ok = wait_until(Duration::from_secs(20), || {
        d.virsh(&["suspend", &a]).status.success().then_some(())
    });
    assert!(ok.is_some(), "{}", d.log_tail());
    assert_eq!(d.ok(&["domstate", "--reason", &a]).trim(), "paused (user)");
    assert!(!d.ok(&["dominfo", &a]).contains("monitor not reconnected"));
    d.ok(&["destroy", &a]);
}

/// A damaged status file never costs the guest: the running QEMU is found by its
/// uuid, the status rebuilt from the definition and `/proc`, the damaged file kept,
/// and the domain is fully managed again.
#[test]
fn qemu_live_damaged_status_file_is_rebuilt_not_killed() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    let mut d = Daemon::start();
    let a = name("wd");
    d.define(&a, &kvm_xml(&a));
    d.ok(&["start", &a]);
    let pid = d.qemu_pid(&a);
    let id = d.ok(&["domid", &a]).trim().to_owned();
    d.stop();
    let status = d.status_file(&a);
    let text = std::fs::read_to_string(&status).unwrap();
    std::fs::write(&status, &text[..text.len() / 3]).unwrap();
    d.spawn();
    assert_eq!(d.qemu_pid(&a), pid);
    assert_eq!(d.ok(&["domid", &a]).trim(), id);
    assert!(
        d.ok(&["domstate", &a]).trim() == "running",
        "{}",
        d.log_tail()
    );
    let info = d.ok(&["dominfo", &a]);
    assert!(info.contains("status file was damaged"), "{info}");
    assert!(status.with_extension("xml.damaged").exists());
    d.ok(&["suspend", &a]);
    d.ok(&["resume", &a]);
    d.ok(&["destroy", &a]);
    assert_eq!(
        d.ok(&["domstate", "--reason", &a]).trim(),
        "shut off (destroyed)"
    );
    assert!(daemon_support::cgroup_dirs(&a).is_empty());
    assert!(!status.exists());
}
