use std::path::{Path, PathBuf};

use super::*;
use crate::hostops::{FileKind, FileStat, HostCall, HostOp, HostOps, RecordingHostOps};
use crate::spec::Identity;

const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
# comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
rvirt-qemu:x:999:994:rvirt QEMU:/var/lib/rvirt:/usr/sbin/nologin
107:x:4242:4242:numeric name:/:/bin/false
broken line
+nisuser
";
const GROUP: &str = "\
root:x:0:
kvm:x:995:rvirt-qemu
disk:x:6:alice, rvirt-qemu
rvirt-qemu:x:994:
";

fn db() -> PasswdDb {
    PasswdDb::parse(PASSWD, GROUP)
}

#[test]
fn ids_names_numbers_plus() {
    let db = db();
    assert_eq!(db.users.len(), 4);
    assert_eq!(db.user_id("rvirt-qemu").unwrap(), 999);
    assert_eq!(db.user_id("root").unwrap(), 0);
    assert_eq!(db.user_id("+107").unwrap(), 107);
    // Name first: "107" is a user name here.
    assert_eq!(db.user_id("107").unwrap(), 4242);
    assert_eq!(db.user_id("555").unwrap(), 555);
    assert!(matches!(
        db.user_id("nobody-here"),
        Err(DacError::UnknownUser(_))
    ));
    assert!(matches!(db.user_id("+x1"), Err(DacError::BadNumber(_))));
    assert_eq!(db.group_id("kvm").unwrap(), 995);
    assert_eq!(db.group_id("+36").unwrap(), 36);
    assert!(matches!(
        db.group_id("nogroup-x"),
        Err(DacError::UnknownGroup(_))
    ));
}

#[test]
fn ownership_labels() {
    let db = db();
    assert_eq!(db.parse_ownership("rvirt-qemu:kvm").unwrap(), (999, 995));
    assert_eq!(db.parse_ownership("+107:+107").unwrap(), (107, 107));
    assert_eq!(db.parse_ownership("root:+5").unwrap(), (0, 5));
    assert!(matches!(
        db.parse_ownership("rvirt-qemu"),
        Err(DacError::BadLabel(_))
    ));
    assert!(matches!(
        db.parse_ownership(":kvm"),
        Err(DacError::BadLabel(_))
    ));
    assert_eq!(parse_numeric_label("+0:+0").unwrap(), (0, 0));
    assert_eq!(base_label(107, 36), "+107:+36");
}

#[test]
fn group_list_and_account() {
    let db = db();
    assert_eq!(db.group_list(999, 994), vec![994, 995, 6]);
    assert_eq!(db.group_list(12345, 7), vec![7]);
    let id = db.resolve_account("rvirt-qemu", None).unwrap();
    assert_eq!(
        id,
        Identity {
            uid: 999,
            gid: 994,
            groups: vec![994, 995, 6]
        }
    );
    let id = db.resolve_account("+107", Some("+107")).unwrap();
    assert_eq!(id.groups, vec![107]);
    let id = db.resolve_account("+107", None).unwrap();
    assert_eq!((id.uid, id.gid), (107, 107));
}

#[test]
fn load_through_ops() {
    let ops = RecordingHostOps::new();
    ops.add_text("/r/etc/passwd", PASSWD);
    ops.add_text("/r/etc/group", GROUP);
    let db = PasswdDb::load_with(&ops, Path::new("/r")).unwrap();
    assert_eq!(db.user_id("rvirt-qemu").unwrap(), 999);
    let e = PasswdDb::load_with(&ops, Path::new("/none")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot read /none/etc/passwd: No such file or directory"
    );
}

#[test]
fn real_host_has_the_qemu_account() {
    let db = PasswdDb::load().unwrap();
    assert_eq!(db.user_id("root").unwrap(), 0);
}

#[test]
fn image_owner_rules() {
    let db = db();
    let acc = (999, 994);
    assert_eq!(
        image_owner(&db, true, None, None, acc, true, false, false).unwrap(),
        Some((999, 994, true))
    );
    assert_eq!(
        image_owner(&db, false, None, None, acc, true, false, false).unwrap(),
        None
    );
    // Read-only, shared, backing: chown but do not remember.
    assert_eq!(
        image_owner(&db, true, None, None, acc, true, true, false).unwrap(),
        Some((999, 994, false))
    );
    assert_eq!(
        image_owner(&db, true, None, None, acc, false, false, false).unwrap(),
        Some((999, 994, false))
    );
    let no = DacSeclabel {
        relabel: false,
        ..Default::default()
    };
    assert_eq!(
        image_owner(&db, true, None, Some(&no), acc, true, false, false).unwrap(),
        None
    );
    assert_eq!(
        image_owner(&db, true, Some(&no), None, acc, true, false, false).unwrap(),
        None
    );
    let none = DacSeclabel {
        none: true,
        relabel: true,
        ..Default::default()
    };
    assert_eq!(
        image_owner(&db, true, Some(&none), None, acc, true, false, false).unwrap(),
        None
    );
    let dom = DacSeclabel {
        relabel: true,
        label: Some("+107:+107".into()),
        imagelabel: Some("root:kvm".into()),
        ..Default::default()
    };
    assert_eq!(
        image_owner(&db, true, Some(&dom), None, acc, true, false, false).unwrap(),
        Some((0, 995, true))
    );
    let disk = DacSeclabel {
        relabel: true,
        label: Some("rvirt-qemu:+5".into()),
        ..Default::default()
    };
    assert_eq!(
        image_owner(&db, true, Some(&dom), Some(&disk), acc, true, false, false).unwrap(),
        Some((999, 5, true))
    );
}

const DISK: &str = "/var/lib/x.qcow2";

fn fake() -> DacDriver<RecordingHostOps> {
    let ops = RecordingHostOps::new();
    ops.add_file(DISK, 0, 0, 0o600);
    DacDriver::new(ops)
}

#[test]
fn set_and_restore_remembers_like_libvirt() {
    let d = fake();
    let p = Path::new(DISK);
    assert_eq!(
        d.set_owner(p, 999, 994, true).unwrap(),
        DacOutcome::Chowned { uid: 999, gid: 994 }
    );
    assert_eq!(d.ops.owner(p), Some((999, 994)));
    assert_eq!(
        d.ops.xattr(p, "trusted.libvirt.security.dac").as_deref(),
        Some("+0:+0")
    );
    assert_eq!(
        d.ops
            .xattr(p, "trusted.libvirt.security.ref_dac")
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        d.ops
            .xattr(p, "trusted.libvirt.security.timestamp_dac")
            .as_deref(),
        Some("1700000000")
    );
    assert_eq!(
        d.ops.mutations(),
        vec![
            HostCall::SetXattr(
                p.into(),
                "trusted.libvirt.security.dac".into(),
                "+0:+0".into()
            ),
            HostCall::SetXattr(
                p.into(),
                "trusted.libvirt.security.timestamp_dac".into(),
                "1700000000".into()
            ),
            HostCall::SetXattr(
                p.into(),
                "trusted.libvirt.security.ref_dac".into(),
                "1".into()
            ),
            HostCall::Chown(p.into(), 999, 994),
        ]
    );
    assert_eq!(
        d.restore_owner(p).unwrap(),
        DacOutcome::Chowned { uid: 0, gid: 0 }
    );
    assert_eq!(d.ops.owner(p), Some((0, 0)));
    assert!(d.ops.file(p).unwrap().xattrs.is_empty());
}

#[test]
fn refcount_two_domains() {
    let d = fake();
    let p = Path::new(DISK);
    d.ops.chown(p, 1000, 1000).unwrap();
    d.set_owner(p, 999, 994, true).unwrap();
    assert_eq!(
        d.set_owner(p, 999, 994, true).unwrap(),
        DacOutcome::AlreadyOwned
    );
    assert_eq!(
        d.ops
            .xattr(p, "trusted.libvirt.security.ref_dac")
            .as_deref(),
        Some("2")
    );
    assert_eq!(
        d.ops.xattr(p, "trusted.libvirt.security.dac").as_deref(),
        Some("+1000:+1000")
    );
    assert_eq!(
        d.restore_owner(p).unwrap(),
        DacOutcome::StillInUse { remaining: 1 }
    );
    assert_eq!(d.ops.owner(p), Some((999, 994)));
    assert_eq!(
        d.restore_owner(p).unwrap(),
        DacOutcome::Chowned {
            uid: 1000,
            gid: 1000
        }
    );
    assert!(d.ops.file(p).unwrap().xattrs.is_empty());
}

#[test]
fn different_owner_while_in_use_is_refused() {
    let d = fake();
    let p = Path::new(DISK);
    d.set_owner(p, 999, 994, true).unwrap();
    let e = d.set_owner_for("disk", p, 107, 107, true).unwrap_err();
    assert!(matches!(e, DacError::InUse { cur_uid: 999, .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("disk '/var/lib/x.qcow2': setting DAC owner 107:107")
    );
    // Count back to 1, owner unchanged.
    assert_eq!(
        d.ops
            .xattr(p, "trusted.libvirt.security.ref_dac")
            .as_deref(),
        Some("1")
    );
    assert_eq!(d.ops.owner(p), Some((999, 994)));
}

#[test]
fn stale_timestamp_is_dropped() {
    let d = fake();
    let p = Path::new(DISK);
    d.ops.chown(p, 5, 5).unwrap();
    d.ops.put_xattr(p, "trusted.libvirt.security.dac", "+1:+1");
    d.ops.put_xattr(p, "trusted.libvirt.security.ref_dac", "3");
    d.ops
        .put_xattr(p, "trusted.libvirt.security.timestamp_dac", "1600000000");
    d.set_owner(p, 999, 994, true).unwrap();
    assert_eq!(
        d.ops
            .xattr(p, "trusted.libvirt.security.ref_dac")
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        d.ops.xattr(p, "trusted.libvirt.security.dac").as_deref(),
        Some("+5:+5")
    );
    // Stale on restore: attributes go, owner falls back to root.
    d.ops
        .put_xattr(p, "trusted.libvirt.security.timestamp_dac", "1");
    assert_eq!(
        d.restore_owner(p).unwrap(),
        DacOutcome::Chowned { uid: 0, gid: 0 }
    );
    assert!(d.ops.file(p).unwrap().xattrs.is_empty());
    // Missing timestamp counts as stale too.
    d.ops.put_xattr(p, "trusted.libvirt.security.ref_dac", "1");
    d.set_owner(p, 999, 994, true).unwrap();
    assert_eq!(
        d.ops.xattr(p, "trusted.libvirt.security.dac").as_deref(),
        Some("+0:+0")
    );
}

#[test]
fn no_remember_and_disabled() {
    let mut d = fake();
    let p = Path::new(DISK);
    d.set_owner(p, 999, 994, false).unwrap();
    assert!(d.ops.file(p).unwrap().xattrs.is_empty());
    assert_eq!(
        d.restore_owner_for("disk", p, false).unwrap(),
        DacOutcome::Chowned { uid: 0, gid: 0 }
    );
    d.remember_owner = false;
    d.set_owner(p, 999, 994, true).unwrap();
    assert!(d.ops.file(p).unwrap().xattrs.is_empty());
    d.dynamic_ownership = false;
    d.ops.clear_calls();
    assert_eq!(d.set_owner(p, 1, 1, true).unwrap(), DacOutcome::Disabled);
    assert_eq!(d.restore_owner(p).unwrap(), DacOutcome::Disabled);
    assert!(d.ops.calls().is_empty());
}

#[test]
fn no_xattr_support_still_chowns() {
    let d = fake();
    let p = Path::new(DISK);
    d.ops.set_xattr_support(p, false);
    d.set_owner(p, 999, 994, true).unwrap();
    assert_eq!(d.ops.owner(p), Some((999, 994)));
    assert_eq!(
        d.restore_owner(p).unwrap(),
        DacOutcome::Chowned { uid: 0, gid: 0 }
    );
}

#[test]
fn chown_failure_message_and_xattrs_undone() {
    let d = fake();
    let p = Path::new(DISK);
    d.ops.fail(HostOp::Chown, p, libc::EACCES);
    let e = d.set_owner_for("disk", p, 999, 994, true).unwrap_err();
    assert_eq!(
        e.to_string(),
        "disk '/var/lib/x.qcow2': cannot chown to 999:994: Permission denied"
    );
    assert!(d.ops.file(p).unwrap().xattrs.is_empty());
    // Tolerated errnos (libvirt logs and goes on).
    d.ops.fail(HostOp::Chown, p, libc::EROFS);
    assert!(matches!(
        d.set_owner(p, 999, 994, false).unwrap(),
        DacOutcome::NotChanged { .. }
    ));
}

#[test]
fn transaction_rolls_back_on_first_failure() {
    let d = fake();
    d.ops.add_file("/a", 1, 1, 0o600);
    d.ops.add_file("/b", 2, 2, 0o600);
    d.ops.add_file("/c", 3, 3, 0o600);
    d.ops.fail(HostOp::Chown, "/c", libc::EIO);
    let mut t = Transaction::new();
    t.add("disk", "/a", 999, 994, true)
        .add("nvram", "/b", 999, 994, true)
        .add("chardev", "/c", 999, 994, true);
    let e = t.commit(&d, &|_| false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "chardev '/c': cannot chown to 999:994: Input/output error"
    );
    for (p, o) in [("/a", (1, 1)), ("/b", (2, 2)), ("/c", (3, 3))] {
        assert_eq!(d.ops.owner(p), Some(o), "{p}");
        assert!(d.ops.file(p).unwrap().xattrs.is_empty(), "{p}");
    }
    // Rollback in reverse order: /b restored before /a.
    let chowns: Vec<_> = d
        .ops
        .mutations()
        .into_iter()
        .filter(|c| matches!(c, HostCall::Chown(..)))
        .collect();
    assert_eq!(
        chowns,
        vec![
            HostCall::Chown("/a".into(), 999, 994),
            HostCall::Chown("/b".into(), 999, 994),
            HostCall::Chown("/c".into(), 999, 994),
            HostCall::Chown("/b".into(), 2, 2),
            HostCall::Chown("/a".into(), 1, 1),
        ]
    );
    d.ops.clear_failures();
    assert_eq!(t.commit(&d, &|_| false).unwrap().len(), 3);
    assert!(t.release(&d, &|_| false).is_empty());
    assert_eq!(d.ops.owner("/c"), Some((3, 3)));
}

fn tree() -> RecordingHostOps {
    let ops = RecordingHostOps::new();
    ops.add_dir("/", 0, 0, 0o755);
    ops.add_dir("/root", 0, 0, 0o700);
    ops.add_file("/root/x.qcow2", 999, 994, 0o600);
    ops.add_dir("/var", 0, 0, 0o755);
    ops.add_dir("/var/lib", 0, 0, 0o755);
    ops.add_dir("/var/lib/img", 0, 995, 0o750);
    ops.add_file("/var/lib/img/a.qcow2", 0, 0, 0o644);
    ops.add_file("/var/lib/img/g.qcow2", 0, 995, 0o660);
    ops.add_symlink("/var/lib/link.qcow2", "/root/x.qcow2");
    ops.add_symlink("/var/lib/rel.qcow2", "img/g.qcow2");
    ops
}

#[test]
fn access_root_0700_dir_blocks() {
    let ops = tree();
    let e = check_access(
        &ops,
        Path::new("/root/x.qcow2"),
        999,
        994,
        &[994, 995],
        true,
    )
    .unwrap_err();
    assert_eq!(e.layer(), "DAC");
    assert_eq!(e.problem, AccessProblem::Search);
    assert_eq!(e.blocking, Path::new("/root"));
    assert_eq!(e.owner, Some((0, 0, 0o700)));
    let msg = e.to_string();
    assert!(
        msg.starts_with(
            "DAC: QEMU as uid 999 gid 994 (groups 994,995) cannot search directory '/root' \
             (owner 0:0, mode 0700) on the way to '/root/x.qcow2'; fix: "
        ),
        "{msg}"
    );
    assert!(
        msg.contains("chmod o+x '/root'") && msg.contains("qemu.conf user/group"),
        "{msg}"
    );
    // Root passes.
    check_access(&ops, Path::new("/root/x.qcow2"), 0, 0, &[], true).unwrap();
    // Symlink into /root is blocked at /root too.
    let e = check_access(
        &ops,
        Path::new("/var/lib/link.qcow2"),
        999,
        994,
        &[994],
        false,
    )
    .unwrap_err();
    assert_eq!(e.blocking, Path::new("/root"));
}

#[test]
fn access_group_and_rw() {
    let ops = tree();
    // Group kvm (995) may search /var/lib/img and write g.qcow2.
    check_access(
        &ops,
        Path::new("/var/lib/img/g.qcow2"),
        999,
        994,
        &[994, 995],
        true,
    )
    .unwrap();
    check_access(
        &ops,
        Path::new("/var/lib/rel.qcow2"),
        999,
        994,
        &[994, 995],
        true,
    )
    .unwrap();
    // Without the kvm group the directory blocks.
    let e = check_access(
        &ops,
        Path::new("/var/lib/img/g.qcow2"),
        999,
        994,
        &[994],
        false,
    )
    .unwrap_err();
    assert_eq!(
        (e.problem, e.blocking),
        (AccessProblem::Search, PathBuf::from("/var/lib/img"))
    );
    // a.qcow2 is readable, not writable.
    check_access(
        &ops,
        Path::new("/var/lib/img/a.qcow2"),
        999,
        994,
        &[995],
        false,
    )
    .unwrap();
    let e = check_access(
        &ops,
        Path::new("/var/lib/img/a.qcow2"),
        999,
        994,
        &[995],
        true,
    )
    .unwrap_err();
    assert_eq!(e.problem, AccessProblem::Write);
    assert!(e.to_string().contains("dynamic_ownership"), "{e}");
    // Missing.
    let e = check_access(&ops, Path::new("/var/nope/x"), 999, 994, &[], false).unwrap_err();
    assert_eq!(
        (e.layer(), e.problem.clone()),
        ("path", AccessProblem::Missing)
    );
    assert_eq!(e.blocking, Path::new("/var/nope"));
    let e = check_access(&ops, Path::new("/var/lib/img/a.qcow2/x"), 0, 0, &[], false).unwrap_err();
    assert_eq!(e.problem, AccessProblem::NotDir);
}

fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for (t, p, i) in entries {
        v.extend_from_slice(&t.to_le_bytes());
        v.extend_from_slice(&p.to_le_bytes());
        v.extend_from_slice(&i.to_le_bytes());
    }
    v
}

#[test]
fn posix_acl_grants_and_masks() {
    let st = FileStat {
        kind: FileKind::Dir,
        mode: 0o700,
        uid: 0,
        gid: 0,
    };
    let user = acl(&[
        (1, 7, u32::MAX),
        (2, 5, 999),
        (4, 0, u32::MAX),
        (0x10, 5, u32::MAX),
        (0x20, 0, u32::MAX),
    ]);
    let a = parse_posix_acl(&user).unwrap();
    assert!(permits(&st, Some(&a), 999, 994, &[], 1));
    assert!(!permits(&st, Some(&a), 999, 994, &[], 2));
    assert!(!permits(&st, Some(&a), 1000, 1000, &[], 1));
    let masked = acl(&[
        (1, 7, u32::MAX),
        (8, 7, 995),
        (4, 0, u32::MAX),
        (0x10, 4, u32::MAX),
        (0x20, 0, u32::MAX),
    ]);
    let a = parse_posix_acl(&masked).unwrap();
    assert!(permits(&st, Some(&a), 999, 994, &[995], 4));
    assert!(!permits(&st, Some(&a), 999, 994, &[995], 1));
    assert!(parse_posix_acl(&[1, 0, 0, 0]).is_none());
    // Through check_access.
    let ops2 = RecordingHostOps::new();
    ops2.add_dir("/", 0, 0, 0o755);
    ops2.add_dir("/root", 0, 0, 0o700);
    ops2.add_file("/root/f", 999, 994, 0o600);
    ops2.set_xattr(Path::new("/root"), "system.posix_acl_access", &user)
        .unwrap();
    check_access(&ops2, Path::new("/root/f"), 999, 994, &[], true).unwrap();
}
