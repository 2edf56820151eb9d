//! `virsh console` and libvirt-python's `openConsole` against the TCG test guest
//! on its serial pty: output (GUEST-READY, a shell), input (a command and its
//! answer), one session at a time (libvirt's error without `--force`, takeover
//! with it), `^]` ends virsh's session, `virsh ttyconsole` names the pty, and the
//! console survives a daemon restart and ends when the domain is destroyed.

mod daemon_support;

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use daemon_support::{Daemon, name, wait_until};

/// The test guest on a pty serial port (with its console twin) and a shell on it.
fn console_guest_xml(name: &str) -> String {
    let g = testkit::guest();
    format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>128</memory>\
         <os><type arch='x86_64' machine='q35'>hvm</type><kernel>{}</kernel><initrd>{}</initrd>\
         <cmdline>console=ttyS0 panic=-1 quiet guest.shell</cmdline></os><features><acpi/></features>\
         <devices><serial type='pty'><target port='0'/></serial>\
         <console type='pty'><target type='serial' port='0'/></console></devices></domain>",
        g.vmlinux.display(),
        g.initramfs.display(),
    )
}

/// `virsh console` under `script(1)` (virsh needs a tty), its output collected.
struct Console {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Console {
    fn open(d: &Daemon, dom: &str, extra: &str) -> Console {
        let shell = format!("virsh -c '{}' console {extra} {dom}", d.uri());
        let mut c = d.client("script");
        c.args(["-qefc", &shell, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c
            .spawn()
            .unwrap_or_else(|e| panic!("util-linux `script` is required: {e}"));
        let stdin = child.stdin.take();
        let out = Arc::new(Mutex::new(Vec::new()));
        for mut pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let out = out.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    out.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
        Console { child, stdin, out }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    fn wait_for(&self, what: &str, timeout: Duration, d: &Daemon) {
        let seen = wait_until(timeout, || self.text().contains(what).then_some(()));
        assert!(
            seen.is_some(),
            "'{what}' not seen on the console:\n{}\ndaemon log:\n{}",
            self.text(),
            d.log_tail()
        );
    }

    fn send(&mut self, bytes: &[u8]) {
        let s = self.stdin.as_mut().unwrap();
        s.write_all(bytes).unwrap();
        s.flush().unwrap();
    }

    /// Waits for virsh (script) to exit; its exit status.
    fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                // Let the readers drain.
                std::thread::sleep(Duration::from_millis(100));
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a shell command on the guest's console shell and waits for its answer.
fn shell_roundtrip(c: &mut Console, d: &Daemon, marker: &str) {
    // The answer is computed, so the echo of the command line cannot match it.
    let (a, b) = marker.split_once('=').unwrap();
    let cmd = format!("echo {a}-$(({b}))\r");
    let want = format!(
        "{a}-{}",
        b.split('*')
            .map(|x| x.parse::<u64>().unwrap())
            .product::<u64>()
    );
    // The shell may not be there at once: repeat until the answer comes.
    let ok = wait_until(Duration::from_secs(60), || {
        c.send(cmd.as_bytes());
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(2) {
            if c.text().contains(&want) {
                return Some(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    });
    assert!(
        ok.is_some(),
        "no '{want}' after typing {cmd:?}:\n{}\ndaemon log:\n{}",
        c.text(),
        d.log_tail()
    );
}

fn prerequisites() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
}

#[test]
fn guest_console_virsh_output_input_force_escape() {
    prerequisites();
    let mut d = Daemon::start();
    let g = name("gcon");
    d.define(&g, &console_guest_xml(&g));
    // Paused first, so the console is attached before the guest says anything.
    d.ok(&["start", "--paused", &g]);
    let tty = d.ok(&["ttyconsole", &g]);
    assert!(tty.trim().starts_with("/dev/pts/"), "ttyconsole: {tty:?}");
    let xml = d.ok(&["dumpxml", &g]);
    assert!(
        xml.contains(&format!("<console type='pty' tty='{}'>", tty.trim())),
        "{xml}"
    );

    let mut first = Console::open(&d, &g, "");
    first.wait_for(
        &format!("Connected to domain '{g}'"),
        Duration::from_secs(20),
        &d,
    );
    // QEMU notices an opened pty within a second (it polls a closed one).
    std::thread::sleep(Duration::from_millis(1500));
    d.ok(&["resume", &g]);
    first.wait_for("GUEST-READY", Duration::from_secs(120), &d);
    shell_roundtrip(&mut first, &d, "rvirt=6*7");

    // A second client without --force gets libvirt's error; the first stays.
    let mut second = Console::open(&d, &g, "");
    let status = second
        .wait_exit(Duration::from_secs(30))
        .expect("second virsh exits");
    assert!(!status.success(), "second console: {}", second.text());
    assert!(
        second
            .text()
            .contains("Active console session exists for this domain"),
        "{}",
        second.text()
    );
    shell_roundtrip(&mut first, &d, "still=5*5");

    // With --force the new client takes over and the first one's session ends.
    let mut forced = Console::open(&d, &g, "--force");
    forced.wait_for(
        &format!("Connected to domain '{g}'"),
        Duration::from_secs(20),
        &d,
    );
    assert!(
        first.wait_exit(Duration::from_secs(20)).is_some(),
        "the first console did not end on takeover:\n{}",
        first.text()
    );
    std::thread::sleep(Duration::from_millis(1500));
    shell_roundtrip(&mut forced, &d, "forced=3*11");

    // ^] ends virsh's session cleanly.
    forced.send(&[0x1d]);
    let status = forced
        .wait_exit(Duration::from_secs(20))
        .expect("virsh console did not exit after ^]");
    assert!(status.success(), "{}", forced.text());

    // The pty is free again: a new session needs no --force.
    let mut again = Console::open(&d, &g, "");
    again.wait_for(
        &format!("Connected to domain '{g}'"),
        Duration::from_secs(20),
        &d,
    );
    std::thread::sleep(Duration::from_millis(1500));
    shell_roundtrip(&mut again, &d, "again=2*21");
    again.send(&[0x1d]);
    assert!(again.wait_exit(Duration::from_secs(20)).is_some());
    d.ok(&["destroy", &g]);
}

const PY_CONSOLE: &str = r#"
import os, sys, time, libvirt
c = libvirt.open(os.environ['URI'])
d = c.lookupByName(os.environ['DOM'])
st = c.newStream(0)
d.openConsole(None, st, 0)
# A second stream without FORCE: libvirt's error, code VIR_ERR_OPERATION_FAILED.
st2 = c.newStream(0)
try:
    d.openConsole(None, st2, 0)
    print('SECOND-OPENED')
except libvirt.libvirtError as e:
    print('SECOND', e.get_error_code(), e.get_error_message())
time.sleep(1.5)
seen = b''
deadline = time.time() + 60
while b'py-25' not in seen and time.time() < deadline:
    st.send(b'echo py-$((5*5))\r')
    t = time.time()
    while time.time() - t < 2 and b'py-25' not in seen:
        seen += st.recv(4096)
print('ANSWER', b'py-25' in seen)
if os.environ.get('DESTROY'):
    import subprocess
    subprocess.run(['virsh', '-c', os.environ['URI'], 'destroy', os.environ['DOM']], check=True)
    ended = False
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            b = st.recv(4096)
        except libvirt.libvirtError as e:
            ended = True
            break
        if b == b'':
            ended = True
            break
    print('ENDED', ended)
    try:
        st.finish()
    except libvirt.libvirtError:
        pass
else:
    st.finish()
    print('FINISHED')
c.close()
"#;

fn python_console(d: &Daemon, dom: &str, destroy: bool) -> String {
    let mut c = d.client("/usr/bin/python3");
    c.arg("-c")
        .arg(PY_CONSOLE)
        .env("URI", d.uri())
        .env("DOM", dom)
        .env("DESTROY", if destroy { "1" } else { "" });
    let out = daemon_support::run(c);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python failed ({}):\n{stdout}\n{}\ndaemon log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        d.log_tail()
    );
    stdout
}

#[test]
fn guest_console_python_restart_destroy() {
    prerequisites();
    let mut d = Daemon::start();
    let g = name("gpy");
    d.define(&g, &console_guest_xml(&g));
    d.ok(&["start", &g]);
    let tty = d.ok(&["ttyconsole", &g]);
    let out = python_console(&d, &g, false);
    assert!(
        out.contains("SECOND 9 operation failed: Active console session exists for this domain"),
        "{out}"
    );
    assert!(out.contains("ANSWER True"), "{out}");
    assert!(out.contains("FINISHED"), "{out}");

    // A restarted daemon finds the pty again (from QEMU) and serves the console.
    d.stop();
    d.spawn();
    assert_eq!(d.ok(&["ttyconsole", &g]), tty);
    // rvirt's own console client on the same stream.
    let mut c = d.client(daemon_support::rvirt_bin().to_str().unwrap());
    c.arg("-c")
        .arg(d.uri())
        .args(["console", &g])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        // QEMU notices the opened pty within a second.
        std::thread::sleep(Duration::from_millis(1500));
        let _ = input.write_all(b"echo rv-$((4*4))\r");
        std::thread::sleep(Duration::from_millis(2500));
        let _ = input.write_all(&[0x1d]);
        std::thread::sleep(Duration::from_millis(2000));
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("rv-16"), "rvirt console:\n{text}");
    let out = python_console(&d, &g, true);
    assert!(out.contains("ANSWER True"), "{out}");
    // Destroying the domain ends the open console stream.
    assert!(out.contains("ENDED True"), "{out}");
    assert!(d.ok(&["domstate", &g]).contains("shut off"));
}
