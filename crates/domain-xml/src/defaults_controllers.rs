//! Define-time controller defaults, as libvirt fills them after parsing: an index
//! for every controller written without one (virt-install writes fourteen
//! `<controller type='pci' model='pcie-root-port'/>` and a `qemu-xhci` without
//! indexes), the `<model name>` of PCI controllers, the start ports of ich9's UHCI
//! companions, q35's built-in SATA controller, the virtio-serial controller a
//! virtio channel needs, and the virtio-serial address of each such channel.
//!
//! PCI addresses stay with the planner (see `qemu-plan`'s `planner/pci.rs`).

use crate::model::common::{Address, AttrSet, DeviceInfo};
use crate::model::devices::Devices;
use crate::model::devices::misc::{Controller, ControllerType};

fn bare(ctype: ControllerType, index: u32, model: Option<&str>) -> Controller {
    Controller {
        ctype,
        index: Some(index),
        model: model.map(str::to_owned),
        attrs: AttrSet::default(),
        driver: None,
        model_name: None,
        target: None,
        master_startport: None,
        info: DeviceInfo::default(),
    }
}

/// Everything but the indexes, which [`assign_indexes`] gives first (before the
/// implicit controllers are looked for).
pub(crate) fn apply(devs: &mut Devices, q35: bool) {
    pci_model_names(devs);
    usb_companion_ports(devs);
    if q35
        && !devs
            .controllers
            .iter()
            .any(|c| c.ctype == ControllerType::Sata && c.index == Some(0))
    {
        devs.controllers.push(bare(ControllerType::Sata, 0, None));
    }
    virtio_serial(devs);
}

/// The PCI root is index 0; every other controller without an index gets the
/// lowest index its type does not use yet, in document order. USB companions
/// written without an index join controller 0 (their EHCI's).
pub(crate) fn assign_indexes(devs: &mut Devices) {
    for i in 0..devs.controllers.len() {
        if devs.controllers[i].index.is_some() {
            continue;
        }
        let c = &devs.controllers[i];
        let root = c.ctype == ControllerType::Pci
            && matches!(c.model.as_deref(), Some("pci-root" | "pcie-root"));
        let companion = c.ctype == ControllerType::Usb
            && c.model
                .as_deref()
                .is_some_and(|m| m.starts_with("ich9-uhci"));
        let index = if root || companion {
            0
        } else {
            let used: Vec<u32> = devs
                .controllers
                .iter()
                .filter(|o| o.ctype == c.ctype)
                .filter_map(|o| o.index)
                .collect();
            let lowest_free = if c.ctype == ControllerType::Pci { 1 } else { 0 };
            (lowest_free..).find(|n| !used.contains(n)).unwrap_or(0)
        };
        devs.controllers[i].index = Some(index);
    }
}

/// `<model name>` of the PCI controllers libvirt names (the QEMU device behind
/// the controller model).
fn pci_model_names(devs: &mut Devices) {
    for c in &mut devs.controllers {
        if c.ctype != ControllerType::Pci || c.model_name.is_some() {
            continue;
        }
        let name = match c.model.as_deref() {
            Some("pcie-root-port") => "pcie-root-port",
            Some("pcie-to-pci-bridge") => "pcie-pci-bridge",
            Some("pci-bridge") => "pci-bridge",
            Some("dmi-to-pci-bridge") => "i82801b11-bridge",
            _ => continue,
        };
        c.model_name = Some(name.to_owned());
    }
}

/// ich9-uhci1..3 serve the EHCI's ports 0, 2 and 4 unless told otherwise.
fn usb_companion_ports(devs: &mut Devices) {
    for c in &mut devs.controllers {
        if c.ctype != ControllerType::Usb || c.master_startport.is_some() {
            continue;
        }
        c.master_startport = match c.model.as_deref() {
            Some("ich9-uhci1") => Some(0),
            Some("ich9-uhci2") => Some(2),
            Some("ich9-uhci3") => Some(4),
            _ => None,
        };
    }
}

/// A virtio channel (or virtio console) needs a virtio-serial controller; its
/// channels get the next free port of controller 0's bus 0 (port 0 is kept for a
/// virtconsole, as in QEMU).
fn virtio_serial(devs: &mut Devices) {
    let virtio_channels = devs
        .channels
        .iter()
        .any(|c| c.target_type() == Some("virtio"));
    let has_controller = devs
        .controllers
        .iter()
        .any(|c| c.ctype == ControllerType::VirtioSerial);
    if virtio_channels && !has_controller {
        devs.controllers
            .push(bare(ControllerType::VirtioSerial, 0, None));
    }
    let mut used: Vec<u32> = devs
        .channels
        .iter()
        .filter_map(|c| c.info.address.as_ref())
        .filter(|a| a.addr_type == "virtio-serial")
        .filter(|a| a.get("controller").unwrap_or("0") == "0" && a.get("bus").unwrap_or("0") == "0")
        .filter_map(|a| a.get("port").and_then(|p| p.parse().ok()))
        .collect();
    for ch in &mut devs.channels {
        if ch.target_type() != Some("virtio") || ch.info.address.is_some() {
            continue;
        }
        let port = (1..).find(|p| !used.contains(p)).unwrap_or(1);
        used.push(port);
        let mut attrs = AttrSet::default();
        attrs.set("controller", "0");
        attrs.set("bus", "0");
        attrs.set("port", port.to_string());
        ch.info.address = Some(Address {
            addr_type: "virtio-serial".into(),
            attrs,
        });
    }
}
