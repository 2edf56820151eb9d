//! Addresses decided before the command line is built: PCI slots for the
//! devices that need one, and per-device boot indexes.

use domain_xml::Domain;
use domain_xml::model::Address;
use domain_xml::model::devices::DiskDevice;

use super::controllers;
use super::devices;
use super::disks;
use super::pci::{self, PciAlloc, PciDev};
use super::state::{Family, Planner};

impl Planner<'_> {
    /// Assigns PCI addresses: explicit ones first, then libvirt's order.
    pub(super) fn assign_pci(&mut self) {
        let q35 = self.family == Family::Q35;
        let mut alloc = PciAlloc::new(q35);
        let dom = self.dom;
        let buses: Vec<u32> = dom
            .devices
            .controllers
            .iter()
            .filter(|c| controllers::provides_bus(c))
            .filter_map(|c| c.index)
            .collect();
        let wants = pci_wants(dom, self.family);
        for w in &wants {
            if let Some(a) = w.addr {
                match pci::explicit(a, &buses) {
                    Ok(a) => alloc.reserve(w.dev, a),
                    Err(e) => self.problem(w.subject.clone(), e),
                }
            }
        }
        // Buses a device can be given: root ports take one PCIe endpoint,
        // pcie-to-pci and pci bridges take conventional devices.
        let ports: Vec<u32> = dom
            .devices
            .controllers
            .iter()
            .filter(|c| c.model.as_deref() == Some("pcie-root-port"))
            .filter_map(|c| c.index)
            .collect();
        let pci_bridges: Vec<u32> = dom
            .devices
            .controllers
            .iter()
            .filter(|c| c.model.as_deref() == Some("pcie-to-pci-bridge"))
            .filter_map(|c| c.index)
            .collect();
        let mut usb2_slots: Vec<(u32, u32)> = Vec::new();
        for w in &wants {
            if w.addr.is_some() {
                continue;
            }
            let r = match w.place {
                Place::PrimaryVideo => alloc.prefer(w.dev, if q35 { 1 } else { 2 }),
                Place::RootPort if q35 => alloc.next_function(w.dev),
                Place::Endpoint if q35 => match ports.iter().find(|b| !alloc.bus_in_use(**b)) {
                    Some(b) => Ok(alloc.on_port(w.dev, *b)),
                    None => alloc.next(w.dev),
                },
                Place::Conventional if q35 => pci_bridges
                    .iter()
                    .find_map(|b| alloc.on_bridge(w.dev, *b))
                    .map_or_else(|| alloc.next(w.dev), Ok),
                Place::Ich9Sound if q35 => alloc.prefer_function(w.dev, 0x1b, 0, false),
                Place::Usb2 {
                    index,
                    function,
                    multifunction,
                } => {
                    let slot = match usb2_slots.iter().find(|(i, _)| *i == index) {
                        Some((_, s)) => *s,
                        None => {
                            let s = if q35 { 0x1d } else { alloc.free_slot() };
                            usb2_slots.push((index, s));
                            s
                        }
                    };
                    alloc.prefer_function(w.dev, slot, function, multifunction)
                }
                _ => alloc.next(w.dev),
            };
            if let Err(e) = r {
                self.problem(w.subject.clone(), e);
            }
        }
        self.pci = alloc.assigned;
    }

    /// Per-device boot indexes: `<boot order>` where given, otherwise the
    /// legacy `<os><boot dev>` list mapped onto the first matching device.
    pub(super) fn assign_boot(&mut self) {
        let dom = self.dom;
        let any_order = dom
            .devices
            .disks
            .iter()
            .any(|d| d.info.boot_order.is_some())
            || dom
                .devices
                .interfaces
                .iter()
                .any(|n| n.info.boot_order.is_some());
        if any_order {
            for (i, d) in dom.devices.disks.iter().enumerate() {
                if let Some(o) = d.info.boot_order {
                    self.disk_boot.insert(i, o);
                }
            }
            for (i, n) in dom.devices.interfaces.iter().enumerate() {
                if let Some(o) = n.info.boot_order {
                    self.net_boot.insert(i, o);
                }
            }
            return;
        }
        let mut index = 0;
        for b in &dom.os.boot {
            use domain_xml::model::BootDev;
            let found = match b {
                BootDev::Hd => dom
                    .devices
                    .disks
                    .iter()
                    .position(|d| d.device == DiskDevice::Disk)
                    .map(|i| (true, i)),
                BootDev::Cdrom => dom
                    .devices
                    .disks
                    .iter()
                    .position(|d| d.device == DiskDevice::Cdrom)
                    .map(|i| (true, i)),
                BootDev::Network => {
                    if dom.devices.interfaces.is_empty() {
                        None
                    } else {
                        Some((false, 0))
                    }
                }
                BootDev::Fd => None,
            };
            if let Some((disk, i)) = found {
                index += 1;
                if disk {
                    self.disk_boot.entry(i).or_insert(index);
                } else {
                    self.net_boot.entry(i).or_insert(index);
                }
            }
        }
    }
}

/// How a device without an address is placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    PrimaryVideo,
    /// A pcie-root-port: packed into multifunction slots of the root bus.
    RootPort,
    /// A PCIe endpoint: slot 0 of a free root port on q35.
    Endpoint,
    /// A conventional PCI device: a pcie-to-pci bridge's slot on q35.
    Conventional,
    /// ICH9 HDA: 00:1b.0 on q35.
    Ich9Sound,
    /// An ich9 EHCI/UHCI controller: one slot per USB index, each at its
    /// function (the EHCI at 7, UHCI1..3 at 0..2, UHCI1 saying multifunction).
    Usb2 {
        index: u32,
        function: u32,
        multifunction: bool,
    },
}

/// A device that needs a PCI slot: which, where the XML puts it (if it
/// does), how it is placed otherwise, and how problems name it.
struct PciWant<'d> {
    dev: PciDev,
    addr: Option<&'d Address>,
    place: Place,
    subject: String,
}

fn want(dev: PciDev, addr: Option<&Address>, place: Place, subject: String) -> PciWant<'_> {
    PciWant {
        dev,
        addr,
        place,
        subject,
    }
}

/// Where a controller goes when its address is not given.
fn controller_place(c: &domain_xml::model::devices::Controller, family: Family) -> Place {
    use domain_xml::model::devices::ControllerType as T;
    let model = c.model.as_deref().unwrap_or_default();
    match (c.ctype, model) {
        (T::Pci, "pcie-root-port") => Place::RootPort,
        (T::Pci, "pci-bridge") => Place::Conventional,
        (T::Usb, m) if m.starts_with("ich9-") => {
            let (function, multifunction) = match m {
                "ich9-ehci1" => (7, false),
                "ich9-uhci1" => (0, true),
                "ich9-uhci2" => (1, false),
                _ => (2, false),
            };
            Place::Usb2 {
                index: c.index.unwrap_or(0),
                function,
                multifunction,
            }
        }
        (T::Usb, m) if m.is_empty() && family == Family::I440fx => Place::Conventional,
        (T::Usb, "qemu-xhci" | "nec-xhci" | "") => Place::Endpoint,
        (T::Usb, _) => Place::Conventional,
        (T::Scsi, "virtio-scsi") | (T::VirtioSerial, _) | (T::Pci, _) => Place::Endpoint,
        _ => Place::Conventional,
    }
}

/// Every device that needs a PCI slot, in libvirt's assignment order: the
/// primary video, PCI controllers, NICs, sound, other controllers, virtio
/// disks, balloon, RNG, watchdog, other videos, virtio inputs.
fn pci_wants(dom: &Domain, family: Family) -> Vec<PciWant<'_>> {
    use domain_xml::model::devices::ControllerType as T;
    let mut wants = video_pci_wants(dom, true);
    for pci_pass in [true, false] {
        for (i, c) in dom.devices.controllers.iter().enumerate() {
            if (c.ctype == T::Pci) != pci_pass || !controllers::controller_needs_pci(family, c) {
                continue;
            }
            wants.push(want(
                PciDev::Controller(i),
                c.info.address.as_ref(),
                controller_place(c, family),
                format!("controller '{}'", c.ctype),
            ));
        }
        if !pci_pass {
            continue;
        }
        // 9p shares are virtio PCI devices, placed after the controllers as libvirt does.
        for (i, f) in dom.devices.filesystems.iter().enumerate() {
            wants.push(want(
                PciDev::Filesystem(i),
                f.info.address.as_ref(),
                Place::Endpoint,
                format!("filesystem 'fs{i}'"),
            ));
        }
        for (i, n) in dom.devices.interfaces.iter().enumerate() {
            let pcie = matches!(n.model.as_deref(), Some("virtio" | "e1000e") | None);
            wants.push(want(
                PciDev::Net(i),
                n.info.address.as_ref(),
                if pcie {
                    Place::Endpoint
                } else {
                    Place::Conventional
                },
                format!("interface 'net{i}'"),
            ));
        }
        for (i, snd) in dom.devices.sounds.iter().enumerate() {
            if devices::sound_driver(&snd.model).is_some_and(|(_, pci)| pci) {
                let place = if snd.model == "ich9" {
                    Place::Ich9Sound
                } else {
                    Place::Conventional
                };
                wants.push(want(
                    PciDev::Sound(i),
                    snd.info.address.as_ref(),
                    place,
                    format!("sound{i}"),
                ));
            }
        }
    }
    for (i, d) in dom.devices.disks.iter().enumerate() {
        if disks::bus_of(d) == Some(domain_xml::model::devices::DiskBus::Virtio) {
            wants.push(want(
                PciDev::Disk(i),
                d.info.address.as_ref(),
                Place::Endpoint,
                format!("disk '{}'", d.target.dev),
            ));
        }
    }
    if let Some(b) = &dom.devices.memballoon
        && b.model != "none"
    {
        wants.push(want(
            PciDev::Balloon,
            b.info.address.as_ref(),
            Place::Endpoint,
            "memballoon".to_owned(),
        ));
    }
    for (i, r) in dom.devices.rngs.iter().enumerate() {
        wants.push(want(
            PciDev::Rng(i),
            r.info.address.as_ref(),
            Place::Endpoint,
            format!("rng{i}"),
        ));
    }
    for (i, w) in dom.devices.watchdogs.iter().enumerate() {
        if w.model == "i6300esb" {
            wants.push(want(
                PciDev::Watchdog(i),
                w.info.address.as_ref(),
                Place::Conventional,
                format!("watchdog{i}"),
            ));
        }
    }
    wants.extend(video_pci_wants(dom, false));
    for (i, inp) in dom.devices.inputs.iter().enumerate() {
        if inp.bus == Some(domain_xml::model::devices::InputBus::Virtio) {
            wants.push(want(
                PciDev::Input(i),
                inp.info.address.as_ref(),
                Place::Endpoint,
                format!("input{i}"),
            ));
        }
    }
    for (i, p) in dom.devices.panics.iter().enumerate() {
        if p.model.as_deref() == Some("pvpanic") {
            wants.push(want(
                PciDev::Panic(i),
                p.info.address.as_ref(),
                Place::Conventional,
                format!("panic{i}"),
            ));
        }
    }
    wants
}

/// Videos other than `none` (and ramfb, no PCI device): the primary one
/// (`primary`), which gets the slot libvirt gives it, or the others.
fn video_pci_wants(dom: &Domain, primary: bool) -> Vec<PciWant<'_>> {
    let videos: Vec<usize> = dom
        .devices
        .videos
        .iter()
        .enumerate()
        .filter(|(_, v)| !matches!(v.model_type(), Some("none" | "ramfb")))
        .map(|(i, _)| i)
        .collect();
    let mut wants = Vec::new();
    for (n, i) in videos.iter().enumerate() {
        if (n == 0) != primary {
            continue;
        }
        let v = &dom.devices.videos[*i];
        let (dev, place) = if n == 0 {
            (PciDev::PrimaryVideo, Place::PrimaryVideo)
        } else if v.model_type() == Some("virtio") {
            (PciDev::Video(*i), Place::Endpoint)
        } else {
            (PciDev::Video(*i), Place::Conventional)
        };
        wants.push(want(
            dev,
            v.info.address.as_ref(),
            place,
            format!("video{n}"),
        ));
    }
    wants
}
