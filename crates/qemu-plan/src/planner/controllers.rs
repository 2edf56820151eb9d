//! Controllers: PCIe root ports, PCI bridges, USB (XHCI, ich9 EHCI with its
//! UHCI companions), virtio-scsi and virtio-serial; the machine's built-in
//! IDE/SATA controller needs no argument.

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

/// The PCI controller models that provide a bus of their own.
const BUS_MODELS: &[&str] = &["pcie-root-port", "pcie-to-pci-bridge", "pci-bridge"];

/// Whether a controller is a PCI(e) port or bridge providing a bus of its own.
pub(super) fn provides_bus(c: &Controller) -> bool {
    c.ctype == ControllerType::Pci && c.model.as_deref().is_some_and(|m| BUS_MODELS.contains(&m))
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
            ControllerType::Pci if c.model.as_deref() == Some("pcie-root-port") => {
                self.pcie_root_port(i, c, &subject)
            }
            ControllerType::Pci if provides_bus(c) => self.pci_bridge(i, c, &subject),
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
        // libvirt numbers a port after its own address: (slot << 3) | function.
        let port = target("port").or_else(|| {
            self.pci
                .get(&PciDev::Controller(i))
                .map(|a| (a.slot << 3) | a.function)
        });
        let props = Obj::new()
            .with("driver", "pcie-root-port")
            .with_opt("port", port)
            .with("chassis", target("chassis").unwrap_or(index))
            .with("id", format!("pci.{index}"));
        let props = self.pci_props(PciDev::Controller(i), props);
        self.device(props);
    }

    /// `pcie-to-pci-bridge` (q35: a conventional PCI bus behind a root port)
    /// and `pci-bridge` (with its chassis number, libvirt's default being the
    /// controller index).
    fn pci_bridge(&mut self, i: usize, c: &Controller, subject: &str) {
        let index = c.index.unwrap_or(0);
        let model = c.model.as_deref().unwrap_or_default();
        let (driver, chassis) = if model == "pcie-to-pci-bridge" {
            if self.family != Family::Q35 {
                self.problem(subject, "model 'pcie-to-pci-bridge' needs a q35 machine");
            }
            ("pcie-pci-bridge", None)
        } else {
            let nr = c
                .target
                .as_ref()
                .and_then(|t| t.get("chassisNr"))
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(index);
            ("pci-bridge", Some(nr))
        };
        let extra: Vec<&str> = c
            .target
            .iter()
            .flat_map(|t| t.attrs.iter())
            .map(|(k, _)| k.as_str())
            .filter(|k| *k != "chassisNr")
            .collect();
        if !extra.is_empty() || !c.attrs.attrs.is_empty() || c.driver.is_some() {
            self.problem(
                subject,
                "only <target chassisNr=> is supported on a PCI bridge",
            );
        }
        if !self.caps.has_device(driver) {
            self.problem(
                subject,
                format!(
                    "model '{model}' needs device '{driver}', which {} lacks",
                    self.rt.emulator
                ),
            );
        }
        let props = Obj::new()
            .with("driver", driver)
            .with_opt("chassis_nr", chassis)
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
            "ich9-ehci1" => {
                self.need_device(subject, model, "ich9-usb-ehci1");
                let props = Obj::new().with("driver", "ich9-usb-ehci1").with("id", id);
                let props = self.pci_props(PciDev::Controller(i), props);
                self.device(props);
            }
            "ich9-uhci1" | "ich9-uhci2" | "ich9-uhci3" => {
                let driver = model.replace("ich9-", "ich9-usb-");
                self.need_device(subject, model, &driver);
                let has_master = self.dom.devices.controllers.iter().any(|o| {
                    o.ctype == ControllerType::Usb
                        && o.index.unwrap_or(0) == index
                        && o.model.as_deref() == Some("ich9-ehci1")
                });
                if !has_master {
                    self.problem(subject, "No master USB controller specified");
                    return;
                }
                let props = Obj::new()
                    .with("driver", driver)
                    .with("masterbus", format!("{id}.0"))
                    .with("firstport", c.master_startport.unwrap_or(0));
                let props = self.pci_props(PciDev::Controller(i), props);
                self.device(props);
            }
            other => {
                self.problem(subject, format!("model '{other}' is not supported yet"));
            }
        }
    }

    /// A problem when the emulator lacks the QEMU device a model needs.
    fn need_device(&mut self, subject: &str, model: &str, driver: &str) {
        if !self.caps.has_device(driver) {
            self.problem(
                subject,
                format!(
                    "model '{model}' needs device '{driver}', which {} lacks",
                    self.rt.emulator
                ),
            );
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
