//! The XML virt-install 4.1 writes (recorded with `--print-xml` against rvirtd
//! with domain capabilities, `tests/data/virt-install/*.xml`: Linux q35 BIOS
//! and UEFI, a KVM guest with a VNC password on 0.0.0.0, a pc machine guest,
//! Windows 11 and Windows 10 with SPICE/QXL) is defined as rvirtd defines it
//! (defaults, firmware autoselection) and planned for QEMU 10.0: every
//! element is modelled (nothing kept-but-unknown) and the argv is a golden
//! (`tests/data/virt-install/*.snap`). SPICE and QXL need the spice modules the
//! captured QEMU lacks, so that case's golden is the planner's refusal.

use std::path::Path;

use host_config::HostConfig;
use qemu::Capabilities;
use qemu_plan::{PlanInput, Runtime, plan};
use qemu_runtime::firmware;
use qemu_runtime::hostfacts::PreviewHostFacts;
use qemu_runtime::native::fill_defaults;

fn caps() -> Capabilities {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../qemu-plan/tests/caps/qemu-10.0.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn defined(name: &str, caps: &Capabilities) -> domain_xml::Domain {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/virt-install");
    let xml = std::fs::read_to_string(dir.join(format!("{name}.xml"))).unwrap();
    let mut d = domain_xml::parse_domain(&xml).unwrap().value;
    fill_defaults(&mut d, caps);
    let fw_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/domcaps/firmware");
    let (descriptors, errors) = firmware::load(&[fw_dir]).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    qemu_runtime::firmware_fill::fill(
        &mut d,
        &descriptors,
        Path::new("/var/lib/rvirt/qemu/nvram"),
        true,
    )
    .unwrap();
    d
}

fn planned(d: &domain_xml::Domain, caps: &Capabilities) -> String {
    let lib = format!("/var/lib/rvirt/qemu/domain-1-{}", d.name);
    let rt = Runtime {
        domain_id: 1,
        emulator: Runtime::emulator_for(d),
        monitor_socket: format!("{lib}/monitor.sock"),
        channel_dir: format!("{lib}/channel"),
        network_bridges: Vec::new(),
        master_key: None,
        lib_dir: lib,
        monitor_fd: 4,
        first_free_fd: 5,
        log_path: format!("/var/log/rvirt/qemu/{}.log", d.name),
        hugetlbfs: Vec::new(),
        hugepage_subdir: "qemu".into(),
        host: &PreviewHostFacts,
    };
    match plan(&PlanInput {
        domain: d,
        host: &HostConfig::default(),
        caps,
        runtime: &rt,
    }) {
        Ok(p) => {
            let mut s = String::new();
            let mut args = p.argv.iter().peekable();
            while let Some(a) = args.next() {
                s.push_str(a);
                if let Some(v) = args.next_if(|v| !v.starts_with('-')) {
                    s.push(' ');
                    s.push_str(v);
                }
                s.push('\n');
            }
            for c in &p.monitor_commands {
                s.push_str(&format!("# QMP {c:?}\n"));
            }
            s
        }
        Err(e) => format!("refused: {e}\n"),
    }
}

#[test]
fn virt_install_domains_are_modelled_and_planned() {
    let caps = caps();
    for name in [
        "linux2022-bios",
        "linux2022-uefi",
        "linux2022-kvm",
        "debian11-pc",
        "win11",
        "win10-spice",
    ] {
        let d = defined(name, &caps);
        let unknown = d.unsupported();
        assert!(unknown.is_empty(), "{name}: not modelled: {unknown:?}");
        // Defining the defined XML again changes nothing (dumpxml round-trips).
        let again = defined_from(&d.to_xml(), &caps);
        assert_eq!(
            again.to_xml(),
            d.to_xml(),
            "{name}: defaults are not stable"
        );
        insta::with_settings!({
            snapshot_path => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/virt-install"),
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!(format!("{name}.defined"), d.to_xml());
            insta::assert_snapshot!(format!("{name}.args"), planned(&d, &caps));
        });
    }
}

fn defined_from(xml: &str, caps: &Capabilities) -> domain_xml::Domain {
    let mut d = domain_xml::parse_domain(xml).unwrap().value;
    fill_defaults(&mut d, caps);
    d
}
