//! The confinement matrix of issue 4, proven on a live TCG guest: for the default and
//! for every switch of libvirt's kbase page "QEMU command-line passthrough", boot the
//! test guest to GUEST-READY and read the facts from /proc/PID and the filesystem —
//! never from our own bookkeeping — then print them as a table. Plus one induced
//! denial per layer, each named in the start error.

mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::Guard;
use rvirtd::launch::{StartError, start};

/// Owner of "the user's files" before a start; must come back after stop.
const USER_UID: u32 = 12345;
const USER_GID: u32 = 12345;
/// A host node outside every default ACL (c 1:11 is /dev/kmsg's number).
const TEST_NODE: &str = "/dev/rvirt-matrix-kmsg";

struct Case {
    name: &'static str,
    conf: &'static str,
    seclabel: &'static str,
    /// Extra `<qemu:arg>`s.
    args: Vec<String>,
}

#[derive(Debug, Default)]
struct Facts {
    uid: String,
    gid: String,
    groups: String,
    seccomp: String,
    nnp: String,
    own_mnt_ns: bool,
    dev: BTreeSet<String>,
    root_slave: bool,
    cgroup: String,
    env_exact: bool,
    image_owner_running: (u32, u32),
    image_owner_after: (u32, u32),
    xattrs_after: usize,
    ready_ms: u128,
}

fn status_field(pid: u32, key: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Files of one case: a rooted daemon tree, a user-owned disk image, a blob outside
/// the plan.
struct Fixture {
    root: tempfile::TempDir,
    image: PathBuf,
    blob: PathBuf,
    serial: PathBuf,
}

fn fixture() -> Fixture {
    let root = tempfile::tempdir().unwrap();
    // QEMU's account must be able to walk to the image (the DAC denial case below
    // uses its own 0700 directory).
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let images = root.path().join("images");
    std::fs::create_dir(&images).unwrap();
    let image = images.join("disk.raw");
    std::fs::copy(testkit::guest().disk_raw, &image).unwrap();
    std::os::unix::fs::chown(&image, Some(USER_UID), Some(USER_GID)).unwrap();
    std::fs::set_permissions(&image, std::fs::Permissions::from_mode(0o666)).unwrap();
    let outside = root.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let blob = outside.join("blob.bin");
    std::fs::write(&blob, b"rvirt").unwrap();
    std::fs::set_permissions(&blob, std::fs::Permissions::from_mode(0o644)).unwrap();
    let serial = root.path().join("serial.log");
    Fixture {
        root,
        image,
        blob,
        serial,
    }
}

/// `seclabel` is placed on `<domain>`; a part after `|` goes inside the disk's
/// `<source>` (per-disk labels).
fn domain_xml(name: &str, f: &Fixture, seclabel: &str, args: &[String]) -> String {
    let (seclabel, disk_label) = seclabel.split_once('|').unwrap_or((seclabel, ""));
    let g = testkit::guest();
    let mut qemu = String::new();
    if !args.is_empty() {
        qemu.push_str("<commandline xmlns='http://libvirt.org/schemas/domain/qemu/1.0'>");
        for a in args {
            let _ = write!(qemu, "<arg value='{a}'/>");
        }
        qemu.push_str("<env name='RVIRT_MATRIX' value='1'/></commandline>");
    }
    format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>128</memory>\
         <os><type arch='x86_64' machine='q35'>hvm</type><kernel>{}</kernel><initrd>{}</initrd>\
         <cmdline>console=ttyS0 panic=-1 quiet</cmdline></os><features><acpi/></features>\
         <devices><disk type='file' device='disk'><driver name='qemu' type='raw'/>\
         <source file='{}'>{disk_label}</source><target dev='vda' bus='virtio'/></disk>\
         <serial type='file'><source path='{}'/></serial></devices>{seclabel}{qemu}</domain>",
        g.vmlinux.display(),
        g.initramfs.display(),
        f.image.display(),
        f.serial.display()
    )
}

async fn start_case(
    conf: &str,
    name: &str,
    f: &Fixture,
    seclabel: &str,
    args: &[String],
    id: i32,
) -> Result<Guard, StartError> {
    let host = common::host(f.root.path(), conf);
    let caps = common::caps(f.root.path()).await;
    let mut d = domain_xml::parse_domain(&domain_xml(name, f, seclabel, args))
        .unwrap()
        .value;
    rvirtd::native::fill_defaults(&mut d, &caps);
    start(&host, &caps, &d, id).await.map(|r| Guard(Some(r)))
}

async fn run_case(case: &Case, id: i32) -> Facts {
    let f = fixture();
    let name = format!("matrix-{}", case.name);
    let args: Vec<String> = case
        .args
        .iter()
        .map(|a| a.replace("{BLOB}", &f.blob.to_string_lossy()))
        .collect();
    let mut g = start_case(case.conf, &name, &f, case.seclabel, &args, id)
        .await
        .unwrap_or_else(|e| panic!("case {}: {e}", case.name));
    let r = g.get();
    let pid = r.pid;
    let q = r.qmp.clone();
    let planned_env = r.plan.env.clone();
    q.execute("cont", None).await.unwrap();
    let t = Instant::now();
    common::wait_for(&f.serial, "GUEST-READY", Duration::from_secs(90));
    let mut facts = Facts {
        ready_ms: t.elapsed().as_millis(),
        ..Facts::default()
    };

    facts.uid = status_field(pid, "Uid");
    facts.gid = status_field(pid, "Gid");
    facts.groups = status_field(pid, "Groups");
    facts.seccomp = status_field(pid, "Seccomp");
    facts.nnp = status_field(pid, "NoNewPrivs");
    let ns = |p: &str| std::fs::read_link(p).unwrap();
    facts.own_mnt_ns = ns(&format!("/proc/{pid}/ns/mnt")) != ns("/proc/self/ns/mnt");
    facts.dev = std::fs::read_dir(format!("/proc/{pid}/root/dev"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    facts.root_slave = mountinfo
        .lines()
        .any(|l| l.split_whitespace().nth(4) == Some("/") && l.contains("master:"));
    facts.cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("0::"))
        .unwrap_or_default()
        .to_owned();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let env: Vec<(String, String)> = environ
        .split(|b| *b == 0)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let s = String::from_utf8_lossy(e);
            let (k, v) = s.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    facts.env_exact = env == planned_env;
    let md = std::fs::metadata(&f.image).unwrap();
    facts.image_owner_running = (md.uid(), md.gid());

    let _ = q.execute("quit", None).await;
    let mut r = g.0.take().unwrap();
    r.child.take().unwrap().wait().unwrap();
    let cgroup_dirs: Vec<PathBuf> = r
        .cleanup
        .cgroup
        .as_ref()
        .map(|c| c.paths())
        .unwrap_or_default();
    let problems = std::mem::take(&mut r.cleanup).run(&Default::default());
    for dir in &cgroup_dirs {
        assert!(
            !dir.exists(),
            "case {}: cgroup {} left after stop",
            case.name,
            dir.display()
        );
    }
    assert!(
        problems.is_empty(),
        "case {}: cleanup: {problems:?}",
        case.name
    );
    let md = std::fs::metadata(&f.image).unwrap();
    facts.image_owner_after = (md.uid(), md.gid());
    facts.xattrs_after = common::remembered_owner_xattrs(&f.image);
    facts
}

fn qemu_account() -> (u32, u32, u32) {
    let db = confine::dac::PasswdDb::load().unwrap();
    let u = db
        .user_by_name("rvirt-qemu")
        .expect("rvirt-qemu account (tools/setup-host.sh)");
    let kvm = db
        .group_by_name("kvm")
        .expect("kvm group (tools/setup-host.sh)");
    (u.uid, u.gid, kvm.gid)
}

/// QEMU's `/` must be a slave of ours; that shows as `master:` only when our root
/// is shared (kbase: `mount --make-rshared /`). Rather than change the host's
/// propagation under every other test, the matrix re-runs itself in a mount
/// namespace of its own whose root is shared. Returns false in the outer process.
fn in_shared_root_namespace(test: &str) -> bool {
    if std::env::var_os("RVIRT_TEST_SHARED_ROOT").is_some() {
        return true;
    }
    let exe = std::env::current_exe().unwrap();
    let status = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "shared", "--"])
        .arg(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("RVIRT_TEST_SHARED_ROOT", "1")
        .status()
        .expect("unshare (util-linux) is needed for the confinement matrix");
    assert!(
        status.success(),
        "the matrix failed inside its namespace: {status}"
    );
    false
}

struct TestNode;

impl TestNode {
    fn create() -> TestNode {
        let _ = std::fs::remove_file(TEST_NODE);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            TEST_NODE,
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::from_raw_mode(0o666),
            rustix::fs::makedev(1, 11),
        )
        .unwrap();
        std::fs::set_permissions(TEST_NODE, std::fs::Permissions::from_mode(0o666)).unwrap();
        TestNode
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(TEST_NODE);
    }
}

fn chardev_on(path: &str) -> Vec<String> {
    vec!["-chardev".into(), format!("file,id=matrix,path={path}")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_confinement_matrix() {
    common::require_root();
    common::require_qemu();
    if !in_shared_root_namespace("guest_confinement_matrix") {
        return;
    }
    let _node = TestNode::create();
    let (quid, qgid, kvm) = qemu_account();
    let acl_extra: &'static str = Box::leak(
        format!(
            "cgroup_device_acl = [ \"/dev/null\", \"/dev/full\", \"/dev/zero\", \"/dev/random\", \"/dev/urandom\", \"/dev/ptmx\", \"/dev/kvm\", \"{TEST_NODE}\" ]\n"
        )
        .into_boxed_str(),
    );
    let cases = vec![
        Case {
            name: "default",
            conf: "",
            seclabel: "",
            args: vec![],
        },
        Case {
            name: "seclabel-none",
            conf: "",
            seclabel: "<seclabel type='none'/>",
            args: vec![],
        },
        Case {
            name: "dac-root",
            conf: "",
            seclabel: "<seclabel type='static' model='dac' relabel='yes'><label>+0:+0</label></seclabel>",
            args: vec![],
        },
        Case {
            name: "default-confined-0",
            conf: "security_default_confined = 0\n",
            seclabel: "",
            args: vec![],
        },
        Case {
            name: "user-root",
            conf: "user = \"root\"\ngroup = \"root\"\n",
            seclabel: "",
            args: vec![],
        },
        Case {
            name: "drivers-none",
            conf: "security_driver = []\n",
            seclabel: "",
            args: vec![],
        },
        Case {
            name: "namespaces-off",
            conf: "namespaces = []\n",
            seclabel: "",
            args: vec![],
        },
        Case {
            name: "seccomp-0",
            conf: "seccomp_sandbox = 0\n",
            seclabel: "",
            args: vec![],
        },
        Case {
            name: "acl-extra-node",
            conf: acl_extra,
            seclabel: "",
            args: chardev_on(TEST_NODE),
        },
        Case {
            name: "no-devices-ctl",
            conf: "namespaces = []\nlandlock = 0\ncgroup_controllers = [ \"cpu\", \"memory\" ]\n",
            seclabel: "",
            args: chardev_on(TEST_NODE),
        },
        Case {
            name: "dyn-ownership-0",
            conf: "dynamic_ownership = 0\n",
            seclabel: "",
            args: vec![],
        },
        Case {
            name: "disk-relabel-no",
            conf: "",
            seclabel: "|<seclabel model='dac' relabel='no'/>",
            args: vec![],
        },
        // The blob is outside the plan: only reachable with Landlock off.
        Case {
            name: "landlock-0",
            conf: "landlock = 0\n",
            seclabel: "",
            args: vec!["-fw_cfg".into(), "name=opt/rvirt/blob,file={BLOB}".into()],
        },
    ];
    let mut table = String::from(
        "case                uid     gid     groups           seccomp nnp own-ns slave  image(run)   image(after) xattrs env  ready  /dev                                                 cgroup (v2)\n",
    );
    for (i, case) in cases.into_iter().enumerate() {
        let facts = run_case(&case, 10 + i as i32).await;
        let _ = writeln!(
            table,
            "{:<19} {:<7} {:<7} {:<16} {:<7} {:<3} {:<6} {:<6} {:<12} {:<12} {:<6} {:<4} {:<6} {:<52} {}",
            case.name,
            facts.uid.split(' ').next().unwrap_or(""),
            facts.gid.split(' ').next().unwrap_or(""),
            facts.groups,
            facts.seccomp,
            facts.nnp,
            facts.own_mnt_ns,
            facts.root_slave,
            format!(
                "{}:{}",
                facts.image_owner_running.0, facts.image_owner_running.1
            ),
            format!(
                "{}:{}",
                facts.image_owner_after.0, facts.image_owner_after.1
            ),
            facts.xattrs_after,
            facts.env_exact,
            facts.ready_ms,
            if facts.own_mnt_ns {
                facts.dev.iter().cloned().collect::<Vec<_>>().join(",")
            } else {
                "(the host's /dev)".to_owned()
            },
            facts.cgroup.trim_start_matches("0::")
        );

        // What every case must show, read from /proc and the filesystem.
        let runs_as = |uid: u32| facts.uid == format!("{uid} {uid} {uid} {uid}");
        assert!(
            facts.env_exact,
            "{}: environment differs from the plan",
            case.name
        );
        assert_eq!(
            facts.image_owner_after,
            (USER_UID, USER_GID),
            "{}: image owner not restored",
            case.name
        );
        assert_eq!(
            facts.xattrs_after, 0,
            "{}: remembered-owner xattrs left behind",
            case.name
        );
        assert!(
            facts.cgroup.contains(".rvirt-qemu") || case.name == "no-devices-ctl",
            "{}: cgroup {}",
            case.name,
            facts.cgroup
        );
        match case.name {
            "dac-root" | "user-root" | "drivers-none" => {
                assert!(runs_as(0), "{}: uid {}", case.name, facts.uid)
            }
            _ => {
                assert!(runs_as(quid), "{}: uid {}", case.name, facts.uid);
                assert!(
                    facts.gid.starts_with(&qgid.to_string()),
                    "{}: gid {}",
                    case.name,
                    facts.gid
                );
                assert!(
                    facts.groups.split(' ').any(|g| g == kvm.to_string()),
                    "{}: groups {}",
                    case.name,
                    facts.groups
                );
            }
        }
        match case.name {
            "seclabel-none" | "drivers-none" | "dyn-ownership-0" | "disk-relabel-no" => {
                assert_eq!(
                    facts.image_owner_running,
                    (USER_UID, USER_GID),
                    "{}: relabelled",
                    case.name
                )
            }
            "dac-root" | "user-root" => {
                assert_eq!(facts.image_owner_running, (0, 0), "{}", case.name)
            }
            _ => assert_eq!(
                facts.image_owner_running,
                (quid, qgid),
                "{}: image not chowned",
                case.name
            ),
        }
        assert_eq!(
            facts.seccomp,
            if case.name == "seccomp-0" { "0" } else { "2" },
            "{}",
            case.name
        );
        assert_eq!(facts.nnp, "1", "{}", case.name);
        if case.name == "namespaces-off" || case.name == "no-devices-ctl" {
            assert!(
                !facts.own_mnt_ns,
                "{}: expected the host mount namespace",
                case.name
            );
            assert!(
                facts.dev.contains("tty0"),
                "{}: expected the host /dev",
                case.name
            );
        } else {
            assert!(
                facts.own_mnt_ns,
                "{}: expected a private mount namespace",
                case.name
            );
            assert!(
                facts.root_slave,
                "{}: / is not a slave of the host's",
                case.name
            );
            let mut expected: BTreeSet<String> = [
                "full",
                "kvm",
                "null",
                "ptmx",
                "random",
                "urandom",
                "zero",
                "pts",
                "shm",
                // Empty, for grants added while QEMU runs.
                ".rvirt-hotplug",
            ]
            .map(String::from)
            .into();
            if case.name == "acl-extra-node" {
                expected.insert("rvirt-matrix-kmsg".into());
            }
            assert_eq!(facts.dev, expected, "{}: private /dev", case.name);
        }
    }
    println!("\n{table}");
}

/// One induced denial per layer; each start must fail and name the layer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_denials_name_their_layer() {
    common::require_root();
    common::require_qemu();
    let _node = TestNode::create();
    let mut report = String::from("layer               error\n");

    // DAC: the image sits in a directory QEMU's account cannot search.
    let f = fixture();
    let locked = f.root.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&locked, Some(USER_UID), Some(USER_GID)).unwrap();
    let hidden = locked.join("disk.raw");
    std::fs::rename(&f.image, &hidden).unwrap();
    let f = Fixture {
        image: hidden.clone(),
        ..f
    };
    let e = start_case("", "deny-dac", &f, "", &[], 40)
        .await
        .err()
        .expect("DAC denial expected");
    let msg = e.to_string();
    assert!(
        msg.contains("DAC") && msg.contains(&hidden.display().to_string()),
        "{msg}"
    );
    assert_eq!(
        std::fs::metadata(&hidden).unwrap().uid(),
        USER_UID,
        "owner restored after the refused start"
    );
    assert_eq!(common::remembered_owner_xattrs(&hidden), 0);
    let _ = writeln!(report, "{:<19} {}", "DAC", msg.lines().next().unwrap_or(""));

    // Namespace /dev: a host node QEMU's private /dev does not have.
    let f = fixture();
    let e = start_case("", "deny-ns", &f, "", &chardev_on(TEST_NODE), 41)
        .await
        .err()
        .expect("namespace denial expected");
    let msg = e.to_string();
    assert!(msg.contains("denied by namespace /dev"), "{msg}");
    let _ = writeln!(
        report,
        "{:<19} {}",
        "namespace /dev",
        first_denial_line(&msg)
    );

    // cgroup ACL: the node is visible (no namespace) but not in the device ACL.
    let f = fixture();
    let e = start_case(
        "namespaces = []\nlandlock = 0\n",
        "deny-cgroup",
        &f,
        "",
        &chardev_on(TEST_NODE),
        42,
    )
    .await
    .err()
    .expect("cgroup denial expected");
    let msg = e.to_string();
    assert!(msg.contains("denied by cgroup device ACL"), "{msg}");
    let _ = writeln!(report, "{:<19} {}", "cgroup ACL", first_denial_line(&msg));

    // Landlock: a passthrough argument opening a file outside the plan.
    let f = fixture();
    let args = vec![
        "-fw_cfg".to_owned(),
        format!("name=opt/rvirt/blob,file={}", f.blob.display()),
    ];
    let e = start_case("", "deny-landlock", &f, "", &args, 43)
        .await
        .err()
        .expect("Landlock denial expected");
    let msg = e.to_string();
    assert!(msg.contains("denied by Landlock"), "{msg}");
    let _ = writeln!(report, "{:<19} {}", "Landlock", first_denial_line(&msg));
    // ... and the same argument works with Landlock off.
    let f = fixture();
    let args = vec![
        "-fw_cfg".to_owned(),
        format!("name=opt/rvirt/blob,file={}", f.blob.display()),
    ];
    let mut g = start_case("landlock = 0\n", "allow-landlock", &f, "", &args, 44)
        .await
        .expect("works with landlock = 0");
    assert!(g.stop().is_empty());

    // security_require_confined refuses an unconfined guest.
    let f = fixture();
    let e = start_case(
        "security_require_confined = 1\n",
        "deny-unconfined",
        &f,
        "<seclabel type='none'/>",
        &[],
        46,
    )
    .await
    .err()
    .expect("require_confined refusal expected");
    assert!(e.to_string().contains("security_require_confined"), "{e}");

    // SELinux: not on this host; a domain that requires a label is refused clearly.
    let f = fixture();
    let label = "<seclabel type='dynamic' model='selinux'/>";
    let e = start_case("", "deny-selinux", &f, label, &[], 45)
        .await
        .err()
        .expect("SELinux refusal expected");
    let msg = e.to_string();
    assert!(msg.contains("SELinux is not enabled on this host"), "{msg}");
    let _ = writeln!(
        report,
        "{:<19} {}",
        "SELinux",
        msg.lines().next().unwrap_or("")
    );
    println!("\n{report}");
}

fn first_denial_line(msg: &str) -> &str {
    msg.lines()
        .find(|l| l.starts_with("denied by"))
        .unwrap_or(msg)
}

/// The seccomp layer: with `spawn=deny` (the default sandbox) QEMU is killed with
/// SIGSYS when it tries to spawn a helper (here an `exec:` migration); the exit is
/// named as a seccomp denial. With `seccomp_sandbox = 0` the same request runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_live_seccomp_denial_is_named() {
    common::require_root();
    common::require_qemu();
    for (conf, denied) in [("", true), ("seccomp_sandbox = 0\nlandlock = 0\n", false)] {
        let root = tempfile::tempdir().unwrap();
        let host = common::host(root.path(), conf);
        let caps = common::caps(root.path()).await;
        let mut d = domain_xml::parse_domain(
            "<domain type='kvm'><name>seccomp-spawn</name><memory unit='MiB'>64</memory>\
             <os><type arch='x86_64' machine='pc'>hvm</type></os></domain>",
        )
        .unwrap()
        .value;
        rvirtd::native::fill_defaults(&mut d, &caps);
        let mut g = Guard(Some(start(&host, &caps, &d, 50).await.unwrap()));
        let q = g.get().qmp.clone();
        // QEMU 7.2's sandbox kills QEMU (SIGSYS) for the fork; QEMU 10's fails the
        // fork with EPERM and QEMU answers with an error. Either is named.
        let reply = q
            .execute(
                "migrate",
                Some(serde_json::json!({"uri": "exec:cat > /dev/null"})),
            )
            .await;
        let refused = match &reply {
            Err(qemu::QmpError::Command { desc, .. }) => rvirtd::diagnose::qmp_denial(desc),
            _ => None,
        };
        let mut r = g.0.take().unwrap();
        let mut child = r.child.take().unwrap();
        let status = if denied && refused.is_none() {
            child.wait().unwrap()
        } else {
            let _ = q.execute("quit", None).await;
            child.wait().unwrap()
        };
        let denial = rvirtd::diagnose::exit_denial(status);
        if denied {
            let d = denial.or(refused).unwrap_or_else(|| {
                panic!("expected a SIGSYS exit or an EPERM fork, got {status} / {reply:?}")
            });
            assert_eq!(d.layer, rvirtd::diagnose::Layer::Seccomp);
            println!("seccomp             QEMU {status} / {reply:?}: {}", d.fix);
        } else {
            assert!(refused.is_none(), "{reply:?}");
            assert!(denial.is_none() && status.success(), "{status}");
        }
        assert!(
            std::mem::take(&mut r.cleanup)
                .run(&Default::default())
                .is_empty()
        );
    }
}
