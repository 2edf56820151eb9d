//! Devices that reach into the host or extend the USB tree: 9p filesystems
//! (`-fsdev` + `virtio-9p-pci`), USB host devices (`usb-host`), USB hubs, and
//! the refusal of every modelled device kind the planner does not start yet
//! (so none is dropped silently).

use domain_xml::model::devices::{HostdevMode, HostdevType};

use super::pci::PciDev;
use super::state::{Expect, Planner};
use crate::json::Obj;
use crate::resources::{Access, Provision, Resource, ResourceClass, ResourceKind, SelinuxRole};
use crate::runtime::PathKind;

impl Planner<'_> {
    /// `<filesystem type='mount'>` shared over 9p.
    pub(super) fn filesystems(&mut self) {
        let dom = self.dom;
        for (i, fs) in dom.devices.filesystems.iter().enumerate() {
            let subject = format!("filesystem 'fs{i}'");
            let before = self.problem_count();
            let driver = fs
                .driver
                .as_ref()
                .and_then(|d| d.get("type"))
                .unwrap_or("path");
            if fs.fs_type() != "mount" {
                self.problem(
                    &subject,
                    format!("type '{}' is not supported yet", fs.fs_type()),
                );
            }
            if driver == "virtiofs" {
                self.problem(
                    &subject,
                    "virtiofs (driver type 'virtiofs', which needs virtiofsd) is not supported yet",
                );
                continue;
            }
            if driver != "path" {
                // QEMU 6.0 removed the 'handle' fs driver.
                self.problem(
                    &subject,
                    format!("driver type '{driver}' is not supported by QEMU's 9p"),
                );
            }
            for (k, _) in fs.driver.iter().flat_map(|d| d.attrs.iter()) {
                if !["type", "wrpolicy"].contains(&k.as_str()) {
                    self.problem(&subject, format!("<driver {k}=...> is not supported yet"));
                }
            }
            if fs.binary.is_some() || fs.idmap.is_some() {
                self.problem(&subject, "<binary> and <idmap> belong to virtiofs");
            }
            for (k, _) in &fs.attrs.attrs {
                if !["type", "accessmode", "multidevs", "fmode", "dmode"].contains(&k.as_str()) {
                    self.problem(&subject, format!("attribute '{k}' is not supported yet"));
                }
            }
            let Some(dir) = fs.source.as_ref().and_then(|s| s.get("dir")) else {
                self.problem(&subject, "a 9p share needs <source dir=...>");
                continue;
            };
            let tag = fs
                .target
                .as_ref()
                .and_then(|t| t.get("dir"))
                .unwrap_or_default();
            let model = fs.attrs.get("accessmode").unwrap_or("passthrough");
            if !["passthrough", "mapped", "squash"].contains(&model) {
                self.problem(&subject, format!("accessmode '{model}' is unknown"));
            }
            match self.rt.host.stat(dir) {
                Some(PathKind::Dir) => {}
                None => self.problem(&subject, format!("'{dir}' does not exist")),
                Some(other) => {
                    self.problem(&subject, format!("'{dir}' is a {other}, not a directory"))
                }
            }
            if self.problem_count() > before {
                continue;
            }
            let alias = fs.info.alias.clone().unwrap_or_else(|| format!("fs{i}"));
            // The shared tree keeps its owners: libvirt does not relabel 9p sources.
            self.push_resource(Resource {
                path: dir.to_owned(),
                kind: ResourceKind::Dir,
                access: if fs.readonly {
                    Access::ReadOnly
                } else {
                    Access::ReadWrite
                },
                origin: format!("filesystem {tag}"),
                class: ResourceClass::Device,
                provision: Provision::Exists,
                dac_relabel: false,
                dac_label: None,
                selinux: SelinuxRole::Untouched,
            });
            let mut s = format!("local,security_model={model}");
            if fs.driver.as_ref().and_then(|d| d.get("wrpolicy")) == Some("immediate") {
                s.push_str(",writeout=immediate");
            }
            if let Some(v) = fs.attrs.get("multidevs") {
                s.push_str(&format!(",multidevs={v}"));
            }
            // Creation modes are octal; libvirt prints them with four digits.
            for k in ["fmode", "dmode"] {
                if let Some(v) = fs.attrs.get(k) {
                    match u32::from_str_radix(v, 8) {
                        Ok(m) if m <= 0o777 => s.push_str(&format!(",{k}={m:04o}")),
                        _ => self.problem(&subject, format!("{k} '{v}' is not an octal mode")),
                    }
                }
            }
            s.push_str(&format!(
                ",id=fsdev-{alias},path={}",
                dir.replace(',', ",,")
            ));
            if fs.readonly {
                s.push_str(",readonly=on");
            }
            self.arg2("-fsdev", s);
            let props = self.pci_props(
                PciDev::Filesystem(i),
                Obj::new()
                    .with("driver", "virtio-9p-pci")
                    .with("id", alias.as_str())
                    .with("fsdev", format!("fsdev-{alias}"))
                    .with("mount_tag", tag),
            );
            self.device(props);
        }
    }

    /// `<hub type='usb'>` on the USB bus.
    pub(super) fn hubs(&mut self) {
        let dom = self.dom;
        for (i, h) in dom.devices.hubs.iter().enumerate() {
            let alias = h.info.alias.clone().unwrap_or_else(|| format!("hub{i}"));
            let Some(port) = self.usb_port(&h.info, &format!("hub '{alias}'")) else {
                continue;
            };
            self.device(
                Obj::new()
                    .with("driver", "usb-hub")
                    .with("id", alias)
                    .with("bus", "usb.0")
                    .with("port", port),
            );
        }
    }

    /// `<hostdev type='usb'>` by bus and device number (`usb-host`).
    pub(super) fn hostdevs(&mut self) {
        let dom = self.dom;
        for (i, h) in dom.devices.hostdevs.iter().enumerate() {
            let alias = h
                .info
                .alias
                .clone()
                .unwrap_or_else(|| format!("hostdev{i}"));
            let subject = format!("hostdev '{alias}'");
            if h.mode != HostdevMode::Subsystem || h.hostdev_type != HostdevType::Usb {
                self.problem(
                    &subject,
                    format!(
                        "host device passthrough of mode '{}' type '{}' is not supported yet (only USB devices)",
                        h.mode, h.hostdev_type
                    ),
                );
                continue;
            }
            let src = h.source.as_ref();
            let (Some(bus), Some(dev)) = (
                src.and_then(|s| s.address_attr("bus"))
                    .and_then(|b| b.parse::<u32>().ok()),
                src.and_then(|s| s.address_attr("device"))
                    .and_then(|d| d.parse::<u32>().ok()),
            ) else {
                self.problem(
                    &subject,
                    "a USB host device chosen by vendor/product is not supported yet; give <address bus= device=>",
                );
                continue;
            };
            let extra = h
                .attrs
                .attrs
                .iter()
                .map(|(k, _)| k.as_str())
                .chain(h.driver.iter().map(|_| "driver"))
                .chain(h.rom.iter().map(|_| "rom"))
                .chain(h.teaming.iter().map(|_| "teaming"))
                .chain(
                    src.into_iter()
                        .flat_map(|s| s.attrs.attrs.iter().map(|(k, _)| k.as_str()))
                        .filter(|k| *k != "guestReset" && *k != "startupPolicy"),
                )
                .collect::<Vec<_>>();
            if !extra.is_empty() {
                self.problem(
                    &subject,
                    format!(
                        "{} not supported yet for a USB host device",
                        extra.join(", ")
                    ),
                );
                continue;
            }
            let path = format!("/dev/bus/usb/{bus:03}/{dev:03}");
            let se = self.selinux_for(&[], SelinuxRole::Exclusive);
            let dac = self.dac;
            self.existing(
                &subject,
                &format!("USB host device {bus}:{dev}"),
                &path,
                Expect::Char,
                Access::ReadWrite,
                ResourceClass::Device,
                dac,
                se,
            );
            let Some(port) = self.usb_port(&h.info, &subject) else {
                continue;
            };
            let mut props = Obj::new()
                .with("driver", "usb-host")
                .with("hostdevice", path)
                .with("id", alias)
                .with("bus", "usb.0")
                .with("port", port);
            if let Some(b) = h.info.boot_order {
                props.set("bootindex", b);
            }
            self.device(props);
        }
    }

    /// The USB port of a device: its `<address type='usb' port=>`. libvirt
    /// assigns free ports at define time; rvirt needs them in the XML.
    fn usb_port(&mut self, info: &domain_xml::model::DeviceInfo, subject: &str) -> Option<String> {
        match info
            .address
            .as_ref()
            .filter(|a| a.addr_type == "usb")
            .and_then(|a| a.get("port"))
        {
            Some(p) => Some(p.to_owned()),
            None => {
                self.problem(subject, "needs <address type='usb' bus='0' port=...> (ports are not assigned automatically yet)");
                None
            }
        }
    }

    /// USB addresses as libvirt checks them: a port path of at most four levels,
    /// at most 8 ports per hub, no port used twice, and no USB device where the
    /// domain has no USB controller.
    pub(super) fn check_usb_addresses(&mut self) {
        let d = &self.dom.devices;
        let infos = d
            .hubs
            .iter()
            .map(|h| ("hub", &h.info))
            .chain(
                d.hostdevs
                    .iter()
                    .filter(|h| h.hostdev_type == HostdevType::Usb)
                    .map(|h| ("hostdev", &h.info)),
            )
            .chain(d.redirdevs.iter().map(|r| ("redirdev", &r.info)))
            .chain(d.inputs.iter().map(|i| ("input", &i.info)));
        let mut seen: Vec<(String, String)> = Vec::new();
        let mut problems = Vec::new();
        for (what, info) in infos {
            let Some(a) = info.address.as_ref().filter(|a| a.addr_type == "usb") else {
                continue;
            };
            let bus = a.get("bus").unwrap_or("0").to_owned();
            let Some(port) = a.get("port") else { continue };
            let parts: Vec<Option<u32>> = port.split('.').map(|p| p.parse().ok()).collect();
            if parts.len() > 4 || parts.iter().any(|p| p.is_none_or(|n| n == 0)) {
                problems.push(format!(
                    "{what}: USB port '{port}' is not a port path of up to 4 numbers"
                ));
                continue;
            }
            if let Some(n) = parts.iter().skip(1).flatten().find(|n| **n > 8) {
                problems.push(format!(
                    "{what}: USB port '{port}': a hub has 8 ports, not {n}"
                ));
            }
            if seen.iter().any(|(b, p)| *b == bus && p == port) {
                problems.push(format!(
                    "{what}: USB address bus {bus} port {port} is used twice"
                ));
            }
            seen.push((bus, port.to_owned()));
        }
        let usb_off = d.controllers.iter().any(|c| {
            c.ctype == domain_xml::model::devices::ControllerType::Usb
                && c.model.as_deref() == Some("none")
        });
        if usb_off
            && (!d.hubs.is_empty()
                || d.hostdevs
                    .iter()
                    .any(|h| h.hostdev_type == HostdevType::Usb))
        {
            problems.push("a USB hub or host device needs USB, which this domain disables (<controller type='usb' model='none'>)".into());
        }
        for p in problems {
            self.problem("usb", p);
        }
    }

    /// Modelled devices the planner cannot start yet: each is a problem.
    pub(super) fn refuse_unplanned_devices(&mut self) {
        self.check_usb_addresses();
        let d = &self.dom.devices;
        for (i, s) in d.smartcards.iter().enumerate() {
            self.problem(
                format!("smartcard{i}"),
                format!("<smartcard mode='{}'> is not supported yet", s.mode),
            );
        }
        if d.redirfilter.is_some() {
            self.problem("redirfilter", "<redirfilter> is not supported yet");
        }
        for (i, m) in d.memories.iter().enumerate() {
            self.problem(
                format!("memory device {i}"),
                format!(
                    "<memory model='{}'> devices (memory hotplug) are not supported yet",
                    m.model
                ),
            );
        }
        if d.vsock.is_some() {
            self.problem("vsock", "<vsock> (vhost-vsock) is not supported yet");
        }
        if let Some(io) = &d.iommu {
            self.problem(
                "iommu",
                format!("<iommu model='{}'> is not supported yet", io.model),
            );
        }
    }
}
