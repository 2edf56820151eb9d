//! Define-time checks on what the model keeps verbatim (`<hostdev>`, `<shmem>`,
//! `<iommu>`, `<tpm>`, `<sysinfo>`, `<os><firmware>`, `<smm><tseg>`) and on small
//! attributes of modelled elements that the model keeps as plain strings. rvirt refuses
//! to start a domain with unmodelled elements anyway; checking them here gives the
//! user libvirt's reason at define time instead of a later "not supported".

use super::{Report, xml_num};
use crate::model::common::AttrSet;
use crate::model::devices::ControllerType;
use crate::model::{Domain, parse_uuid};
use crate::xml::{Extras, RawElement, RawNode};

pub(super) fn check(dom: &Domain, r: &mut Report) {
    hostdevs(dom, r);
    shmems(dom, r);
    iommus(dom, r);
    tpms(dom, r);
    sysinfo(dom, r);
    firmware(dom, r);
    tseg(dom, r);
    small_attrs(dom, r);
}

fn attr<'a>(e: &'a RawElement, k: &str) -> Option<&'a str> {
    e.attrs
        .iter()
        .find(|a| a.name == k && a.ns.is_none())
        .map(|a| a.value.as_str())
}

fn children<'a>(e: &'a RawElement, name: &'a str) -> impl Iterator<Item = &'a RawElement> + 'a {
    e.children.iter().filter_map(move |n| match n {
        RawNode::Element(c) if c.name == name && c.ns.is_none() => Some(c),
        _ => None,
    })
}

fn child<'a>(e: &'a RawElement, name: &'a str) -> Option<&'a RawElement> {
    children(e, name).next()
}

fn text(e: &RawElement) -> String {
    e.children
        .iter()
        .filter_map(|n| match n {
            RawNode::Text(t) => Some(t.as_str()),
            RawNode::Element(_) => None,
        })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Unmodelled children named `name` (no namespace) of a modelled element.
fn kept<'a>(x: &'a Extras, name: &'a str) -> impl Iterator<Item = &'a RawElement> + 'a {
    x.children
        .iter()
        .map(|c| &c.elem)
        .filter(move |e| e.name == name && e.ns.is_none())
}

/// An attribute of a modelled leaf, known or kept verbatim.
fn any_attr<'a>(s: &'a AttrSet, k: &str) -> Option<&'a str> {
    s.get(k).or_else(|| {
        s.extras
            .attrs
            .iter()
            .find(|a| a.name == k && a.ns.is_none())
            .map(|a| a.value.as_str())
    })
}

/// A size element (`<size unit='M'>4</size>`) in bytes.
fn size_bytes(e: &RawElement) -> Option<u64> {
    let n = xml_num(&text(e))?;
    let mult: u64 = match attr(e, "unit").unwrap_or("b") {
        "b" | "bytes" => 1,
        "KB" => 1000,
        "k" | "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "M" | "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "G" | "GiB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn hostdevs(dom: &Domain, r: &mut Report) {
    let list: Vec<&RawElement> = kept(&dom.devices.extras, "hostdev").collect();
    for (i, h) in list.iter().enumerate() {
        let Some(src) = child(h, "source") else {
            continue;
        };
        let same = list[..i].iter().any(|p| {
            attr(p, "type") == attr(h, "type") && child(p, "source").is_some_and(|s| s == src)
        });
        if same {
            r.xml(format!(
                "<hostdev type='{}'> at {}: the same host device is already assigned",
                attr(h, "type").unwrap_or_default(),
                h.pos
            ));
        }
    }
}

fn shmems(dom: &Domain, r: &mut Report) {
    for s in kept(&dom.devices.extras, "shmem") {
        let name = attr(s, "name").unwrap_or_default();
        if let Some(size) = child(s, "size").and_then(size_bytes)
            && (size < 1 << 20 || !size.is_power_of_two())
        {
            r.xml(format!(
                "<shmem name='{name}'>: <size> must be a power of 2 and at least 1 MiB"
            ));
        }
        if child(s, "msi").is_some() && child(s, "server").is_none() {
            r.xml(format!(
                "<shmem name='{name}'>: <msi> needs a <server> (ivshmem-doorbell)"
            ));
        }
        if let Some(a) = child(s, "address")
            && attr(a, "type").is_some_and(|t| t != "pci")
        {
            r.unsupported(format!(
                "<shmem name='{name}'>: only a PCI <address> is possible"
            ));
        }
    }
}

fn iommus(dom: &Domain, r: &mut Report) {
    let q35 = dom
        .os
        .machine
        .as_deref()
        .is_some_and(|m| m == "q35" || m.starts_with("pc-q35"));
    let acpi = dom
        .features
        .as_ref()
        .is_some_and(|f| f.get("acpi").is_some());
    for i in kept(&dom.devices.extras, "iommu") {
        let model = attr(i, "model").unwrap_or_default();
        let who = format!("<iommu model='{model}'>");
        if matches!(model, "intel" | "virtio") && !q35 && dom.os.machine.is_some() {
            r.unsupported(format!("{who} needs a q35 machine"));
        }
        if model == "virtio" {
            if !acpi {
                r.unsupported(format!("{who} needs <features><acpi/>"));
            }
            if child(i, "driver").is_some_and(|d| !d.attrs.is_empty()) {
                r.xml(format!(
                    "{who}: <driver> attributes are not possible with this model"
                ));
            }
            if let Some(a) = child(i, "address") {
                if attr(a, "type") != Some("pci") {
                    r.unsupported(format!("{who} needs a PCI <address>"));
                } else if attr(a, "bus").and_then(xml_num).unwrap_or(0) != 0 {
                    r.xml(format!(
                        "{who}: its PCI <address> must be on bus 0 (an integrated device)"
                    ));
                }
            }
        }
    }
}

fn tpms(dom: &Domain, r: &mut Report) {
    // A <tpm> without a <backend> is refused when it is read.
    if dom.devices.tpms.len() > 2 {
        r.unsupported("a domain can have at most two <tpm> devices (one of them spapr-tpm-proxy)");
    }
}

/// `MM/DD/YY` or `MM/DD/YYYY`, as SMBIOS carries the BIOS date.
fn smbios_date_ok(s: &str) -> bool {
    let p: Vec<&str> = s.split('/').collect();
    let digits =
        |x: &str, n: &[usize]| n.contains(&x.len()) && x.bytes().all(|b| b.is_ascii_digit());
    p.len() == 3 && digits(p[0], &[2]) && digits(p[1], &[2]) && digits(p[2], &[2, 4])
}

fn sysinfo(dom: &Domain, r: &mut Report) {
    for s in kept(&dom.extras, "sysinfo").filter(|s| attr(s, "type") == Some("smbios")) {
        let entries =
            |section: &'static str| children(s, section).flat_map(|sec| children(sec, "entry"));
        for e in entries("bios").filter(|e| attr(e, "name") == Some("date")) {
            let d = text(e);
            if !smbios_date_ok(&d) {
                r.xml(format!(
                    "<sysinfo><bios><entry name='date'>{d}</entry>: the date must be MM/DD/YY or MM/DD/YYYY"
                ));
            }
        }
        for e in entries("system").filter(|e| attr(e, "name") == Some("uuid")) {
            let u = text(e);
            if parse_uuid(&u) != Some(dom.uuid) {
                r.xml(format!(
                    "<sysinfo><system><entry name='uuid'>{u}</entry> differs from the domain's <uuid> {}",
                    dom.uuid
                ));
            }
        }
    }
}

fn firmware(dom: &Domain, r: &mut Report) {
    let os = &dom.os;
    let fw = os.firmware.as_deref();
    let loader_type = os.loader.as_ref().and_then(|l| l.attrs.get("type"));
    let stateless = os.loader.as_ref().and_then(|l| l.attrs.get("stateless")) == Some("yes");
    if let Some(n) = &os.nvram {
        if fw == Some("bios") {
            r.unsupported("<os firmware='bios'> cannot have an <nvram>: only UEFI keeps variables");
        } else if fw.is_none()
            && let Some(l) = &os.loader
            // A loader with a path and no type is a ROM.
            && let Some(t) = loader_type.or(l.path.as_ref().map(|_| "rom"))
            && t != "pflash"
        {
            r.unsupported(format!(
                "<os><nvram> needs <loader type='pflash'>, not type='{t}'"
            ));
        }
        if stateless {
            if n.attrs.get("template").is_some() {
                r.unsupported(
                    "<os><nvram template=...> is not possible with <loader stateless='yes'>",
                );
            } else {
                r.unsupported("<os><nvram> is not possible with <loader stateless='yes'>");
            }
        }
    }
    if fw == Some("bios") && os.loader.as_ref().and_then(|l| l.attrs.get("stateless")) == Some("no")
    {
        r.unsupported(
            "<os firmware='bios'> with <loader stateless='no'>: only UEFI keeps variables",
        );
    }
    if fw.is_none()
        && let Some(l) = &os.loader
        && l.attrs.get("stateless") == Some("no")
        && loader_type.or(l.path.as_ref().map(|_| "rom")) == Some("rom")
    {
        r.unsupported(
            "<loader stateless='no'> asks for NVRAM, which only a pflash loader (type='pflash') has",
        );
    }
    if fw.is_none()
        && let Some(l) = &os.loader
        && l.path.is_none()
    {
        r.unsupported(
            "<os><loader> needs a path when firmware auto-selection (<os firmware=...>) is off",
        );
    }
    let feature = |name: &str| {
        os.firmware_features
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.enabled)
    };
    if fw.is_none() && !os.firmware_features.is_empty() {
        r.unsupported(
            "<os><firmware><feature> selects firmware by feature, which needs <os firmware='efi'>",
        );
    }
    if feature("enrolled-keys") == Some(true) && feature("secure-boot") == Some(false) {
        r.unsupported(
            "<os><firmware>: feature 'enrolled-keys' cannot be on while 'secure-boot' is off",
        );
    }
}

fn tseg(dom: &Domain, r: &mut Report) {
    let Some(smm) = dom.features.as_ref().and_then(|f| f.get("smm")) else {
        return;
    };
    let q35 = dom
        .os
        .machine
        .as_deref()
        .is_some_and(|m| m == "q35" || m.starts_with("pc-q35"));
    for t in smm
        .children
        .iter()
        .filter(|c| c.name == "tseg" && c.ns.is_none())
    {
        if !q35 && dom.os.machine.is_some() {
            r.unsupported("<features><smm><tseg> needs a q35 machine");
        }
        // Without a unit the size is in MiB.
        let unit = attr(t, "unit").unwrap_or("MiB");
        let bytes = match attr(t, "unit") {
            None => xml_num(&text(t)).and_then(|n| n.checked_mul(1 << 20)),
            Some(_) => size_bytes(t),
        };
        if bytes.is_some_and(|b| b % (1 << 20) != 0) {
            r.unsupported(format!(
                "<features><smm><tseg unit='{unit}'>{}</tseg>: the size must be a whole number of MiB",
                text(t)
            ));
        }
    }
}

fn small_attrs(dom: &Domain, r: &mut Report) {
    let d = &dom.devices;
    for c in &d.controllers {
        if let Some(drv) = &c.driver
            && drv.get("iothread").is_some()
            && !(c.ctype == ControllerType::Scsi && c.model.as_deref() == Some("virtio-scsi"))
        {
            r.xml(format!(
                "<controller type='{}'>: <driver iothread=...> is only possible on a virtio-scsi controller",
                c.ctype
            ));
        }
        // ich9's UHCI controllers are companions of an EHCI one and must say which.
        if c.ctype == ControllerType::Usb
            && c.model
                .as_deref()
                .is_some_and(|m| m.starts_with("ich9-uhci"))
            && c.master_startport.is_none()
        {
            r.unsupported(format!(
                "<controller type='usb' model='{}'> needs a <master startport=...> (its EHCI controller)",
                c.model.as_deref().unwrap_or_default()
            ));
        }
    }
    for (i, n) in d.interfaces.iter().enumerate() {
        let Some(drv) = &n.driver else { continue };
        let who = match &n.mac {
            Some(m) => format!("interface '{m}'"),
            None => format!("interface #{i}"),
        };
        for k in ["queues", "rx_queue_size", "tx_queue_size"] {
            let Some(v) = any_attr(drv, k) else { continue };
            match v.parse::<u64>() {
                Err(_) => r.xml(format!(
                    "{who}: <driver {k}='{v}'> must be a non-negative number"
                )),
                Ok(n) if k != "queues" && !n.is_power_of_two() => {
                    r.unsupported(format!("{who}: <driver {k}='{v}'> must be a power of two"))
                }
                Ok(_) => {}
            }
        }
    }
    for v in &d.videos {
        if v.model_type() == Some("ramfb") && v.info.address.is_some() {
            r.unsupported("<video><model type='ramfb'/> cannot have an <address>");
        }
    }
    if let Some(c) = dom.cpu.as_ref()
        && let Some(cache) = &c.cache
    {
        use crate::model::CpuMode;
        let level = cache.get("level");
        match cache.get("mode") {
            Some("emulate") if level.is_some_and(|l| l != "3") => r.unsupported(format!(
                "<cpu><cache mode='emulate' level='{}'>: emulation is only possible for level 3",
                level.unwrap_or_default()
            )),
            Some("passthrough") => {
                if level.is_some() {
                    r.unsupported(format!(
                        "<cpu><cache mode='passthrough' level='{}'>: passthrough takes no level",
                        level.unwrap_or_default()
                    ));
                }
                if !matches!(c.mode, Some(CpuMode::HostPassthrough | CpuMode::Maximum)) {
                    r.unsupported(
                        "<cpu><cache mode='passthrough'> needs <cpu mode='host-passthrough'> or 'maximum'",
                    );
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::smbios_date_ok;

    #[test]
    fn smbios_dates() {
        assert!(smbios_date_ok("01/02/2023"));
        assert!(smbios_date_ok("01/02/23"));
        assert!(!smbios_date_ok("999/999/123"));
        assert!(!smbios_date_ok("2023-01-02"));
    }
}
