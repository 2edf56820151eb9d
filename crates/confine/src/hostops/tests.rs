use std::path::Path;

use super::*;

#[test]
fn utmp_boot_record() {
    let mut data = vec![0u8; 384 * 3];
    // record 0: RUN_LVL (1), record 1: BOOT_TIME (2)
    data[0..2].copy_from_slice(&1i16.to_ne_bytes());
    data[384..386].copy_from_slice(&2i16.to_ne_bytes());
    data[384 + 340..384 + 344].copy_from_slice(&1_795_885_383i32.to_ne_bytes());
    assert_eq!(parse_utmp_boot_time(&data), Some(1_795_885_383));
    assert_eq!(parse_utmp_boot_time(&data[..384]), None);
}

#[test]
fn uptime_rounding() {
    assert_eq!(boot_time_from_uptime(1_000_999, "100.40 5.0\n"), Some(900));
    assert_eq!(boot_time_from_uptime(1_000_000, "100.60 5.0\n"), Some(899));
    assert_eq!(boot_time_from_uptime(1_000_000, "garbage"), None);
}

#[test]
fn real_boot_time_is_stable_and_plausible() {
    let a = RealHostOps.boot_time().unwrap();
    let b = RealHostOps.boot_time().unwrap();
    assert_eq!(a, b);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(a <= now && a > 1_000_000_000);
}

#[test]
fn fake_symlinks_and_failures() {
    let ops = RecordingHostOps::new();
    ops.add_dir("/a", 0, 0, 0o755);
    ops.add_file("/a/f", 1, 2, 0o600);
    ops.add_symlink("/a/l", "f");
    assert_eq!(ops.stat(Path::new("/a/l")).unwrap().uid, 1);
    assert_eq!(
        ops.lstat(Path::new("/a/l")).unwrap().kind,
        FileKind::Symlink
    );
    ops.chown(Path::new("/a/l"), 5, 6).unwrap();
    assert_eq!(ops.owner("/a/f"), Some((5, 6)));
    ops.fail(HostOp::Chown, "/a/f", libc::EACCES);
    let e = ops.chown(Path::new("/a/f"), 7, 7).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EACCES));
    assert_eq!(
        ops.stat(Path::new("/nope")).unwrap_err().raw_os_error(),
        Some(libc::ENOENT)
    );
    assert_eq!(ops.mutations().len(), 2);
}

#[test]
fn remember_recall_cycle() {
    let ops = RecordingHostOps::new();
    ops.add_file("/f", 0, 0, 0o644);
    let p = Path::new("/f");
    assert_eq!(
        remember_label(&ops, "dac", p, "+0:+0").unwrap(),
        Remembered::Count(1)
    );
    assert_eq!(
        ops.xattr(p, "trusted.libvirt.security.dac").as_deref(),
        Some("+0:+0")
    );
    assert_eq!(
        ops.xattr(p, "trusted.libvirt.security.timestamp_dac")
            .as_deref(),
        Some("1700000000")
    );
    assert_eq!(
        remember_label(&ops, "dac", p, "+9:+9").unwrap(),
        Remembered::Count(2)
    );
    assert_eq!(
        ops.xattr(p, "trusted.libvirt.security.dac").as_deref(),
        Some("+0:+0")
    );
    assert_eq!(recall_label(&ops, "dac", p).unwrap(), Recalled::InUse(1));
    assert_eq!(
        recall_label(&ops, "dac", p).unwrap(),
        Recalled::Restore("+0:+0".into())
    );
    assert!(ops.file(p).unwrap().xattrs.is_empty());
    assert_eq!(
        recall_label(&ops, "dac", p).unwrap(),
        Recalled::NotRemembered
    );
}

#[test]
fn unsupported_and_malformed() {
    let ops = RecordingHostOps::new();
    ops.add_file("/nfs", 0, 0, 0o644);
    ops.set_xattr_support("/nfs", false);
    let p = Path::new("/nfs");
    assert_eq!(
        remember_label(&ops, "dac", p, "+0:+0").unwrap(),
        Remembered::Unsupported
    );
    assert_eq!(
        recall_label(&ops, "dac", p).unwrap(),
        Recalled::NotRemembered
    );

    ops.add_file("/bad", 0, 0, 0o644);
    ops.put_xattr("/bad", "trusted.libvirt.security.ref_dac", "x");
    ops.put_xattr(
        "/bad",
        "trusted.libvirt.security.timestamp_dac",
        "1700000000",
    );
    let e = remember_label(&ops, "dac", Path::new("/bad"), "+0:+0").unwrap_err();
    assert!(e.to_string().contains("malformed refcount 'x'"), "{e}");
}
