//! The daemon's root as `mktemp -d` makes it (0700): QEMU's account still reaches its
//! per-domain directory, because the daemon makes its own tree traversable; a
//! directory above the root that QEMU cannot search refuses the start, naming it.
//! Also: a domain without `<acpi/>` on pc and on q35 runs with `-machine …,acpi=off`
//! on the host's QEMU (the spelling QEMU 9 left after removing `-no-acpi`).

mod daemon_support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use daemon_support::{Daemon, name};

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().mode() & 0o7777
}

fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap()
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect()
}

#[test]
fn qemu_live_root_0700_is_made_traversable_and_acpi_off_runs() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    // `mktemp -d` makes its directory 0700 (tempfile's honours the umask).
    let dir = tempfile::Builder::new()
        .prefix("rvirtd-test-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut d = Daemon::start_in(dir);
    for machine in ["pc", "q35"] {
        let n = name(&format!("acpi-{machine}"));
        d.define(
            &n,
            &format!(
                "<domain type='kvm'><name>{n}</name><memory unit='MiB'>128</memory>\
                 <os><type arch='x86_64' machine='{machine}'>hvm</type></os></domain>"
            ),
        );
        d.ok(&["start", &n]);
        let argv = cmdline(d.qemu_pid(&n));
        let m = argv
            .iter()
            .position(|a| a == "-machine")
            .map(|i| argv[i + 1].clone())
            .expect("-machine");
        assert!(m.ends_with(",acpi=off"), "{machine}: -machine {m}");
        assert!(!argv.iter().any(|a| a == "-no-acpi"), "{argv:?}");
        d.ok(&["destroy", &n]);
        d.ok(&["undefine", &n]);
    }
    // Search only: nothing under the root became readable to others.
    assert_eq!(mode(d.root()), 0o711);
}

#[test]
fn qemu_live_unreachable_parent_of_the_root_is_named() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    // A 0700 directory that is not the daemon's (owned by nobody), the root inside.
    let parent = tempfile::Builder::new()
        .prefix("rvirtd-locked-")
        .tempdir()
        .unwrap();
    std::os::unix::fs::chown(parent.path(), Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(parent.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let root = tempfile::Builder::new()
        .prefix("root-")
        .tempdir_in(parent.path())
        .unwrap();
    let mut d = Daemon::start_in(root);
    let n = name("locked");
    d.define(&n, &daemon_support::kvm_xml(&n));
    let err = d.fails(&["start", &n]);
    let qemu_uid = std::process::Command::new("id")
        .args(["-u", "rvirt-qemu"])
        .output()
        .unwrap();
    let qemu_uid = String::from_utf8_lossy(&qemu_uid.stdout).trim().to_owned();
    let parent_text = parent.path().display().to_string();
    for want in [
        parent_text.as_str(),
        "cannot search directory",
        "mode 0700",
        "owner 65534:65534",
        &format!("uid {qemu_uid}"),
    ] {
        assert!(err.contains(want), "'{want}' missing from: {err}");
    }
    // The parent is not the daemon's to change.
    assert_eq!(mode(parent.path()), 0o700);
    d.ok(&["undefine", &n]);
    d.stop();
}
