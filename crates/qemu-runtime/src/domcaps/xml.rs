//! Writes `<domainCapabilities>` in libvirt 11.3's element order and
//! indentation; each value is there only when the probed emulator (or the
//! host) has what it needs.

use std::fmt::Write as _;

use qemu::Capabilities;

use super::cpu::{accel, host_model, is_named_model, usable};
use super::firmware::offer;
use super::{HostView, Resolved, has_builtin_ide};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
}

/// An indenting line writer.
struct Out {
    s: String,
    depth: usize,
}

impl Out {
    fn line(&mut self, text: &str) {
        for _ in 0..self.depth {
            self.s.push_str("  ");
        }
        self.s.push_str(text);
        self.s.push('\n');
    }

    fn open(&mut self, text: &str) {
        self.line(text);
        self.depth += 1;
    }

    fn close(&mut self, text: &str) {
        self.depth -= 1;
        self.line(text);
    }

    /// `<enum name='NAME'>` with its values, `<enum name='NAME'/>` if none.
    fn enumeration(&mut self, name: &str, values: &[&str]) {
        if values.is_empty() {
            self.line(&format!("<enum name='{name}'/>"));
            return;
        }
        self.open(&format!("<enum name='{name}'>"));
        for v in values {
            self.line(&format!("<value>{}</value>", esc(v)));
        }
        self.close("</enum>");
    }

    /// A device or feature block: `supported='yes'` with its enums, or
    /// `supported='no'/>` when it has none to offer.
    fn block(&mut self, tag: &str, supported: bool, enums: &[(&str, Vec<&str>)]) {
        if !supported {
            self.line(&format!("<{tag} supported='no'/>"));
            return;
        }
        if enums.is_empty() {
            self.line(&format!("<{tag} supported='yes'/>"));
            return;
        }
        self.open(&format!("<{tag} supported='yes'>"));
        for (name, values) in enums {
            self.enumeration(name, values);
        }
        self.close(&format!("</{tag}>"));
    }
}

/// `values` filtered by their conditions, in order.
fn pick<'a>(items: &[(&'a str, bool)]) -> Vec<&'a str> {
    items
        .iter()
        .filter(|(_, on)| *on)
        .map(|(v, _)| *v)
        .collect()
}

pub(super) fn write(caps: &Capabilities, host: &HostView, r: &Resolved) -> String {
    let mut o = Out {
        s: String::new(),
        depth: 0,
    };
    o.open("<domainCapabilities>");
    o.line(&format!(
        "<path>{}</path>",
        esc(&caps.emulator.to_string_lossy())
    ));
    o.line(&format!("<domain>{}</domain>", r.virttype));
    o.line(&format!("<machine>{}</machine>", esc(&r.machine)));
    o.line(&format!("<arch>{}</arch>", esc(&r.arch)));
    let mut max = caps.machine(&r.machine).map_or(0, |m| m.cpu_max);
    if r.virttype == "kvm"
        && let Some(k) = host.kvm_max_vcpus
    {
        max = max.min(k);
    }
    if max > 0 {
        o.line(&format!("<vcpu max='{max}'/>"));
    }
    o.line("<iothreads supported='yes'/>");
    os(&mut o, host, r);
    cpu(&mut o, caps, host, r);
    memory_backing(&mut o, caps);
    o.open("<devices>");
    devices(&mut o, caps, host, r);
    o.close("</devices>");
    features(&mut o, caps, r);
    o.close("</domainCapabilities>");
    o.s
}

fn os(o: &mut Out, host: &HostView, r: &Resolved) {
    let fw = offer(&host.firmware, &host.absent_images, &r.machine, &r.arch);
    o.open("<os supported='yes'>");
    o.enumeration("firmware", &pick(&[("bios", fw.bios), ("efi", fw.efi)]));
    o.open("<loader supported='yes'>");
    for img in &fw.images {
        o.line(&format!("<value>{}</value>", esc(img)));
    }
    o.enumeration("type", &["rom", "pflash"]);
    o.enumeration("readonly", &["yes", "no"]);
    o.enumeration("secure", &pick(&[("yes", fw.secure), ("no", true)]));
    o.close("</loader>");
    o.close("</os>");
}

fn cpu(o: &mut Out, caps: &Capabilities, host: &HostView, r: &Resolved) {
    let has = |n: &str| caps.cpu_model(n).is_some();
    o.open("<cpu>");
    // `-cpu host` needs an accelerator that runs on the host CPU.
    if r.virttype == "kvm" && has("host") {
        o.open("<mode name='host-passthrough' supported='yes'>");
        o.enumeration("hostPassthroughMigratable", &["on", "off"]);
        o.close("</mode>");
    } else {
        o.line("<mode name='host-passthrough' supported='no'/>");
    }
    if has("max") {
        o.open("<mode name='maximum' supported='yes'>");
        o.enumeration("maximumMigratable", &["on", "off"]);
        o.close("</mode>");
    } else {
        o.line("<mode name='maximum' supported='no'/>");
    }
    match host_model(caps, &r.virttype, &host.cpu) {
        Some((model, vendor)) => {
            o.open("<mode name='host-model' supported='yes'>");
            o.line(&format!("<model fallback='forbid'>{}</model>", esc(&model)));
            if let Some(v) = &vendor {
                o.line(&format!("<vendor>{}</vendor>", esc(v)));
            }
            o.close("</mode>");
        }
        None => o.line("<mode name='host-model' supported='no'/>"),
    }
    let models: Vec<_> = caps
        .cpu_models
        .iter()
        .filter(|m| is_named_model(m))
        .collect();
    if models.is_empty() {
        o.line("<mode name='custom' supported='no'/>");
    } else {
        o.open("<mode name='custom' supported='yes'>");
        for m in models {
            let u = usable(caps, &r.virttype, m);
            let mut attrs = format!(
                "usable='{}'",
                match u {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "unknown",
                }
            );
            if m.deprecated {
                attrs.push_str(" deprecated='yes'");
            }
            if let Some(c) = &m.alias_of {
                let _ = write!(attrs, " canonical='{}'", esc(c));
            }
            o.line(&format!("<model {attrs}>{}</model>", esc(&m.name)));
            if u == Some(false) {
                o.open(&format!("<blockers model='{}'>", esc(&m.name)));
                let mut b = caps
                    .cpu_model_blockers(m, accel(&r.virttype))
                    .unwrap_or_default()
                    .to_vec();
                b.sort();
                b.dedup();
                for f in b {
                    o.line(&format!("<feature name='{}'/>", esc(&f)));
                }
                o.close("</blockers>");
            }
        }
        o.close("</mode>");
    }
    o.close("</cpu>");
}

fn memory_backing(o: &mut Out, caps: &Capabilities) {
    o.block(
        "memoryBacking",
        true,
        &[(
            "sourceType",
            pick(&[
                ("file", caps.has_object("memory-backend-file")),
                ("anonymous", caps.has_object("memory-backend-ram")),
                ("memfd", caps.has_object("memory-backend-memfd")),
            ]),
        )],
    );
}

fn devices(o: &mut Out, caps: &Capabilities, host: &HostView, r: &Resolved) {
    let dev = |n: &str| caps.has_device(n);
    let obj = |n: &str| caps.has_object(n);
    let x86 = matches!(r.arch.as_str(), "x86_64" | "i686");
    let fdc = dev("isa-fdc");
    let transitional = dev("virtio-blk-pci-transitional");
    o.block(
        "disk",
        true,
        &[
            (
                "diskDevice",
                pick(&[
                    ("disk", true),
                    ("cdrom", true),
                    ("floppy", fdc),
                    ("lun", true),
                ]),
            ),
            (
                "bus",
                pick(&[
                    ("ide", has_builtin_ide(&r.machine)),
                    ("fdc", fdc),
                    ("scsi", true),
                    ("virtio", true),
                    ("usb", dev("usb-storage")),
                    ("sata", dev("ich9-ahci")),
                ]),
            ),
            (
                "model",
                pick(&[
                    ("virtio", true),
                    ("virtio-transitional", transitional),
                    ("virtio-non-transitional", transitional),
                ]),
            ),
        ],
    );
    o.block(
        "graphics",
        true,
        &[(
            "type",
            pick(&[
                (
                    "vnc",
                    caps.has_option("vnc", None) || caps.has_command("query-vnc"),
                ),
                ("spice", caps.has_option("spice", None)),
                ("dbus", obj("dbus-display")),
            ]),
        )],
    );
    o.block(
        "video",
        true,
        &[(
            "modelType",
            pick(&[
                ("vga", dev("VGA")),
                ("cirrus", dev("cirrus-vga")),
                ("vmvga", dev("vmware-svga")),
                ("qxl", dev("qxl") || dev("qxl-vga")),
                ("virtio", dev("virtio-gpu-pci") || dev("virtio-gpu-device")),
                ("none", true),
                ("bochs", dev("bochs-display")),
                ("ramfb", dev("ramfb")),
            ]),
        )],
    );
    let usb = [
        "piix3-usb-uhci",
        "piix4-usb-uhci",
        "usb-ehci",
        "ich9-usb-ehci1",
        "vt82c686b-usb-uhci",
        "pci-ohci",
        "nec-usb-xhci",
        "qemu-xhci",
    ]
    .iter()
    .any(|d| dev(d));
    let vfio = host.vfio && dev("vfio-pci");
    o.block(
        "hostdev",
        true,
        &[
            ("mode", vec!["subsystem"]),
            (
                "startupPolicy",
                vec!["default", "mandatory", "requisite", "optional"],
            ),
            (
                "subsysType",
                pick(&[("usb", usb), ("pci", true), ("scsi", true)]),
            ),
            ("capsType", vec![]),
            ("pciBackend", pick(&[("default", vfio), ("vfio", vfio)])),
        ],
    );
    let rng_t = dev("virtio-rng-pci-transitional");
    o.block(
        "rng",
        true,
        &[
            (
                "model",
                pick(&[
                    ("virtio", dev("virtio-rng-pci") || dev("virtio-rng-device")),
                    ("virtio-transitional", rng_t),
                    ("virtio-non-transitional", rng_t),
                ]),
            ),
            (
                "backendModel",
                pick(&[
                    ("random", obj("rng-random")),
                    ("egd", obj("rng-egd")),
                    ("builtin", obj("rng-builtin")),
                ]),
            ),
        ],
    );
    let p9 = dev("virtio-9p-pci") || dev("virtio-9p-device");
    o.block(
        "filesystem",
        true,
        &[(
            "driverType",
            pick(&[
                ("path", p9),
                ("handle", p9),
                (
                    "virtiofs",
                    dev("vhost-user-fs-pci") || dev("vhost-user-fs-device"),
                ),
            ]),
        )],
    );
    let tpm_models = pick(&[
        ("tpm-tis", dev("tpm-tis")),
        ("tpm-crb", dev("tpm-crb")),
        ("tpm-spapr", dev("tpm-spapr")),
        ("spapr-tpm-proxy", dev("spapr-tpm-proxy")),
    ]);
    let emu = host.swtpm && obj("tpm-emulator");
    let mut tpm_enums = vec![
        ("model", tpm_models.clone()),
        (
            "backendModel",
            pick(&[
                ("passthrough", obj("tpm-passthrough")),
                ("emulator", emu),
                ("external", emu),
            ]),
        ),
    ];
    let versions: Vec<&str> = host
        .swtpm_versions
        .iter()
        .map(String::as_str)
        .filter(|_| host.swtpm)
        .collect();
    if !versions.is_empty() {
        tpm_enums.push(("backendVersion", versions));
    }
    o.block("tpm", !tpm_models.is_empty(), &tpm_enums);
    o.block("redirdev", dev("usb-redir"), &[("bus", vec!["usb"])]);
    let spice = caps.has_option("spice", None);
    o.block(
        "channel",
        true,
        &[(
            "type",
            pick(&[("pty", true), ("unix", true), ("spicevmc", spice)]),
        )],
    );
    o.block(
        "crypto",
        true,
        &[
            (
                "model",
                pick(&[(
                    "virtio",
                    dev("virtio-crypto-pci") || dev("virtio-crypto-device"),
                )]),
            ),
            ("type", vec!["qemu"]),
            (
                "backendModel",
                pick(&[
                    ("builtin", obj("cryptodev-backend-builtin")),
                    ("lkcf", obj("cryptodev-backend-lkcf")),
                ]),
            ),
        ],
    );
    o.block(
        "interface",
        true,
        &[(
            "backendType",
            pick(&[
                ("default", caps.has_option("netdev", None)),
                ("passt", caps.has_flag(qemu::caps::flags::NETDEV_STREAM)),
            ]),
        )],
    );
    let panic = pick(&[
        ("isa", dev("pvpanic")),
        ("hyperv", x86),
        ("pvpanic", dev("pvpanic-pci")),
    ]);
    let panic_ok = !panic.is_empty();
    o.block("panic", panic_ok, &[("model", panic)]);
}

fn features(o: &mut Out, caps: &Capabilities, r: &Resolved) {
    let yn = |b: bool| if b { "yes" } else { "no" };
    let machine = caps.machine(&r.machine);
    o.open("<features>");
    // GIC versions are an Arm virt matter the probe does not ask about.
    o.line("<gic supported='no'/>");
    o.line(&format!(
        "<vmcoreinfo supported='{}'/>",
        yn(caps.has_device("vmcoreinfo"))
    ));
    o.line(&format!(
        "<genid supported='{}'/>",
        yn(caps.has_device("vmgenid"))
    ));
    o.line("<backingStoreInput supported='yes'/>");
    o.line("<backup supported='yes'/>");
    o.line(&format!(
        "<async-teardown supported='{}'/>",
        yn(caps.has_option("run-with", Some("async-teardown")))
    ));
    if matches!(r.arch.as_str(), "s390" | "s390x") {
        o.line("<s390-pv supported='no'/>");
    }
    o.line(&format!(
        "<ps2 supported='{}'/>",
        yn(machine.is_some_and(|m| m.has_property("i8042")))
    ));
    // SEV and SGX need the host's firmware and kernel to be asked
    // (query-sev-capabilities, query-sgx-capabilities), which the probe does
    // not do: reported unsupported, as libvirt does when those fail.
    o.line("<sev supported='no'/>");
    o.line("<sgx supported='no'/>");
    let hv = hyperv(caps);
    if !hv.is_empty() {
        o.block("hyperv", true, &[("features", hv)]);
    }
    o.line("<launchSecurity supported='no'/>");
    o.close("</features>");
}

/// libvirt's Hyper-V enlightenments (`virDomainHyperv`), in its order.
const HYPERV: &[&str] = &[
    "relaxed",
    "vapic",
    "spinlocks",
    "vpindex",
    "runtime",
    "synic",
    "stimer",
    "reset",
    "vendor_id",
    "frequencies",
    "reenlightenment",
    "tlbflush",
    "ipi",
    "evmcs",
    "avic",
    "emsr_bitmap",
    "xmm_input",
];

/// The enlightenments the probe found KVM offering, by libvirt's names
/// (QEMU's `vendor-id` is libvirt's `vendor_id`); none when not probed.
fn hyperv(caps: &Capabilities) -> Vec<&'static str> {
    let Some(on) = &caps.hyperv else {
        return Vec::new();
    };
    let on: Vec<String> = on.iter().map(|n| n.replace('-', "_")).collect();
    HYPERV
        .iter()
        .copied()
        .filter(|h| on.iter().any(|n| n == h))
        .collect()
}
