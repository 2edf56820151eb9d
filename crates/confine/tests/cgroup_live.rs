//! Live tests against the host's real cgroupfs. They need root and FAIL (never skip)
//! without it. Each uses its own partition `/rvirt-test-<pid>-<tag>` and cleans up in
//! a Drop guard (children killed, VM group and partition removed) even on failure.
//!
//! The memory controller is left out on purpose: the test runner's own memory
//! cgroup is not ours to move processes out of.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use confine::cgroup::{
    CgroupLayout, Controller, DeviceAcl, DeviceKind, DeviceRule, Hierarchy, VmCgroup, machine_name,
};

const CONTROLLERS: &[&str] = &["cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio"];

fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "cgroup_live_* tests need root (they create real cgroups and attach BPF programs); run them as root"
    );
}

/// Kills the children and removes the VM group and the test partition on drop.
struct Guard {
    layout: CgroupLayout,
    partition: String,
    vm: Option<VmCgroup>,
    children: Vec<Child>,
}

impl Guard {
    fn new(tag: &str) -> Self {
        require_root();
        let layout = CgroupLayout::detect_host().expect("detect the host's cgroup layout");
        assert!(
            !layout.is_empty(),
            "no cgroup hierarchy is mounted on this host"
        );
        Guard {
            layout,
            partition: format!("/rvirt-test-{}-{tag}", std::process::id()),
            vm: None,
            children: Vec::new(),
        }
    }

    fn vm(&mut self) -> &mut VmCgroup {
        self.vm.as_mut().expect("VM cgroup created")
    }

    /// `sleep 30`, moved into the VM group with `add_pid`.
    fn spawn_sleeper(&mut self) -> u32 {
        let child = Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id();
        self.children.push(child);
        self.vm().add_pid(pid).expect("add_pid");
        pid
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let mut parents = Vec::new();
        if let Some(vm) = self.vm.take() {
            parents = vm
                .paths()
                .iter()
                .filter_map(|p| p.parent().map(PathBuf::from))
                .collect();
            if let Err(e) = vm.remove() {
                eprintln!("cleanup: removing the VM cgroup failed: {e}");
            }
        }
        let rel = self.partition.trim_start_matches('/');
        let mut mounts: Vec<PathBuf> = self
            .layout
            .v1
            .iter()
            .map(|m| m.mount_point.clone())
            .collect();
        if let Some(v2) = &self.layout.v2 {
            mounts.push(v2.mount_point.clone());
        }
        parents.extend(mounts.iter().map(|m| m.join(rel)));
        for p in parents {
            match std::fs::remove_dir(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => eprintln!("cleanup: rmdir {}: {e}", p.display()),
            }
        }
    }
}

/// Runs `script` with `sh` after the shell has joined the VM group (it writes its
/// own pid to every `cgroup.procs` first).
fn run_in(vm: &VmCgroup, script: &str) -> Output {
    let full = format!("for f in \"$@\"; do echo $$ > \"$f\" || exit 99; done; {script}");
    let out = Command::new("sh")
        .arg("-c")
        .arg(full)
        .arg("sh")
        .args(vm.procs_paths())
        .stdin(Stdio::null())
        .output()
        .expect("run sh");
    assert_ne!(
        out.status.code(),
        Some(99),
        "joining the cgroup failed: {out:?}"
    );
    out
}

fn assert_zero_denied(vm: &VmCgroup) {
    let out = run_in(vm, "head -c1 /dev/zero >/dev/null");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("Operation not permitted"),
        "reading /dev/zero inside the VM cgroup should fail with EPERM: {out:?}"
    );
}

fn assert_zero_allowed(vm: &VmCgroup) {
    let out = run_in(vm, "head -c1 /dev/zero >/dev/null");
    assert!(
        out.status.success(),
        "reading /dev/zero should work now: {out:?}"
    );
}

fn assert_null_allowed(vm: &VmCgroup) {
    let out = run_in(vm, "echo x >/dev/null && head -c1 /dev/null && echo ok");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ok"),
        "/dev/null should be usable inside the VM cgroup: {out:?}"
    );
}

/// Checks that /proc/PID/cgroup places `pid` in the VM group in every hierarchy the
/// VM has, and that find_for_pid adopts the same directories.
fn assert_member(g: &Guard, pid: u32, machine: &str) {
    let vm = g.vm.as_ref().expect("vm");
    let text =
        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read /proc/PID/cgroup");
    let want = format!("{}/{}", g.partition, vm.dir_name());
    let lines: Vec<&str> = text.lines().filter(|l| l.ends_with(&want)).collect();
    assert_eq!(
        lines.len(),
        vm.paths().len(),
        "pid {pid} should be in {want} in each of {:?}; /proc/PID/cgroup:\n{text}",
        vm.paths()
    );
    let found = VmCgroup::find_for_pid(&g.layout, pid, Some(machine)).expect("find_for_pid");
    assert_eq!(found.paths(), vm.paths());
    assert_eq!(found.partition(), g.partition);
    assert!(VmCgroup::find_for_pid(&g.layout, pid, Some("qemu-9-other")).is_err());
}

#[test]
fn cgroup_live_v2_bpf_device_acl() {
    let mut g = Guard::new("bpf");
    assert_eq!(
        g.layout.hierarchy_of(Controller::Devices),
        Some(Hierarchy::V2),
        "expected the device ACL on cgroup v2 (BPF) on this host: {:?}",
        g.layout
    );
    let machine = machine_name(1, "live bpf");
    g.vm = Some(VmCgroup::create(&g.layout, &g.partition, &machine, CONTROLLERS).expect("create"));
    for p in g.vm().paths() {
        assert!(p.is_dir(), "{} should exist", p.display());
    }
    let v2 = g.vm().v2_dir().expect("a v2 group").to_path_buf();
    assert!(v2.ends_with(format!(
        "{}/qemu-1-livebpf.rvirt-qemu",
        g.partition.trim_start_matches('/')
    )));

    let sleeper = g.spawn_sleeper();
    assert_member(&g, sleeper, &machine);
    assert_eq!(g.vm().pids().unwrap(), vec![sleeper]);

    // Before any ACL everything is allowed.
    assert_zero_allowed(g.vm());

    g.vm()
        .apply_device_acl(&[DeviceRule::char_rw(1, 3)])
        .expect("apply ACL");
    assert_zero_denied(g.vm());
    assert_null_allowed(g.vm());
    assert_eq!(
        g.vm().device_rules().unwrap(),
        vec![DeviceRule::char_rw(1, 3)]
    );
    let prog_id = match g.vm().device_acl() {
        Some(DeviceAcl::V2(b)) => {
            assert_eq!(b.max_entries(), 64);
            b.prog_id()
        }
        other => panic!("expected the BPF ACL, got {other:?}"),
    };

    // Simulated daemon restart: drop every fd, find program and map again.
    drop(g.vm.take());
    let mut vm = VmCgroup::find_for_pid(&g.layout, sleeper, Some(&machine)).expect("re-adopt");
    assert!(
        vm.reconnect_device_acl().expect("find the BPF program"),
        "program not found again"
    );
    match vm.device_acl() {
        Some(DeviceAcl::V2(b)) => assert_eq!(b.prog_id(), prog_id),
        other => panic!("expected the BPF ACL, got {other:?}"),
    }
    g.vm = Some(vm);
    assert_eq!(
        g.vm().device_rules().unwrap(),
        vec![DeviceRule::char_rw(1, 3)]
    );
    // Still enforced with no fd open in this process.
    assert_zero_denied(g.vm());

    g.vm()
        .allow_device(&DeviceRule::char_rw(1, 5))
        .expect("allow /dev/zero");
    assert_zero_allowed(g.vm());
    g.vm()
        .deny_device(&DeviceRule::char_rw(1, 5))
        .expect("deny /dev/zero");
    assert_zero_denied(g.vm());
    assert_null_allowed(g.vm());

    // Wildcard minor: c 1:* r lets /dev/zero be read.
    let any_minor = DeviceRule {
        read: true,
        write: false,
        ..DeviceRule::rw(DeviceKind::Char, Some(1), None)
    };
    g.vm().allow_device(&any_minor).unwrap();
    assert_zero_allowed(g.vm());
    g.vm().deny_device(&any_minor).unwrap();
    assert_zero_denied(g.vm());

    // More rules than the map holds: it doubles, the program is swapped.
    for minor in 0..70 {
        g.vm()
            .allow_device(&DeviceRule::char_rw(200, minor))
            .expect("allow many");
    }
    match g.vm().device_acl() {
        Some(DeviceAcl::V2(b)) => {
            assert_eq!(b.max_entries(), 128);
            assert_ne!(b.prog_id(), prog_id);
        }
        other => panic!("expected the BPF ACL, got {other:?}"),
    }
    assert_eq!(g.vm().device_rules().unwrap().len(), 71);
    assert_zero_denied(g.vm());
    assert_null_allowed(g.vm());
    // Only the new program is attached: a fresh reconnect finds the big map.
    let mut again = VmCgroup::find_for_pid(&g.layout, sleeper, Some(&machine)).unwrap();
    assert!(again.reconnect_device_acl().unwrap());
    match again.device_acl() {
        Some(DeviceAcl::V2(b)) => assert_eq!(b.max_entries(), 128),
        other => panic!("expected the BPF ACL, got {other:?}"),
    }
    drop(again);

    // Removal after the processes are gone.
    for c in &mut g.children {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    g.children.clear();
    assert_eq!(g.vm().pids().unwrap(), Vec::<u32>::new());
    let paths = g.vm().paths();
    g.vm.take().unwrap().remove().expect("remove");
    for p in paths {
        assert!(!p.exists(), "{} should be gone", p.display());
    }
}

#[test]
fn cgroup_live_v1_devices_acl() {
    let mut g = Guard::new("v1dev");
    let Some(i) = g
        .layout
        .v1
        .iter()
        .position(|m| m.controllers.iter().any(|c| c == "devices"))
    else {
        eprintln!("no v1 devices controller mounted on this host: v1 device ACL not testable here");
        return;
    };
    g.layout.force_devices(Some(Hierarchy::V1(i)));
    assert_eq!(
        g.layout.hierarchy_of(Controller::Devices),
        Some(Hierarchy::V1(i))
    );
    let machine = machine_name(2, "live-v1");
    g.vm = Some(VmCgroup::create(&g.layout, &g.partition, &machine, CONTROLLERS).expect("create"));
    let devdir = g
        .vm()
        .dir_for(Controller::Devices)
        .expect("devices dir")
        .to_path_buf();
    assert!(devdir.starts_with(&g.layout.v1[i].mount_point));

    let sleeper = g.spawn_sleeper();
    assert_member(&g, sleeper, &machine);

    g.vm()
        .apply_device_acl(&[
            DeviceRule::char_rw(1, 3),
            DeviceRule::rw(DeviceKind::Char, Some(136), None),
        ])
        .expect("apply ACL");
    let list = std::fs::read_to_string(devdir.join("devices.list")).unwrap();
    let mut lines: Vec<&str> = list.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, vec!["c 136:* rw", "c 1:3 rw"]);
    assert_zero_denied(g.vm());
    assert_null_allowed(g.vm());

    // Reconnect and hotplug.
    drop(g.vm.take());
    let mut vm = VmCgroup::find_for_pid(&g.layout, sleeper, Some(&machine)).expect("re-adopt");
    assert!(vm.reconnect_device_acl().unwrap());
    assert!(matches!(vm.device_acl(), Some(DeviceAcl::V1(_))));
    g.vm = Some(vm);
    g.vm().allow_device(&DeviceRule::char_rw(1, 5)).unwrap();
    assert_zero_allowed(g.vm());
    assert_eq!(g.vm().device_rules().unwrap().len(), 3);
    g.vm().deny_device(&DeviceRule::char_rw(1, 5)).unwrap();
    assert_zero_denied(g.vm());
}
