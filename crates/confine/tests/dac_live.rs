//! Live DAC tests on real files: chown + libvirt's remembered-owner xattrs. They need
//! root (chown to another user, `trusted.*` xattrs) and fail, never skip, without it.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use confine::dac::{AccessProblem, DacDriver, DacError, DacOutcome, PasswdDb, Transaction};
use confine::hostops::{HostOps, RealHostOps};

const QEMU_UID: u32 = 999;
const QEMU_GID: u32 = 994;

fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "the dac_live_* tests need root: they chown files to another user and write \
         trusted.* extended attributes. Run them as root (e.g. sudo -E cargo nextest run \
         -p confine dac_live)"
    );
}

fn xattr(p: &Path, name: &str) -> Option<String> {
    RealHostOps
        .get_xattr(p, name)
        .unwrap()
        .map(|v| String::from_utf8(v).unwrap())
}

fn owner(p: &Path) -> (u32, u32) {
    let m = std::fs::metadata(p).unwrap();
    (m.uid(), m.gid())
}

fn file_in(dir: &tempfile::TempDir, name: &str, uid: u32, gid: u32) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, b"disk").unwrap();
    std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
    p
}

#[test]
fn dac_live_qemu_account_resolves() {
    require_root();
    let db = PasswdDb::load().unwrap();
    let id = db
        .resolve_account("rvirt-qemu", Some("rvirt-qemu"))
        .unwrap_or_else(|e| {
            panic!("{e}: the rvirt-qemu account is created by tools/setup-host.sh")
        });
    let kvm = db.group_id("kvm").unwrap();
    assert!(
        id.groups.contains(&kvm),
        "rvirt-qemu should be in kvm: {id:?}"
    );
}

#[test]
fn dac_live_chown_remember_restore() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let p = file_in(&dir, "disk.qcow2", 1234, 4321);
    let d = DacDriver::new(RealHostOps);
    assert_eq!(
        d.set_owner_for("disk", &p, QEMU_UID, QEMU_GID, true)
            .unwrap(),
        DacOutcome::Chowned {
            uid: QEMU_UID,
            gid: QEMU_GID
        }
    );
    // "Running": new owner, three xattrs in libvirt's formats.
    assert_eq!(owner(&p), (QEMU_UID, QEMU_GID));
    assert_eq!(
        xattr(&p, "trusted.libvirt.security.dac").as_deref(),
        Some("+1234:+4321")
    );
    assert_eq!(
        xattr(&p, "trusted.libvirt.security.ref_dac").as_deref(),
        Some("1")
    );
    let ts = xattr(&p, "trusted.libvirt.security.timestamp_dac").unwrap();
    assert_eq!(ts, RealHostOps.boot_time().unwrap().to_string());
    let ts: u64 = ts.parse().unwrap();
    let btime: u64 = std::fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        ts.abs_diff(btime) <= 2,
        "boot time {ts} vs /proc/stat btime {btime}"
    );

    // Released: original owner back, xattrs gone.
    assert_eq!(
        d.restore_owner_for("disk", &p, true).unwrap(),
        DacOutcome::Chowned {
            uid: 1234,
            gid: 4321
        }
    );
    assert_eq!(owner(&p), (1234, 4321));
    for n in ["dac", "ref_dac", "timestamp_dac"] {
        assert_eq!(
            xattr(&p, &format!("trusted.libvirt.security.{n}")),
            None,
            "{n}"
        );
    }
}

#[test]
fn dac_live_refcount_two_users() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let p = file_in(&dir, "shared.img", 1000, 1000);
    let d = DacDriver::new(RealHostOps);
    d.set_owner(&p, QEMU_UID, QEMU_GID, true).unwrap();
    assert_eq!(
        d.set_owner(&p, QEMU_UID, QEMU_GID, true).unwrap(),
        DacOutcome::AlreadyOwned
    );
    assert_eq!(
        xattr(&p, "trusted.libvirt.security.ref_dac").as_deref(),
        Some("2")
    );
    // A third user wanting another owner is refused and leaves the count alone.
    let e = d.set_owner_for("disk", &p, 107, 107, true).unwrap_err();
    assert!(matches!(e, DacError::InUse { .. }), "{e}");
    assert_eq!(
        xattr(&p, "trusted.libvirt.security.ref_dac").as_deref(),
        Some("2")
    );

    assert_eq!(
        d.restore_owner(&p).unwrap(),
        DacOutcome::StillInUse { remaining: 1 }
    );
    assert_eq!(owner(&p), (QEMU_UID, QEMU_GID));
    assert_eq!(
        xattr(&p, "trusted.libvirt.security.ref_dac").as_deref(),
        Some("1")
    );
    d.restore_owner(&p).unwrap();
    assert_eq!(owner(&p), (1000, 1000));
    assert_eq!(xattr(&p, "trusted.libvirt.security.ref_dac"), None);
}

#[test]
fn dac_live_stale_timestamp() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let p = file_in(&dir, "old.img", 42, 42);
    // Left over from a previous boot: must be ignored and replaced.
    let ops = RealHostOps;
    ops.set_xattr(&p, "trusted.libvirt.security.dac", b"+7:+7")
        .unwrap();
    ops.set_xattr(&p, "trusted.libvirt.security.ref_dac", b"5")
        .unwrap();
    ops.set_xattr(&p, "trusted.libvirt.security.timestamp_dac", b"1000000000")
        .unwrap();
    let d = DacDriver::new(RealHostOps);
    d.set_owner(&p, QEMU_UID, QEMU_GID, true).unwrap();
    assert_eq!(
        xattr(&p, "trusted.libvirt.security.dac").as_deref(),
        Some("+42:+42")
    );
    assert_eq!(
        xattr(&p, "trusted.libvirt.security.ref_dac").as_deref(),
        Some("1")
    );
    d.restore_owner(&p).unwrap();
    assert_eq!(owner(&p), (42, 42));

    // Stale at release time: attributes dropped, owner falls back to root:root.
    d.set_owner(&p, QEMU_UID, QEMU_GID, true).unwrap();
    ops.set_xattr(&p, "trusted.libvirt.security.timestamp_dac", b"1")
        .unwrap();
    assert_eq!(
        d.restore_owner(&p).unwrap(),
        DacOutcome::Chowned { uid: 0, gid: 0 }
    );
    assert_eq!(xattr(&p, "trusted.libvirt.security.dac"), None);
    assert_eq!(xattr(&p, "trusted.libvirt.security.ref_dac"), None);
    assert_eq!(xattr(&p, "trusted.libvirt.security.timestamp_dac"), None);
}

#[test]
fn dac_live_transaction_rolls_back() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let a = file_in(&dir, "a.img", 11, 11);
    let b = file_in(&dir, "b.img", 12, 12);
    let missing = dir.path().join("missing.img");
    let d = DacDriver::new(RealHostOps);
    let mut t = Transaction::new();
    t.add("disk", &a, QEMU_UID, QEMU_GID, true)
        .add("nvram", &b, QEMU_UID, QEMU_GID, true)
        .add("disk", &missing, QEMU_UID, QEMU_GID, true);
    let e = t.commit(&d, &|_| false).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "disk '{}': cannot stat: No such file or directory",
            missing.display()
        )
    );
    assert_eq!(owner(&a), (11, 11));
    assert_eq!(owner(&b), (12, 12));
    assert_eq!(xattr(&a, "trusted.libvirt.security.ref_dac"), None);
    assert_eq!(xattr(&b, "trusted.libvirt.security.ref_dac"), None);
}

/// `check_access` agrees with the kernel: run `cat` as the QEMU uid (std drops the
/// supplementary groups, so the check uses none).
#[test]
fn dac_live_check_access_agrees_with_kernel() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let inside = file_in(&dir, "locked/x.qcow2", QEMU_UID, QEMU_GID);
    // The temp dir itself is 0700 root too; open it up so only `locked` blocks.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let open = file_in(&dir, "open.qcow2", QEMU_UID, QEMU_GID);

    let kernel_can_read = |p: &Path| {
        Command::new("/bin/cat")
            .arg(p)
            .uid(QEMU_UID)
            .gid(QEMU_GID)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    let ops = RealHostOps;
    let denial =
        confine::dac::check_access(&ops, &inside, QEMU_UID, QEMU_GID, &[], false).unwrap_err();
    assert_eq!(denial.problem, AccessProblem::Search);
    assert_eq!(denial.blocking, locked);
    assert!(!kernel_can_read(&inside));
    eprintln!("{denial}");

    confine::dac::check_access(&ops, &open, QEMU_UID, QEMU_GID, &[], true).unwrap();
    assert!(kernel_can_read(&open));
}
