//! Acceptance with the stock `virsh` (Debian libvirt-clients 9.0) against a real
//! `rvirtd --root`: every command of issue 5's list, with libvirt's output shapes,
//! on `type='kvm'` domains (SeaBIOS, no disk).

mod daemon_support;

use std::time::{Duration, Instant};

use daemon_support::{Daemon, kvm_xml, name};

fn lines(s: &str) -> Vec<&str> {
    s.lines().map(str::trim_end).collect()
}

#[test]
fn qemu_live_virsh_acceptance() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    let mut d = Daemon::start();
    let a = name("va");
    let t = name("vt");

    // Sockets: read-write 0700, read-only 0777.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode =
            |p: std::path::PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(d.socket()), 0o700);
        assert_eq!(mode(d.root().join("run/rvirt/rvirt-sock-ro")), 0o777);
    }

    // Connection-level commands.
    let v = d.ok(&["version"]);
    let (major, minor, micro) = testkit::virsh_version().expect("virsh --version");
    assert!(
        v.contains(&format!("Using API: QEMU {major}.{minor}.{micro}")),
        "{v}"
    );
    assert!(
        d.ok(&["version", "--daemon"]).contains(&format!(
            "Running against daemon: {}",
            testkit::RVIRT_LIBVIRT
        )),
        "rvirtd reports libvirt {}",
        testkit::RVIRT_LIBVIRT
    );
    assert!(v.contains("Running hypervisor: QEMU "), "{v}");
    assert_eq!(d.ok(&["uri"]).trim(), d.uri());
    let caps = d.ok(&["capabilities"]);
    assert!(
        caps.contains("<capabilities>") && caps.contains("<domain type='kvm'/>"),
        "{caps}"
    );
    assert!(caps.contains("<machine"), "{caps}");
    let ni = d.ok(&["nodeinfo"]);
    for key in ["CPU model:", "CPU(s):", "Memory size:", "NUMA cell(s):"] {
        assert!(ni.contains(key), "{ni}");
    }

    // define → shut off, inactive XML with a uuid and defaults filled.
    d.define(&a, &kvm_xml(&a));
    let all = d.ok(&["list", "--all"]);
    let l = lines(&all);
    assert_eq!(
        l[0].split_whitespace().collect::<Vec<_>>(),
        ["Id", "Name", "State"]
    );
    assert!(
        l.iter()
            .any(|x| x.split_whitespace().collect::<Vec<_>>() == ["-", a.as_str(), "shut", "off"]),
        "{all}"
    );
    assert!(d.ok(&["list", "--all", "--name"]).lines().any(|x| x == a));
    assert!(!d.ok(&["list", "--name"]).lines().any(|x| x == a));
    let inactive = d.ok(&["dumpxml", "--inactive", &a]);
    assert!(
        inactive.contains("<uuid>") && inactive.contains("machine='pc-i440fx"),
        "{inactive}"
    );
    assert!(d.root().join(format!("etc/rvirt/qemu/{a}.xml")).exists());
    assert_eq!(
        d.ok(&["domstate", "--reason", &a]).trim(),
        "shut off (unknown)"
    );

    // Unknown domain: virsh's own wording (it tries id, uuid, then name).
    let e = d.fails(&["domstate", "no-such-domain-xyz"]);
    assert!(
        e.contains("failed to get domain 'no-such-domain-xyz'"),
        "{e}"
    );

    // start, ids and names.
    let t0 = Instant::now();
    assert!(
        d.ok(&["start", &a])
            .contains(&format!("Domain '{a}' started"))
    );
    println!("virsh start: {:?}", t0.elapsed());
    let id = d.ok(&["domid", &a]).trim().to_owned();
    assert!(id.parse::<i32>().unwrap() > 0, "{id}");
    let uuid = d.ok(&["domuuid", &a]).trim().to_owned();
    assert_eq!(d.ok(&["domname", &id]).trim(), a);
    assert_eq!(d.ok(&["domname", &uuid]).trim(), a);
    assert_eq!(d.ok(&["domid", &uuid]).trim(), id);
    assert_eq!(
        d.ok(&["domstate", "--reason", &a]).trim(),
        "running (booted)"
    );
    assert_eq!(d.ok(&["domstate", &a]).trim(), "running");
    assert!(d.ok(&["list", "--name"]).lines().any(|x| x == a));
    let running = d.ok(&["list"]);
    assert!(
        running
            .lines()
            .any(|x| x.split_whitespace().collect::<Vec<_>>()
                == [id.as_str(), a.as_str(), "running"]),
        "{running}"
    );
    let info = d.ok(&["dominfo", &a]);
    for want in [
        format!("Id:             {id}"),
        format!("Name:           {a}"),
        format!("UUID:           {uuid}"),
        "State:          running".to_owned(),
        "Max memory:     131072 KiB".to_owned(),
        "Persistent:     yes".to_owned(),
        "CPU time:".to_owned(),
    ] {
        assert!(info.contains(&want), "missing {want:?} in\n{info}");
    }
    let live = d.ok(&["dumpxml", &a]);
    assert!(live.contains(&format!("id='{id}'")), "{live}");
    assert!(
        !d.ok(&["dumpxml", "--inactive", &a])
            .contains("<domain type='kvm' id=")
    );
    let pid = d.qemu_pid(&a);
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    let e = d.fails(&["start", &a]);
    assert!(e.contains("Domain is already active"), "{e}");

    // suspend / resume with reasons.
    assert!(
        d.ok(&["suspend", &a])
            .contains(&format!("Domain '{a}' suspended"))
    );
    assert_eq!(d.ok(&["domstate", "--reason", &a]).trim(), "paused (user)");
    assert!(
        d.ok(&["resume", &a])
            .contains(&format!("Domain '{a}' resumed"))
    );
    assert_eq!(
        d.ok(&["domstate", "--reason", &a]).trim(),
        "running (unpaused)"
    );

    // reboot is accepted (ACPI; SeaBIOS without an OS ignores it).
    assert!(
        d.ok(&["reboot", &a])
            .contains(&format!("Domain '{a}' is being rebooted"))
    );

    // autostart on/off.
    assert!(
        d.ok(&["autostart", &a])
            .contains(&format!("Domain '{a}' marked as autostarted"))
    );
    assert!(
        d.root()
            .join(format!("etc/rvirt/qemu/autostart/{a}.xml"))
            .exists()
    );
    assert!(d.ok(&["dominfo", &a]).contains("Autostart:      enable"));
    assert!(
        d.ok(&["list", "--all", "--autostart", "--name"])
            .lines()
            .any(|x| x == a)
    );
    assert!(
        d.ok(&["autostart", "--disable", &a])
            .contains(&format!("Domain '{a}' unmarked as autostarted"))
    );
    assert!(
        !d.root()
            .join(format!("etc/rvirt/qemu/autostart/{a}.xml"))
            .exists()
    );

    // destroy returns once QEMU is gone and cleaned up.
    let t0 = Instant::now();
    assert!(
        d.ok(&["destroy", &a])
            .contains(&format!("Domain '{a}' destroyed"))
    );
    println!("virsh destroy: {:?}", t0.elapsed());
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists() || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z"))
        }
    );
    assert_eq!(
        d.ok(&["domstate", "--reason", &a]).trim(),
        "shut off (destroyed)"
    );
    assert!(!d.status_file(&a).exists());
    assert!(daemon_support::cgroup_dirs(&a).is_empty());
    assert_eq!(d.ok(&["domid", &a]).trim(), "-");
    let e = d.fails(&["destroy", &a]);
    assert!(e.contains("domain is not running"), "{e}");

    // create: transient, gone after destroy.
    d.names.push(t.clone());
    let f = d.write("t.xml", &kvm_xml(&t));
    assert!(
        d.ok(&["create", f.to_str().unwrap()])
            .contains(&format!("Domain '{t}' created"))
    );
    assert!(d.ok(&["dominfo", &t]).contains("Persistent:     no"));
    d.ok(&["destroy", &t]);
    let e = d.fails(&["dominfo", &t]);
    assert!(e.contains(&format!("failed to get domain '{t}'")), "{e}");

    // undefine of a running domain: it becomes transient, then goes with destroy.
    d.ok(&["start", &a]);
    assert!(
        d.ok(&["undefine", &a])
            .contains(&format!("Domain '{a}' has been undefined"))
    );
    assert!(!d.root().join(format!("etc/rvirt/qemu/{a}.xml")).exists());
    assert!(d.ok(&["dominfo", &a]).contains("Persistent:     no"));
    d.ok(&["destroy", &a]);
    assert!(d.fails(&["dominfo", &a]).contains("failed to get domain"));

    // domxml-to-native.
    let f = d.write("n.xml", &kvm_xml(&name("vn")));
    let argv = d.ok(&["domxml-to-native", "qemu-argv", f.to_str().unwrap()]);
    assert!(argv.contains("/usr/bin/qemu-system-x86_64"), "{argv}");
    assert!(argv.contains("-name guest="), "{argv}");

    // The read-only socket refuses changes with libvirt's error.
    let out = d.virsh_uri(&d.ro_uri(), &["define", f.to_str().unwrap()]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("read only access prevents"), "{e}");
    assert!(
        d.virsh_uri(&d.ro_uri(), &["list", "--all"])
            .status
            .success()
    );

    // A second daemon on the same root refuses to start.
    let out = daemon_support::run(d.command());
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("already running"), "{e}");

    // <qemu:commandline> passthrough taints the domain, logged like libvirt.
    let q = name("vq");
    d.define(
        &q,
        &format!(
            "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\
             <name>{q}</name><memory unit='MiB'>128</memory>\
             <os><type arch='x86_64' machine='pc'>hvm</type></os>\
             <qemu:commandline><qemu:arg value='-msg'/><qemu:arg value='timestamp=on'/>\
             </qemu:commandline></domain>"
        ),
    );
    d.ok(&["start", &q]);
    let log = d.log_text();
    assert!(
        log.contains(&format!("name='{q}'")) && log.contains("is tainted: custom-argv"),
        "{}",
        d.log_tail()
    );
    assert!(d.ok(&["dominfo", &q]).contains("custom-argv"));
    d.ok(&["destroy", &q]);

    assert!(d.qemu_pids().is_empty(), "{:?}", d.qemu_pids());
    let _ = Duration::ZERO;
}

/// Definitions, autostart marks and running domains survive a daemon restart; an
/// autostart domain is started with the daemon.
#[test]
fn qemu_live_daemon_restart_keeps_everything() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    let mut d = Daemon::start();
    let a = name("ra");
    let b = name("rb");
    d.define(&a, &kvm_xml(&a));
    d.define(&b, &kvm_xml(&b));
    d.ok(&["autostart", &b]);
    d.ok(&["start", &a]);
    // A transient domain survives the restart too.
    let t = name("rt");
    d.names.push(t.clone());
    let f = d.write("rt.xml", &kvm_xml(&t));
    d.ok(&["create", f.to_str().unwrap()]);
    let tpid = d.qemu_pid(&t);
    let pid = d.qemu_pid(&a);
    let id = d.ok(&["domid", &a]).trim().to_owned();
    d.stop();
    assert!(
        std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists(),
        "QEMU must survive the daemon's exit"
    );
    d.spawn();
    assert_eq!(d.qemu_pid(&a), pid);
    assert_eq!(d.ok(&["domid", &a]).trim(), id);
    assert_eq!(
        d.ok(&["domstate", "--reason", &a]).trim(),
        "running (booted)"
    );
    // b is autostarted by the new daemon.
    let started = daemon_support::wait_until(Duration::from_secs(30), || {
        let s = d.ok(&["domstate", &b]);
        (s.trim() == "running").then_some(())
    });
    assert!(started.is_some(), "{}", d.log_tail());
    assert_eq!(d.qemu_pid(&t), tpid);
    assert!(d.ok(&["dominfo", &t]).contains("Persistent:     no"));
    d.ok(&["destroy", &t]);
    assert!(d.fails(&["dominfo", &t]).contains("failed to get domain"));
    // The reconnected domain is fully managed: suspend, resume, destroy.
    d.ok(&["suspend", &a]);
    d.ok(&["resume", &a]);
    d.ok(&["destroy", &a]);
    d.ok(&["destroy", &b]);
    assert_eq!(
        d.ok(&["domstate", "--reason", &a]).trim(),
        "shut off (destroyed)"
    );
    assert!(daemon_support::cgroup_dirs(&a).is_empty());
    assert!(
        !d.root()
            .join("var/lib/rvirt/qemu")
            .read_dir()
            .unwrap()
            .any(|e| { e.unwrap().file_name().to_string_lossy().contains(&a) })
    );
}
