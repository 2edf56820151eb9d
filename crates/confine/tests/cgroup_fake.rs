//! cgroup module against a fake cgroupfs tree in a temporary directory (no root).

use std::fs;
use std::path::Path;

use confine::cgroup::{
    CgroupError, CgroupLayout, Controller, DeviceKind, DeviceRule, Hierarchy, VmCgroup,
    group_dir_name, machine_name,
};

const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "name=systemd",
];

/// A hybrid tree like this host: v1 controllers under `<base>/<c>`, cgroup2 at
/// `<base>/unified` offering only hugetlb.
fn hybrid(base: &Path) -> CgroupLayout {
    let b = base.display();
    let mut mi = format!("31 23 0:28 / {b} rw,relatime - tmpfs tmpfs rw,mode=755\n");
    for (i, c) in V1_CONTROLLERS.iter().enumerate() {
        let dir = c.strip_prefix("name=").unwrap_or(c);
        fs::create_dir_all(base.join(dir)).unwrap();
        mi.push_str(&format!(
            "{} 31 0:{} / {b}/{dir} rw,relatime - cgroup cgroup rw,{c}\n",
            32 + i,
            29 + i
        ));
    }
    fs::create_dir_all(base.join("unified")).unwrap();
    fs::write(base.join("unified/cgroup.controllers"), "hugetlb\n").unwrap();
    mi.push_str(&format!(
        "41 31 0:38 / {b}/unified rw,relatime - cgroup2 cgroup2 rw\n"
    ));
    fs::write(base.join("cpuset/cpuset.cpus"), "0-3\n").unwrap();
    fs::write(base.join("cpuset/cpuset.mems"), "0\n").unwrap();
    CgroupLayout::detect(&mi).unwrap()
}

fn pure_v2(base: &Path) -> CgroupLayout {
    fs::create_dir_all(base).unwrap();
    fs::write(
        base.join("cgroup.controllers"),
        "cpuset cpu io memory hugetlb pids\n",
    )
    .unwrap();
    fs::write(base.join("cgroup.subtree_control"), "").unwrap();
    let mi = format!(
        "35 24 0:30 / {} rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate\n",
        base.display()
    );
    CgroupLayout::detect(&mi).unwrap()
}

fn read(p: impl AsRef<Path>) -> String {
    fs::read_to_string(p.as_ref()).unwrap_or_else(|e| panic!("read {}: {e}", p.as_ref().display()))
}

#[test]
fn hybrid_create_places_controllers_like_libvirt() {
    let td = tempfile::tempdir().unwrap();
    let base = td.path();
    let layout = hybrid(base);
    let machine = machine_name(1, "anchor-cmdline");
    let all: Vec<&str> = Controller::ALL.iter().map(|c| c.name()).collect();
    let vm = VmCgroup::create(&layout, "/machine", &machine, &all).unwrap();
    assert_eq!(vm.dir_name(), "qemu-1-anchor-cmdline.rvirt-qemu");
    assert_eq!(vm.partition(), "/machine");
    let g = "machine/qemu-1-anchor-cmdline.rvirt-qemu";
    // v1: cpu, cpuset, memory, freezer, blkio and name=systemd; v2: devices + cpuacct.
    let mut expected: Vec<_> = ["cpu", "cpuset", "memory", "freezer", "blkio", "systemd"]
        .iter()
        .map(|c| base.join(c).join(g))
        .collect();
    expected.push(base.join("unified").join(g));
    let mut got = vm.paths();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    assert!(
        !base.join("devices/machine").exists(),
        "v1 devices stays at the root"
    );
    assert!(!base.join("cpuacct/machine").exists());
    assert_eq!(
        vm.dir_for(Controller::Devices),
        Some(base.join("unified").join(g).as_path())
    );
    assert_eq!(vm.dir_for(Controller::Cpuacct), vm.v2_dir());
    assert_eq!(
        vm.dir_for(Controller::Memory),
        Some(base.join("memory").join(g).as_path())
    );
    assert_eq!(vm.dir_for(Controller::NetCls), None);
    for p in vm.procs_paths() {
        assert_eq!(p.file_name().unwrap(), "cgroup.procs");
    }
    // cpuset inherited for the partition and the VM group.
    assert_eq!(read(base.join("cpuset/machine/cpuset.cpus")), "0-3");
    assert_eq!(read(base.join("cpuset").join(g).join("cpuset.mems")), "0");
    // Nothing to enable on the unified side here (only hugetlb is offered).
    assert!(!base.join("unified/cgroup.subtree_control").exists());

    vm.add_pid(4242).unwrap();
    for p in vm.procs_paths() {
        assert_eq!(read(p), "4242");
    }
}

#[test]
fn v1_device_acl_file_writes() {
    let td = tempfile::tempdir().unwrap();
    let mut layout = hybrid(td.path());
    layout.force_devices(Some(Hierarchy::V1(0)));
    let mut vm = VmCgroup::create(
        &layout,
        "/machine",
        &machine_name(3, "v1"),
        &["devices", "cpu"],
    )
    .unwrap();
    let dir = td.path().join("devices/machine/qemu-3-v1.rvirt-qemu");
    assert_eq!(vm.dir_for(Controller::Devices), Some(dir.as_path()));
    assert!(vm.v2_dir().is_none());
    let rules = [
        DeviceRule::char_rw(1, 3),
        DeviceRule::rw(DeviceKind::Char, Some(136), None),
        DeviceRule {
            kind: DeviceKind::Block,
            major: Some(8),
            minor: Some(0),
            read: true,
            write: false,
            mknod: false,
        },
        DeviceRule::rw(DeviceKind::All, Some(10), None),
    ];
    vm.apply_device_acl(&rules).unwrap();
    assert_eq!(read(dir.join("devices.deny")), "a");
    assert_eq!(
        read(dir.join("devices.allow")),
        "c 1:3 rw\nc 136:* rw\nb 8:0 r\nc 10:* rw\nb 10:* rw\n"
    );
    vm.allow_device(&DeviceRule::char_rw(10, 232)).unwrap();
    assert_eq!(read(dir.join("devices.allow")), "c 10:232 rw\n");
    vm.deny_device(&DeviceRule::char_rw(10, 232)).unwrap();
    assert_eq!(read(dir.join("devices.deny")), "c 10:232 rw\n");
    fs::write(dir.join("devices.list"), "c 1:3 rw\nc 136:* rw\n").unwrap();
    assert_eq!(
        vm.device_rules().unwrap(),
        vec![
            DeviceRule::char_rw(1, 3),
            DeviceRule::rw(DeviceKind::Char, Some(136), None)
        ]
    );
}

#[test]
fn v1_acl_needs_the_devices_controller() {
    let td = tempfile::tempdir().unwrap();
    let layout = hybrid(td.path());
    let mut vm = VmCgroup::create(&layout, "/machine", "qemu-1-x", &["cpu"]).unwrap();
    assert!(matches!(
        vm.apply_device_acl(&[DeviceRule::char_rw(1, 3)]),
        Err(CgroupError::NoDevicesController)
    ));
}

#[test]
fn pure_v2_enables_controllers_down_the_partition() {
    let td = tempfile::tempdir().unwrap();
    let root = td.path().join("cg");
    let layout = pure_v2(&root);
    // The partition level exists already and offers what the root enabled.
    fs::create_dir_all(root.join("prod")).unwrap();
    fs::write(root.join("prod/cgroup.controllers"), "cpu io memory\n").unwrap();
    fs::write(root.join("prod/cgroup.subtree_control"), "cpu\n").unwrap();
    let vm = VmCgroup::create(
        &layout,
        "/prod/web",
        &machine_name(5, "www"),
        &["cpu", "memory", "blkio", "devices", "cpuacct", "freezer"],
    )
    .unwrap();
    assert_eq!(
        vm.paths(),
        vec![root.join("prod/web/qemu-5-www.rvirt-qemu")]
    );
    assert_eq!(
        vm.procs_paths(),
        vec![root.join("prod/web/qemu-5-www.rvirt-qemu/cgroup.procs")]
    );
    assert_eq!(
        read(root.join("cgroup.subtree_control")),
        "+cpu\n+memory\n+io\n"
    );
    // cpu was on already at /prod.
    assert_eq!(
        read(root.join("prod/cgroup.subtree_control")),
        "+memory\n+io\n"
    );
    // /prod/web is new and (in this fake tree) offers nothing.
    assert!(!root.join("prod/web/cgroup.subtree_control").exists());
    for c in [
        Controller::Cpu,
        Controller::Memory,
        Controller::Blkio,
        Controller::Devices,
        Controller::Cpuacct,
    ] {
        assert_eq!(vm.dir_for(c), vm.v2_dir(), "{c:?}");
    }
    assert_eq!(vm.dir_for(Controller::Freezer), None);
}

#[test]
fn create_errors() {
    let td = tempfile::tempdir().unwrap();
    let layout = hybrid(td.path());
    let e = VmCgroup::create(&layout, "/machine", "qemu-1-a", &["cpu", "bogus"]).unwrap_err();
    assert_eq!(e.to_string(), "Unknown cgroup controller 'bogus'");
    for p in ["machine", "/a/../b", "/a//b"] {
        assert!(matches!(
            VmCgroup::create(&layout, p, "qemu-1-a", &["cpu"]),
            Err(CgroupError::InvalidPartition(_))
        ));
    }
    assert!(matches!(
        VmCgroup::create(&layout, "/machine", "qemu-1-a", &["net_cls"]),
        Err(CgroupError::NoControllers(_))
    ));
    assert!(matches!(
        VmCgroup::create(&layout, "/machine", "qemu-1-a", &[]),
        Err(CgroupError::NoControllers(_))
    ));
    assert!(VmCgroup::create(&layout, "/machine", "../x", &["cpu"]).is_err());
    assert!(
        !td.path().join("cpu/machine").exists(),
        "nothing created on errors"
    );
}

#[test]
fn reconnect_from_proc_cgroup() {
    let td = tempfile::tempdir().unwrap();
    let base = td.path();
    let layout = hybrid(base);
    let machine = machine_name(1, "anchor-cmdline");
    let created = VmCgroup::create(
        &layout,
        "/machine",
        &machine,
        &[
            "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio",
        ],
    )
    .unwrap();
    // What libvirt 9.0's QEMU showed here, with our suffix and threads in sub-groups.
    let text = "\
9:name=systemd:/
8:pids:/
7:blkio:/machine/qemu-1-anchor-cmdline.rvirt-qemu
6:freezer:/machine/qemu-1-anchor-cmdline.rvirt-qemu
5:devices:/
4:memory:/machine/qemu-1-anchor-cmdline.rvirt-qemu
3:cpuset:/machine/qemu-1-anchor-cmdline.rvirt-qemu/emulator
2:cpuacct:/
1:cpu:/machine/qemu-1-anchor-cmdline.rvirt-qemu/emulator
0::/machine/qemu-1-anchor-cmdline.rvirt-qemu/emulator
";
    let found = VmCgroup::from_proc_cgroup(&layout, text, 77, Some(&machine)).unwrap();
    assert_eq!(found.dir_name(), created.dir_name());
    assert_eq!(found.partition(), "/machine");
    let (mut a, mut b) = (found.paths(), created.paths());
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert_eq!(found.procs_paths().len(), 6);
    assert_eq!(
        found.dir_for(Controller::Devices),
        created.dir_for(Controller::Devices)
    );
    // Without an expected name any *.rvirt-qemu group is taken.
    assert_eq!(
        VmCgroup::from_proc_cgroup(&layout, text, 77, None)
            .unwrap()
            .dir_name(),
        "qemu-1-anchor-cmdline.rvirt-qemu"
    );
    let e = VmCgroup::from_proc_cgroup(&layout, text, 77, Some("qemu-2-other")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "process 77 is not in the cgroup of VM qemu-2-other.rvirt-qemu"
    );
    assert!(VmCgroup::from_proc_cgroup(&layout, "0::/\n1:cpu:/\n", 1, None).is_err());
    // The real thing: this test process is in no VM group.
    assert!(matches!(
        VmCgroup::find_for_pid(&layout, std::process::id(), None),
        Err(CgroupError::NotInVmCgroup { .. })
    ));
}

#[test]
fn remove_rmdirs_everywhere_and_tolerates_gone() {
    let td = tempfile::tempdir().unwrap();
    let base = td.path();
    let layout = hybrid(base);
    let name = group_dir_name(9, "gone");
    let vm = VmCgroup::create(
        &layout,
        "/machine",
        &machine_name(9, "gone"),
        &["cpu", "blkio", "devices"],
    )
    .unwrap();
    let paths = vm.paths();
    assert_eq!(paths.len(), 3);
    // Thread sub-groups are removed first.
    fs::create_dir_all(base.join("cpu/machine").join(&name).join("vcpu0")).unwrap();
    // One hierarchy's group is already gone.
    fs::remove_dir(base.join("blkio/machine").join(&name)).unwrap();
    vm.remove().unwrap();
    for p in &paths {
        assert!(!p.exists(), "{}", p.display());
    }
    // The partition stays.
    assert!(base.join("cpu/machine").is_dir());
    // Removing again (re-adopted after it went) is fine too.
    let again = VmCgroup::create(&layout, "/machine", &machine_name(9, "gone"), &["cpu"]).unwrap();
    fs::remove_dir(&again.paths()[0]).unwrap();
    again.remove().unwrap();
}

#[test]
fn remove_reports_a_busy_group() {
    let td = tempfile::tempdir().unwrap();
    let layout = hybrid(td.path());
    let vm = VmCgroup::create(&layout, "/machine", "qemu-1-busy", &["cpu"]).unwrap();
    // A regular file stands in for a group that cannot go (rmdir fails).
    fs::write(vm.paths()[0].join("cgroup.procs"), "1").unwrap();
    let e = vm.remove().unwrap_err();
    assert!(e.to_string().starts_with("remove "), "{e}");
}

#[test]
fn auto_controllers_leave_name_systemd_alone() {
    let td = tempfile::tempdir().unwrap();
    let base = td.path();
    let layout = hybrid(base);
    let vm = VmCgroup::create(
        &layout,
        "/machine",
        "qemu-1-auto",
        &Controller::auto_names(),
    )
    .unwrap();
    // As libvirt 9.0 here: blkio, freezer, memory, cpuset, cpu on v1; v2 for the rest.
    assert_eq!(vm.paths().len(), 6);
    assert!(!base.join("systemd/machine").exists());
    assert!(!base.join("pids/machine").exists());
    assert!(vm.v2_dir().is_some());
}
