//! Issue 6, hot-plug: grants added to and taken from a running guest with
//! `rvirt grant` / `rvirt revoke` through rvirtd, every confinement layer on. What
//! QEMU may open is probed from inside the running QEMU: a second QMP monitor given
//! by passthrough (`-qmp unix:…` in a directory granted at start) runs
//! `chardev-add` on the path. Facts come from `/proc/PID/root`, the host file's
//! owner and xattrs, and QEMU's own errors. The daemon is restarted between grant
//! and revoke: the revoke still undoes exactly what the grant did.

mod common;
mod daemon_support;

use std::fmt::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use confine::launcher::{Launcher, NsOp};
use confine::spec::{DevNode, NodeKind};
use daemon_support::{Daemon, name};

const USER: u32 = 12345;

/// A loop device over a file of the test; detached on drop.
struct LoopDev(String);

impl LoopDev {
    fn attach(image: &Path) -> LoopDev {
        std::fs::write(image, vec![0u8; 1 << 20]).unwrap();
        let mut c = Command::new("losetup");
        c.args(["-f", "--show"]).arg(image);
        let o = testkit::run_bounded(c, Duration::from_secs(30), "losetup (util-linux)");
        assert!(
            o.status.success(),
            "losetup: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        LoopDev(String::from_utf8(o.stdout).unwrap().trim().to_owned())
    }
}

impl Drop for LoopDev {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

/// A char node on the host, removed on drop.
struct HostNode(String);

impl Drop for HostNode {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A directory under the host /dev with what is in it, removed on drop.
struct HostDir(String);

impl Drop for HostDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn rvirt_ok(d: &Daemon, args: &[&str]) -> String {
    let o = d.rvirt(args);
    assert!(
        o.status.success(),
        "rvirt {args:?} failed:\n{}\ndaemon log:\n{}",
        text(&o),
        d.log_tail()
    );
    text(&o)
}

fn rvirt_fails(d: &Daemon, args: &[&str]) -> String {
    let o = d.rvirt(args);
    assert!(
        !o.status.success(),
        "rvirt {args:?} should fail:\n{}",
        text(&o)
    );
    text(&o)
}

fn owner(p: &str) -> (u32, u32) {
    let m = std::fs::metadata(p).unwrap();
    (m.uid(), m.gid())
}

fn set_owner(p: &Path, mode: u32) {
    std::os::unix::fs::chown(p, Some(USER), Some(USER)).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// QEMU's real uid from /proc.
fn qemu_uid(pid: u32) -> u32 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn node(path: &str, major: u32, minor: u32, kind: NodeKind) -> DevNode {
    DevNode {
        path: path.into(),
        kind,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    }
}

fn loop_numbers(dev: &str) -> (u32, u32) {
    let rdev = std::fs::metadata(dev).unwrap().rdev();
    (rustix::fs::major(rdev), rustix::fs::minor(rdev))
}

#[test]
fn guest_grants_hot_plugged_into_a_running_guest() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    let mut d = Daemon::start();
    let vm = name("hotgrant");
    let root = d.root().to_path_buf();

    // Files: a directory granted at start (the test's QMP socket lives there; Landlock
    // allows it), a 0600 file in it owned by someone else (DAC refuses until granted),
    // another one never granted, and a world-writable file outside every rule.
    let qmp_dir = root.join("qmp");
    std::fs::create_dir(&qmp_dir).unwrap();
    std::fs::set_permissions(&qmp_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = qmp_dir.join("data.txt");
    let secret = qmp_dir.join("secret.txt");
    for f in [&data, &secret] {
        std::fs::write(f, b"").unwrap();
        set_owner(f, 0o600);
    }
    let outside_dir = root.join("srv");
    std::fs::create_dir(&outside_dir).unwrap();
    let outside = outside_dir.join("o.txt");
    std::fs::write(&outside, b"").unwrap();
    std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o666)).unwrap();
    let serial = root.join("serial.log");
    // Devices: a loop device to hot-plug (not in the default ACL), and another node.
    let lo = LoopDev::attach(&root.join("loop.img"));
    let dev = lo.0.clone();
    set_owner(Path::new(&dev), 0o600);
    let (lo_major, lo_minor) = loop_numbers(&dev);
    let other = HostNode(format!("/dev/rvirt-hotgrant-{}", std::process::id()));
    let _ = std::fs::remove_file(&other.0);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        other.0.as_str(),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 11),
    )
    .unwrap();
    std::fs::set_permissions(&other.0, std::fs::Permissions::from_mode(0o666)).unwrap();

    let g = testkit::guest();
    let sock = qmp_dir.join("t.sock");
    let xml = format!(
        "<domain type='qemu' xmlns:rvirt='urn:rvirt:schemas:domain:1.0' \
         xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><name>{vm}</name>\
         <memory unit='MiB'>128</memory>\
         <os><type arch='x86_64' machine='q35'>hvm</type><kernel>{}</kernel><initrd>{}</initrd>\
         <cmdline>console=ttyS0 panic=-1 quiet</cmdline></os><features><acpi/></features>\
         <devices><serial type='file'><source path='{}'/></serial></devices>\
         <qemu:commandline><qemu:arg value='-qmp'/>\
         <qemu:arg value='unix:{},server=on,wait=off'/></qemu:commandline>\
         <rvirt:grant path='{}' access='rw'/></domain>",
        g.vmlinux.display(),
        g.initramfs.display(),
        serial.display(),
        sock.display(),
        qmp_dir.display()
    );
    d.define(&vm, &xml);
    d.ok(&["start", &vm]);
    common::wait_for(&serial, "GUEST-READY", Duration::from_secs(90));
    let pid = d.qemu_pid(&vm);
    let quid = qemu_uid(pid);
    assert_ne!(quid, 0, "QEMU runs as its own account");
    let mut q = testkit::Qmp::connect(&sock, Duration::from_secs(10)).unwrap();
    let mut n = 0;
    let mut probe = |path: &str| -> Result<(), String> {
        n += 1;
        let id = format!("probe{n}");
        let args =
            serde_json::json!({"id": id, "backend": {"type": "file", "data": {"out": path}}});
        match q.execute("chardev-add", Some(args)) {
            Ok(_) => {
                q.execute("chardev-remove", Some(serde_json::json!({"id": id})))
                    .unwrap();
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    };
    let launcher = Launcher::new(Daemon::bin());
    let in_ns = |p: &str| PathBuf::from(format!("/proc/{pid}/root{p}"));
    let eperm = "Operation not permitted";
    let eacces = "Permission denied";
    let mut table = String::from(
        "layer            before grant              rvirt grant (live)                 other path, same guest            rvirt revoke (after a daemon restart)\n",
    );

    // Before: not in QEMU's /dev; put there behind the daemon's back, the cgroup
    // ACL still refuses it.
    assert!(std::fs::symlink_metadata(in_ns(&dev)).is_err());
    let e = probe(&dev).unwrap_err();
    assert!(e.contains(eacces), "{e}");
    let lo_node = node(&dev, lo_major, lo_minor, NodeKind::Block);
    launcher
        .nsexec(pid, &[NsOp::Mknod(lo_node.clone())])
        .unwrap();
    let e = probe(&dev).unwrap_err();
    assert!(e.contains(eperm), "cgroup ACL must refuse: {e}");
    launcher
        .nsexec(
            pid,
            &[NsOp::Remove {
                path: dev.clone().into(),
            }],
        )
        .unwrap();

    // Grant: node + symlink in QEMU's /dev, cgroup rule, owner; QEMU opens it.
    let out = rvirt_ok(&d, &["grant", &vm, &dev, "--access", "rw"]);
    assert!(out.contains("Grant added successfully"), "{out}");
    let link = std::fs::read_link(in_ns(&dev)).unwrap();
    let base = dev.trim_start_matches("/dev/");
    assert_eq!(
        link,
        PathBuf::from(format!("/dev/.rvirt-hotplug/rw/{base}"))
    );
    assert!(in_ns(&format!("/dev/.rvirt-hotplug/rw/{base}")).exists());
    assert_eq!(
        owner(&dev).0,
        quid,
        "granted node chowned to QEMU's account"
    );
    assert!(common::remembered_owner_xattrs(Path::new(&dev)) > 0);
    probe(&dev).expect("QEMU opens the granted device");
    // What a user types: the same through libvirt's monitor passthrough.
    let add = serde_json::json!({"execute": "chardev-add", "arguments": {"id": "user0",
        "backend": {"type": "file", "data": {"out": dev}}}});
    let r = d.ok(&["qemu-monitor-command", &vm, &add.to_string()]);
    assert!(r.contains("\"return\""), "{r}");
    let del = r#"{"execute":"chardev-remove","arguments":{"id":"user0"}}"#;
    d.ok(&["qemu-monitor-command", &vm, del]);
    let status = std::fs::read_to_string(d.status_file(&vm)).unwrap();
    assert!(
        status.contains(&format!("b {lo_major}:{lo_minor} rw")),
        "the added cgroup rule is recorded: {status}"
    );

    // Other paths, same running guest: each layer still refuses.
    assert!(std::fs::symlink_metadata(in_ns(&other.0)).is_err());
    let e = probe(&other.0).unwrap_err();
    assert!(e.contains(eacces), "{e}");
    launcher
        .nsexec(pid, &[NsOp::Mknod(node(&other.0, 1, 11, NodeKind::Char))])
        .unwrap();
    let e = probe(&other.0).unwrap_err();
    assert!(e.contains(eperm), "cgroup ACL must refuse {}: {e}", other.0);
    let e = probe(secret.to_str().unwrap()).unwrap_err();
    assert!(e.contains(eacces), "DAC must refuse: {e}");
    let e = probe(outside.to_str().unwrap()).unwrap_err();
    assert!(e.contains(eacces), "Landlock must refuse: {e}");
    // Landlock cannot be widened on a running QEMU: the daemon says so, changes nothing.
    let e = rvirt_fails(&d, &["grant", &vm, outside.to_str().unwrap()]);
    assert!(e.contains("Landlock") && e.contains("--config"), "{e}");
    assert_eq!(owner(outside.to_str().unwrap()), (0, 0));
    // A file inside the start-time Landlock rules: DAC is what the grant changes.
    rvirt_ok(
        &d,
        &["grant", &vm, data.to_str().unwrap(), "--access", "rw"],
    );
    assert_eq!(owner(data.to_str().unwrap()).0, quid);
    probe(data.to_str().unwrap()).expect("QEMU opens the granted file");
    let e = rvirt_fails(&d, &["grant", &vm, data.to_str().unwrap()]);
    assert!(e.contains("already has a live grant"), "{e}");
    // Read-only grants are remembered and given back too.
    let ro = qmp_dir.join("ro.txt");
    std::fs::write(&ro, b"").unwrap();
    set_owner(&ro, 0o600);
    let ro = ro.to_str().unwrap();
    rvirt_ok(&d, &["grant", &vm, ro, "--access", "ro"]);
    assert_eq!(owner(ro).0, quid);
    rvirt_ok(&d, &["revoke", &vm, ro]);
    assert_eq!(owner(ro), (USER, USER));
    assert_eq!(common::remembered_owner_xattrs(Path::new(ro)), 0);
    // Through a symlink: the file it leads to changes owner, and gets it back.
    let link = qmp_dir.join("link.txt");
    std::os::unix::fs::symlink(ro, &link).unwrap();
    let link = link.to_str().unwrap();
    rvirt_ok(&d, &["grant", &vm, link, "--access", "rw"]);
    assert_eq!(owner(ro).0, quid);
    rvirt_ok(&d, &["revoke", &vm, link]);
    assert_eq!(owner(ro), (USER, USER));

    // The daemon restarts; QEMU and the grants stay.
    d.stop();
    d.spawn();
    assert_eq!(d.qemu_pid(&vm), pid);
    let live = d.ok(&["dumpxml", &vm]);
    assert!(
        live.contains(&format!("<rvirt:grant path='{dev}' access='rw'/>")),
        "{live}"
    );
    assert!(!d.ok(&["dumpxml", "--inactive", &vm]).contains(&dev));

    // Revoke: exactly what the grant did is undone.
    let out = rvirt_ok(&d, &["revoke", &vm, &dev]);
    assert!(out.contains("Grant revoked successfully"), "{out}");
    assert!(
        std::fs::symlink_metadata(in_ns(&dev)).is_err(),
        "symlink gone"
    );
    assert!(
        !in_ns(&format!("/dev/.rvirt-hotplug/rw/{base}")).exists(),
        "node gone"
    );
    assert_eq!(owner(&dev), (USER, USER), "owner given back");
    assert_eq!(common::remembered_owner_xattrs(Path::new(&dev)), 0);
    let e = probe(&dev).unwrap_err();
    assert!(e.contains(eacces), "{e}");
    launcher.nsexec(pid, &[NsOp::Mknod(lo_node)]).unwrap();
    let e = probe(&dev).unwrap_err();
    assert!(e.contains(eperm), "cgroup rule must be gone: {e}");
    let e = rvirt_fails(&d, &["revoke", &vm, qmp_dir.to_str().unwrap()]);
    assert!(e.contains("when it started"), "{e}");
    // A nested node: its directory is made in QEMU's /dev, and goes with the revoke.
    let nested_dir = HostDir(format!("/dev/rvirt-hotgrant-d{}", std::process::id()));
    std::fs::create_dir_all(&nested_dir.0).unwrap();
    let nested = format!("{}/zero", nested_dir.0);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        nested.as_str(),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 5),
    )
    .unwrap();
    rvirt_ok(&d, &["grant", &vm, &nested, "--access", "ro"]);
    assert!(std::fs::read_link(in_ns(&nested)).is_ok());
    rvirt_ok(&d, &["revoke", &vm, &nested]);
    assert!(
        !in_ns(&nested_dir.0).exists(),
        "the directory made for it is gone"
    );

    // The definition: --config adds and removes there only.
    rvirt_ok(&d, &["grant", &vm, &dev, "--access", "ro", "--config"]);
    let inactive = d.ok(&["dumpxml", "--inactive", &vm]);
    assert!(
        inactive.contains(&format!("<rvirt:grant path='{dev}' access='ro'/>")),
        "{inactive}"
    );
    assert!(!d.ok(&["dumpxml", &vm]).contains(&format!("path='{dev}'")));
    rvirt_ok(&d, &["revoke", &vm, &dev, "--config"]);
    assert!(!d.ok(&["dumpxml", "--inactive", &vm]).contains(&dev));

    // Bad requests name the path and the reason.
    let e = rvirt_fails(&d, &["grant", &vm, "relative/x"]);
    assert!(e.contains("'relative/x' must be absolute"), "{e}");
    let e = rvirt_fails(&d, &["grant", &vm, "/proc/self"]);
    assert!(e.contains("/proc and /sys cannot be granted"), "{e}");
    let e = rvirt_fails(&d, &["grant", &vm, "/nonexistent/x"]);
    assert!(e.contains("'/nonexistent/x' does not exist"), "{e}");
    let e = rvirt_fails(&d, &["-r", "grant", &vm, &dev]);
    assert!(e.contains("read only"), "{e}");

    // Stop: the file granted live (never revoked) is given back too.
    d.ok(&["destroy", &vm]);
    assert_eq!(owner(data.to_str().unwrap()), (USER, USER));
    assert_eq!(common::remembered_owner_xattrs(&data), 0);

    let _ = writeln!(
        table,
        "namespace /dev   absent                    symlink → .rvirt-hotplug/rw/{base:<6} absent (open refused)              symlink and node gone"
    );
    let _ = writeln!(
        table,
        "cgroup ACL       refused (EPERM) mknod'ed  b {lo_major}:{lo_minor} rw added, open OK          refused (EPERM) after mknod       rule removed: EPERM after mknod"
    );
    let _ = writeln!(
        table,
        "DAC              owner {USER}               chowned {quid}, xattrs kept          refused (EACCES), 0600 file       owner {USER}, xattrs gone"
    );
    let _ = writeln!(
        table,
        "Landlock         -                         allowed (hot-plug dir rule)        refused (EACCES); live grant      -\n\
         \x20                                                                           refused, naming Landlock"
    );
    let _ = writeln!(
        table,
        "(file grant of a 0600 file in a start-time Landlock dir: chowned {quid}, opened; owner {USER} back after stop)"
    );
    println!("\n{table}");
}
