//! Boots the test guest under TCG and checks the guest protocol end to end.
//!
//! Named `guest_*` so nextest runs them one at a time.

use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::{POWEROFF_MARKER, Qemu, QmpError, READY_MARKER, guest, require_binary, test_dir};

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const POWERDOWN_TIMEOUT: Duration = Duration::from_secs(20);
/// A press that arrives before the guest's handler is armed is lost: press again.
const PRESS_INTERVAL: Duration = Duration::from_secs(1);

#[test]
fn guest_boots_to_ready_and_powers_off() {
    require_binary("qemu-system-x86_64");
    let guest = guest();
    let dir = test_dir();
    let mut vm = Qemu::boot::<&str>(&guest, dir.path(), &[]);

    vm.wait_for_serial_line(READY_MARKER, READY_TIMEOUT);
    let boot_time = vm.started().elapsed();
    let mut qmp = vm.qmp(Duration::from_secs(10));

    let pressed_at = Instant::now();
    let mut last_press: Option<Instant> = None;
    let mut presses = 0;
    let status = loop {
        if let Some(status) = vm.try_wait() {
            break status;
        }
        if pressed_at.elapsed() > POWERDOWN_TIMEOUT {
            let msg = vm.failure(&format!(
                "QEMU still running {POWERDOWN_TIMEOUT:?} after the first system_powerdown \
                 ({presses} presses); events: {:?}",
                qmp.events()
            ));
            panic!("{msg}");
        }
        if !qmp.is_closed() && last_press.is_none_or(|t| t.elapsed() >= PRESS_INTERVAL) {
            match qmp.execute("system_powerdown", None) {
                // Closed: QEMU exited between the press and the reply.
                Ok(_) | Err(QmpError::Closed) => {}
                Err(e) => panic!("{}", vm.failure(&format!("system_powerdown: {e}"))),
            }
            presses += 1;
            last_press = Some(Instant::now());
        }
        if qmp.is_closed() {
            std::thread::sleep(Duration::from_millis(5));
        } else {
            match qmp.poll_events(Duration::from_millis(10)) {
                Ok(()) | Err(QmpError::Closed) => {}
                Err(e) => panic!("{}", vm.failure(&format!("reading QMP events: {e}"))),
            }
        }
    };
    let powerdown_time = pressed_at.elapsed();
    // Collect what QEMU sent before it closed the socket.
    let _ = qmp.poll_events(Duration::from_millis(500));

    println!(
        "boot time (QEMU start -> {READY_MARKER}): {:.2} s; system_powerdown -> QEMU exit: \
         {} ms ({presses} press(es))",
        boot_time.as_secs_f64(),
        powerdown_time.as_millis()
    );
    assert!(
        status.success(),
        "{}",
        vm.failure(&format!("QEMU exited with {status}, expected 0"))
    );
    assert!(
        vm.serial_line_ending_with(POWEROFF_MARKER).is_some(),
        "{}",
        vm.failure("the guest never printed GUEST-POWEROFF")
    );
    let guest_shutdown = qmp
        .events()
        .iter()
        .any(|e| e["event"] == "SHUTDOWN" && e["data"]["guest"] == Value::Bool(true));
    assert!(
        guest_shutdown,
        "no SHUTDOWN event with \"guest\": true; events: {:?}",
        qmp.events()
    );
}

/// `-drive file=PATH,format=FMT,if=none,id=ID -device virtio-blk-pci,drive=ID,serial=SERIAL`
fn virtio_disk(path: &Path, format: &str, id: &str, serial: &str) -> [OsString; 4] {
    let mut drive = OsString::from("file=");
    drive.push(path);
    drive.push(format!(",format={format},if=none,id={id}"));
    [
        "-drive".into(),
        drive,
        "-device".into(),
        format!("virtio-blk-pci,drive={id},serial={serial}").into(),
    ]
}

#[test]
fn guest_disk_is_visible() {
    require_binary("qemu-system-x86_64");
    let guest = guest();
    let dir = test_dir();
    // Private copies: QEMU locks its images, and tests must not share writable disks.
    let raw = guest.copy_disk_raw(dir.path());
    let mut extra: Vec<OsString> = virtio_disk(&raw, "raw", "d1", "testdisk1").into();
    // disk.qcow2 exists only if qemu-img was there when the guest was built.
    let qcow2 = guest.copy_disk_qcow2(dir.path());
    if let Some(qcow2) = &qcow2 {
        extra.extend(virtio_disk(qcow2, "qcow2", "d2", "testdisk2"));
    }
    let mut vm = Qemu::boot(&guest, dir.path(), &extra);

    vm.wait_for_serial_line(READY_MARKER, READY_TIMEOUT);
    println!(
        "boot time with virtio-blk disk(s): {:.2} s (qcow2 disk: {})",
        vm.started().elapsed().as_secs_f64(),
        if qcow2.is_some() {
            "yes"
        } else {
            "no disk.qcow2, raw only"
        }
    );
    // The guest prints its block devices before the ready marker.
    let line = vm.serial_line_ending_with("serial=testdisk1");
    assert!(
        line.as_deref()
            .is_some_and(|l| l.ends_with("GUEST-BLOCK: vda sectors=2048 serial=testdisk1")),
        "{}",
        vm.failure(&format!(
            "expected a GUEST-BLOCK line for vda, got {line:?}"
        ))
    );
    if qcow2.is_some() {
        let line = vm.serial_line_ending_with("serial=testdisk2");
        assert!(
            line.as_deref()
                .is_some_and(|l| l.ends_with("GUEST-BLOCK: vdb sectors=2048 serial=testdisk2")),
            "{}",
            vm.failure(&format!(
                "expected a GUEST-BLOCK line for vdb, got {line:?}"
            ))
        );
    }
    // Dropping `vm` kills QEMU.
}
