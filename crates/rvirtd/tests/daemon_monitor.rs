//! Monitor passthrough: the stock `virsh qemu-monitor-command` (libvirt's QEMU
//! program) against a real `rvirtd --root`, QMP and HMP, with QEMU's replies handed
//! back as QEMU wrote them (errors included), the `custom-monitor` taint, the
//! read-only refusal, and `rvirt qemu-monitor-command` printing what virsh prints.

mod daemon_support;

use daemon_support::{Daemon, kvm_xml, name};

fn masked(s: &str) -> String {
    // Reply ids count per daemon: compare the rest. libvirt before 10 wrote an
    // empty line inside an empty object or array; rvirt writes 11.3's layout.
    let collapsed = s.replace("{\n\n", "{\n").replace("[\n\n", "[\n");
    let s = collapsed.as_str();
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("\"rvirt-") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 7..];
        let n = tail.find('"').unwrap_or(0);
        out.push_str("\"rvirt-N");
        rest = &tail[n..];
    }
    out.push_str(rest);
    out
}

#[test]
fn qemu_live_monitor_command_passthrough() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    let mut d = Daemon::start();
    let vm = name("mon");
    d.define(&vm, &kvm_xml(&vm));

    let e = d.fails(&["qemu-monitor-command", &vm, r#"{"execute":"query-status"}"#]);
    assert!(e.contains("domain is not running"), "{e}");
    d.ok(&["start", &vm]);

    let r = d.ok(&["qemu-monitor-command", &vm, r#"{"execute":"query-status"}"#]);
    let v: serde_json::Value = serde_json::from_str(r.trim()).unwrap();
    assert_eq!(v["return"]["status"], "running", "{r}");
    // virsh turns a bare word into {"execute": word}.
    let r = d.ok(&["qemu-monitor-command", &vm, "query-name"]);
    assert!(r.contains(&format!("\"name\":\"{vm}\"")), "{r}");
    let r = d.ok(&["qemu-monitor-command", &vm, "--hmp", "info", "status"]);
    assert!(r.starts_with("VM status: running"), "{r}");
    // QEMU's error reply is the answer, not a failure (as with libvirt).
    let r = d.ok(&[
        "qemu-monitor-command",
        &vm,
        r#"{"execute":"no-such-command"}"#,
    ]);
    assert!(r.contains("CommandNotFound"), "{r}");
    let e = d.fails(&["qemu-monitor-command", &vm, r#"{"execute":1}"#]);
    assert!(e.contains("no \"execute\" string"), "{e}");
    let e = String::from_utf8(
        d.virsh_uri(
            &d.ro_uri(),
            &["qemu-monitor-command", &vm, r#"{"execute":"query-status"}"#],
        )
        .stderr,
    )
    .unwrap();
    assert!(
        e.contains("read only access prevents virDomainQemuMonitorCommand"),
        "{e}"
    );

    // Tainted once, in the status file and the domain log.
    let status = std::fs::read_to_string(d.status_file(&vm)).unwrap();
    assert_eq!(status.matches("custom-monitor").count(), 1, "{status}");
    let log =
        std::fs::read_to_string(d.root().join(format!("var/log/rvirt/qemu/{vm}.log"))).unwrap();
    assert!(log.contains("is tainted: custom-monitor"), "{log}");

    // rvirt prints what virsh prints.
    for args in [
        vec!["qemu-monitor-command", &vm, r#"{"execute":"query-status"}"#],
        vec!["qemu-monitor-command", &vm, "--pretty", "query-status"],
        // An empty reply, laid out the way libvirt's JSON writer does.
        vec!["qemu-monitor-command", &vm, "--pretty", "stop"],
        vec!["qemu-monitor-command", &vm, "--pretty", "cont"],
        vec!["qemu-monitor-command", &vm, "--hmp", "info status"],
        vec!["-q", "qemu-monitor-command", &vm, "query-name"],
    ] {
        let a = d.virsh(&args);
        let b = d.rvirt(&args);
        assert_eq!(a.status.code(), b.status.code(), "{args:?}");
        assert_eq!(
            masked(&String::from_utf8_lossy(&a.stdout)),
            masked(&String::from_utf8_lossy(&b.stdout)),
            "{args:?}"
        );
        assert_eq!(a.stderr, b.stderr, "{args:?}");
    }
    d.ok(&["destroy", &vm]);
}
