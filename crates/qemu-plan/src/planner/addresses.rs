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
        let mut alloc = PciAlloc::new(self.family == Family::Q35);
        let dom = self.dom;
        let buses: Vec<u32> = dom
            .devices
            .controllers
            .iter()
            .filter(|c| controllers::provides_bus(c))
            .filter_map(|c| c.index)
            .collect();
        let wants = pci_wants(dom, self.family);
        for (dev, addr, subject) in &wants {
            if let Some(a) = addr {
                match pci::explicit(a, &buses) {
                    Ok(a) => alloc.reserve(*dev, a),
                    Err(e) => self.problem(subject.clone(), e),
                }
            }
        }
        for (dev, addr, subject) in &wants {
            if addr.is_some() {
                continue;
            }
            let r = if *dev == PciDev::PrimaryVideo {
                let slot = if self.family == Family::Q35 { 1 } else { 2 };
                alloc.prefer(*dev, slot)
            } else {
                alloc.next(*dev)
            };
            if let Err(e) = r {
                self.problem(subject.clone(), e);
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

/// A device that needs a PCI slot: which, where the XML puts it (if it
/// does), and how problems name it.
type PciWant<'d> = (PciDev, Option<&'d Address>, String);

/// Every device that needs a PCI slot, in libvirt's assignment order.
fn pci_wants(dom: &Domain, family: Family) -> Vec<PciWant<'_>> {
    let mut wants = video_pci_wants(dom);
    for (i, c) in dom.devices.controllers.iter().enumerate() {
        if controllers::controller_needs_pci(family, c) {
            wants.push((
                PciDev::Controller(i),
                c.info.address.as_ref(),
                format!("controller '{}'", c.ctype),
            ));
        }
    }
    // 9p shares are virtio PCI devices, placed after the controllers as libvirt does.
    for (i, f) in dom.devices.filesystems.iter().enumerate() {
        wants.push((
            PciDev::Filesystem(i),
            f.info.address.as_ref(),
            format!("filesystem 'fs{i}'"),
        ));
    }
    for (i, n) in dom.devices.interfaces.iter().enumerate() {
        wants.push((
            PciDev::Net(i),
            n.info.address.as_ref(),
            format!("interface 'net{i}'"),
        ));
    }
    for (i, snd) in dom.devices.sounds.iter().enumerate() {
        if devices::sound_driver(&snd.model).is_some_and(|(_, pci)| pci) {
            wants.push((
                PciDev::Sound(i),
                snd.info.address.as_ref(),
                format!("sound{i}"),
            ));
        }
    }
    for (i, d) in dom.devices.disks.iter().enumerate() {
        if disks::bus_of(d) == Some(domain_xml::model::devices::DiskBus::Virtio) {
            wants.push((
                PciDev::Disk(i),
                d.info.address.as_ref(),
                format!("disk '{}'", d.target.dev),
            ));
        }
    }
    if let Some(b) = &dom.devices.memballoon
        && b.model != "none"
    {
        wants.push((
            PciDev::Balloon,
            b.info.address.as_ref(),
            "memballoon".to_owned(),
        ));
    }
    for (i, r) in dom.devices.rngs.iter().enumerate() {
        wants.push((PciDev::Rng(i), r.info.address.as_ref(), format!("rng{i}")));
    }
    for (i, w) in dom.devices.watchdogs.iter().enumerate() {
        if w.model == "i6300esb" {
            wants.push((
                PciDev::Watchdog(i),
                w.info.address.as_ref(),
                format!("watchdog{i}"),
            ));
        }
    }
    for (i, inp) in dom.devices.inputs.iter().enumerate() {
        if inp.bus == Some(domain_xml::model::devices::InputBus::Virtio) {
            wants.push((
                PciDev::Input(i),
                inp.info.address.as_ref(),
                format!("input{i}"),
            ));
        }
    }
    wants
}

/// Videos other than `none`; the first is the primary one, which gets the
/// slot libvirt gives it.
fn video_pci_wants(dom: &Domain) -> Vec<PciWant<'_>> {
    let mut wants: Vec<PciWant<'_>> = Vec::new();
    let videos: Vec<usize> = dom
        .devices
        .videos
        .iter()
        .enumerate()
        .filter(|(_, v)| v.model_type() != Some("none"))
        .map(|(i, _)| i)
        .collect();
    for (n, i) in videos.iter().enumerate() {
        let dev = if n == 0 {
            PciDev::PrimaryVideo
        } else {
            PciDev::Video(*i)
        };
        wants.push((
            dev,
            dom.devices.videos[*i].info.address.as_ref(),
            format!("video{n}"),
        ));
    }
    wants
}
