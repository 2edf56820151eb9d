//! Golden tests of the domain capabilities builder against the captured
//! capability sets of QEMU 10.0 and 7.2 (`qemu-plan/tests/caps/`), with a
//! fixed host: four firmware descriptors (`tests/domcaps/firmware/`:
//! Secure Boot UEFI for q35, plain UEFI for both, a BIOS ROM for i440fx, one
//! whose image is missing),
//! swtpm present, VFIO absent, an AMD host CPU. Snapshots are insta files in
//! `tests/domcaps/` (`INSTA_UPDATE=always` to accept, then read them).

use std::path::{Path, PathBuf};

use qemu::Capabilities;
use qemu_runtime::domcaps::{DomCapsError, DomCapsQuery, HostCpu, HostView, domain_capabilities};
use qemu_runtime::firmware;

fn caps(version: &str) -> Capabilities {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../qemu-plan/tests/caps")
        .join(format!("qemu-{version}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/domcaps")
}

fn host() -> HostView {
    let (firmware, errors) = firmware::load(&[dir().join("firmware")]).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    HostView {
        arch: "x86_64".into(),
        firmware,
        absent_images: vec![PathBuf::from("/test/fw/missing.fd")],
        swtpm: true,
        swtpm_versions: vec!["1.2".into(), "2.0".into()],
        vfio: false,
        kvm_max_vcpus: Some(1024),
        cpu: HostCpu {
            vendor: Some("AMD".into()),
            flags: vec![],
        },
    }
}

fn q(virttype: Option<&str>, machine: Option<&str>) -> DomCapsQuery {
    DomCapsQuery {
        virttype: virttype.map(str::to_owned),
        machine: machine.map(str::to_owned),
        ..DomCapsQuery::default()
    }
}

fn golden(name: &str, actual: &str) {
    assert!(actual.ends_with('\n') && actual.trim_end().len() + 1 == actual.len());
    insta::with_settings!({
        snapshot_path => dir(),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, actual);
    });
}

#[test]
fn domcaps_goldens() {
    for v in ["10.0", "7.2"] {
        let c = caps(v);
        let h = host();
        for (case, query) in [
            ("default", q(None, None)),
            ("q35", q(Some("kvm"), Some("q35"))),
            ("tcg", q(Some("qemu"), Some("pc"))),
        ] {
            let xml = domain_capabilities(&c, &h, &query).unwrap();
            golden(&format!("qemu-{v}-{case}.xml"), &xml);
        }
    }
}

#[test]
fn machine_aliases_resolve_to_the_probed_default() {
    let c = caps("10.0");
    let xml = domain_capabilities(&c, &host(), &q(None, Some("q35"))).unwrap();
    assert!(xml.contains("<machine>pc-q35-10.0</machine>"));
    let xml = domain_capabilities(&c, &host(), &q(None, None)).unwrap();
    assert!(xml.contains("<machine>pc-i440fx-10.0</machine>"));
    let c = caps("7.2");
    let xml = domain_capabilities(&c, &host(), &q(None, Some("pc"))).unwrap();
    assert!(xml.contains("<machine>pc-i440fx-7.2</machine>"));
}

#[test]
fn secure_boot_and_efi_only_where_a_descriptor_matches() {
    let c = caps("10.0");
    let q35 = domain_capabilities(&c, &host(), &q(None, Some("q35"))).unwrap();
    assert!(q35.contains("<value>efi</value>"));
    assert!(!q35.contains("<value>bios</value>"));
    assert!(q35.contains("<enum name='secure'>\n        <value>yes</value>"));
    let pc = domain_capabilities(&c, &host(), &q(None, Some("pc"))).unwrap();
    assert!(pc.contains("<value>bios</value>") && pc.contains("<value>efi</value>"));
    assert!(!pc.contains("CODE_4M.secboot.fd"));
    let isapc = domain_capabilities(&c, &host(), &q(None, Some("isapc"))).unwrap();
    assert!(isapc.contains("<enum name='firmware'/>"));
}

#[test]
fn tpm_emulator_only_with_swtpm() {
    let c = caps("10.0");
    let mut h = host();
    h.swtpm = false;
    let xml = domain_capabilities(&c, &h, &q(None, None)).unwrap();
    assert!(!xml.contains("<value>emulator</value>"));
    assert!(xml.contains("<value>passthrough</value>"));
}

#[test]
fn bad_queries_get_libvirts_errors() {
    let c = caps("10.0");
    let h = host();
    let err = |query: DomCapsQuery| domain_capabilities(&c, &h, &query).unwrap_err();
    assert_eq!(
        err(q(Some("bogus"), None)).to_string(),
        "unknown virttype: bogus"
    );
    let e = err(q(None, Some("nonesuch")));
    assert_eq!(
        e.to_string(),
        "the machine 'nonesuch' is not supported by emulator '/usr/bin/qemu-system-x86_64'"
    );
    assert!(matches!(e, DomCapsError::MachineUnsupported { .. }));
    let e = err(DomCapsQuery {
        arch: Some("armv7q".into()),
        ..DomCapsQuery::default()
    });
    assert_eq!(e.to_string(), "unknown architecture: armv7q");
    let e = err(DomCapsQuery {
        arch: Some("aarch64".into()),
        ..DomCapsQuery::default()
    });
    assert_eq!(
        e.to_string(),
        "unable to find any emulator to serve 'aarch64' architecture"
    );
    let mut tcg_only = c.clone();
    tcg_only.kvm.enabled = false;
    let e = domain_capabilities(&tcg_only, &h, &q(Some("kvm"), None)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the accel 'kvm' is not supported by '/usr/bin/qemu-system-x86_64' on this host"
    );
    // Without KVM the default type is qemu.
    let xml = domain_capabilities(&tcg_only, &h, &q(None, None)).unwrap();
    assert!(xml.contains("<domain>qemu</domain>"));
}

#[test]
fn hyperv_from_the_probe_in_libvirts_names_and_order() {
    let mut c = caps("10.0");
    let none = domain_capabilities(&c, &host(), &q(None, None)).unwrap();
    assert!(
        !none.contains("<hyperv"),
        "not probed: left out, as libvirt does"
    );
    c.hyperv = Some(
        [
            "vendor-id",
            "relaxed",
            "spinlocks",
            "version-id-build",
            "xmm-input",
        ]
        .map(str::to_owned)
        .into(),
    );
    let xml = domain_capabilities(&c, &host(), &q(None, None)).unwrap();
    assert!(
        xml.contains(
            "<hyperv supported='yes'>\n      <enum name='features'>\n        \
             <value>relaxed</value>\n        <value>spinlocks</value>\n        \
             <value>vendor_id</value>\n        <value>xmm_input</value>\n      \
             </enum>\n    </hyperv>\n    <launchSecurity"
        ),
        "{xml}"
    );
}

#[test]
fn tcg_usability_from_the_second_probe() {
    let mut c = caps("10.0");
    let unknown = domain_capabilities(&c, &host(), &q(Some("qemu"), None)).unwrap();
    assert!(unknown.contains("<model usable='unknown'>qemu64-v1</model>"));
    let mut tcg: std::collections::BTreeMap<String, Vec<String>> = c
        .cpu_models
        .iter()
        .map(|m| (m.name.clone(), Vec::new()))
        .collect();
    tcg.insert(
        "EPYC-Genoa-v1".into(),
        vec!["la57".into(), "avx512f".into()],
    );
    c.tcg_unavailable = Some(tcg);
    let xml = domain_capabilities(&c, &host(), &q(Some("qemu"), None)).unwrap();
    assert!(!xml.contains("usable='unknown'"), "{xml}");
    assert!(xml.contains("<model usable='yes'>qemu64-v1</model>"));
    assert!(xml.contains(
        "<model usable='no'>EPYC-Genoa-v1</model>\n      <blockers model='EPYC-Genoa-v1'>\n        \
         <feature name='avx512f'/>\n        <feature name='la57'/>\n      </blockers>"
    ));
    // TCG usability known: host-model has a stand-in under TCG too.
    assert!(
        xml.contains("<mode name='host-model' supported='yes'>"),
        "{xml}"
    );
    // KVM's answer is untouched.
    let kvm = domain_capabilities(&c, &host(), &q(Some("kvm"), None)).unwrap();
    assert!(kvm.contains("<model usable='no'>EPYC-Genoa-v1</model>"));
}
