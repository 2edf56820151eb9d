//! Property: for every document the parser accepts, `parse(write(d)) == d` and the
//! canonical form is a fixed point. Documents are assembled from random choices over
//! the modelled vocabulary (and some unknown content, which must survive too).

use domain_xml::parse_domain_with;
use proptest::prelude::*;

fn opt(s: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), s]
}

fn attr_text() -> impl Strategy<Value = String> {
    // Includes characters that need escaping in attributes and text.
    "[a-zA-Z0-9 ,=/:._'\"<>&-]{0,24}"
}

fn disk() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["file", "block"]),
        prop::sample::select(vec!["disk", "cdrom"]),
        prop::sample::select(vec!["virtio", "sata", "scsi", "ide"]),
        opt(prop::sample::select(vec!["raw", "qcow2"]).prop_map(|f| format!("<driver name='qemu' type='{f}'/>"))),
        any::<bool>(),
        opt((1u32..9).prop_map(|n| format!("<boot order='{n}'/>"))),
        opt(attr_text().prop_map(|s| format!("<serial>{}</serial>", esc(&s)))),
    )
        .prop_map(|(t, dev, bus, driver, ro, boot, serial)| {
            let src = if t == "file" { "file='/img/a.img'" } else { "dev='/dev/sdz'" };
            let ro = if ro { "<readonly/>" } else { "" };
            format!("<disk type='{t}' device='{dev}'>{driver}<source {src}/><target dev='TARGET' bus='{bus}'/>{ro}{serial}{boot}</disk>")
        })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

fn device() -> impl Strategy<Value = String> {
    prop_oneof![
        disk(),
        Just("<interface type='user'><mac address='52:54:00:00:00:01'/><model type='virtio'/></interface>".to_owned()),
        Just("<interface type='bridge'><source bridge='br0'/></interface>".to_owned()),
        Just("<serial type='pty'><target port='0'/></serial>".to_owned()),
        Just("<console type='pty'><target type='serial' port='0'/></console>".to_owned()),
        Just("<input type='tablet' bus='usb'/>".to_owned()),
        Just("<graphics type='vnc' port='-1' autoport='yes'/>".to_owned()),
        Just("<video><model type='vga'/></video>".to_owned()),
        Just("<memballoon model='virtio'/>".to_owned()),
        Just("<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>".to_owned()),
        Just("<watchdog model='i6300esb'/>".to_owned()),
        Just("<controller type='usb' index='0' model='qemu-xhci'/>".to_owned()),
        Just("<hostdev mode='subsystem' type='pci'><source/></hostdev>".to_owned()),
    ]
}

fn domain() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["kvm", "qemu"]),
        "[a-zA-Z0-9_.+-]{1,30}",
        (1u64..1 << 20, prop::sample::select(vec!["KiB", "MiB", "M", "G", "bytes", "KB"])),
        opt((1u32..64).prop_map(|n| format!("<vcpu>{n}</vcpu>"))),
        opt(attr_text().prop_map(|t| format!("<title>{}</title>", esc(&t)))),
        opt(prop::sample::select(vec!["<features><acpi/><apic/></features>", "<features><pae/><vmport state='off'/></features>"]).prop_map(str::to_owned)),
        opt(prop::sample::select(vec!["<cpu mode='host-model'/>", "<cpu mode='custom'><model>qemu64</model></cpu>"]).prop_map(str::to_owned)),
        prop::collection::vec(device(), 0..6),
        prop::collection::vec(
            prop_oneof![
                attr_text().prop_map(|v| format!("<qemu:arg value='{}'/>", esc(&v))),
                ("[A-Z_][A-Z0-9_]{0,8}", opt(attr_text())).prop_map(|(n, v)| if v.is_empty() {
                    format!("<qemu:env name='{n}'/>")
                } else {
                    format!("<qemu:env name='{n}' value='{}'/>", esc(&v))
                }),
            ],
            0..5,
        ),
        opt(Just("<cputune><shares>10</shares></cputune>".to_owned())),
        opt(prop::sample::select(vec!["<seclabel type='none'/>", "<seclabel type='static' model='dac' relabel='no'><label>+0:+0</label></seclabel>"]).prop_map(str::to_owned)),
    )
        .prop_map(|(vt, name, (mem, unit), vcpu, title, features, cpu, devices, qemu, unknown, seclabel)| {
            let devices: String = devices
                .iter()
                .enumerate()
                .map(|(i, d)| d.replace("TARGET", &format!("vd{}", (b'a' + i as u8) as char)))
                .collect();
            let qemu = if qemu.is_empty() { String::new() } else { format!("<qemu:commandline>{}</qemu:commandline>", qemu.concat()) };
            format!(
                "<domain type='{vt}' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><name>{name}</name>{title}<memory unit='{unit}'>{mem}</memory>{unknown}{vcpu}<os><type>hvm</type></os>{features}{cpu}<devices>{devices}</devices>{seclabel}{qemu}</domain>"
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn parse_write_parse_is_identity(doc in domain()) {
        let mut id = || uuid::Uuid::from_u128(42);
        let first = match parse_domain_with(&doc, &mut id) {
            Ok(p) => p.value,
            // Random names may collide with rules (e.g. "."): those are errors, fine.
            Err(_) => return Ok(()),
        };
        let xml = first.to_xml();
        let second = parse_domain_with(&xml, &mut id).unwrap().value;
        prop_assert_eq!(&second, &first);
        prop_assert_eq!(second.to_xml(), xml);
    }
}
