//! `<graphics type='vnc'>` and `<graphics type='spice'>` as libvirt 11.3 writes
//! them: the listen from `<listen>` (address, socket or none) or the `listen`
//! attribute, a fixed port or one chosen at start (`autoport`, asked of
//! [`crate::HostFacts::free_tcp_port`]), the VNC websocket and share policy,
//! SPICE's compression and agent switches.
//!
//! Passwords never reach the command line: as libvirt does, QEMU is told a
//! password is wanted (`password=on` for VNC; no `disable-ticketing` for
//! SPICE) and the daemon sets it over QMP (`set_password`) before the guest
//! runs. Without a listen, rvirt's default is a UNIX socket in the domain's
//! private directory (no TCP port opened unless the XML asks for one).

use domain_xml::model::devices::{Graphics, GraphicsType};

use super::chardevs::opt_escape;
use super::state::Planner;
use crate::json::Obj;
use crate::launch::{GraphicsLive, MonitorCommand};
use crate::resources::{Access, Provision, Resource, ResourceClass, ResourceKind, SelinuxRole};

/// Where a display listens.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Listen {
    Address(String),
    Socket(Option<String>),
    None,
}

/// Attributes planned here; anything else on `<graphics>` is refused.
const VNC_ATTRS: &[&str] = &[
    "listen",
    "passwd",
    "connected",
    "sharePolicy",
    "websocket",
    "socket",
];
const SPICE_ATTRS: &[&str] = &[
    "listen",
    "passwd",
    "connected",
    "tlsPort",
    "defaultMode",
    "socket",
];

/// The first VNC display port and websocket port libvirt hands out
/// (qemu.conf's `remote_display_port_min`, `remote_websocket_port_min`).
const DISPLAY_PORT_MIN: u16 = 5900;
const WEBSOCKET_PORT_MIN: u16 = 5700;

fn listen_of(g: &Graphics) -> Result<Listen, String> {
    let attr_listen = g.attrs.get("listen");
    match g.listens.first() {
        Some(l) => match l.get("type") {
            Some("address") | None => {
                let addr = l
                    .get("address")
                    .or(attr_listen)
                    .unwrap_or("127.0.0.1")
                    .to_owned();
                if attr_listen.is_some_and(|a| a != addr) {
                    return Err(format!(
                        "listen='{}' and <listen address='{addr}'> disagree",
                        attr_listen.unwrap_or_default()
                    ));
                }
                Ok(Listen::Address(addr))
            }
            Some("socket") => Ok(Listen::Socket(
                l.get("socket").or(g.attrs.get("socket")).map(str::to_owned),
            )),
            Some("none") => Ok(Listen::None),
            Some(other) => Err(format!("<listen type='{other}'> is not supported yet")),
        },
        None => match (attr_listen, g.attrs.get("socket")) {
            (Some(a), _) => Ok(Listen::Address(a.to_owned())),
            (None, s) => Ok(Listen::Socket(s.map(str::to_owned))),
        },
    }
}

fn bracketed(addr: &str) -> String {
    if addr.contains(':') {
        format!("[{addr}]")
    } else {
        addr.to_owned()
    }
}

impl Planner<'_> {
    pub(super) fn graphics(&mut self) {
        let dom = self.dom;
        let mut taken: Vec<u16> = Vec::new();
        for (i, g) in dom.devices.graphics.iter().enumerate() {
            let subject = format!("graphics '{}'", g.gtype);
            let ok = match g.gtype {
                GraphicsType::Vnc => self.vnc(i, g, &subject, &mut taken),
                GraphicsType::Spice => self.spice(i, g, &subject, &mut taken),
                other => {
                    self.problem(&subject, format!("type '{other}' is not supported yet"));
                    false
                }
            };
            if ok && let Some(p) = g.attrs.get("passwd") {
                let protocol = if g.gtype == GraphicsType::Vnc {
                    "vnc"
                } else {
                    "spice"
                };
                let connected = g.attrs.get("connected").unwrap_or("keep");
                let mut args = Obj::new().with("protocol", protocol).with("password", p);
                if protocol == "spice" {
                    args.set("connected", connected);
                }
                self.monitor_commands.push(MonitorCommand {
                    execute: "set_password".into(),
                    arguments: args.to_json(),
                });
            }
        }
        // libvirt (and QEMU) take one display of each type.
        for t in [GraphicsType::Vnc, GraphicsType::Spice] {
            let n = dom.devices.graphics.iter().filter(|g| g.gtype == t).count();
            if n > 1 {
                self.problem(
                    format!("graphics '{t}'"),
                    format!("only 1 graphics device of type '{t}' is supported"),
                );
            }
        }
    }

    /// Refuses attributes and children the planner does not turn into
    /// options; `true` when there are none.
    fn graphics_known(
        &mut self,
        g: &Graphics,
        subject: &str,
        attrs: &[&str],
        kids: &[&str],
    ) -> bool {
        let bad: Vec<String> = g
            .attrs
            .attrs
            .iter()
            .filter(|(k, _)| !attrs.contains(&k.as_str()))
            .map(|(k, _)| k.clone())
            .chain(
                g.children
                    .iter()
                    .filter(|(n, _)| !kids.contains(&n.as_str()))
                    .map(|(n, _)| format!("<{n}>")),
            )
            .collect();
        if bad.is_empty() {
            return true;
        }
        self.problem(subject, format!("{} not supported yet", bad.join(", ")));
        false
    }

    /// A TCP port for `addr`: the fixed one, or the next free one from
    /// `from` when `auto`.
    fn display_port(
        &mut self,
        subject: &str,
        addr: &str,
        fixed: Option<i32>,
        auto: bool,
        from: u16,
        taken: &mut Vec<u16>,
    ) -> Option<u16> {
        let port = match fixed {
            Some(p) if !auto && p >= 0 => u16::try_from(p).ok(),
            _ => self.rt.host.free_tcp_port(addr, from, taken),
        };
        match port {
            Some(p) => {
                taken.push(p);
                Some(p)
            }
            None => {
                self.problem(
                    subject,
                    format!("no free TCP port from {from} on '{addr}' for autoport"),
                );
                None
            }
        }
    }

    /// The display socket and its resource (QEMU creates it).
    fn display_socket(&mut self, given: Option<String>, name: &str, origin: &str) -> String {
        let path =
            given.unwrap_or_else(|| format!("{}/{name}", self.rt.lib_dir.trim_end_matches('/')));
        self.push_resource(Resource {
            path: path.clone(),
            kind: ResourceKind::Socket,
            access: Access::ReadWrite,
            origin: origin.into(),
            class: ResourceClass::Device,
            provision: Provision::QemuCreates,
            dac_relabel: false,
            dac_label: None,
            selinux: SelinuxRole::Untouched,
        });
        path
    }

    fn vnc(&mut self, i: usize, g: &Graphics, subject: &str, taken: &mut Vec<u16>) -> bool {
        if !self.graphics_known(g, subject, VNC_ATTRS, &["audio"]) {
            return false;
        }
        let listen = match listen_of(g) {
            Ok(l) => l,
            Err(e) => {
                self.problem(subject, e);
                return false;
            }
        };
        let auto = g.autoport != Some(false) || g.port.is_none_or(|p| p < 0);
        let mut live = GraphicsLive {
            index: i,
            port: None,
            websocket: None,
            address: None,
            socket: None,
        };
        let mut arg = match &listen {
            Listen::Socket(given) => {
                let path = self.display_socket(given.clone(), "vnc.sock", "graphics vnc");
                live.socket = Some(path.clone());
                format!("vnc=unix:{}", opt_escape(&path))
            }
            Listen::None => "none".to_owned(),
            Listen::Address(addr) => {
                if !auto && g.port.is_some_and(|p| !(5900..=65535).contains(&p)) {
                    self.problem(subject, "vnc port must be in range [5900,65535]");
                    return false;
                }
                let Some(port) =
                    self.display_port(subject, addr, g.port, auto, DISPLAY_PORT_MIN, taken)
                else {
                    return false;
                };
                live.port = Some(port);
                live.address = Some(addr.clone());
                let mut a = format!("{}:{}", bracketed(addr), port - 5900);
                if let Some(ws) = g.attrs.get("websocket") {
                    let ws_port = match ws.parse::<i32>() {
                        Ok(-1) => {
                            self.display_port(subject, addr, None, true, WEBSOCKET_PORT_MIN, taken)
                        }
                        Ok(p) if (1..=65535).contains(&p) => u16::try_from(p).ok(),
                        _ => {
                            self.problem(subject, format!("invalid websocket port '{ws}'"));
                            None
                        }
                    };
                    let Some(ws_port) = ws_port else {
                        return false;
                    };
                    live.websocket = Some(ws_port);
                    a.push_str(&format!(",websocket={ws_port}"));
                }
                a
            }
        };
        if let Some(p) = g.attrs.get("sharePolicy") {
            if !["allow-exclusive", "force-shared", "ignore"].contains(&p) {
                self.problem(subject, format!("unknown sharePolicy '{p}'"));
                return false;
            }
            arg.push_str(&format!(",share={p}"));
        }
        if g.attrs.get("passwd").is_some() {
            arg.push_str(",password=on");
        }
        let audio = match g.child("audio").and_then(|a| a.get("id")) {
            Some(id) => Some(format!("audio{id}")),
            None => self
                .dom
                .devices
                .audios
                .first()
                .map(|a| format!("audio{}", a.id)),
        };
        if let Some(a) = audio {
            arg.push_str(&format!(",audiodev={a}"));
        }
        self.graphics_live.push(live);
        self.arg2("-vnc", arg);
        true
    }

    fn spice(&mut self, i: usize, g: &Graphics, subject: &str, taken: &mut Vec<u16>) -> bool {
        if !self.caps.has_option("spice", None) {
            self.problem(
                subject,
                format!(
                    "{} has no SPICE support (Debian: install qemu-system-modules-spice)",
                    self.rt.emulator
                ),
            );
            return false;
        }
        let kids = [
            "image",
            "jpeg",
            "zlib",
            "playback",
            "streaming",
            "clipboard",
            "mouse",
            "filetransfer",
        ];
        if !self.graphics_known(g, subject, SPICE_ATTRS, &kids) {
            return false;
        }
        // TLS needs qemu.conf's spice_tls and certificates, which rvirt does
        // not read: only `tlsPort='-1'` (none wanted) is accepted.
        if g.attrs.get("tlsPort").is_some_and(|p| p != "-1")
            || g.attrs.get("defaultMode").is_some_and(|m| m != "any")
        {
            self.problem(
                subject,
                "SPICE TLS (tlsPort, defaultMode) is not supported yet",
            );
            return false;
        }
        let listen = match listen_of(g) {
            Ok(l) => l,
            Err(e) => {
                self.problem(subject, e);
                return false;
            }
        };
        let auto = g.autoport != Some(false) || g.port.is_none_or(|p| p < 0);
        let mut live = GraphicsLive {
            index: i,
            port: None,
            websocket: None,
            address: None,
            socket: None,
        };
        let mut opts: Vec<String> = Vec::new();
        match &listen {
            Listen::Socket(given) => {
                let path = self.display_socket(given.clone(), "spice.sock", "graphics spice");
                live.socket = Some(path.clone());
                opts.push("unix=on".into());
                opts.push(format!("addr={}", opt_escape(&path)));
            }
            Listen::None => opts.push("port=0".into()),
            Listen::Address(addr) => {
                let Some(port) =
                    self.display_port(subject, addr, g.port, auto, DISPLAY_PORT_MIN, taken)
                else {
                    return false;
                };
                live.port = Some(port);
                live.address = Some(addr.clone());
                opts.push(format!("port={port}"));
                opts.push(format!("addr={addr}"));
            }
        }
        match g.child("mouse").and_then(|m| m.get("mode")) {
            Some("server") => opts.push("agent-mouse=off".into()),
            Some("client") => opts.push("agent-mouse=on".into()),
            _ => {}
        }
        if g.attrs.get("passwd").is_none() {
            opts.push("disable-ticketing=on".into());
        }
        for (child, key, opt) in [
            ("image", "compression", "image-compression"),
            ("jpeg", "compression", "jpeg-wan-compression"),
            ("zlib", "compression", "zlib-glz-wan-compression"),
            ("playback", "compression", "playback-compression"),
            ("streaming", "mode", "streaming-video"),
        ] {
            if let Some(v) = g.child(child).and_then(|c| c.get(key)) {
                opts.push(format!("{opt}={v}"));
            }
        }
        if g.child("clipboard").and_then(|c| c.get("copypaste")) == Some("no") {
            opts.push("disable-copy-paste=on".into());
        }
        if g.child("filetransfer").and_then(|c| c.get("enable")) == Some("no") {
            opts.push("disable-agent-file-xfer=on".into());
        }
        opts.push("seamless-migration=on".into());
        self.graphics_live.push(live);
        self.arg2("-spice", opts.join(","));
        true
    }
}
