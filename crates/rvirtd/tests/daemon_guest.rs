//! The TCG test guest (PVH kernel + initramfs, serial to a file, ACPI) driven
//! through the daemon with `virsh`: shutdown is a graceful ACPI power-off (pressed
//! until the guest is ready for it), reboot is a fake reboot (the guest powers off,
//! QEMU is reset and continued), and `on_reboot=destroy` turns a reboot into a
//! shutdown.

mod daemon_support;

use std::path::Path;
use std::time::{Duration, Instant};

use daemon_support::{Daemon, name, wait_until};

fn guest_xml(name: &str, serial: &Path, extra: &str) -> String {
    let g = testkit::guest();
    format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>128</memory>\
         <os><type arch='x86_64' machine='q35'>hvm</type><kernel>{}</kernel><initrd>{}</initrd>\
         <cmdline>console=ttyS0 panic=-1 quiet</cmdline></os><features><acpi/></features>{extra}\
         <devices><serial type='file'><source path='{}'/></serial></devices></domain>",
        g.vmlinux.display(),
        g.initramfs.display(),
        serial.display()
    )
}

fn serial_count(p: &Path, marker: &str) -> usize {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .replace('\r', "")
        .lines()
        .filter(|l| l.ends_with(marker))
        .count()
}

fn wait_marker(d: &Daemon, p: &Path, marker: &str, n: usize) {
    let ok = wait_until(Duration::from_secs(120), || {
        (serial_count(p, marker) >= n).then_some(())
    });
    assert!(
        ok.is_some(),
        "no {n}x '{marker}' on the serial console:\n{}\ndaemon log:\n{}",
        std::fs::read_to_string(p).unwrap_or_default(),
        d.log_tail()
    );
}

fn wait_state(d: &Daemon, dom: &str, want: &str, timeout: Duration) {
    let ok = wait_until(timeout, || {
        let s = d.ok(&["domstate", "--reason", dom]);
        (s.trim() == want).then_some(())
    });
    assert!(
        ok.is_some(),
        "'{dom}' never reached '{want}' (now '{}')\n{}",
        d.ok(&["domstate", "--reason", dom]).trim(),
        d.log_tail()
    );
}

#[test]
fn guest_acpi_shutdown_and_fake_reboot() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    let mut d = Daemon::start();
    let g = name("ga");
    let serial = d.root().join("ga-serial.log");
    d.define(&g, &guest_xml(&g, &serial, ""));
    d.ok(&["start", &g]);
    // Pressed right away, before the guest's ACPI handler exists: the daemon keeps
    // pressing until it powers off.
    // The first boot may power off before it prints its GUEST-READY (the button
    // can arrive between acpid's start and that line): wait for a GUEST-READY
    // after the GUEST-POWEROFF, i.e. from the second boot.
    let t = Instant::now();
    assert!(d.ok(&["reboot", &g]).contains("is being rebooted"));
    let rebooted = wait_until(Duration::from_secs(120), || {
        let text = std::fs::read_to_string(&serial).unwrap_or_default();
        let off = text.find("GUEST-POWEROFF")?;
        text[off..].contains("GUEST-READY").then_some(())
    });
    assert!(
        rebooted.is_some(),
        "no GUEST-READY after GUEST-POWEROFF on the serial console:\n{}\ndaemon log:\n{}",
        std::fs::read_to_string(&serial).unwrap_or_default(),
        d.log_tail()
    );
    println!(
        "reboot (pressed at start) → GUEST-READY of the second boot: {:?}",
        t.elapsed()
    );
    assert_eq!(
        d.ok(&["domstate", "--reason", &g]).trim(),
        "running (booted)"
    );
    let pid = d.qemu_pid(&g);

    let t = Instant::now();
    assert!(
        d.ok(&["shutdown", &g])
            .contains(&format!("Domain '{g}' is being shutdown"))
    );
    wait_state(&d, &g, "shut off (shutdown)", Duration::from_secs(60));
    println!("virsh shutdown → shut off: {:?}", t.elapsed());
    assert!(serial_count(&serial, "GUEST-POWEROFF") >= 1);
    assert!(
        !Path::new(&format!("/proc/{pid}/cmdline")).exists() || {
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .unwrap_or_default()
                .is_empty()
        }
    );
    assert!(!d.status_file(&g).exists());
    assert!(daemon_support::cgroup_dirs(&g).is_empty());
}

#[test]
fn guest_on_reboot_destroy_ends_the_domain() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    let mut d = Daemon::start();
    let g = name("gr");
    let serial = d.root().join("gr-serial.log");
    d.define(
        &g,
        &guest_xml(&g, &serial, "<on_reboot>destroy</on_reboot>"),
    );
    d.ok(&["start", &g]);
    wait_marker(&d, &serial, "GUEST-READY", 1);
    d.ok(&["reboot", &g]);
    wait_state(&d, &g, "shut off (shutdown)", Duration::from_secs(60));
    assert_eq!(serial_count(&serial, "GUEST-READY"), 1);
}
