//! Shape conformance of the domain capabilities with libvirt 11.3's own
//! expected outputs (`tests/domaincapsdata/qemu_{10.0.0,7.2.0}*.x86_64.xml`,
//! read at test time from the source fetched by tools/libvirt-corpus.sh,
//! never vendored): every element, attribute name, CPU mode and enum libvirt
//! writes for the same QEMU version, machine and virt type, we write too, in
//! the same order. Values differ by design (libvirt's test host and its
//! capability replies are not the captured ones), so they are not compared,
//! nor are the CPU model lists and host-model details.

use std::path::{Path, PathBuf};
use std::process::Command;

use qemu::Capabilities;
use qemu_runtime::domcaps::{DomCapsQuery, HostCpu, HostView, domain_capabilities};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn libvirt_tree() -> PathBuf {
    let script = repo_root().join("tools/libvirt-corpus.sh");
    let out = Command::new(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed (libvirt's source is a prerequisite of this test):\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
}

fn caps(version: &str) -> Capabilities {
    let path = repo_root()
        .join("crates/qemu-plan/tests/caps")
        .join(format!("qemu-{version}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Element paths with attribute names, and the names of enums and CPU modes,
/// in document order; values and the per-model CPU lists left out.
fn shape(xml: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    let mut out = Vec::new();
    for n in doc.descendants().filter(|n| n.is_element()) {
        let mut path: Vec<String> = n
            .ancestors()
            .filter(|a| a.is_element())
            .map(|a| match (a.tag_name().name(), a.attribute("name")) {
                ("enum" | "mode", Some(name)) => format!("{}[{name}]", a.tag_name().name()),
                (t, _) => t.to_owned(),
            })
            .collect();
        path.reverse();
        let p = path.join("/");
        // The CPU model lists and host-model details are host facts.
        if p.contains("mode[custom]/") || p.contains("mode[host-model]/") || p.ends_with("/value") {
            continue;
        }
        let mut attrs: Vec<&str> = n.attributes().map(|a| a.name()).collect();
        attrs.sort_unstable();
        let key = format!("{p} @{}", attrs.join(","));
        if out.last() != Some(&key) {
            out.push(key);
        }
    }
    out
}

/// The one part of libvirt's shape that follows from what was probed rather
/// than from the emulator: `<hyperv>` comes from asking KVM (libvirt's replies
/// have that answer; the captured capability sets predate the question, and
/// without an answer libvirt leaves the element out too).
fn host_specific(key: &str) -> bool {
    key.starts_with("domainCapabilities/features/hyperv")
}

#[test]
fn domain_capabilities_have_libvirts_shape() {
    let tree = libvirt_tree();
    let dir = tree.join("tests/domaincapsdata");
    let host = HostView {
        arch: "x86_64".into(),
        firmware: qemu_runtime::firmware::load(&[
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/domcaps/firmware")
        ])
        .unwrap()
        .0,
        absent_images: vec![],
        swtpm: true,
        swtpm_versions: vec!["2.0".into()],
        vfio: true,
        kvm_max_vcpus: None,
        cpu: HostCpu {
            vendor: Some("AMD".into()),
            flags: vec![],
        },
    };
    let mut checked = 0;
    for (file, version, virttype, machine) in [
        ("qemu_10.0.0-q35.x86_64.xml", "10.0", "kvm", "q35"),
        ("qemu_10.0.0.x86_64.xml", "10.0", "kvm", "pc"),
        ("qemu_10.0.0-tcg.x86_64.xml", "10.0", "qemu", "pc"),
        ("qemu_7.2.0-q35.x86_64.xml", "7.2", "kvm", "q35"),
        ("qemu_7.2.0.x86_64.xml", "7.2", "kvm", "pc"),
        ("qemu_7.2.0-tcg.x86_64.xml", "7.2", "qemu", "pc"),
    ] {
        let path = dir.join(file);
        let want =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let ours = domain_capabilities(
            &caps(version),
            &host,
            &DomCapsQuery {
                virttype: Some(virttype.into()),
                machine: Some(machine.into()),
                ..DomCapsQuery::default()
            },
        )
        .unwrap();
        let want: Vec<String> = shape(&want)
            .into_iter()
            .filter(|k| !host_specific(k))
            .collect();
        let ours: Vec<String> = shape(&ours)
            .into_iter()
            .filter(|k| !host_specific(k))
            .collect();
        assert!(
            want.len() > 60,
            "{file}: too little shape to compare: {want:#?}"
        );
        let missing: Vec<&String> = want.iter().filter(|k| !ours.contains(k)).collect();
        let extra: Vec<&String> = ours.iter().filter(|k| !want.contains(k)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{file}: missing {missing:#?}\nextra {extra:#?}"
        );
        // Same order for what both have.
        let common: Vec<&String> = ours.iter().filter(|k| want.contains(k)).collect();
        let want_order: Vec<&String> = want.iter().filter(|k| ours.contains(k)).collect();
        assert_eq!(common, want_order, "{file}: element order");
        checked += 1;
        eprintln!("{file}: {} shape keys agree", want.len());
    }
    assert_eq!(checked, 6);
}
