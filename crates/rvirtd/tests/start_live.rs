//! QEMU started from a plan through the confined launch path, driven over QMP.

mod common;

use std::time::{Duration, Instant};

use common::Guard;
use rvirtd::launch::start;

fn parse(xml: &str) -> domain_xml::Domain {
    domain_xml::parse_domain(xml).unwrap().value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_live_kvm_domain_from_plan_over_qmp() {
    common::require_root();
    common::require_qemu();
    let root = tempfile::tempdir().unwrap();
    let host = common::host(root.path(), "");
    let caps = common::caps(root.path()).await;
    let mut d = parse(
        "<domain type='kvm'><name>plan-kvm</name><memory unit='MiB'>128</memory>\
         <os><type arch='x86_64' machine='pc'>hvm</type></os></domain>",
    );
    rvirtd::native::fill_defaults(&mut d, &caps);
    let t = Instant::now();
    let mut g = Guard(Some(start(&host, &caps, &d, 1).await.unwrap()));
    println!("start to paused QEMU with QMP: {:?}", t.elapsed());
    let q = g.get().qmp.clone();
    let s = q.execute("query-status", None).await.unwrap();
    assert_eq!(s["status"], "prelaunch");
    q.execute("cont", None).await.unwrap();
    assert_eq!(
        q.execute("query-status", None).await.unwrap()["status"],
        "running"
    );
    q.execute("stop", None).await.unwrap();
    assert_eq!(
        q.execute("query-status", None).await.unwrap()["status"],
        "paused"
    );
    let kvm = q.execute("query-kvm", None).await.unwrap();
    assert_eq!(kvm["enabled"], true, "{kvm}");
    let _ = q.execute("quit", None).await;
    let mut r = g.0.take().unwrap();
    let status = r.child.take().unwrap().wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(
        std::mem::take(&mut r.cleanup)
            .run(&Default::default())
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_tcg_guest_boots_from_plan_and_powers_off() {
    common::require_root();
    common::require_qemu();
    let guest = testkit::guest();
    let root = tempfile::tempdir().unwrap();
    let host = common::host(root.path(), "");
    let caps = common::caps(root.path()).await;
    let serial = root.path().join("serial.log");
    let xml = format!(
        "<domain type='qemu'><name>plan-tcg</name><memory unit='MiB'>128</memory>\
         <os><type arch='x86_64' machine='q35'>hvm</type><kernel>{}</kernel><initrd>{}</initrd>\
         <cmdline>console=ttyS0 panic=-1 quiet</cmdline></os><features><acpi/></features>\
         <devices><serial type='file'><source path='{}'/></serial></devices></domain>",
        guest.vmlinux.display(),
        guest.initramfs.display(),
        serial.display()
    );
    let mut d = parse(&xml);
    rvirtd::native::fill_defaults(&mut d, &caps);
    let mut g = Guard(Some(start(&host, &caps, &d, 2).await.unwrap()));
    let q = g.get().qmp.clone();
    let events = &mut g.get().events;
    q.execute("cont", None).await.unwrap();
    let t = Instant::now();
    common::wait_for(&serial, "GUEST-READY", Duration::from_secs(90));
    println!("cont to GUEST-READY: {:?}", t.elapsed());
    // A press before the guest's handler is ready is lost: repeat until it exits.
    let mut shutdown_seen = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && !shutdown_seen {
        let _ = q.execute("system_powerdown", None).await;
        let until = Instant::now() + Duration::from_secs(1);
        while let Ok(Some(ev)) = tokio::time::timeout(
            until.saturating_duration_since(Instant::now()),
            events.recv(),
        )
        .await
        {
            if ev.name == "SHUTDOWN" {
                assert_eq!(ev.data["guest"], true);
                shutdown_seen = true;
                break;
            }
        }
    }
    assert!(
        shutdown_seen,
        "no SHUTDOWN event; serial:\n{}",
        std::fs::read_to_string(&serial).unwrap_or_default()
    );
    // -no-shutdown keeps QEMU alive after the guest powers off; the daemon quits it.
    let _ = q.execute("quit", None).await;
    let mut r = g.0.take().unwrap();
    assert!(r.child.take().unwrap().wait().unwrap().success());
    assert!(
        std::fs::read_to_string(&serial)
            .unwrap()
            .contains("GUEST-POWEROFF")
    );
    assert!(
        std::mem::take(&mut r.cleanup)
            .run(&Default::default())
            .is_empty()
    );
}
