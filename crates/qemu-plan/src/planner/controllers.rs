//! Controllers: PCIe root ports, USB, virtio-scsi and virtio-serial; the
//! machine's built-in IDE/SATA controller needs no argument.

use domain_xml::model::devices::{Controller, ControllerType};

use super::pci::PciDev;
use super::state::{Family, Planner};
use crate::json::Obj;

/// The USB controller model used when none is given.
pub(super) fn default_usb_model(family: Family) -> &'static str {
    match family {
        Family::I440fx => "piix3-uhci",
        Family::Q35 => "qemu-xhci",
    }
}

/// Whether a controller is a PCI(e) port providing a bus of its own.
pub(super) fn provides_bus(c: &Controller) -> bool {
    c.ctype == ControllerType::Pci && c.model.as_deref() == Some("pcie-root-port")
}

/// Whether a controller becomes a PCI device of its own.
pub(super) fn controller_needs_pci(family: Family, c: &Controller) -> bool {
    match c.ctype {
        ControllerType::Pci => provides_bus(c),
        ControllerType::Usb => {
            let model = c.model.as_deref().unwrap_or(default_usb_model(family));
            model != "none" && model != "piix3-uhci"
        }
        ControllerType::Scsi | ControllerType::VirtioSerial => true,
        _ => false,
    }
}

impl Planner<'_> {
    pub(super) fn controllers(&mut self) {
        let dom = self.dom;
        // libvirt's order by type: pci, usb, scsi, ide, sata, ...
        for t in [
            ControllerType::Pci,
            ControllerType::Usb,
            ControllerType::Scsi,
            ControllerType::VirtioSerial,
        ] {
            for (i, c) in dom.devices.controllers.iter().enumerate() {
                if c.ctype == t {
                    self.controller(i, c);
                }
            }
        }
        for c in &dom.devices.controllers {
            let index = c.index.unwrap_or(0);
            let subject = format!("controller '{}' index {index}", c.ctype);
            match c.ctype {
                ControllerType::Pci
                | ControllerType::Usb
                | ControllerType::Scsi
                | ControllerType::VirtioSerial => {}
                ControllerType::Ide if self.family == Family::I440fx && index == 0 => {}
                ControllerType::Sata if self.family == Family::Q35 && index == 0 => {}
                ControllerType::Ide | ControllerType::Sata => self.problem(
                    subject,
                    "only the machine's built-in controller (index 0) is supported",
                ),
                other => self.problem(subject, format!("type '{other}' is not supported yet")),
            }
        }
    }

    fn controller(&mut self, i: usize, c: &Controller) {
        let index = c.index.unwrap_or(0);
        let subject = format!("controller '{}' index {index}", c.ctype);
        let xhci_ports = matches!(c.ctype, ControllerType::Usb | ControllerType::VirtioSerial)
            && (c.ctype == ControllerType::VirtioSerial
                || c.model.as_deref().is_some_and(|m| m.ends_with("xhci")))
            && c.driver.is_none()
            && c.target.is_none()
            && c.attrs.attrs.iter().all(|(k, _)| {
                k == "ports" || (k == "vectors" && c.ctype == ControllerType::VirtioSerial)
            });
        if (!c.attrs.attrs.is_empty() || c.driver.is_some() || c.target.is_some())
            && !provides_bus(c)
            && !xhci_ports
        {
            self.problem(
                &subject,
                "attributes, <driver> and <target> are not supported yet",
            );
        }
        match c.ctype {
            ControllerType::Pci if provides_bus(c) => self.pcie_root_port(i, c, &subject),
            ControllerType::Pci => self.pci_root(c, &subject),
            ControllerType::Usb => self.usb_controller(i, c, &subject),
            ControllerType::Scsi => self.scsi_controller(i, c, &subject),
            ControllerType::VirtioSerial => self.virtio_serial_controller(i, c),
            _ => {}
        }
    }

    /// A `pcie-root-port` (q35), providing bus `pci.INDEX`.
    fn pcie_root_port(&mut self, i: usize, c: &Controller, subject: &str) {
        let index = c.index.unwrap_or(0);
        if self.family != Family::Q35 {
            self.problem(subject, "model 'pcie-root-port' needs a q35 machine");
        }
        let target = |k: &str| {
            c.target
                .as_ref()
                .and_then(|t| t.get(k))
                .and_then(|v| match v.strip_prefix("0x") {
                    Some(h) => u32::from_str_radix(h, 16).ok(),
                    None => v.parse().ok(),
                })
        };
        let extra: Vec<&str> = c
            .target
            .iter()
            .flat_map(|t| t.attrs.iter())
            .map(|(k, _)| k.as_str())
            .filter(|k| *k != "chassis" && *k != "port")
            .collect();
        if !extra.is_empty() || !c.attrs.attrs.is_empty() || c.driver.is_some() {
            self.problem(subject, "only <target chassis= port=> is supported");
        }
        if c.model_name
            .as_deref()
            .is_some_and(|m| m != "pcie-root-port")
        {
            self.problem(subject, "only <model name='pcie-root-port'/> is supported");
        }
        let props = Obj::new()
            .with("driver", "pcie-root-port")
            .with_opt("port", target("port"))
            .with("chassis", target("chassis").unwrap_or(index))
            .with("id", format!("pci.{index}"));
        let props = self.pci_props(PciDev::Controller(i), props);
        self.device(props);
    }

    /// The implicit PCI root: nothing on the command line, only checked.
    fn pci_root(&mut self, c: &Controller, subject: &str) {
        let root = match self.family {
            Family::I440fx => "pci-root",
            Family::Q35 => "pcie-root",
        };
        if c.model.as_deref().is_some_and(|m| m != root) {
            self.problem(
                subject,
                format!(
                    "model '{}' is not supported yet (only the implicit {root})",
                    c.model.as_deref().unwrap_or_default()
                ),
            );
        }
    }

    /// USB controller index 0: the pc machine's built-in UHCI or an XHCI.
    fn usb_controller(&mut self, i: usize, c: &Controller, subject: &str) {
        let index = c.index.unwrap_or(0);
        let model = c.model.as_deref().unwrap_or(default_usb_model(self.family));
        if index != 0 {
            self.problem(subject, "only USB controller index 0 is supported");
        }
        let id = "usb";
        match model {
            "none" => {}
            "piix3-uhci" => {
                if self.family != Family::I440fx {
                    self.problem(subject, "model 'piix3-uhci' needs a pc machine");
                }
                if !self.caps.has_device("piix3-usb-uhci") {
                    self.problem(
                        subject,
                        format!(
                            "model 'piix3-uhci' needs device 'piix3-usb-uhci', which {} lacks",
                            self.rt.emulator
                        ),
                    );
                }
                self.device(
                    Obj::new()
                        .with("driver", "piix3-usb-uhci")
                        .with("id", id)
                        .with("bus", "pci.0")
                        .with("addr", "0x1.0x2"),
                );
            }
            "qemu-xhci" | "nec-xhci" => {
                // libvirt's model name is not QEMU's device name for NEC's.
                let driver = if model == "nec-xhci" {
                    "nec-usb-xhci"
                } else {
                    model
                };
                if !self.caps.has_device(driver) {
                    self.problem(
                        subject,
                        format!(
                            "model '{model}' needs device '{driver}', which {} lacks",
                            self.rt.emulator
                        ),
                    );
                }
                let ports = c.attrs.get("ports").and_then(|p| p.parse::<u32>().ok());
                let props = Obj::new()
                    .with("driver", driver)
                    .with_opt("p2", ports)
                    .with_opt("p3", ports)
                    .with("id", id);
                let props = self.pci_props(PciDev::Controller(i), props);
                self.device(props);
            }
            other => {
                self.problem(subject, format!("model '{other}' is not supported yet"));
            }
        }
    }

    fn scsi_controller(&mut self, i: usize, c: &Controller, subject: &str) {
        let index = c.index.unwrap_or(0);
        match c.model.as_deref() {
            Some("virtio-scsi") => {
                let props = self.pci_props(
                    PciDev::Controller(i),
                    Obj::new()
                        .with("driver", "virtio-scsi-pci")
                        .with("id", format!("scsi{index}")),
                );
                self.device(props);
            }
            m => self.problem(
                subject,
                format!(
                    "model '{}' is not supported; use model='virtio-scsi'",
                    m.unwrap_or("(default)")
                ),
            ),
        }
    }

    fn virtio_serial_controller(&mut self, i: usize, c: &Controller) {
        let index = c.index.unwrap_or(0);
        let num = |k: &str| c.attrs.get(k).and_then(|v| v.parse::<u32>().ok());
        let props = Obj::new()
            .with("driver", "virtio-serial-pci")
            .with("id", format!("virtio-serial{index}"))
            .with_opt("max_ports", num("ports"))
            .with_opt("vectors", num("vectors"));
        let props = self.pci_props(PciDev::Controller(i), props);
        self.device(props);
    }
}
