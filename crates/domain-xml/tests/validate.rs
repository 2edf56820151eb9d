//! Define-time validation: every domain this repository ships as valid (domain-xml's
//! `tests/data/ok`, qemu-plan's golden inputs, `examples/`) passes, before and after the
//! define-time defaults; small hand-made definitions show each rule refusing by name.

use std::fs;
use std::path::{Path, PathBuf};

use domain_xml::defaults::{DefaultsContext, apply};
use domain_xml::{Domain, ErrorKind, validate, validate_all};

fn parse(xml: &str) -> Domain {
    domain_xml::parse_domain_with(xml, &mut uuid::Uuid::nil)
        .expect("parse")
        .value
}

fn with_defaults(mut d: Domain) -> Domain {
    let resolve = |m: &str| match m {
        "pc" => Some("pc-i440fx-10.0".to_owned()),
        "q35" => Some("pc-q35-10.0".to_owned()),
        _ => None,
    };
    apply(
        &mut d,
        &DefaultsContext {
            emulator: "/usr/bin/qemu-system-x86_64",
            arch: "x86_64",
            default_machine: "pc-i440fx-10.0",
            resolve_machine: &resolve,
        },
    );
    d
}

fn xml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    v.sort();
    v
}

/// Parser fixtures (round-trip tests of the XML, not definitions meant to run) that
/// libvirt would refuse at define, and why.
const INVALID_ON_PURPOSE: &[(&str, &str)] = &[
    (
        "09-os-uefi-bootmenu",
        "a pflash (UEFI) loader on x86 without <features><acpi/>",
    ),
    (
        "21-balloon-rng-watchdog",
        "no machine type (so the default pc) with a pcie-root controller",
    ),
];

#[test]
fn shipped_domains_validate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dirs = [
        root.join("tests/data/ok"),
        root.join("../qemu-plan/tests/data"),
        root.join("../../examples"),
    ];
    let mut failures = Vec::new();
    let mut n = 0;
    for dir in &dirs {
        for f in xml_files(dir) {
            let case = f.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            if let Some((_, why)) = INVALID_ON_PURPOSE.iter().find(|(n, _)| *n == case) {
                let d = with_defaults(
                    domain_xml::parse_domain_with(
                        &fs::read_to_string(&f).expect("read"),
                        &mut uuid::Uuid::nil,
                    )
                    .expect("parse")
                    .value,
                );
                assert!(
                    validate(&d).is_err(),
                    "{} is listed as invalid ({why}) but validates",
                    f.display()
                );
                continue;
            }
            let text = fs::read_to_string(&f).expect("read");
            let Ok(p) = domain_xml::parse_domain_with(&text, &mut uuid::Uuid::nil) else {
                continue; // parse errors are the parser's tests
            };
            n += 1;
            for (when, d) in [
                ("as written", p.value.clone()),
                ("with defaults", with_defaults(p.value)),
            ] {
                for e in validate_all(&d) {
                    failures.push(format!("{} ({when}): {e}", f.display()));
                }
            }
        }
    }
    assert!(n >= 50, "expected the repository's domains, found {n}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const HEAD: &str = "<domain type='kvm'><name>v</name><memory>1048576</memory>";

fn refused(body: &str) -> (ErrorKind, String) {
    let d = with_defaults(parse(&format!("{HEAD}{body}</domain>")));
    match validate(&d) {
        Err(e) => (e.kind, e.message),
        Ok(()) => panic!("accepted: {body}"),
    }
}

fn accepted(body: &str) {
    let d = with_defaults(parse(&format!("{HEAD}{body}</domain>")));
    assert_eq!(validate_all(&d), vec![], "{body}");
}

#[test]
fn os_rules() {
    let (k, m) =
        refused("<os><type machine='pc'>hvm</type><bootmenu enable='yes' timeout='65536'/></os>");
    assert_eq!(k, ErrorKind::ConfigUnsupported);
    assert!(m.contains("<bootmenu timeout='65536'>"), "{m}");
    accepted("<os><type machine='pc'>hvm</type><bootmenu enable='yes' timeout='65535'/></os>");

    let (k, m) = refused("<vcpu cpuset='aaa'>2</vcpu><os><type>hvm</type></os>");
    assert_eq!(k, ErrorKind::InvalidArg);
    assert!(m.contains("cpuset='aaa'"), "{m}");
    accepted("<vcpu cpuset='0-3,^1'>2</vcpu><os><type>hvm</type></os>");

    let uefi = "<os><type machine='q35'>hvm</type><loader readonly='yes' type='pflash'>/x/CODE.fd</loader><nvram>/x/VARS.fd</nvram></os>";
    let (k, m) = refused(uefi);
    assert_eq!(k, ErrorKind::ConfigUnsupported);
    assert!(m.contains("<acpi/>"), "{m}");
    accepted(&format!("{uefi}<features><acpi/></features>"));
}

#[test]
fn boot_order_rules() {
    let disk = |dev: &str, order: u32| {
        format!(
            "<disk type='file' device='disk'><source file='/i/{dev}.img'/><target dev='{dev}' bus='virtio'/><boot order='{order}'/></disk>"
        )
    };
    let (k, m) = refused(&format!(
        "<os><type>hvm</type><boot dev='hd'/></os><devices>{}</devices>",
        disk("vda", 1)
    ));
    assert_eq!(k, ErrorKind::ConfigUnsupported);
    assert!(m.contains("<boot order>") && m.contains("vda"), "{m}");
    let (k, m) = refused(&format!(
        "<os><type>hvm</type></os><devices>{}{}</devices>",
        disk("vda", 1),
        disk("vdb", 1)
    ));
    assert_eq!(k, ErrorKind::XmlError);
    assert!(m.contains("'vda'") && m.contains("'vdb'"), "{m}");
}

#[test]
fn controller_rules() {
    let (k, m) = refused(
        "<os><type machine='pc'>hvm</type></os><devices><controller type='pci' index='7' model='pci-root'/></devices>",
    );
    assert_eq!(k, ErrorKind::XmlError);
    assert!(m.contains("index 0"), "{m}");
    let (k, m) = refused(
        "<os><type machine='pc'>hvm</type></os><devices><controller type='pci' index='0' model='pcie-root'/></devices>",
    );
    assert_eq!(k, ErrorKind::XmlError);
    assert!(m.contains("model='pci-root'"), "{m}");
    let (k, m) = refused(
        "<os><type machine='q35'>hvm</type></os><devices><controller type='usb' index='0' model='qemu-xhci' ports='16'/></devices>",
    );
    assert_eq!(k, ErrorKind::ConfigUnsupported);
    assert!(m.contains("ports='16'"), "{m}");
    let (_, m) = refused(
        "<os><type machine='q35'>hvm</type></os><devices><controller type='usb' index='0' model='none'/><controller type='usb' index='0' model='qemu-xhci'/></devices>",
    );
    assert!(m.contains("model='none'"), "{m}");
    let (_, m) = refused(
        "<os><type machine='q35'>hvm</type></os><devices><controller type='scsi' index='0' model='virtio-scsi'/><controller type='scsi' index='0' model='virtio-scsi'/></devices>",
    );
    assert!(m.contains("'scsi' controllers with index 0"), "{m}");
}

#[test]
fn address_rules() {
    let (k, m) = refused(
        "<os><type machine='pc'>hvm</type></os><devices><memballoon model='virtio'><address type='pci' slot='1' function='1'/></memballoon></devices>",
    );
    assert_eq!(k, ErrorKind::XmlError);
    assert!(
        m.contains("0000:00:01.1") && m.contains("memballoon"),
        "{m}"
    );
    let (_, m) = refused(
        "<os><type machine='pc'>hvm</type></os><devices><memballoon model='virtio'><address type='pci' slot='5'/></memballoon><rng model='virtio'><backend model='random'>/dev/urandom</backend><address type='pci' slot='5'/></rng></devices>",
    );
    assert!(m.contains("0000:00:05.0") && m.contains("also used"), "{m}");
    let (_, m) = refused(
        "<os><type>hvm</type></os><devices><input type='mouse' bus='usb'><address type='usb' bus='0' port='1.2'/></input></devices>",
    );
    assert!(m.contains("no <hub> at port 1"), "{m}");
    let (_, m) = refused(
        "<os><type>hvm</type></os><devices><input type='mouse' bus='usb'><address type='usb' bus='0' port='1'/></input><input type='tablet' bus='usb'><address type='usb' bus='0' port='1'/></input></devices>",
    );
    assert!(m.contains("also used"), "{m}");
}

#[test]
fn disk_and_seclabel_rules() {
    let (k, m) = refused(
        "<os><type>hvm</type></os><devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/i/a.qcow2'/><target dev='vda' bus='virtio'/><shareable/></disk></devices>",
    );
    assert_eq!(k, ErrorKind::ConfigUnsupported);
    assert!(m.contains("<shareable/>") && m.contains("qcow2"), "{m}");
    let (_, m) = refused(
        "<os><type>hvm</type></os><devices><disk type='file' device='disk'><source file='/i/a.img'/><target dev='vdb1' bus='virtio'/></disk></devices>",
    );
    assert!(m.contains("vdb1"), "{m}");
    let (k, m) = refused(
        "<os><type>hvm</type></os><devices><disk type='file' device='disk'><source file='/i/a.img'><seclabel model='selinux' relabel='yes'/></source><target dev='vda' bus='virtio'/></disk></devices>",
    );
    assert_eq!(k, ErrorKind::XmlError);
    assert!(m.contains("relabel='yes'") && m.contains("<label>"), "{m}");
}

#[test]
fn kept_elements_are_checked_too() {
    let hd = "<hostdev mode='subsystem' type='usb' managed='no'><source><address bus='14' device='6'/></source></hostdev>";
    let (k, m) = refused(&format!(
        "<os><type>hvm</type></os><devices>{hd}{hd}</devices>"
    ));
    assert_eq!(k, ErrorKind::XmlError);
    assert!(m.contains("<hostdev type='usb'>"), "{m}");
    assert!(m.contains("already assigned"), "{m}");
    let (_, m) = refused(
        "<os><type machine='q35'>hvm</type></os><features><smm state='on'><tseg unit='KiB'>12345</tseg></smm></features>",
    );
    assert!(m.contains("<tseg unit='KiB'>12345</tseg>"), "{m}");
    accepted(
        "<os><type machine='q35'>hvm</type></os><features><smm state='on'><tseg unit='MiB'>48</tseg></smm></features>",
    );
    // A <tpm> is modelled: without a <backend> it does not even parse.
    let e = domain_xml::parse_domain(&format!(
        "{HEAD}<os><type>hvm</type></os><devices><tpm model='tpm-tis'/></devices></domain>"
    ))
    .unwrap_err();
    assert!(e.to_string().contains("<backend>"), "{e}");
}

#[test]
fn ps2_off_gets_no_ps2_defaults() {
    let body = "<os><type machine='pc'>hvm</type></os><features><ps2 state='off'/></features>";
    accepted(body);
    let d = with_defaults(parse(&format!("{HEAD}{body}</domain>")));
    assert!(d.devices.inputs.is_empty(), "{:?}", d.devices.inputs);
    let (_, m) = refused(
        "<os><type machine='pc'>hvm</type></os><features><ps2 state='off'/></features><devices><input type='mouse' bus='ps2'/></devices>",
    );
    assert!(m.contains("<input bus='ps2'>"), "{m}");
}

#[test]
fn pci_address_ranges() {
    let (_, m) = refused(
        "<os><type machine='pc'>hvm</type></os><devices><memballoon model='virtio'><address type='pci' bus='0x100' slot='5'/></memballoon></devices>",
    );
    assert!(m.contains("bus='0x100'"), "{m}");
}
