//! Controllers, NICs, character devices, input, audio, graphics, video,
//! balloon and RNG.

use domain_xml::model::devices::{
    CharType, Controller, ControllerType, GraphicsType, InputBus, InputType, InterfaceType,
};

use super::pci::PciDev;
use super::{Expect, Family, Planner};
use crate::json::Obj;
use crate::launch::FdSource;
use crate::resources::{Access, Provision, Resource, ResourceClass, ResourceKind, SelinuxRole};

/// The USB controller model used when none is given.
fn default_usb_model(family: Family) -> &'static str {
    match family {
        Family::I440fx => "piix3-uhci",
        Family::Q35 => "qemu-xhci",
    }
}

/// Whether a controller is a PCI(e) port providing a bus of its own.
pub(crate) fn provides_bus(c: &Controller) -> bool {
    c.ctype == ControllerType::Pci && c.model.as_deref() == Some("pcie-root-port")
}

/// Whether a controller becomes a PCI device of its own.
pub(crate) fn controller_needs_pci(family: Family, c: &Controller) -> bool {
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

/// The QEMU device of a sound model and whether it is a PCI device.
pub(crate) fn sound_driver(model: &str) -> Option<(&'static str, bool)> {
    match model {
        "ac97" => Some(("AC97", true)),
        "es1370" => Some(("ES1370", true)),
        "ich6" => Some(("intel-hda", true)),
        "ich9" => Some(("ich9-intel-hda", true)),
        _ => None,
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
            ControllerType::Pci if provides_bus(c) => {
                if self.family != Family::Q35 {
                    self.problem(&subject, "model 'pcie-root-port' needs a q35 machine");
                }
                let target = |k: &str| {
                    c.target.as_ref().and_then(|t| t.get(k)).and_then(|v| {
                        match v.strip_prefix("0x") {
                            Some(h) => u32::from_str_radix(h, 16).ok(),
                            None => v.parse().ok(),
                        }
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
                    self.problem(&subject, "only <target chassis= port=> is supported");
                }
                if c.model_name
                    .as_deref()
                    .is_some_and(|m| m != "pcie-root-port")
                {
                    self.problem(&subject, "only <model name='pcie-root-port'/> is supported");
                }
                let props = Obj::new()
                    .with("driver", "pcie-root-port")
                    .with_opt("port", target("port"))
                    .with("chassis", target("chassis").unwrap_or(index))
                    .with("id", format!("pci.{index}"));
                let props = self.pci_props(PciDev::Controller(i), props);
                self.device(props);
            }
            ControllerType::Pci => {
                let root = match self.family {
                    Family::I440fx => "pci-root",
                    Family::Q35 => "pcie-root",
                };
                if c.model.as_deref().is_some_and(|m| m != root) {
                    self.problem(
                        &subject,
                        format!(
                            "model '{}' is not supported yet (only the implicit {root})",
                            c.model.as_deref().unwrap_or_default()
                        ),
                    );
                }
            }
            ControllerType::Usb => {
                let model = c.model.as_deref().unwrap_or(default_usb_model(self.family));
                if index != 0 {
                    self.problem(&subject, "only USB controller index 0 is supported");
                }
                let id = "usb";
                match model {
                    "none" => {}
                    "piix3-uhci" => {
                        if self.family != Family::I440fx {
                            self.problem(&subject, "model 'piix3-uhci' needs a pc machine");
                        }
                        if !self.caps.has_device("piix3-usb-uhci") {
                            self.problem(
                                &subject,
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
                                &subject,
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
                        self.problem(&subject, format!("model '{other}' is not supported yet"));
                    }
                }
            }
            ControllerType::Scsi => match c.model.as_deref() {
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
                    &subject,
                    format!(
                        "model '{}' is not supported; use model='virtio-scsi'",
                        m.unwrap_or("(default)")
                    ),
                ),
            },
            ControllerType::VirtioSerial => {
                let num = |k: &str| c.attrs.get(k).and_then(|v| v.parse::<u32>().ok());
                let props = Obj::new()
                    .with("driver", "virtio-serial-pci")
                    .with("id", format!("virtio-serial{index}"))
                    .with_opt("max_ports", num("ports"))
                    .with_opt("vectors", num("vectors"));
                let props = self.pci_props(PciDev::Controller(i), props);
                self.device(props);
            }
            _ => {}
        }
    }

    /// Virtio channels (`virtserialport`), e.g. the guest agent. A UNIX
    /// channel without a path gets `<channel dir>/<target name>`.
    pub(super) fn channels(&mut self) {
        let dom = self.dom;
        // Explicit ports first; the others take the lowest free port ≥ 1.
        let mut used: Vec<(u32, u32, u32)> = dom
            .devices
            .channels
            .iter()
            .filter_map(|ch| {
                let a = ch
                    .info
                    .address
                    .as_ref()
                    .filter(|a| a.addr_type == "virtio-serial")?;
                let f = |k: &str| a.get(k).and_then(|v| v.parse::<u32>().ok());
                Some((
                    f("controller").unwrap_or(0),
                    f("bus").unwrap_or(0),
                    f("port")?,
                ))
            })
            .collect();
        for (i, ch) in dom.devices.channels.iter().enumerate() {
            let alias = ch
                .info
                .alias
                .clone()
                .unwrap_or_else(|| format!("channel{i}"));
            let subject = format!("channel '{alias}'");
            let ttype = ch.target_type().unwrap_or_default();
            if ttype != "virtio" {
                self.problem(
                    &subject,
                    format!("target type '{ttype}' is not supported yet"),
                );
                continue;
            }
            if ch.log.is_some() || ch.protocol.is_some() {
                self.problem(&subject, "<log> and <protocol> are not supported yet");
                continue;
            }
            let addr = ch
                .info
                .address
                .as_ref()
                .filter(|a| a.addr_type == "virtio-serial");
            let field = |k: &str| {
                addr.and_then(|a| a.get(k))
                    .and_then(|v| v.parse::<u32>().ok())
            };
            let ctrl = field("controller").unwrap_or(0);
            let bus = field("bus").unwrap_or(0);
            let has_ctrl =
                dom.devices.controllers.iter().any(|c| {
                    c.ctype == ControllerType::VirtioSerial && c.index.unwrap_or(0) == ctrl
                });
            if !has_ctrl {
                self.problem(
                    &subject,
                    format!(
                        "a virtio channel needs <controller type='virtio-serial' index='{ctrl}'/>"
                    ),
                );
                continue;
            }
            let port = match field("port") {
                Some(p) => p,
                None => {
                    let mut p = 1;
                    while used.contains(&(ctrl, bus, p)) {
                        p += 1;
                    }
                    used.push((ctrl, bus, p));
                    p
                }
            };
            let name = ch.target.as_ref().and_then(|t| t.attrs.get("name"));
            let chr = format!("char{alias}");
            let mut ch = ch.clone();
            if ch.char_type == CharType::Unix && ch.source_path().is_none() {
                let Some(n) = name else {
                    self.problem(
                        &subject,
                        "a UNIX channel without a source path needs a target name",
                    );
                    continue;
                };
                let dir = self.rt.channel_dir.trim_end_matches('/').to_owned();
                self.push_resource(Resource {
                    path: dir.clone(),
                    kind: ResourceKind::Dir,
                    access: Access::ReadWrite,
                    origin: "channel directory".into(),
                    class: ResourceClass::Device,
                    provision: Provision::DaemonCreates,
                    dac_relabel: self.dac_for(&[]),
                    dac_label: None,
                    selinux: self.selinux_for(&[], SelinuxRole::Exclusive),
                });
                let mut src = domain_xml::model::AttrSet::default();
                src.set("mode", "bind");
                src.set("path", format!("{dir}/{n}"));
                ch.sources = vec![src];
            }
            if !self.chardev(&subject, &alias, &chr, &ch) {
                continue;
            }
            self.device(
                Obj::new()
                    .with("driver", "virtserialport")
                    .with("bus", format!("virtio-serial{ctrl}.{bus}"))
                    .with("nr", port)
                    .with("chardev", chr)
                    .with("id", alias)
                    .with_opt("name", name),
            );
        }
    }

    pub(super) fn nets(&mut self) {
        let dom = self.dom;
        for (i, n) in dom.devices.interfaces.iter().enumerate() {
            let alias = n.info.alias.clone().unwrap_or_else(|| format!("net{i}"));
            let subject = format!("interface '{alias}'");
            let before = self.problem_count();
            for (what, present) in [
                ("<driver>", n.driver.is_some()),
                ("<link>", n.link_state.is_some()),
                ("<mtu>", n.mtu.is_some()),
                ("attribute 'trustGuestRxFilters'", !n.attrs.attrs.is_empty()),
            ] {
                if present {
                    self.problem(&subject, format!("{what} is not supported yet"));
                }
            }
            let Some(mac) = &n.mac else {
                self.problem(
                    &subject,
                    "it has no MAC address (one is assigned when the domain is defined)",
                );
                continue;
            };
            let model = n.model.as_deref().unwrap_or("rtl8139");
            let driver = match model {
                "virtio" => "virtio-net-pci",
                "e1000" | "e1000e" | "rtl8139" => model,
                other => {
                    self.problem(&subject, format!("model '{other}' is not supported yet"));
                    continue;
                }
            };
            if !self.caps.has_device(driver) {
                self.problem(
                    &subject,
                    format!("device '{driver}' is not available in {}", self.rt.emulator),
                );
            }
            let netdev_id = format!("hostnet{i}");
            let netdev = match n.if_type {
                InterfaceType::User => {
                    if n.source.is_some() || n.target.is_some() {
                        self.problem(&subject, "type 'user' takes no <source> or <target>");
                    }
                    Obj::new()
                        .with("type", "user")
                        .with("id", netdev_id.as_str())
                }
                InterfaceType::Bridge | InterfaceType::Ethernet | InterfaceType::Network => {
                    let bridge = if n.if_type == InterfaceType::Network {
                        let net = n
                            .source
                            .as_ref()
                            .and_then(|s| s.get("network"))
                            .unwrap_or_default();
                        let found = self
                            .rt
                            .network_bridges
                            .iter()
                            .find(|(name, _)| name == net)
                            .map(|(_, br)| br.clone());
                        if found.is_none() {
                            self.problem(
                                &subject,
                                format!(
                                    "network '{net}' is not active (no bridge is known for it)"
                                ),
                            );
                        }
                        found
                    } else {
                        n.source
                            .as_ref()
                            .and_then(|s| s.get("bridge"))
                            .map(str::to_owned)
                    };
                    let ifname = n
                        .target
                        .as_ref()
                        .and_then(|t| t.get("dev"))
                        .map(str::to_owned);
                    if self.problem_count() > before {
                        continue;
                    }
                    let fd = self.pass_fd(&alias, FdSource::Tap { ifname, bridge });
                    Obj::new()
                        .with("type", "tap")
                        .with("fd", fd.to_string())
                        .with("id", netdev_id.as_str())
                }
                other => {
                    self.problem(&subject, format!("type '{other}' is not supported yet"));
                    continue;
                }
            };
            if self.problem_count() > before {
                continue;
            }
            let netdev_arg = if self.caps.has_flag(qemu_caps::flags::NETDEV_JSON) {
                netdev.to_json()
            } else {
                netdev.to_opts("type")
            };
            self.arg2("-netdev", netdev_arg);
            let props = Obj::new()
                .with("driver", driver)
                .with("netdev", netdev_id)
                .with("id", alias)
                .with("mac", mac.as_str())
                .with_opt("bootindex", self.net_boot.get(&i).copied());
            let props = self.pci_props(PciDev::Net(i), props);
            self.device(props);
        }
    }

    pub(super) fn serials(&mut self) {
        let dom = self.dom;
        for (i, s) in dom.devices.serials.iter().enumerate() {
            let alias = s.info.alias.clone().unwrap_or_else(|| format!("serial{i}"));
            let subject = format!("serial '{alias}'");
            let target_type = s.target_type().unwrap_or("isa-serial");
            if target_type != "isa-serial" {
                self.problem(
                    &subject,
                    format!("target type '{target_type}' is not supported yet"),
                );
                continue;
            }
            if let Some(m) = s.target.as_ref().and_then(|t| t.model.as_deref())
                && m != "isa-serial"
            {
                self.problem(&subject, format!("target model '{m}' is not supported yet"));
                continue;
            }
            if s.log.is_some() || s.protocol.is_some() {
                self.problem(&subject, "<log> and <protocol> are not supported yet");
                continue;
            }
            let port = s
                .target
                .as_ref()
                .and_then(|t| t.attrs.get("port"))
                .and_then(|p| p.parse::<u32>().ok())
                .unwrap_or(i as u32);
            let chr = format!("char{alias}");
            if !self.chardev(&subject, &alias, &chr, s) {
                continue;
            }
            self.device(
                Obj::new()
                    .with("driver", "isa-serial")
                    .with("chardev", chr)
                    .with("id", alias)
                    .with("index", port),
            );
        }
    }

    /// Emits the `-chardev` (and any `-add-fd`) for a character device
    /// backend and records its resources. `false` after a problem.
    fn chardev(
        &mut self,
        subject: &str,
        alias: &str,
        id: &str,
        c: &domain_xml::model::devices::Chardev,
    ) -> bool {
        let src = c.sources.first();
        let src_get = |k: &str| src.and_then(|s| s.get(k));
        match c.char_type {
            CharType::Pty => {
                self.push_resource(Resource {
                    path: "/dev/pts".into(),
                    kind: ResourceKind::Dir,
                    access: Access::ReadWrite,
                    origin: format!("{alias} (pty)"),
                    class: ResourceClass::Device,
                    provision: Provision::Exists,
                    dac_relabel: false,
                    dac_label: None,
                    selinux: SelinuxRole::Untouched,
                });
                self.arg2("-chardev", format!("pty,id={id}"));
                true
            }
            CharType::Null => {
                self.arg2("-chardev", format!("null,id={id}"));
                true
            }
            CharType::File => {
                let Some(path) = src_get("path").map(str::to_owned) else {
                    self.problem(subject, "type 'file' needs a source path");
                    return false;
                };
                let append = src_get("append") == Some("on");
                self.push_resource(Resource {
                    path: path.clone(),
                    kind: ResourceKind::File,
                    access: Access::ReadWrite,
                    origin: alias.to_owned(),
                    class: ResourceClass::Device,
                    provision: Provision::PassedAsFd,
                    dac_relabel: self.dac_for(&[]),
                    dac_label: None,
                    selinux: self.selinux_for(&[], SelinuxRole::Exclusive),
                });
                let fd = self.pass_fd(alias, FdSource::File { path, append });
                let set = self.next_fdset();
                self.arg2(
                    "-add-fd",
                    format!("set={set},fd={fd},opaque={alias}-source"),
                );
                self.arg2(
                    "-chardev",
                    format!("file,id={id},path=/dev/fdset/{set},append=on"),
                );
                true
            }
            CharType::Unix => {
                let Some(path) = src_get("path").map(str::to_owned) else {
                    self.problem(subject, "type 'unix' needs a source path");
                    return false;
                };
                let listen = src_get("mode") == Some("bind");
                if listen {
                    // Like libvirt, the daemon creates and listens on the
                    // socket and QEMU inherits it; QEMU never touches the path.
                    self.push_resource(Resource {
                        path: path.clone(),
                        kind: ResourceKind::Socket,
                        access: Access::ReadWrite,
                        origin: alias.to_owned(),
                        class: ResourceClass::Device,
                        provision: Provision::PassedAsFd,
                        dac_relabel: false,
                        dac_label: None,
                        selinux: SelinuxRole::Untouched,
                    });
                    let fd = self.pass_fd(alias, FdSource::UnixListener { path });
                    self.arg2(
                        "-chardev",
                        format!("socket,id={id},fd={fd},server=on,wait=off"),
                    );
                } else {
                    let exists = self.rt.host.stat(&path).is_some();
                    if !exists {
                        self.problem(subject, format!("'{path}' does not exist"));
                        return false;
                    }
                    self.push_resource(Resource {
                        path: path.clone(),
                        kind: ResourceKind::Socket,
                        access: Access::ReadWrite,
                        origin: alias.to_owned(),
                        class: ResourceClass::Device,
                        provision: Provision::Exists,
                        dac_relabel: self.dac_for(&[]),
                        dac_label: None,
                        selinux: self.selinux_for(&[], SelinuxRole::Exclusive),
                    });
                    self.arg2(
                        "-chardev",
                        format!("socket,id={id},path={}", opt_escape(&path)),
                    );
                }
                true
            }
            other => {
                self.problem(subject, format!("type '{other}' is not supported yet"));
                false
            }
        }
    }

    /// A console on the first serial port adds nothing (it is that port).
    pub(super) fn consoles(&mut self) {
        let dom = self.dom;
        for (i, c) in dom.devices.consoles.iter().enumerate() {
            let t = c.target_type().unwrap_or("serial");
            if t == "serial" && i == 0 && !dom.devices.serials.is_empty() {
                continue;
            }
            self.problem(
                format!("console{i}"),
                format!(
                    "target type '{t}' is not supported yet (only a console on the first <serial>)"
                ),
            );
        }
    }

    pub(super) fn inputs(&mut self) {
        let dom = self.dom;
        let has_usb = dom.devices.controllers.iter().any(|c| {
            c.ctype == ControllerType::Usb
                && c.model.as_deref().unwrap_or(default_usb_model(self.family)) != "none"
        });
        let mut port = 0u32;
        for (i, inp) in dom.devices.inputs.iter().enumerate() {
            let alias = inp
                .info
                .alias
                .clone()
                .unwrap_or_else(|| format!("input{i}"));
            let subject = format!("input '{alias}'");
            let bus = inp.bus.unwrap_or(match inp.input_type {
                InputType::Tablet => InputBus::Usb,
                _ => InputBus::Ps2,
            });
            if !inp.attrs.attrs.is_empty() || inp.source.is_some() {
                self.problem(&subject, "model and <source> are not supported yet");
                continue;
            }
            match (inp.input_type, bus) {
                (InputType::Mouse | InputType::Keyboard, InputBus::Ps2) => {}
                (
                    t @ (InputType::Tablet | InputType::Mouse | InputType::Keyboard),
                    InputBus::Usb,
                ) => {
                    if !has_usb {
                        self.problem(&subject, format!("a USB {t} needs a USB controller"));
                        continue;
                    }
                    let driver = match t {
                        InputType::Tablet => "usb-tablet",
                        InputType::Mouse => "usb-mouse",
                        _ => "usb-kbd",
                    };
                    port += 1;
                    let p = inp
                        .info
                        .address
                        .as_ref()
                        .filter(|a| a.addr_type == "usb")
                        .and_then(|a| a.get("port"))
                        .map(str::to_owned)
                        .unwrap_or_else(|| port.to_string());
                    self.device(
                        Obj::new()
                            .with("driver", driver)
                            .with("id", alias)
                            .with("bus", "usb.0")
                            .with("port", p),
                    );
                }
                (
                    t @ (InputType::Tablet | InputType::Mouse | InputType::Keyboard),
                    InputBus::Virtio,
                ) => {
                    let driver = match t {
                        InputType::Tablet => "virtio-tablet-pci",
                        InputType::Mouse => "virtio-mouse-pci",
                        _ => "virtio-keyboard-pci",
                    };
                    let props = self.pci_props(
                        PciDev::Input(i),
                        Obj::new().with("driver", driver).with("id", alias),
                    );
                    self.device(props);
                }
                (t, b) => {
                    self.problem(
                        &subject,
                        format!("type '{t}' on bus '{b}' is not supported yet"),
                    );
                }
            }
        }
    }

    pub(super) fn audio(&mut self) {
        let dom = self.dom;
        for a in &dom.devices.audios {
            if a.audio_type != "none" || !a.attrs.attrs.is_empty() {
                self.problem(
                    format!("audio {}", a.id),
                    format!("type '{}' is not supported yet (only 'none')", a.audio_type),
                );
                continue;
            }
            self.arg2(
                "-audiodev",
                Obj::new()
                    .with("id", format!("audio{}", a.id))
                    .with("driver", "none")
                    .to_json(),
            );
        }
    }

    /// VNC only. Without a listen address the display is a UNIX socket in
    /// the private directory (`<lib dir>/vnc.sock`).
    pub(super) fn graphics(&mut self) {
        let dom = self.dom;
        let audio = dom.devices.audios.first().map(|a| format!("audio{}", a.id));
        for (i, g) in dom.devices.graphics.iter().enumerate() {
            let subject = format!("graphics '{}'", g.gtype);
            if g.gtype != GraphicsType::Vnc {
                self.problem(&subject, "only type 'vnc' is supported yet");
                continue;
            }
            if i > 0 {
                self.problem(&subject, "only one <graphics> is supported");
                continue;
            }
            if !g.attrs.attrs.is_empty() {
                let names: Vec<&str> = g.attrs.attrs.iter().map(|(k, _)| k.as_str()).collect();
                self.problem(
                    &subject,
                    format!("attributes {} are not supported yet", names.join(", ")),
                );
                continue;
            }
            let listen = g.listens.first();
            let ltype = listen.and_then(|l| l.get("type"));
            let mut arg = match (ltype, g.port, g.autoport) {
                (None | Some("socket"), None | Some(-1), None | Some(true)) => {
                    let path = listen
                        .and_then(|l| l.get("socket"))
                        .map(str::to_owned)
                        .unwrap_or_else(|| {
                            format!("{}/vnc.sock", self.rt.lib_dir.trim_end_matches('/'))
                        });
                    self.push_resource(Resource {
                        path: path.clone(),
                        kind: ResourceKind::Socket,
                        access: Access::ReadWrite,
                        origin: "graphics vnc".into(),
                        class: ResourceClass::Device,
                        provision: Provision::QemuCreates,
                        dac_relabel: false,
                        dac_label: None,
                        selinux: SelinuxRole::Untouched,
                    });
                    format!("vnc=unix:{}", opt_escape(&path))
                }
                (Some("none"), None | Some(-1), _) => "none".to_owned(),
                (Some("address"), Some(port), Some(false) | None) if port >= 5900 => {
                    let addr = listen.and_then(|l| l.get("address")).unwrap_or("127.0.0.1");
                    let addr = if addr.contains(':') {
                        format!("[{addr}]")
                    } else {
                        addr.to_owned()
                    };
                    format!("{addr}:{}", port - 5900)
                }
                _ => {
                    self.problem(
                        &subject,
                        "only a UNIX socket listener or an address with a fixed port ≥ 5900 is supported yet (no autoport)",
                    );
                    continue;
                }
            };
            if let Some(a) = &audio {
                arg.push_str(&format!(",audiodev={a}"));
            }
            self.arg2("-vnc", arg);
        }
    }

    pub(super) fn videos(&mut self) {
        let dom = self.dom;
        let mut primary = true;
        for (i, v) in dom.devices.videos.iter().enumerate() {
            let alias = v.info.alias.clone().unwrap_or_else(|| format!("video{i}"));
            let subject = format!("video '{alias}'");
            let model = v.model_type().unwrap_or("vga");
            if model == "none" {
                continue;
            }
            let dev = if primary {
                PciDev::PrimaryVideo
            } else {
                PciDev::Video(i)
            };
            primary = false;
            let extra: Vec<&str> = v
                .model
                .iter()
                .flat_map(|m| m.attrs.iter())
                .map(|(k, _)| k.as_str())
                .filter(|k| !["type", "vram", "heads", "primary"].contains(k))
                .collect();
            if !extra.is_empty() || v.driver.is_some() {
                self.problem(
                    &subject,
                    format!(
                        "model attributes {} are not supported yet",
                        extra.join(", ")
                    ),
                );
                continue;
            }
            let props = match model {
                "vga" => {
                    let kib = v
                        .model
                        .as_ref()
                        .and_then(|m| m.get("vram"))
                        .and_then(|s| s.parse::<u32>().ok())
                        .unwrap_or(16384);
                    Obj::new()
                        .with("driver", "VGA")
                        .with("id", alias)
                        .with("vgamem_mb", kib / 1024)
                }
                "cirrus" => Obj::new().with("driver", "cirrus-vga").with("id", alias),
                "virtio" => Obj::new()
                    .with("driver", "virtio-vga")
                    .with("id", alias)
                    .with("max_outputs", 1u32),
                other => {
                    self.problem(&subject, format!("model '{other}' is not supported yet"));
                    continue;
                }
            };
            let props = self.pci_props(dev, props);
            self.device(props);
        }
    }

    /// Sound cards playing through an `<audio>` backend; the HDA controllers
    /// get libvirt's default `hda-duplex` codec.
    pub(super) fn sounds(&mut self) {
        let dom = self.dom;
        for (i, snd) in dom.devices.sounds.iter().enumerate() {
            let alias = snd
                .info
                .alias
                .clone()
                .unwrap_or_else(|| format!("sound{i}"));
            let subject = format!("sound '{alias}'");
            let Some((driver, _)) = sound_driver(&snd.model) else {
                self.problem(
                    &subject,
                    format!("model '{}' is not supported yet", snd.model),
                );
                continue;
            };
            let audio = match snd.audio_id {
                Some(id) => dom.devices.audios.iter().find(|a| a.id == id),
                None => dom.devices.audios.first(),
            };
            let Some(audio) = audio else {
                self.problem(&subject, "a sound device needs an <audio> backend");
                continue;
            };
            let audiodev = format!("audio{}", audio.id);
            let hda = driver.ends_with("intel-hda");
            let props = Obj::new().with("driver", driver).with("id", alias.as_str());
            let props = if hda {
                props
            } else {
                props.with("audiodev", audiodev.as_str())
            };
            let props = self.pci_props(PciDev::Sound(i), props);
            self.device(props);
            if hda {
                self.device(
                    Obj::new()
                        .with("driver", "hda-duplex")
                        .with("id", format!("{alias}-codec0"))
                        .with("bus", format!("{alias}.0"))
                        .with("cad", 0u32)
                        .with("audiodev", audiodev),
                );
            }
        }
    }

    /// `i6300esb` (PCI) and `ib700` (ISA) with `-watchdog-action`.
    pub(super) fn watchdogs(&mut self) {
        let dom = self.dom;
        for (i, w) in dom.devices.watchdogs.iter().enumerate() {
            let alias = w
                .info
                .alias
                .clone()
                .unwrap_or_else(|| format!("watchdog{i}"));
            let subject = format!("watchdog '{alias}'");
            let action = w.action.as_deref().unwrap_or("reset");
            if action == "dump" {
                self.problem(&subject, "action 'dump' is not supported yet");
                continue;
            }
            if i > 0 {
                self.problem(&subject, "only one watchdog is supported");
                continue;
            }
            let props = Obj::new()
                .with("driver", w.model.as_str())
                .with("id", alias);
            match w.model.as_str() {
                "i6300esb" => {
                    let props = self.pci_props(PciDev::Watchdog(i), props);
                    self.device(props);
                }
                "ib700" => self.device(props),
                other => {
                    self.problem(&subject, format!("model '{other}' is not supported yet"));
                    continue;
                }
            }
            self.arg2("-watchdog-action", action);
        }
    }

    pub(super) fn balloon(&mut self) {
        let Some(b) = &self.dom.devices.memballoon else {
            return;
        };
        match b.model.as_str() {
            "none" => {}
            "virtio" => {
                if b.driver.is_some() {
                    self.problem("memballoon", "<driver> is not supported yet");
                    return;
                }
                let alias = b.info.alias.clone().unwrap_or_else(|| "balloon0".into());
                let mut props = Obj::new()
                    .with("driver", "virtio-balloon-pci")
                    .with("id", alias);
                if b.attrs.get("autodeflate") == Some("on") {
                    props.set("deflate-on-oom", true);
                }
                if b.attrs.get("freePageReporting") == Some("on") {
                    props.set("free-page-reporting", true);
                }
                let props = self.pci_props(PciDev::Balloon, props);
                self.device(props);
            }
            other => self.problem(
                "memballoon",
                format!("model '{other}' is not supported yet"),
            ),
        }
    }

    pub(super) fn rngs(&mut self) {
        let dom = self.dom;
        for (i, r) in dom.devices.rngs.iter().enumerate() {
            let alias = r.info.alias.clone().unwrap_or_else(|| format!("rng{i}"));
            let subject = format!("rng '{alias}'");
            if r.model != "virtio" {
                self.problem(
                    &subject,
                    format!("model '{}' is not supported yet", r.model),
                );
                continue;
            }
            let obj_id = format!("obj{alias}");
            let obj = match r.backend_model.as_str() {
                "random" => {
                    let path = r
                        .backend_path
                        .clone()
                        .unwrap_or_else(|| "/dev/urandom".to_owned());
                    // /dev/random and /dev/urandom are world-readable; any
                    // other backend (e.g. /dev/hwrng, 0600) is chowned.
                    let world = path == "/dev/random" || path == "/dev/urandom";
                    let dac = !world && self.dac_for(&[]);
                    let found = self.existing(
                        &subject,
                        &format!("{alias} backend"),
                        &path,
                        Expect::Char,
                        Access::ReadOnly,
                        ResourceClass::Device,
                        dac,
                        SelinuxRole::Untouched,
                    );
                    if found.is_none() {
                        continue;
                    }
                    Obj::new()
                        .with("qom-type", "rng-random")
                        .with("id", obj_id.as_str())
                        .with("filename", path)
                }
                "builtin" => Obj::new()
                    .with("qom-type", "rng-builtin")
                    .with("id", obj_id.as_str()),
                other => {
                    self.problem(&subject, format!("backend '{other}' is not supported yet"));
                    continue;
                }
            };
            self.object(obj);
            let mut props = Obj::new()
                .with("driver", "virtio-rng-pci")
                .with("rng", obj_id)
                .with("id", alias);
            if let Some(rate) = &r.rate {
                if let Some(b) = rate.get("bytes").and_then(|v| v.parse::<u64>().ok()) {
                    props.set("max-bytes", b);
                }
                let period = rate
                    .get("period")
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(1000);
                props.set("period", period);
            }
            let props = self.pci_props(PciDev::Rng(i), props);
            self.device(props);
        }
    }
}

/// Doubles commas for a QemuOpts value.
fn opt_escape(s: &str) -> String {
    s.replace(',', ",,")
}
