//! Issue 6 on a live guest, all confinement on: a passthrough path is denied without
//! a grant (and the error names the layer and the grant that fixes it); with
//! `<rvirt:grant>` it works, and only that path: other paths in the same running
//! domain are still refused by each layer (private /dev, cgroup ACL, DAC, Landlock),
//! probed at run time with QMP `chardev-add`. After stop the granted file has its
//! owner back and no remembered-owner xattrs.

mod common;

use std::fmt::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::Guard;
use confine::launcher::NsOp;
use confine::spec::{DevNode, NodeKind};
use rvirtd::diagnose::{Context, Layer, diagnose};
use rvirtd::launch::start;

const USER: u32 = 12345;
/// A host node to grant (c 1:3, /dev/null's numbers) and one left ungranted (c 1:11).
const NODE_GRANTED: &str = "/dev/rvirt-grant-a";
const NODE_OTHER: &str = "/dev/rvirt-grant-b";

struct Nodes;

impl Nodes {
    fn create() -> Nodes {
        for (path, minor) in [(NODE_GRANTED, 3), (NODE_OTHER, 11)] {
            let _ = std::fs::remove_file(path);
            rustix::fs::mknodat(
                rustix::fs::CWD,
                path,
                rustix::fs::FileType::CharacterDevice,
                rustix::fs::Mode::from_raw_mode(0o666),
                rustix::fs::makedev(1, minor),
            )
            .unwrap();
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).unwrap();
        }
        Nodes
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(NODE_GRANTED);
        let _ = std::fs::remove_file(NODE_OTHER);
    }
}

struct Files {
    root: tempfile::TempDir,
    /// Granted rw; owned by the user, 0600: only reachable through the grant.
    out: PathBuf,
    /// A granted directory and an ungranted 0600 file inside it (DAC still says no).
    secret: PathBuf,
    granted_dir: PathBuf,
    /// Outside every grant, world-writable: only Landlock says no.
    other: PathBuf,
    serial: PathBuf,
}

fn files() -> Files {
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let srv = root.path().join("srv");
    std::fs::create_dir(&srv).unwrap();
    let out = srv.join("out.txt");
    std::fs::write(&out, b"").unwrap();
    std::os::unix::fs::chown(&out, Some(USER), Some(USER)).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o600)).unwrap();
    let granted_dir = srv.join("granted");
    std::fs::create_dir(&granted_dir).unwrap();
    std::fs::set_permissions(&granted_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = granted_dir.join("secret");
    std::fs::write(&secret, b"").unwrap();
    std::os::unix::fs::chown(&secret, Some(USER), Some(USER)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let other_dir = root.path().join("other");
    std::fs::create_dir(&other_dir).unwrap();
    let other = other_dir.join("x.txt");
    std::fs::write(&other, b"").unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o666)).unwrap();
    let serial = root.path().join("serial.log");
    Files {
        root,
        out,
        secret,
        granted_dir,
        other,
        serial,
    }
}

fn xml(name: &str, f: &Files, grants: &str) -> String {
    let g = testkit::guest();
    format!(
        "<domain type='qemu' xmlns:rvirt='urn:rvirt:schemas:domain:1.0'><name>{name}</name>\
         <memory unit='MiB'>128</memory>\
         <os><type arch='x86_64' machine='q35'>hvm</type><kernel>{}</kernel><initrd>{}</initrd>\
         <cmdline>console=ttyS0 panic=-1 quiet</cmdline></os><features><acpi/></features>\
         <devices><serial type='file'><source path='{}'/></serial></devices>\
         <commandline xmlns='http://libvirt.org/schemas/domain/qemu/1.0'>\
         <arg value='-chardev'/><arg value='file,id=pt0,path={}'/>\
         <arg value='-chardev'/><arg value='file,id=pt1,path={NODE_GRANTED}'/></commandline>\
         {grants}</domain>",
        g.vmlinux.display(),
        g.initramfs.display(),
        f.serial.display(),
        f.out.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_grants_allow_exactly_the_granted_paths() {
    common::require_root();
    common::require_qemu();
    let _nodes = Nodes::create();
    let f = files();
    let host = common::host(f.root.path(), "");
    let caps = common::caps(f.root.path()).await;
    let mut table =
        String::from("layer               no grant                  grant          other path\n");

    // Without grants: refused, naming the layer and the grant that would fix it.
    let mut d = domain_xml::parse_domain(&xml("no-grant", &f, ""))
        .unwrap()
        .value;
    rvirtd::native::fill_defaults(&mut d, &caps);
    let e = start(&host, &caps, &d, 60)
        .await
        .expect_err("an ungranted passthrough path must be refused");
    let msg = e.to_string();
    let line = msg
        .lines()
        .find(|l| l.starts_with("denied by"))
        .unwrap_or_else(|| panic!("no layer named: {msg}"));
    assert!(line.contains("<rvirt:grant path="), "{line}");
    let no_grant_layer = line
        .trim_start_matches("denied by ")
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(std::fs::metadata(&f.out).unwrap().uid(), USER);

    // With grants: boots, and the granted file is QEMU's for the run.
    let grants = format!(
        "<rvirt:grant path='{}' access='rw'/><rvirt:grant path='{}' access='rw'/><rvirt:grant path='{NODE_GRANTED}' access='rw'/>",
        f.out.display(),
        f.granted_dir.display()
    );
    let mut d = domain_xml::parse_domain(&xml("granted", &f, &grants))
        .unwrap()
        .value;
    rvirtd::native::fill_defaults(&mut d, &caps);
    let mut g = Guard(Some(
        start(&host, &caps, &d, 61)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    ));
    let r = g.get();
    let (pid, q, plan) = (r.pid, r.qmp.clone(), r.plan.clone());
    let id = r.identity.clone().expect("runs as the QEMU account");
    q.execute("cont", None).await.unwrap();
    common::wait_for(&f.serial, "GUEST-READY", Duration::from_secs(90));
    let qemu_uid = std::fs::metadata(&f.out).unwrap().uid();
    assert_eq!(
        qemu_uid, id.uid,
        "granted file chowned to QEMU's account for the run"
    );
    assert!(
        Path::new(&format!("/proc/{pid}/root{NODE_GRANTED}")).exists(),
        "granted node in the private /dev"
    );
    assert!(!Path::new(&format!("/proc/{pid}/root{NODE_OTHER}")).exists());

    // Other paths, same domain, while it runs: each layer still refuses.
    let ctx = Context {
        uid: id.uid,
        gid: id.gid,
        groups: id.groups.clone(),
        device_acl: true,
    };
    let probe = async |n: usize, path: &str| -> Option<rvirtd::diagnose::Denial> {
        let args = serde_json::json!({"id": format!("probe{n}"), "backend": {"type": "file", "data": {"out": path}}});
        match q.execute("chardev-add", Some(args)).await {
            Ok(_) => None,
            Err(e) => {
                let text = format!("{e}");
                diagnose(&text, &plan, &ctx)
                    .or_else(|| panic!("undiagnosed refusal for {path}: {text}"))
            }
        }
    };
    let ns = probe(1, NODE_OTHER).await.expect("ungranted node refused");
    assert_eq!(ns.layer, Layer::NamespaceDev, "{ns}");
    // Put the node into QEMU's /dev behind the daemon's back: the cgroup still refuses it.
    host.launcher
        .nsexec(
            pid,
            &[NsOp::Mknod(DevNode {
                path: NODE_OTHER.into(),
                kind: NodeKind::Char,
                major: 1,
                minor: 11,
                mode: 0o666,
                uid: 0,
                gid: 0,
            })],
        )
        .unwrap();
    let cg = probe(2, NODE_OTHER)
        .await
        .expect("ungranted device refused by the cgroup");
    assert_eq!(cg.layer, Layer::CgroupAcl, "{cg}");
    let dac = probe(3, &f.secret.to_string_lossy())
        .await
        .expect("0600 file of another user refused");
    assert_eq!(dac.layer, Layer::Dac, "{dac}");
    let ll = probe(4, &f.other.to_string_lossy())
        .await
        .expect("file outside the grants refused");
    assert_eq!(ll.layer, Layer::Landlock, "{ll}");
    // ... while the granted ones work at run time too.
    assert!(probe(5, &f.out.to_string_lossy()).await.is_none());
    assert!(
        probe(6, &f.granted_dir.join("new.txt").to_string_lossy())
            .await
            .is_none()
    );

    let _ = q.execute("quit", None).await;
    assert!(g.stop().is_empty());
    let md = std::fs::metadata(&f.out).unwrap();
    assert_eq!(
        (md.uid(), md.gid()),
        (USER, USER),
        "granted file's owner restored"
    );
    assert_eq!(
        common::remembered_owner_xattrs(&f.out),
        0,
        "remembered-owner xattrs removed"
    );

    table.push_str(
        "namespace /dev      -                         node present   refused (namespace /dev)\n",
    );
    table.push_str("cgroup ACL          -                         allowed        refused (cgroup ACL) after mknod\n");
    let _ = writeln!(
        table,
        "{:<19} {:<25} {:<14} refused (DAC), owner restored after stop",
        "DAC",
        format!("refused ({no_grant_layer})"),
        format!("chowned {qemu_uid}")
    );
    table.push_str(
        "Landlock            -                         allowed        refused (Landlock)\n",
    );
    println!("\n{table}");
}
