//! Define-time checks on devices: controllers (index and model rules), USB topology,
//! disks (targets, drive addresses, shared access), video.

use super::{ErrorKind, Named, Report, xml_num};
use crate::model::Domain;
use crate::model::common::Address;
use crate::model::devices::{ControllerType, Disk, DiskBus, DiskDevice, DiskType, InputBus};

pub(super) fn check(dom: &Domain, r: &mut Report) {
    controllers(dom, r);
    usb(dom, r);
    disks(dom, r);
    videos(dom, r);
    ps2(dom, r);
}

/// QEMU's xHCI controllers have at most this many ports per speed.
const XHCI_MAX_PORTS: u32 = 15;

fn controller_name(c: &crate::model::devices::Controller) -> String {
    let mut attrs = vec![("type", c.ctype.to_string())];
    if let Some(i) = c.index {
        attrs.push(("index", i.to_string()));
    }
    if let Some(m) = &c.model {
        attrs.push(("model", m.clone()));
    }
    Named("controller", &attrs).to_string()
}

fn controllers(dom: &Domain, r: &mut Report) {
    let cs = &dom.devices.controllers;
    for (i, c) in cs.iter().enumerate() {
        let name = controller_name(c);
        // USB controllers share an index on purpose (EHCI with its UHCI companions).
        if c.ctype != ControllerType::Usb
            && c.index.is_some()
            && cs[..i]
                .iter()
                .any(|p| p.ctype == c.ctype && p.index == c.index)
        {
            r.xml(format!(
                "{name}: there are several '{}' controllers with index {}",
                c.ctype,
                c.index.unwrap_or_default()
            ));
        }
        if c.ctype == ControllerType::Usb
            && matches!(c.model.as_deref(), Some("qemu-xhci" | "nec-xhci"))
            && let Some(p) = c.attrs.get("ports")
            && xml_num(p).is_none_or(|n| n > u64::from(XHCI_MAX_PORTS))
        {
            r.unsupported(format!(
                "{name}: ports='{p}': an xHCI controller has at most {XHCI_MAX_PORTS} ports"
            ));
        }
    }
    let usb: Vec<_> = cs
        .iter()
        .filter(|c| c.ctype == ControllerType::Usb)
        .collect();
    if usb.len() > 1 && usb.iter().any(|c| c.model.as_deref() == Some("none")) {
        r.unsupported(
            "<controller type='usb' model='none'> disables USB, so no other USB controller can be added",
        );
    }
}

/// A USB address as written: the bus (controller index) and the port path
/// (`1.2.3` = port 3 of the hub at port 2 of the hub at root port 1), when given.
struct UsbSite {
    who: String,
    bus: Option<u64>,
    port: Option<String>,
    hub: bool,
}

/// The deepest port path libvirt accepts (root port plus three levels of hubs).
const USB_MAX_PORT_DEPTH: usize = 4;
/// Ports of QEMU's `usb-hub`.
const USB_HUB_PORTS: u64 = 8;

fn usb_site(who: String, a: &Address, hub: bool) -> Option<UsbSite> {
    (a.addr_type == "usb").then(|| UsbSite {
        who,
        bus: a.get("bus").and_then(xml_num),
        port: a.get("port").map(str::to_owned),
        hub,
    })
}

/// Every USB device with where it asks to sit: modelled ones, plus `<hub>`, which the
/// model keeps verbatim.
fn usb_sites(dom: &Domain) -> (Vec<UsbSite>, usize) {
    let d = &dom.devices;
    let mut sites = Vec::new();
    let mut unaddressed_hubs = 0;
    for (i, inp) in d.inputs.iter().enumerate() {
        if let Some(a) = &inp.info.address
            && let Some(s) = usb_site(format!("<input type='{}'> #{i}", inp.input_type), a, false)
        {
            sites.push(s);
        }
    }
    for disk in &d.disks {
        if let Some(a) = &disk.info.address
            && let Some(s) = usb_site(format!("disk '{}'", disk.target.dev), a, false)
        {
            sites.push(s);
        }
    }
    for (i, h) in d.hubs.iter().enumerate() {
        match h.info.address.as_ref().filter(|a| a.addr_type == "usb") {
            Some(a) => sites.push(UsbSite {
                who: format!("<hub> #{i}"),
                bus: a.get("bus").and_then(xml_num),
                port: a.get("port").map(str::to_owned),
                hub: true,
            }),
            None => unaddressed_hubs += 1,
        }
    }
    (sites, unaddressed_hubs)
}

fn usb(dom: &Domain, r: &mut Report) {
    usb_devices_without_usb(dom, r);
    let (sites, unaddressed_hubs) = usb_sites(dom);
    let paths = usb_port_paths(dom, &sites, r);
    // A path through hubs needs a hub at each step; hubs placed automatically could be
    // anywhere, so the rule is only checked when every hub says where it is.
    if unaddressed_hubs == 0 {
        hubs_along_paths(&paths, r);
    }
}

/// USB devices in a domain whose USB controller is `model='none'`.
fn usb_devices_without_usb(dom: &Domain, r: &mut Report) {
    let d = &dom.devices;
    let usb_off = d
        .controllers
        .iter()
        .any(|c| c.ctype == ControllerType::Usb && c.model.as_deref() == Some("none"));
    let hubs = d.hubs.len();
    if usb_off {
        if d.inputs.iter().any(|i| i.bus == Some(InputBus::Usb)) {
            r.unsupported("<input bus='usb'> cannot be added: USB is disabled (<controller type='usb' model='none'>)");
        }
        if d.disks.iter().any(|k| k.target.bus == Some(DiskBus::Usb)) {
            r.unsupported("<disk> with <target bus='usb'> cannot be added: USB is disabled (<controller type='usb' model='none'>)");
        }
        if hubs > 0 {
            r.unsupported("<hub type='usb'> cannot be added: USB is disabled (<controller type='usb' model='none'>)");
        }
    }
}

/// The port path of every USB address, each checked on its own and against the
/// others: `(bus, ports, site)`.
fn usb_port_paths<'s>(
    dom: &Domain,
    sites: &'s [UsbSite],
    r: &mut Report,
) -> Vec<(u64, Vec<u64>, &'s UsbSite)> {
    let d = &dom.devices;
    let mut paths: Vec<(u64, Vec<u64>, &UsbSite)> = Vec::new();
    for s in sites {
        let bus = s.bus.unwrap_or(0);
        if !d
            .controllers
            .iter()
            .any(|c| c.ctype == ControllerType::Usb && u64::from(c.index.unwrap_or(0)) == bus)
        {
            r.xml(format!(
                "{}: <address type='usb' bus='{bus}'>: there is no USB controller with index {bus}",
                s.who
            ));
        }
        let Some(port) = &s.port else { continue };
        let parts: Option<Vec<u64>> = port
            .split('.')
            .map(|p| xml_num(p).filter(|n| *n >= 1))
            .collect();
        let Some(parts) = parts.filter(|p| !p.is_empty() && p.len() <= USB_MAX_PORT_DEPTH) else {
            r.push(
                ErrorKind::Internal,
                format!(
                    "{}: <address type='usb' port='{port}'>: a port is 1 to {USB_MAX_PORT_DEPTH} numbers from 1 up, joined by '.'",
                    s.who
                ),
            );
            continue;
        };
        if parts.len() > 1 && parts.last().is_some_and(|p| *p > USB_HUB_PORTS) {
            r.xml(format!(
                "{}: <address type='usb' port='{port}'>: a USB hub has ports 1 to {USB_HUB_PORTS}",
                s.who
            ));
        }
        if let Some((_, _, first)) = paths.iter().find(|(b, p, _)| *b == bus && *p == parts) {
            r.xml(format!(
                "{}: <address type='usb' bus='{bus}' port='{port}'> is also used by {}",
                s.who, first.who
            ));
        }
        paths.push((bus, parts, s));
    }
    paths
}

fn hubs_along_paths(paths: &[(u64, Vec<u64>, &UsbSite)], r: &mut Report) {
    for (bus, parts, s) in paths {
        for depth in 1..parts.len() {
            let upstream = &parts[..depth];
            let is_hub = paths
                .iter()
                .any(|(b, p, h)| b == bus && p.as_slice() == upstream && h.hub);
            if !is_hub {
                let at: Vec<String> = upstream.iter().map(u64::to_string).collect();
                r.xml(format!(
                    "{}: <address type='usb' bus='{bus}' port='{}'>: there is no <hub> at port {}",
                    s.who,
                    s.port.as_deref().unwrap_or_default(),
                    at.join(".")
                ));
                break;
            }
        }
    }
}

/// Disk names are whole disks: `vda`, `sdb`, `hdc`, never a partition (`vdb1`).
fn is_partition(dev: &str) -> bool {
    ["vd", "sd", "hd", "xvd", "fd"].iter().any(|p| {
        dev.strip_prefix(p).is_some_and(|rest| {
            rest.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && rest.chars().last().is_some_and(|c| c.is_ascii_digit())
        })
    })
}

fn disks(dom: &Domain, r: &mut Report) {
    let mut drive_addrs: Vec<(&str, [u64; 4], &str)> = Vec::new();
    for disk in &dom.devices.disks {
        let dev = disk.target.dev.as_str();
        if is_partition(dev) {
            r.unsupported(format!(
                "<target dev='{dev}'>: a disk target names a whole disk, not a partition"
            ));
        }
        let bus = disk.target.bus;
        disk_address(disk, &mut drive_addrs, r);
        let empty = disk
            .source
            .as_ref()
            .is_none_or(|s| s.path.is_none() && s.name.is_none());
        if bus == Some(DiskBus::Usb) && empty {
            r.unsupported(format!(
                "disk '{dev}': a <disk> on <target bus='usb'> needs a <source> (USB media cannot be empty)"
            ));
        }
        if let Some(f @ ("cow" | "dir" | "iso")) = disk.format() {
            let instead = if f == "dir" {
                "use <disk type='dir'>"
            } else {
                "use 'raw'"
            };
            r.unsupported(format!(
                "disk '{dev}': <driver type='{f}'> is not an image format QEMU opens ({instead})"
            ));
        }
        // Only raw images can be opened by two guests at once.
        if disk.shareable && !disk.readonly && disk.format().is_some_and(|f| f != "raw") {
            r.unsupported(format!(
                "disk '{dev}': <shareable/> needs a raw image, not <driver type='{}'>",
                disk.format().unwrap_or_default()
            ));
        }
        if disk.device == DiskDevice::Lun
            && !matches!(disk.disk_type, DiskType::Block | DiskType::Network)
        {
            r.unsupported(format!(
                "disk '{dev}': <disk device='lun'> needs type='block' or type='network', not type='{}'",
                disk.disk_type
            ));
        }
    }
}

/// The address must fit the bus, and no two disks share a drive address.
fn disk_address<'d>(
    disk: &'d Disk,
    drive_addrs: &mut Vec<(&'static str, [u64; 4], &'d str)>,
    r: &mut Report,
) {
    let dev = disk.target.dev.as_str();
    let bus = disk.target.bus;
    if let Some(a) = &disk.info.address {
        let fits = match bus {
            Some(DiskBus::Ide | DiskBus::Sata | DiskBus::Scsi | DiskBus::Fdc) => {
                a.addr_type == "drive"
            }
            Some(DiskBus::Usb) => a.addr_type == "usb",
            Some(DiskBus::Virtio) => {
                matches!(a.addr_type.as_str(), "pci" | "ccw" | "virtio-mmio")
            }
            _ => true,
        };
        if !fits {
            r.unsupported(format!(
                "disk '{dev}': <address type='{}'> does not fit <target bus='{}'>",
                a.addr_type,
                bus.map(|b| b.to_string()).unwrap_or_default()
            ));
        }
        if a.addr_type == "drive" {
            let n = |k: &str| a.get(k).and_then(xml_num).unwrap_or(0);
            let key = [n("controller"), n("bus"), n("target"), n("unit")];
            let kind = match bus {
                Some(DiskBus::Ide) => "ide",
                Some(DiskBus::Sata) => "sata",
                Some(DiskBus::Scsi) => "scsi",
                Some(DiskBus::Fdc) => "fdc",
                _ => "",
            };
            if let Some((_, _, first)) =
                drive_addrs.iter().find(|(k, a, _)| *k == kind && *a == key)
            {
                r.unsupported(format!(
                    "disk '{dev}': <address type='drive' controller='{}' bus='{}' target='{}' unit='{}'> is also used by disk '{first}'",
                    key[0], key[1], key[2], key[3]
                ));
            }
            drive_addrs.push((kind, key, dev));
        }
    }
}

/// `<features><ps2 state='off'/>` removes the i8042 controller: nothing PS/2 is left.
fn ps2(dom: &Domain, r: &mut Report) {
    let state = |name: &str| {
        dom.features
            .as_ref()
            .and_then(|f| f.get(name))
            .and_then(|f| f.attrs.iter().find(|(k, _)| k == "state"))
            .map(|(_, v)| v.as_str())
    };
    if state("ps2") != Some("off") {
        return;
    }
    if dom
        .devices
        .inputs
        .iter()
        .any(|i| i.bus == Some(InputBus::Ps2))
    {
        r.unsupported("<input bus='ps2'> needs the PS/2 controller, which <features><ps2 state='off'/> removes");
    }
    if state("vmport") == Some("on") {
        r.unsupported("<features><vmport state='on'/> needs the PS/2 controller, which <ps2 state='off'/> removes");
    }
}

fn videos(dom: &Domain, r: &mut Report) {
    let v = &dom.devices.videos;
    if v.len() > 1 && v.iter().any(|x| x.model_type() == Some("none")) {
        r.unsupported("<video><model type='none'/> must be the only video device");
    }
    let primaries = v
        .iter()
        .filter(|x| x.model.as_ref().and_then(|m| m.get("primary")) == Some("yes"))
        .count();
    if primaries > 1 {
        r.unsupported("only one <video> can have <model primary='yes'>");
    }
}

#[cfg(test)]
mod tests {
    use super::is_partition;

    #[test]
    fn partitions() {
        assert!(is_partition("vdb1"));
        assert!(is_partition("sda12"));
        assert!(!is_partition("vda"));
        assert!(!is_partition("sdaa"));
        assert!(!is_partition("fda"));
    }
}
