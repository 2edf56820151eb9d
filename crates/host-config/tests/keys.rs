//! The typed keys: defaults, accepted forms and every type/validation error.

use std::path::PathBuf;

use host_config::{
    CgroupController, ConfigError, DeprecationBehavior, HostConfig, HugetlbfsMount, IdSpec,
    IdSpecError, KNOWN_KEYS, KVM_GROUP, Namespace, SeccompSandbox, SecurityDriver, SecurityDrivers,
    WarningKind,
};

fn parse(text: &str) -> HostConfig {
    let (config, warnings) = HostConfig::parse(text, "qemu.conf").expect("should parse");
    assert!(warnings.is_empty(), "unexpected warnings: {warnings:?}");
    config
}

fn fail(text: &str) -> ConfigError {
    HostConfig::parse(text, "qemu.conf").expect_err("should fail")
}

fn fail_msg(text: &str) -> String {
    fail(text).to_string()
}

fn paths(list: &[&str]) -> Vec<PathBuf> {
    list.iter().map(PathBuf::from).collect()
}

#[test]
fn defaults() {
    let d = HostConfig::default();
    assert_eq!(parse(""), d);
    assert_eq!(d.user, IdSpec::Name("rvirt-qemu".into()));
    assert_eq!(d.group, IdSpec::Name("rvirt-qemu".into()));
    assert!(d.dynamic_ownership && d.remember_owner);
    assert_eq!(d.security_driver, SecurityDrivers::Auto);
    assert!(d.security_default_confined);
    assert!(!d.security_require_confined);
    assert_eq!(d.namespaces, [Namespace::Mount]);
    assert_eq!(d.seccomp_sandbox, SeccompSandbox::Enabled);
    assert!(d.sandbox_enabled());
    use CgroupController::*;
    assert_eq!(
        d.cgroup_controllers,
        [Cpu, Devices, Memory, Blkio, Cpuset, Cpuacct]
    );
    assert_eq!(
        d.cgroup_device_acl,
        paths(&[
            "/dev/null",
            "/dev/full",
            "/dev/zero",
            "/dev/random",
            "/dev/urandom",
            "/dev/ptmx",
            "/dev/kvm"
        ])
    );
    assert_eq!(d.hugetlbfs_mount, HugetlbfsMount::AutoDetect);
    assert_eq!(d.memory_backing_dir, None);
    assert_eq!(d.deprecation_behavior, DeprecationBehavior::None);
    assert!(d.log_timestamp);
    assert!(d.landlock);
    assert_eq!(KVM_GROUP, "kvm");
}

#[test]
fn user_and_group() {
    let c = parse("user = \"+0\"\ngroup = \"kvm\"\n");
    assert_eq!(c.user, IdSpec::Id(0));
    assert_eq!(c.group, IdSpec::Name("kvm".into()));
    // All digits without '+' is still a name: looked up as a name first.
    assert_eq!(parse("user = \"107\"").user, IdSpec::Name("107".into()));
    assert_eq!(parse("user = \"root\"").user, IdSpec::Name("root".into()));
    assert_eq!(
        parse("group = '+4294967294'").group,
        IdSpec::Id(4_294_967_294)
    );
}

#[test]
fn id_spec_round_trips_through_display() {
    for spec in [IdSpec::Id(0), IdSpec::Id(107), IdSpec::Name("qemu".into())] {
        assert_eq!(IdSpec::parse(&spec.to_string()), Ok(spec));
    }
}

#[test]
fn bad_user_and_group() {
    assert_eq!(IdSpec::parse(""), Err(IdSpecError::Empty));
    assert_eq!(
        IdSpec::parse("+"),
        Err(IdSpecError::NotNumeric(String::new()))
    );
    assert_eq!(
        IdSpec::parse("+x"),
        Err(IdSpecError::NotNumeric("x".into()))
    );
    assert_eq!(
        IdSpec::parse("+-1"),
        Err(IdSpecError::NotNumeric("-1".into()))
    );
    assert_eq!(
        IdSpec::parse("+4294967296"),
        Err(IdSpecError::OutOfRange("4294967296".into()))
    );
    assert_eq!(IdSpec::parse("+4294967295"), Err(IdSpecError::Reserved));

    assert_eq!(
        fail_msg("\n\nuser = 0"),
        "qemu.conf:3: 'user' must be a string"
    );
    assert_eq!(
        fail_msg("group = [\"kvm\"]"),
        "qemu.conf:1: 'group' must be a string"
    );
    assert_eq!(
        fail_msg("user = \"+qemu\""),
        "qemu.conf:1: 'user' is not a valid user or group: '+' must be followed by a decimal id, not 'qemu'"
    );
    assert_eq!(
        fail_msg("group = \"\""),
        "qemu.conf:1: 'group' is not a valid user or group: it is empty"
    );
}

#[test]
fn flags() {
    let c = parse(
        "dynamic_ownership = 0\nremember_owner = 0\nsecurity_default_confined = 0\n\
         security_require_confined = 1\nlog_timestamp = 0\nlandlock = 1\n",
    );
    assert!(!c.dynamic_ownership);
    assert!(!c.remember_owner);
    assert!(!c.security_default_confined);
    assert!(c.security_require_confined);
    assert!(!c.log_timestamp);
    assert!(c.landlock);
    assert!(!parse("landlock = 0").landlock);
    assert!(parse("log_timestamp = +1").log_timestamp);
}

#[test]
fn flags_must_be_0_or_1() {
    for value in ["2", "-1", "-0", "\"1\"", "[1]", "'yes'"] {
        let msg = fail_msg(&format!("dynamic_ownership = {value}"));
        assert_eq!(
            msg, "qemu.conf:1: 'dynamic_ownership' must be 0 or 1",
            "{value}"
        );
    }
    for key in [
        "remember_owner",
        "security_default_confined",
        "security_require_confined",
        "log_timestamp",
        "landlock",
    ] {
        assert!(matches!(
            fail(&format!("{key} = 7")),
            ConfigError::WrongType {
                expected: "0 or 1",
                ..
            }
        ));
    }
}

#[test]
fn security_driver_forms() {
    use SecurityDriver::*;
    assert_eq!(
        parse("security_driver = \"none\"").security_driver,
        SecurityDrivers::None
    );
    assert_eq!(
        parse("security_driver = [\"none\"]").security_driver,
        SecurityDrivers::None
    );
    assert_eq!(
        parse("security_driver = []").security_driver,
        SecurityDrivers::None
    );
    assert_eq!(
        parse("security_driver = \"selinux\"").security_driver,
        SecurityDrivers::Explicit(vec![Selinux])
    );
    assert_eq!(
        parse("security_driver = \"dac\"").security_driver,
        SecurityDrivers::Explicit(vec![Dac])
    );
    assert_eq!(
        parse("security_driver = [ \"selinux\", \"dac\" ]").security_driver,
        SecurityDrivers::Explicit(vec![Selinux, Dac])
    );
}

#[test]
fn security_driver_errors() {
    assert_eq!(
        fail_msg("security_driver = \"apparmor\""),
        "qemu.conf:1: 'security_driver' has unknown security driver 'apparmor' (known: selinux, dac, none)"
    );
    assert_eq!(
        fail_msg("security_driver = [\"dac\", \"smack\"]"),
        "qemu.conf:1: 'security_driver' has unknown security driver 'smack' (known: selinux, dac, none)"
    );
    assert_eq!(
        fail_msg("security_driver = [\"dac\", \"dac\"]"),
        "qemu.conf:1: 'security_driver' names security driver 'dac' more than once"
    );
    assert_eq!(
        fail_msg("security_driver = [\"none\", \"dac\"]"),
        "qemu.conf:1: 'security_driver' cannot combine 'none' with other security drivers"
    );
    assert_eq!(
        fail_msg("security_driver = 1"),
        "qemu.conf:1: 'security_driver' must be a string or a list of strings"
    );
    assert_eq!(
        fail_msg("security_driver = [\"dac\", 1]"),
        "qemu.conf:1: 'security_driver' must be a string or a list of strings"
    );
}

#[test]
fn namespaces() {
    assert_eq!(parse("namespaces = []").namespaces, []);
    assert_eq!(
        parse("namespaces = [\"mount\", \"mount\"]").namespaces,
        [Namespace::Mount]
    );
    assert_eq!(
        fail_msg("namespaces = [\"mount\", \"x\"]"),
        "qemu.conf:1: 'namespaces' has unknown namespace 'x' (known: mount)"
    );
    assert_eq!(
        fail_msg("namespaces = \"mount\""),
        "qemu.conf:1: 'namespaces' must be a list of strings"
    );
}

#[test]
fn seccomp_sandbox() {
    let c = parse("seccomp_sandbox = -1");
    assert_eq!(c.seccomp_sandbox, SeccompSandbox::QemuDefault);
    assert!(c.sandbox_enabled());
    let c = parse("seccomp_sandbox = 0");
    assert_eq!(c.seccomp_sandbox, SeccompSandbox::Disabled);
    assert!(!c.sandbox_enabled());
    assert!(parse("seccomp_sandbox = 1").sandbox_enabled());
    assert_eq!(
        parse("seccomp_sandbox = -0").seccomp_sandbox,
        SeccompSandbox::Disabled
    );
    for value in ["2", "-2", "\"1\"", "18446744073709551615"] {
        assert_eq!(
            fail_msg(&format!("seccomp_sandbox = {value}")),
            "qemu.conf:1: 'seccomp_sandbox' must be -1, 0 or 1",
            "{value}"
        );
    }
    for s in [
        SeccompSandbox::QemuDefault,
        SeccompSandbox::Disabled,
        SeccompSandbox::Enabled,
    ] {
        assert_eq!(SeccompSandbox::from_int(s.as_int()), Some(s));
    }
}

#[test]
fn cgroup_controllers() {
    use CgroupController::*;
    let c = parse(
        "cgroup_controllers = [ \"cpu\", \"cpuacct\", \"cpuset\", \"memory\", \"devices\", \
         \"freezer\", \"blkio\", \"net_cls\", \"perf_event\", \"name=systemd\" ]",
    );
    assert_eq!(c.cgroup_controllers, CgroupController::ALL);
    assert_eq!(
        c.cgroup_controllers,
        [
            Cpu,
            Cpuacct,
            Cpuset,
            Memory,
            Devices,
            Freezer,
            Blkio,
            NetCls,
            PerfEvent,
            NameSystemd
        ]
    );
    assert_eq!(parse("cgroup_controllers = []").cgroup_controllers, []);
    assert_eq!(
        fail_msg("cgroup_controllers = [ \"cpu\", \"hugetlb\" ]"),
        "qemu.conf:1: 'cgroup_controllers' has unknown cgroup controller 'hugetlb' \
         (known: cpu, cpuacct, cpuset, memory, devices, freezer, blkio, net_cls, perf_event, name=systemd)"
    );
    assert_eq!(
        fail_msg("cgroup_controllers = \"cpu\""),
        "qemu.conf:1: 'cgroup_controllers' must be a list of strings"
    );
}

#[test]
fn cgroup_device_acl() {
    assert_eq!(
        parse("cgroup_device_acl = [ \"/dev/null\", \"/dev/vfio/vfio\" ]").cgroup_device_acl,
        paths(&["/dev/null", "/dev/vfio/vfio"])
    );
    assert_eq!(
        parse("cgroup_device_acl = []").cgroup_device_acl,
        paths(&[])
    );
    assert_eq!(
        fail_msg("cgroup_device_acl = [ \"/dev/null\", \"dev/kvm\" ]"),
        "qemu.conf:1: 'cgroup_device_acl' must hold absolute paths, but 'dev/kvm' is not one"
    );
    assert!(matches!(
        fail("cgroup_device_acl = [ \"\" ]"),
        ConfigError::RelativePath { .. }
    ));
    assert!(matches!(
        fail("cgroup_device_acl = [ \"/dev/a\0b\" ]"),
        ConfigError::RelativePath { .. }
    ));
    assert_eq!(
        fail_msg("cgroup_device_acl = \"/dev/null\""),
        "qemu.conf:1: 'cgroup_device_acl' must be a list of strings"
    );
}

#[test]
fn hugetlbfs_mount() {
    assert_eq!(
        parse("hugetlbfs_mount = \"\"").hugetlbfs_mount,
        HugetlbfsMount::Disabled
    );
    assert_eq!(
        parse("hugetlbfs_mount = []").hugetlbfs_mount,
        HugetlbfsMount::Disabled
    );
    assert_eq!(
        parse("hugetlbfs_mount = \"/dev/hugepages\"").hugetlbfs_mount,
        HugetlbfsMount::Explicit(paths(&["/dev/hugepages"]))
    );
    assert_eq!(
        parse("hugetlbfs_mount = [\"/a\", \"/b\"]").hugetlbfs_mount,
        HugetlbfsMount::Explicit(paths(&["/a", "/b"]))
    );
    assert_eq!(
        fail_msg("hugetlbfs_mount = \"hugepages\""),
        "qemu.conf:1: 'hugetlbfs_mount' must hold absolute paths, but 'hugepages' is not one"
    );
    assert!(matches!(
        fail("hugetlbfs_mount = [\"/a\", \"\"]"),
        ConfigError::RelativePath { .. }
    ));
    assert_eq!(
        fail_msg("hugetlbfs_mount = 0"),
        "qemu.conf:1: 'hugetlbfs_mount' must be a string or a list of strings"
    );
}

#[test]
fn memory_backing_dir() {
    assert_eq!(
        parse("memory_backing_dir = \"/var/lib/rvirt/ram\"").memory_backing_dir,
        Some(PathBuf::from("/var/lib/rvirt/ram"))
    );
    assert_eq!(
        fail_msg("memory_backing_dir = \"ram\""),
        "qemu.conf:1: 'memory_backing_dir' must hold absolute paths, but 'ram' is not one"
    );
    assert_eq!(
        fail_msg("memory_backing_dir = [\"/ram\"]"),
        "qemu.conf:1: 'memory_backing_dir' must be a string"
    );
}

#[test]
fn deprecation_behavior() {
    for (name, want) in [
        ("none", DeprecationBehavior::None),
        ("omit", DeprecationBehavior::Omit),
        ("reject", DeprecationBehavior::Reject),
        ("crash", DeprecationBehavior::Crash),
    ] {
        let c = parse(&format!("deprecation_behavior = \"{name}\""));
        assert_eq!(c.deprecation_behavior, want);
        assert_eq!(want.to_string(), name);
    }
    assert_eq!(
        fail_msg("deprecation_behavior = \"warn\""),
        "qemu.conf:1: 'deprecation_behavior' has unknown deprecation behavior 'warn' \
         (known: none, omit, reject, crash)"
    );
    assert_eq!(
        fail_msg("deprecation_behavior = 1"),
        "qemu.conf:1: 'deprecation_behavior' must be a string"
    );
}

#[test]
fn unknown_keys_warn_but_do_not_fail() {
    let (c, warnings) = HostConfig::parse(
        "vnc_listen = \"0.0.0.0\"\nuser = \"+0\"\ncgroup_partition = \"/machine\"\n",
        "qemu.conf",
    )
    .unwrap();
    assert_eq!(c.user, IdSpec::Id(0));
    let got: Vec<_> = warnings.iter().map(|w| (w.line, w.kind.clone())).collect();
    assert_eq!(
        got,
        [
            (
                1,
                WarningKind::UnknownKey {
                    key: "vnc_listen".into()
                }
            ),
            (
                3,
                WarningKind::UnknownKey {
                    key: "cgroup_partition".into()
                }
            ),
        ]
    );
    assert_eq!(
        warnings[0].to_string(),
        "qemu.conf:1: unknown key 'vnc_listen' is ignored (rvirt does not use it)"
    );
}

#[test]
fn warnings_come_in_file_order() {
    let (_, warnings) =
        HostConfig::parse("a = 1\nuser = 'x'\nb = 2\nuser = 'y'\nc = 3\n", "f").unwrap();
    let lines: Vec<_> = warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, [1, 3, 4, 5]);
    assert!(matches!(
        warnings[2].kind,
        WarningKind::DuplicateKey { first_line: 2, .. }
    ));
}

#[test]
fn duplicate_key_first_wins_even_if_later_is_invalid() {
    let (c, warnings) =
        HostConfig::parse("landlock = 0\nlandlock = 'bogus'\n", "qemu.conf").unwrap();
    assert!(!c.landlock);
    assert_eq!(warnings.len(), 1);
}

#[test]
fn first_error_in_file_order_is_reported() {
    assert_eq!(
        fail_msg("namespaces = [\"pid\"]\nuser = 1\n"),
        "qemu.conf:1: 'namespaces' has unknown namespace 'pid' (known: mount)"
    );
}

#[test]
fn syntax_errors_pass_through() {
    let e = fail("user \"x\"");
    assert!(matches!(e, ConfigError::Syntax(_)));
    assert_eq!(e.to_string(), "qemu.conf:1:6: expected '=' after 'user'");
}

#[test]
fn every_known_key_is_handled() {
    // A key listed but not matched would fall through to the warning arm;
    // unknown keys never fail, so a type error also proves it was matched.
    for key in KNOWN_KEYS {
        match HostConfig::parse(&format!("{key} = []"), "f") {
            Ok((_, warnings)) => assert!(warnings.is_empty(), "{key}: {warnings:?}"),
            Err(e) => assert!(matches!(e, ConfigError::WrongType { .. }), "{key}: {e}"),
        }
    }
}
