//! Character devices: serial ports, consoles and virtio channels, and the
//! `-chardev` backends they sit on.

use domain_xml::model::AttrSet;
use domain_xml::model::devices::{CharType, Chardev, ControllerType};

use super::state::Planner;
use crate::json::Obj;
use crate::launch::FdSource;
use crate::resources::{Access, Provision, Resource, ResourceClass, ResourceKind, SelinuxRole};

impl Planner<'_> {
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
            CharType::File => self.file_chardev(subject, alias, id, src),
            CharType::Unix => self.unix_chardev(subject, alias, id, src),
            // The SPICE agent's channel: QEMU hands it to the SPICE server.
            CharType::Spicevmc => {
                if !self
                    .dom
                    .devices
                    .graphics
                    .iter()
                    .any(|g| g.gtype == domain_xml::model::devices::GraphicsType::Spice)
                {
                    self.problem(subject, "type 'spicevmc' needs <graphics type='spice'>");
                    return false;
                }
                self.arg2("-chardev", format!("spicevmc,id={id},name=vdagent"));
                true
            }
            other => {
                self.problem(subject, format!("type '{other}' is not supported yet"));
                false
            }
        }
    }

    /// Output to a file the daemon opens (QEMU gets it through `-add-fd`).
    fn file_chardev(
        &mut self,
        subject: &str,
        alias: &str,
        id: &str,
        src: Option<&AttrSet>,
    ) -> bool {
        let src_get = |k: &str| src.and_then(|s| s.get(k));
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

    /// A UNIX socket: listening (`mode='bind'`, opened by the daemon) or
    /// connecting to one that must exist.
    fn unix_chardev(
        &mut self,
        subject: &str,
        alias: &str,
        id: &str,
        src: Option<&AttrSet>,
    ) -> bool {
        let src_get = |k: &str| src.and_then(|s| s.get(k));
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
            self.channel(i, ch, &mut used);
        }
    }

    /// One channel; `used` holds the (controller, bus, port) triples taken.
    fn channel(&mut self, i: usize, ch: &Chardev, used: &mut Vec<(u32, u32, u32)>) {
        let dom = self.dom;
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
            return;
        }
        if ch.log.is_some() || ch.protocol.is_some() {
            self.problem(&subject, "<log> and <protocol> are not supported yet");
            return;
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
        let has_ctrl = dom
            .devices
            .controllers
            .iter()
            .any(|c| c.ctype == ControllerType::VirtioSerial && c.index.unwrap_or(0) == ctrl);
        if !has_ctrl {
            self.problem(
                &subject,
                format!("a virtio channel needs <controller type='virtio-serial' index='{ctrl}'/>"),
            );
            return;
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
        if ch.char_type == CharType::Unix
            && ch.source_path().is_none()
            && !self.socket_in_channel_dir(&mut ch, name, &subject)
        {
            return;
        }
        if !self.chardev(&subject, &alias, &chr, &ch) {
            return;
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

    /// Points a UNIX channel without a source path at a socket named after
    /// its target in the channel directory. `false` after a problem.
    fn socket_in_channel_dir(
        &mut self,
        ch: &mut Chardev,
        name: Option<&str>,
        subject: &str,
    ) -> bool {
        let Some(n) = name else {
            self.problem(
                subject,
                "a UNIX channel without a source path needs a target name",
            );
            return false;
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
        // The live XML shows where the socket is (virt-manager and agent
        // tools read it there).
        if let Some(i) = self
            .dom
            .devices
            .channels
            .iter()
            .position(|c| c.target.as_ref().and_then(|t| t.attrs.get("name")) == Some(n))
        {
            self.channel_paths.push((i, format!("{dir}/{n}")));
        }
        true
    }
}

/// Doubles commas for a QemuOpts value.
pub(super) fn opt_escape(s: &str) -> String {
    s.replace(',', ",,")
}
