//! The start sequence and its rollback, on the recording fake.

use std::path::PathBuf;

use launch_spec::{
    DevNode, DeviceKind, DeviceRule, FdSource, Identity, LandlockRules, LaunchSpec, NamespaceSpec,
    NodeKind, PassFd,
};

use super::fake::{RecordingExecHost, RecordingHooks};
use super::*;

const LIB: &str = "/var/lib/rvirt/qemu/domain-1-vm";
const DISK: &str = "/img/vm.qcow2";
const QEMU: Identity = Identity {
    uid: 999,
    gid: 994,
    groups: Vec::new(),
};

fn qemu() -> Identity {
    Identity {
        groups: vec![994, 995],
        ..QEMU
    }
}

fn dir(path: &str, what: &str) -> DirPlan {
    DirPlan {
        path: path.into(),
        mode: 0o750,
        uid: 999,
        gid: 994,
        what: what.into(),
    }
}

/// A KVM domain with one disk, all confinement on.
fn default_plan() -> StartPlan {
    let mut owners = Transaction::new();
    owners.add("disk vda", DISK, 999, 994, true);
    StartPlan {
        domain: "vm".into(),
        lib_dir: dir(LIB, "per-domain directory"),
        reach: Some(Reach {
            within: "/var/lib/rvirt".into(),
            who: qemu(),
        }),
        log_dir: "/var/log/rvirt/qemu".into(),
        dirs: Vec::new(),
        files: Vec::new(),
        fds: vec![PassFd {
            fd: 4,
            owner: "monitor".into(),
            source: FdSource::UnixListener {
                path: format!("{LIB}/monitor.sock"),
            },
        }],
        cgroup: Some(CgroupPlan {
            partition: "/machine".into(),
            machine: "qemu-1-vm".into(),
            controllers: vec!["devices".into(), "memory".into()],
            device_acl: Some(vec![
                DeviceRule::rw(DeviceKind::Char, Some(136), None),
                DeviceRule::char_rw(10, 232),
            ]),
        }),
        helpers: Vec::new(),
        log_path: "/var/log/rvirt/qemu/vm.log".into(),
        log_header: "LC_ALL=C \\\n/usr/bin/qemu-system-x86_64 \\\n-name guest=vm\n".into(),
        launch: LaunchSpec {
            name: "vm".into(),
            emulator: "/usr/bin/qemu-system-x86_64".into(),
            args: vec!["-S".into()],
            env: Vec::new(),
            cwd: LIB.into(),
            identity: Some(qemu()),
            namespace: Some(NamespaceSpec {
                dev_nodes: vec![DevNode {
                    path: "/dev/kvm".into(),
                    kind: NodeKind::Char,
                    major: 10,
                    minor: 232,
                    mode: 0o660,
                    uid: 0,
                    gid: 995,
                }],
                dirs: Vec::new(),
                scratch_dir: "/run/rvirt/qemu/1-vm.dev".into(),
            }),
            cgroup_procs: Vec::new(),
            selinux_exec_label: None,
            landlock: Some(LandlockRules::default()),
            log_path: "/var/log/rvirt/qemu/vm.log".into(),
            keep_fds: vec![4],
        },
        owners,
        labels: Vec::new(),
        access_checks: vec![AccessCheck {
            path: DISK.into(),
            write: true,
            origin: "disk vda".into(),
        }],
    }
}

fn host() -> RecordingExecHost {
    let h = RecordingExecHost::new();
    h.ops.add_dir("/", 0, 0, 0o755);
    h.ops.add_dir("/img", 0, 0, 0o755);
    h.ops.add_file(DISK, 4242, 4242, 0o640);
    h.ops.set_boot_time(1_700_000_000);
    h
}

const DEFAULT_SEQUENCE: &[&str] = &[
    "mkdir /var/lib/rvirt/qemu/domain-1-vm 750 999:994",
    "reach /var/lib/rvirt/qemu/domain-1-vm for 999 within /var/lib/rvirt",
    "mkdir /var/log/rvirt/qemu 755 0:0",
    "listen /var/lib/rvirt/qemu/domain-1-vm/monitor.sock",
    "cgroup /machine/qemu-1-vm [devices,memory] acl: c 136:* rw, c 10:232 rw",
    "log /var/log/rvirt/qemu/vm.log (3 lines)",
    "mkdir /run/rvirt/qemu/1-vm.dev 700 0:0",
    "spawn /usr/bin/qemu-system-x86_64 as 999:994 fds [4] dev [/dev/kvm] cgroup.procs 1 landlock true",
    "go",
];

#[test]
fn default_domain_runs_every_step_in_order() {
    let h = host();
    let mut hooks = RecordingHooks::default();
    let started = execute(&h, &default_plan(), &mut hooks).unwrap();
    assert_eq!(h.log(), DEFAULT_SEQUENCE);
    // The original owner journaled before the chown, then held.
    assert_eq!(
        hooks.journal,
        [
            "journal /img/vm.qcow2 orig Some((4242, 4242)) -> 999:994",
            "hold 1"
        ]
    );
    assert_eq!(h.ops.owner(DISK), Some((999, 994)));
    let done = started.done;
    assert_eq!(done.lib_dir.as_deref(), Some(std::path::Path::new(LIB)));
    assert_eq!(done.cgroup.as_deref(), Some("/machine/qemu-1-vm"));
    assert_eq!(done.sockets.len(), 1);
    assert!(done.owners.is_some());
}

#[test]
fn seclabel_none_changes_no_owner() {
    let h = host();
    // Nothing is relabelled: the file must be readable as it is.
    h.ops.add_file(DISK, 4242, 4242, 0o666);
    let mut plan = default_plan();
    plan.owners = Transaction::new();
    let mut hooks = RecordingHooks::default();
    execute(&h, &plan, &mut hooks).unwrap();
    assert_eq!(h.log(), DEFAULT_SEQUENCE);
    assert!(hooks.journal.is_empty());
    assert_eq!(h.ops.owner(DISK), Some((4242, 4242)));
}

#[test]
fn root_without_namespace_or_cgroup() {
    let h = host();
    let mut plan = default_plan();
    plan.launch.identity = None;
    plan.launch.namespace = None;
    plan.cgroup = None;
    plan.reach = None;
    let mut hooks = RecordingHooks::default();
    execute(&h, &plan, &mut hooks).unwrap();
    assert_eq!(
        h.log(),
        [
            "mkdir /var/lib/rvirt/qemu/domain-1-vm 750 999:994",
            "mkdir /var/log/rvirt/qemu 755 0:0",
            "listen /var/lib/rvirt/qemu/domain-1-vm/monitor.sock",
            "log /var/log/rvirt/qemu/vm.log (3 lines)",
            "spawn /usr/bin/qemu-system-x86_64 as root fds [4] dev [] cgroup.procs 0 landlock true",
            "go",
        ]
    );
}

#[test]
fn grants_chown_remembered_and_reach_the_private_dev() {
    let h = host();
    h.ops.add_dir("/dev", 0, 0, 0o755);
    h.ops
        .add_node("/dev/sdb", crate::hostops::FileKind::Block, 0, 6, 0o660);
    let mut plan = default_plan();
    plan.owners
        .add("grant /dev/sdb", "/dev/sdb", 999, 994, true);
    if let Some(ns) = plan.launch.namespace.as_mut() {
        ns.dev_nodes.push(DevNode {
            path: "/dev/sdb".into(),
            kind: NodeKind::Block,
            major: 8,
            minor: 16,
            mode: 0o660,
            uid: 0,
            gid: 6,
        });
    }
    if let Some(cg) = plan.cgroup.as_mut() {
        cg.device_acl
            .get_or_insert_with(Vec::new)
            .push(DeviceRule::rw(DeviceKind::Block, Some(8), Some(16)));
    }
    let mut hooks = RecordingHooks::default();
    execute(&h, &plan, &mut hooks).unwrap();
    let log = h.log();
    assert!(
        log.iter().any(|l| l.ends_with("c 10:232 rw, b 8:16 rw")),
        "{log:?}"
    );
    assert!(
        log.iter().any(|l| l.contains("dev [/dev/kvm,/dev/sdb]")),
        "{log:?}"
    );
    assert_eq!(h.ops.owner("/dev/sdb"), Some((999, 994)));
    assert_eq!(
        h.ops
            .xattr("/dev/sdb", "trusted.libvirt.security.dac")
            .as_deref(),
        Some("+0:+6")
    );
    assert_eq!(hooks.journal.last().map(String::as_str), Some("hold 2"));
}

#[test]
fn hugepages_directory_is_made_unless_it_exists() {
    let h = host();
    let mut plan = default_plan();
    let huge = "/dev/hugepages/libvirt/qemu-x/1-vm";
    plan.dirs.push(dir(huge, "memory backing"));
    let mut hooks = RecordingHooks::default();
    let started = execute(&h, &plan, &mut hooks).unwrap();
    assert_eq!(
        h.log()[3],
        format!("mkdir {huge} 750 999:994"),
        "{:?}",
        h.log()
    );
    assert_eq!(started.done.created_dirs, [PathBuf::from(huge)]);

    let h = host();
    h.add_existing(huge);
    execute(&h, &plan, &mut RecordingHooks::default()).unwrap();
    assert!(!h.log().iter().any(|l| l.contains("hugepages")));
}

/// The undo lines for what exists after the last successful step of `failing`.
fn rollback_of(failing: &str) -> Vec<&'static str> {
    let lib = "rmdir /var/lib/rvirt/qemu/domain-1-vm";
    let sock = "rm /var/lib/rvirt/qemu/domain-1-vm/monitor.sock";
    let cg = "rmcgroup /machine/qemu-1-vm";
    let scratch = "rmdir /run/rvirt/qemu/1-vm.dev";
    match failing {
        "mkdir" => vec![],
        "reach" => vec![lib],
        "listen" => vec![lib],
        "cgroup" => vec![sock, lib],
        "log" => vec![cg, sock, lib],
        _ => vec![cg, sock, scratch, lib],
    }
}

#[test]
fn a_failure_at_each_step_undoes_what_was_done() {
    for failing in ["mkdir", "reach", "listen", "cgroup", "log", "spawn", "go"] {
        let h = host();
        h.fail(failing);
        let mut hooks = RecordingHooks::default();
        let err = execute(&h, &default_plan(), &mut hooks).unwrap_err();
        assert!(err.rollback.is_empty(), "{failing}: {:?}", err.rollback);
        let log = h.log();
        let at = log
            .iter()
            .position(|l| l.split_whitespace().next() == Some(failing))
            .unwrap();
        let undo: Vec<&str> = log[at + 1..].iter().map(String::as_str).collect();
        assert_eq!(undo, rollback_of(failing), "{failing}: {log:?}");
        // Owners changed only after the launcher is prepared: given back on `go`.
        let expect_owner = (4242, 4242);
        assert_eq!(h.ops.owner(DISK), Some(expect_owner), "{failing}");
        assert!(
            h.ops.file(DISK).unwrap().xattrs.is_empty(),
            "{failing}: xattrs left"
        );
        if failing == "go" {
            assert_eq!(hooks.journal.last().map(String::as_str), Some("released"));
            assert_eq!(err.step, Step::Launcher);
        }
    }
}

#[test]
fn a_dac_or_access_failure_undoes_the_launch_too() {
    // chown refused (EIO): nothing stays chowned.
    let h = host();
    h.ops.fail(crate::hostops::HostOp::Chown, DISK, libc::EIO);
    let err = execute(&h, &default_plan(), &mut RecordingHooks::default()).unwrap_err();
    assert_eq!(err.step, Step::Dac);
    assert!(!h.log().iter().any(|l| l == "go"));
    assert_eq!(h.ops.owner(DISK), Some((4242, 4242)));
    assert!(h.log().ends_with(&[
        "rmcgroup /machine/qemu-1-vm".to_owned(),
        "rm /var/lib/rvirt/qemu/domain-1-vm/monitor.sock".to_owned(),
        "rmdir /run/rvirt/qemu/1-vm.dev".to_owned(),
        "rmdir /var/lib/rvirt/qemu/domain-1-vm".to_owned(),
    ]));

    // QEMU's account cannot search /img: refused before QEMU runs, owner back.
    let h = host();
    h.ops.add_dir("/img", 0, 0, 0o700);
    let mut hooks = RecordingHooks::default();
    let err = execute(&h, &default_plan(), &mut hooks).unwrap_err();
    assert_eq!(err.step, Step::AccessCheck);
    assert!(err.message.starts_with("disk vda: "), "{}", err.message);
    assert_eq!(h.ops.owner(DISK), Some((4242, 4242)));
    assert_eq!(hooks.journal.last().map(String::as_str), Some("released"));
}

#[test]
fn a_shared_file_keeps_its_owner_on_rollback() {
    let h = host();
    h.fail("go");
    let mut hooks = RecordingHooks::default();
    hooks.shared.insert(DISK.into());
    // Another domain uses the disk already (chowned by it).
    h.ops.chown(std::path::Path::new(DISK), 999, 994).unwrap();
    let mut plan = default_plan();
    plan.owners.items[0].orig = Some((4242, 4242));
    execute(&h, &plan, &mut hooks).unwrap_err();
    assert_eq!(h.ops.owner(DISK), Some((999, 994)));
}

mod selinux {
    //! The SELinux labels of a start, planned for dynamic, static and none, and the
    //! `setfilecon` calls the executor makes for them (and undoes on a failure).
    use super::*;
    use crate::selinux::{
        Context, ImageUse, LabelTarget, McsTable, SelinuxDecision, VirtContexts, plan_labels_with,
    };

    const DOMAIN: &str = "system_u:system_r:svirt_t:s0\nsystem_u:system_r:svirt_tcg_t:s0\n";
    const IMAGE: &str = "system_u:object_r:svirt_image_t:s0\nsystem_u:object_r:virt_content_t:s0\n";

    fn targets() -> Vec<LabelTarget> {
        vec![
            LabelTarget {
                path: DISK.into(),
                usage: Some(ImageUse::Exclusive),
                origin: "disk vda".into(),
            },
            LabelTarget {
                path: "/img/boot.iso".into(),
                usage: Some(ImageUse::Readonly),
                origin: "disk hdc".into(),
            },
            LabelTarget {
                path: "/dev/kvm".into(),
                usage: None,
                origin: "device ACL".into(),
            },
        ]
    }

    /// The executor's log for a start with `decision`'s labels.
    fn run(decision: &SelinuxDecision) -> Vec<String> {
        let contexts = VirtContexts::parse(DOMAIN, IMAGE).unwrap();
        let own: Context = "system_u:system_r:virtd_t:s0-s0:c0.c1023".parse().unwrap();
        let mut table = McsTable::new();
        let mut draws = [5u32, 17].into_iter();
        let mut rand = |_| draws.next().unwrap_or(0);
        let sel = plan_labels_with(
            decision,
            &contexts,
            &own,
            false,
            &mut table,
            &targets(),
            true,
            &mut rand,
        )
        .unwrap();
        let mut plan = default_plan();
        plan.labels = sel.files;
        plan.launch.selinux_exec_label = sel.exec_label;
        let h = host();
        execute(&h, &plan, &mut RecordingHooks::default()).unwrap();
        h.log()
            .into_iter()
            .filter(|l| l.starts_with("setfilecon") || l.starts_with("spawn"))
            .collect()
    }

    #[test]
    fn dynamic_labels_each_file_and_qemu_with_a_fresh_level() {
        assert_eq!(
            run(&SelinuxDecision::Dynamic { baselabel: None }),
            [
                "spawn /usr/bin/qemu-system-x86_64 as 999:994 exec system_u:system_r:svirt_t:s0:c5,c17 fds [4] dev [/dev/kvm] cgroup.procs 1 landlock true",
                "setfilecon /img/vm.qcow2 system_u:object_r:svirt_image_t:s0:c5,c17",
                "setfilecon /img/boot.iso system_u:object_r:virt_content_t:s0",
            ]
        );
    }

    #[test]
    fn static_without_relabel_labels_only_qemu() {
        let label = "system_u:system_r:svirt_t:s0:c1,c2".to_owned();
        assert_eq!(
            run(&SelinuxDecision::Static {
                label: label.clone(),
                relabel: false
            }),
            [format!(
                "spawn /usr/bin/qemu-system-x86_64 as 999:994 exec {label} fds [4] dev [/dev/kvm] cgroup.procs 1 landlock true"
            )]
        );
        // relabel='yes': the files get the static level.
        let log = run(&SelinuxDecision::Static {
            label,
            relabel: true,
        });
        assert_eq!(
            log[1],
            "setfilecon /img/vm.qcow2 system_u:object_r:svirt_image_t:s0:c1,c2"
        );
    }

    #[test]
    fn none_and_inactive_label_nothing() {
        for d in [SelinuxDecision::Unconfined, SelinuxDecision::Inactive] {
            assert_eq!(
                run(&d),
                [
                    "spawn /usr/bin/qemu-system-x86_64 as 999:994 fds [4] dev [/dev/kvm] cgroup.procs 1 landlock true"
                ],
                "{d:?}"
            );
        }
    }

    #[test]
    fn a_failure_after_the_labels_restores_them() {
        let mut plan = default_plan();
        plan.labels = vec![FileLabel {
            path: DISK.into(),
            label: "system_u:object_r:svirt_image_t:s0:c5,c17".into(),
            remember: true,
            origin: "disk vda".into(),
        }];
        let h = host();
        h.fail("go");
        let err = execute(&h, &plan, &mut RecordingHooks::default()).unwrap_err();
        assert_eq!(err.step, Step::Launcher);
        let log = h.log();
        let set = log
            .iter()
            .position(|l| l.starts_with("setfilecon"))
            .unwrap();
        let restore = log
            .iter()
            .position(|l| l.starts_with("restorecon"))
            .unwrap();
        assert!(set < restore, "{log:?}");
        // Labels are undone before the owners and the rest.
        assert_eq!(log[restore + 1], "rmcgroup /machine/qemu-1-vm", "{log:?}");
    }
}

fn tpm_helper() -> HelperPlan {
    let mut launch = default_plan().launch;
    launch.emulator = "/usr/bin/swtpm".into();
    launch.namespace = None;
    let mut setup = launch.clone();
    setup.emulator = "/usr/bin/swtpm_setup".into();
    HelperPlan {
        what: "TPM emulator tpm0".into(),
        state_dirs: vec![dir("/var/lib/rvirt/swtpm/u/tpm2", "TPM state")],
        setup: Some(SetupPlan {
            launch: setup,
            creates: "/var/lib/rvirt/swtpm/u/tpm2/tpm2-00.permall".into(),
        }),
        launch,
        socket: "/run/rvirt/qemu/swtpm/1-vm-swtpm.sock".into(),
    }
}

fn with_nvram_and_tpm() -> StartPlan {
    let mut plan = default_plan();
    plan.files.push(FilePlan {
        path: "/var/lib/rvirt/qemu/nvram/vm_VARS.fd".into(),
        template: "/usr/share/OVMF/OVMF_VARS_4M.fd".into(),
        what: "nvram".into(),
    });
    plan.helpers.push(tpm_helper());
    plan
}

#[test]
fn nvram_is_copied_and_the_tpm_emulator_starts_in_the_cgroup_before_qemu() {
    let h = host();
    let mut hooks = RecordingHooks::default();
    let started = execute(&h, &with_nvram_and_tpm(), &mut hooks).unwrap();
    let log = h.log();
    assert_eq!(
        log[3],
        "copy /usr/share/OVMF/OVMF_VARS_4M.fd /var/lib/rvirt/qemu/nvram/vm_VARS.fd"
    );
    assert_eq!(
        &log[5..9],
        [
            "cgroup /machine/qemu-1-vm [devices,memory] acl: c 136:* rw, c 10:232 rw",
            "mkdir /var/lib/rvirt/swtpm/u/tpm2 750 999:994",
            "setup /usr/bin/swtpm_setup as 999:994",
            "helper /usr/bin/swtpm as 999:994 cgroup.procs 1 landlock true socket /run/rvirt/qemu/swtpm/1-vm-swtpm.sock",
        ]
    );
    assert!(log[9].starts_with("log "));
    assert_eq!(started.done.helpers.len(), 1);
    // Journaled as soon as it runs, then again with the owners.
    assert_eq!(hooks.journal[0], "journal 1 helpers");
    assert_eq!(started.done.created_files.len(), 1);
}

#[test]
fn existing_nvram_and_tpm_state_are_kept() {
    let h = host();
    h.add_existing("/var/lib/rvirt/qemu/nvram/vm_VARS.fd");
    h.add_existing("/var/lib/rvirt/swtpm/u/tpm2/tpm2-00.permall");
    let mut hooks = RecordingHooks::default();
    let started = execute(&h, &with_nvram_and_tpm(), &mut hooks).unwrap();
    let log = h.log();
    assert!(
        !log.iter()
            .any(|l| l.starts_with("copy") || l.starts_with("setup")),
        "{log:?}"
    );
    assert!(started.done.created_files.is_empty());
}

#[test]
fn a_failed_start_stops_the_helper_before_the_cgroup_goes_and_removes_the_new_nvram() {
    let h = host();
    h.fail("spawn");
    let mut hooks = RecordingHooks::default();
    let e = execute(&h, &with_nvram_and_tpm(), &mut hooks).unwrap_err();
    assert_eq!(e.step, Step::Launcher);
    let log = h.log();
    let pos = |prefix: &str| log.iter().position(|l| l.starts_with(prefix)).unwrap();
    assert!(pos("stophelper TPM emulator tpm0 4242") < pos("rmcgroup"));
    assert!(log.contains(&"rm /var/lib/rvirt/qemu/nvram/vm_VARS.fd".to_owned()));
    // The TPM state directory stays: it belongs to the definition.
    assert!(
        !log.iter()
            .any(|l| l.starts_with("rmdir /var/lib/rvirt/swtpm"))
    );
}

#[test]
fn a_failing_setup_names_the_helper() {
    let h = host();
    h.fail("setup");
    let mut hooks = RecordingHooks::default();
    let e = execute(&h, &with_nvram_and_tpm(), &mut hooks).unwrap_err();
    assert_eq!(e.step, Step::Helpers);
    assert_eq!(e.message, "TPM emulator tpm0: setup failed (injected)");
}
