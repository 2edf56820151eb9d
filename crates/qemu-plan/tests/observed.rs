//! The anchor domain of the libvirt 9.0 observation on this machine
//! (`libvirt-9.0-observed.md` §2) must plan to exactly the command line and
//! environment libvirt produced, with libvirt's paths (but for the ACPI
//! spelling, see the test).

use host_config::HostConfig;
use qemu_plan::{HostFacts, LaunchPlan, PathKind, PlanInput, Runtime, plan, shell_quote};

/// What `/proc/PID/cmdline` and the domain log showed, as one line.
const OBSERVED: &str = r#"LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
HOME=/var/lib/libvirt/qemu/domain-1-anchor-cmdline
XDG_DATA_HOME=/var/lib/libvirt/qemu/domain-1-anchor-cmdline/.local/share
XDG_CACHE_HOME=/var/lib/libvirt/qemu/domain-1-anchor-cmdline/.cache
XDG_CONFIG_HOME=/var/lib/libvirt/qemu/domain-1-anchor-cmdline/.config
ANCHOR_WITH_VALUE=anchor-value ANCHOR_NO_VALUE=''
/usr/bin/qemu-system-x86_64 -name guest=anchor-cmdline,debug-threads=on -S
-object '{"qom-type":"secret","id":"masterKey0","format":"raw","file":"/var/lib/libvirt/qemu/domain-1-anchor-cmdline/master-key.aes"}'
-machine pc-i440fx-7.2,usb=off,dump-guest-core=off,memory-backend=pc.ram -accel kvm -cpu qemu64 -m 128
-object '{"qom-type":"memory-backend-ram","id":"pc.ram","size":134217728}' -overcommit mem-lock=off
-smp 1,sockets=1,cores=1,threads=1 -uuid 887c3f75-8806-42fe-acf6-e8ab5d21db29 -display none
-no-user-config -nodefaults -chardev socket,id=charmonitor,fd=27,server=on,wait=off
-mon chardev=charmonitor,id=monitor,mode=control -rtc base=utc -no-shutdown -no-acpi -boot strict=on
-device '{"driver":"piix3-usb-uhci","id":"usb","bus":"pci.0","addr":"0x1.0x2"}'
-chardev pty,id=charserial0 -device '{"driver":"isa-serial","chardev":"charserial0","id":"serial0","index":0}'
-audiodev '{"id":"audio1","driver":"none"}'
-device '{"driver":"virtio-balloon-pci","id":"balloon0","bus":"pci.0","addr":"0x2"}'
-fw_cfg name=opt/anchor/test,string=hello
-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny -msg timestamp=on"#;

struct Host;

impl HostFacts for Host {
    fn stat(&self, path: &str) -> Option<PathKind> {
        let dev = |major, minor| Some(PathKind::CharDev { major, minor });
        match path {
            "/dev/null" => dev(1, 3),
            "/dev/zero" => dev(1, 5),
            "/dev/full" => dev(1, 7),
            "/dev/random" => dev(1, 8),
            "/dev/urandom" => dev(1, 9),
            "/dev/ptmx" => dev(5, 2),
            "/dev/kvm" => dev(10, 232),
            _ => None,
        }
    }

    fn backing_file(&self, _path: &str) -> Option<qemu_plan::ImageBacking> {
        None
    }
}

fn one_line(p: &LaunchPlan) -> String {
    let mut words: Vec<String> = p
        .env
        .iter()
        .map(|(k, v)| format!("{k}={}", shell_quote(v)))
        .collect();
    words.push(shell_quote(&p.emulator));
    words.extend(p.argv.iter().map(|a| shell_quote(a)));
    words.join(" ")
}

#[test]
fn anchor_domain_matches_libvirt_9_0() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/anchor-cmdline.xml"
    ))
    .expect("anchor xml");
    let mut dom = domain_xml::parse_domain(&text).expect("parse").value;
    let caps = golden_caps();
    // libvirt resolves the machine alias when the domain is defined (rvirtd's
    // define-time defaults do the same); the plan prints the type as defined.
    dom.os.machine = dom
        .os
        .machine
        .as_deref()
        .and_then(|m| caps.resolve_machine_alias(m))
        .map(str::to_owned);
    let host = HostConfig::default();
    let lib = "/var/lib/libvirt/qemu/domain-1-anchor-cmdline";
    let facts = Host;
    let rt = Runtime {
        domain_id: 1,
        emulator: Runtime::emulator_for(&dom),
        lib_dir: lib.into(),
        monitor_socket: format!("{lib}/monitor.sock"),
        monitor_fd: 27,
        first_free_fd: 30,
        log_path: "/var/log/libvirt/qemu/anchor-cmdline.log".into(),
        channel_dir: "/var/lib/libvirt/qemu/channel/target/domain-1-anchor-cmdline".into(),
        network_bridges: vec![("default".into(), "virbr0".into())],
        master_key: Some(format!("{lib}/master-key.aes")),
        hugetlbfs: Vec::new(),
        hugepage_subdir: "qemu".into(),
        host: &facts,
    };
    let p = plan(&PlanInput {
        domain: &dom,
        host: &host,
        caps: &caps,
        runtime: &rt,
    })
    .expect("plan");
    // One deliberate difference: ACPI off is the `-machine` property, which
    // QEMU 7.2 takes too and QEMU 9 left as the only spelling (`-no-acpi`
    // was removed); libvirt 11.3 writes it the same way. Likewise the memory
    // size, which libvirt 11.3 gives in KiB (`-m size=…k`, which 7.2 takes too).
    let observed = OBSERVED
        .replace("memory-backend=pc.ram ", "memory-backend=pc.ram,acpi=off ")
        .replace(" -no-acpi ", " ");
    let observed = observed
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" -m 128 ", " -m size=131072k ");
    assert_eq!(one_line(&p), observed);
    assert_eq!(p.env.len(), 8, "exactly 8 variables, as observed");
    assert_eq!(
        p.taints.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["custom-argv"]
    );
    // The observed BPF map: c 1:3, 1:5, 1:7, 1:8, 1:9, 5:2, 10:232, 136:*.
    let mut acl: Vec<String> = p.cgroup_acl().iter().map(ToString::to_string).collect();
    acl.sort();
    assert_eq!(
        acl,
        [
            "c 10:232 rw",
            "c 136:* rw",
            "c 1:3 rw",
            "c 1:5 rw",
            "c 1:7 rw",
            "c 1:8 rw",
            "c 1:9 rw",
            "c 5:2 rw"
        ]
    );
    // The observed private /dev: the default ACL nodes.
    let mut nodes: Vec<String> = p
        .dev_nodes(&Host)
        .into_iter()
        .map(|n| n.path.to_string_lossy().into_owned())
        .collect();
    nodes.sort();
    assert_eq!(
        nodes,
        [
            "/dev/full",
            "/dev/kvm",
            "/dev/null",
            "/dev/ptmx",
            "/dev/random",
            "/dev/urandom",
            "/dev/zero"
        ]
    );
}

/// QEMU 7.2 as probed on this machine: the golden tests' capability set.
fn golden_caps() -> qemu_caps::Capabilities {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/caps/qemu-7.2.json"
    ))
    .expect("qemu-7.2 caps");
    serde_json::from_str(&text).expect("qemu-7.2 caps json")
}

/// Fd numbers that collide are a runtime mistake the plan reports.
#[test]
fn colliding_fds_are_refused() {
    let xml = "<domain type='kvm'><name>fds</name><uuid>11111111-2222-3333-4444-555555555555</uuid>\
               <memory unit='MiB'>64</memory><os><type>hvm</type></os><devices>\
               <serial type='file'><source path='/var/log/x.log'/></serial></devices></domain>";
    let dom = domain_xml::parse_domain(xml).expect("parse").value;
    let host = HostConfig::default();
    let facts = Host;
    let rt = Runtime {
        domain_id: 7,
        emulator: Runtime::emulator_for(&dom),
        lib_dir: "/var/lib/rvirt/qemu/domain-7-fds".into(),
        monitor_socket: "/var/lib/rvirt/qemu/domain-7-fds/monitor.sock".into(),
        monitor_fd: 30,
        first_free_fd: 30,
        log_path: "/var/log/rvirt/qemu/fds.log".into(),
        channel_dir: "/var/lib/rvirt/qemu/channel/target/domain-7-fds".into(),
        network_bridges: Vec::new(),
        master_key: None,
        hugetlbfs: Vec::new(),
        hugepage_subdir: "qemu".into(),
        host: &facts,
    };
    let caps = golden_caps();
    let err = plan(&PlanInput {
        domain: &dom,
        host: &host,
        caps: &caps,
        runtime: &rt,
    })
    .expect_err("fd 30 used twice");
    assert_eq!(
        err.to_string(),
        "domain 'fds': runtime: fd 30 for serial0 is below 3 or already used; \
         choose monitor_fd and first_free_fd apart"
    );
}
