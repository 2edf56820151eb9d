//! Define-time checks on the PCI topology: the root controller, explicit addresses
//! (no two devices on one, none on a function the machine's own chipset uses, only
//! buses that exist).

use super::{Report, xml_num};
use crate::model::devices::{Controller, ControllerType};
use crate::model::{Address, DeviceInfo, Domain};

/// The chipset families whose built-in devices are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    I440fx,
    Q35,
}

/// The family of a machine type name (alias or versioned), if it is a known one.
pub(crate) fn family(machine: Option<&str>) -> Option<Family> {
    let m = machine?;
    if m == "q35" || m.starts_with("pc-q35") {
        Some(Family::Q35)
    } else if m == "pc"
        || m.starts_with("pc-i440fx")
        || m.starts_with("pc-0.")
        || m.starts_with("pc-1.")
    {
        Some(Family::I440fx)
    } else {
        None
    }
}

fn is_root(c: &Controller) -> bool {
    c.ctype == ControllerType::Pci && matches!(c.model.as_deref(), Some("pci-root" | "pcie-root"))
}

pub(super) fn check(dom: &Domain, r: &mut Report) {
    roots(dom, r);
    addresses(dom, r);
}

fn roots(dom: &Domain, r: &mut Report) {
    let fam = family(dom.os.machine.as_deref());
    for c in &dom.devices.controllers {
        if c.ctype != ControllerType::Pci {
            continue;
        }
        let model = c.model.as_deref().unwrap_or_default();
        let index = c.index.unwrap_or(0);
        if is_root(c) {
            if index != 0 {
                r.xml(format!(
                    "<controller type='pci' index='{index}' model='{model}'>: the {model} controller must have index 0"
                ));
            }
            if c.info.address.is_some() {
                r.unsupported(format!(
                    "<controller type='pci' model='{model}'>: the {model} controller cannot have an <address>"
                ));
            }
        }
        // A controller without an index is numbered later; only an explicit 0 is the root.
        if c.index == Some(0) && !model.is_empty() {
            let want = match fam {
                Some(Family::I440fx) => Some("pci-root"),
                Some(Family::Q35) => Some("pcie-root"),
                None => None,
            };
            if let Some(want) = want
                && model != want
            {
                r.xml(format!(
                    "<controller type='pci' index='0' model='{model}'>: this machine type ({}) needs model='{want}' at index 0",
                    dom.os.machine.as_deref().unwrap_or_default()
                ));
            }
        }
    }
}

/// `(domain, bus, slot, function)` of an explicit PCI address.
type PciAddr = [u64; 4];

fn pci_addr(a: &Address) -> Option<PciAddr> {
    if a.addr_type != "pci" {
        return None;
    }
    let n = |k: &str| a.get(k).and_then(xml_num).unwrap_or(0);
    Some([n("domain"), n("bus"), n("slot"), n("function")])
}

fn show(a: PciAddr) -> String {
    format!("{:04x}:{:02x}:{:02x}.{:x}", a[0], a[1], a[2], a[3])
}

/// Every device's explicit PCI address, with a name for messages.
fn explicit(dom: &Domain) -> Vec<(String, PciAddr, Option<&Controller>)> {
    let d = &dom.devices;
    let mut out: Vec<(String, PciAddr, Option<&Controller>)> = d
        .controllers
        .iter()
        .filter_map(|c| {
            let a = c.info.address.as_ref().and_then(pci_addr)?;
            let who = format!(
                "<controller type='{}' index='{}'>",
                c.ctype,
                c.index.unwrap_or(0)
            );
            Some((who, a, Some(c)))
        })
        .collect();
    let mut add = |who: String, info: &DeviceInfo| {
        if let Some(a) = info.address.as_ref().and_then(pci_addr) {
            out.push((who, a, None));
        }
    };
    for x in &d.disks {
        add(format!("disk '{}'", x.target.dev), &x.info);
    }
    for (i, x) in d.interfaces.iter().enumerate() {
        add(format!("<interface> #{i}"), &x.info);
    }
    for x in d
        .serials
        .iter()
        .chain(&d.parallels)
        .chain(&d.consoles)
        .chain(&d.channels)
    {
        add(format!("<{}>", x.kind), &x.info);
    }
    for (i, x) in d.inputs.iter().enumerate() {
        add(format!("<input> #{i}"), &x.info);
    }
    for (i, x) in d.sounds.iter().enumerate() {
        add(format!("<sound model='{}'> #{i}", x.model), &x.info);
    }
    for (i, x) in d.videos.iter().enumerate() {
        add(format!("<video> #{i}"), &x.info);
    }
    for x in &d.watchdogs {
        add(format!("<watchdog model='{}'>", x.model), &x.info);
    }
    if let Some(x) = &d.memballoon {
        add(format!("<memballoon model='{}'>", x.model), &x.info);
    }
    for x in &d.rngs {
        add(format!("<rng model='{}'>", x.model), &x.info);
    }
    out
}

/// Functions of bus 0 the machine's chipset occupies, with the controller that may
/// sit on it explicitly (libvirt writes the built-in IDE/USB/SATA address out).
fn builtin(
    fam: Family,
    a: PciAddr,
) -> Option<(&'static str, Option<(ControllerType, &'static str)>)> {
    if a[0] != 0 || a[1] != 0 {
        return None;
    }
    match (fam, a[2], a[3]) {
        (_, 0, _) => Some(("the host bridge", None)),
        (Family::I440fx, 1, 0) => Some(("the PIIX3 ISA bridge", None)),
        (Family::I440fx, 1, 1) => {
            Some(("the PIIX3 IDE controller", Some((ControllerType::Ide, ""))))
        }
        (Family::I440fx, 1, 2) => Some((
            "the PIIX3 USB controller",
            Some((ControllerType::Usb, "piix3-uhci")),
        )),
        (Family::I440fx, 1, 3) => Some(("the PIIX4 power management device", None)),
        (Family::Q35, 0x1f, 0) => Some(("the ICH9 LPC bridge", None)),
        (Family::Q35, 0x1f, 2) => {
            Some(("the ICH9 SATA controller", Some((ControllerType::Sata, ""))))
        }
        (Family::Q35, 0x1f, 3) => Some(("the ICH9 SMBus controller", None)),
        _ => None,
    }
}

fn addresses(dom: &Domain, r: &mut Report) {
    let fam = family(dom.os.machine.as_deref());
    let list = explicit(dom);
    let pci_ctls: Vec<&Controller> = dom
        .devices
        .controllers
        .iter()
        .filter(|c| c.ctype == ControllerType::Pci)
        .collect();
    let all_indexed = pci_ctls.iter().all(|c| c.index.is_some());
    for (i, (who, a, ctl)) in list.iter().enumerate() {
        // QEMU's PCI addresses: one domain, 256 buses, 32 slots, 8 functions.
        let limits = [
            ("domain", 0, a[0]),
            ("bus", 0xff, a[1]),
            ("slot", 0x1f, a[2]),
            ("function", 7, a[3]),
        ];
        if let Some((k, max, v)) = limits.iter().find(|(_, max, v)| v > max) {
            r.xml(format!(
                "{who}: <address type='pci' {k}='{v:#x}'> is out of range: at most {max:#x}"
            ));
            continue;
        }
        if let Some((first, _, _)) = list[..i].iter().find(|(_, b, _)| b == a) {
            r.xml(format!(
                "{who}: PCI address {} is also used by {first}",
                show(*a)
            ));
            continue;
        }
        if let Some(fam) = fam
            && let Some((what, owner)) = builtin(fam, *a)
        {
            let is_owner = owner.is_some_and(|(t, model)| {
                ctl.is_some_and(|c| {
                    c.ctype == t
                        && c.index.unwrap_or(0) == 0
                        && (model.is_empty() || c.model.as_deref().is_none_or(|m| m == model))
                })
            });
            if !is_owner {
                r.xml(format!(
                    "{who}: PCI address {} is taken by {what} of the machine",
                    show(*a)
                ));
            }
        }
        if a[1] != 0
            && all_indexed
            && !pci_ctls
                .iter()
                .any(|c| u64::from(c.index.unwrap_or(0)) == a[1])
        {
            r.xml(format!(
                "{who}: PCI address {} is on bus {}, but there is no <controller type='pci' index='{}'>",
                show(*a),
                a[1],
                a[1]
            ));
        }
    }
}
