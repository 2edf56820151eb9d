//! Character devices: `<serial>`, `<parallel>`, `<console>`, `<channel>`.

use crate::model::common::{AttrSet, DeviceInfo};
use crate::xml::{El, ParseError, XmlWriter};
use crate::xml_enum;

xml_enum! {
    pub enum CharType {
        Null = "null", Vc = "vc", Pty = "pty", Dev = "dev", File = "file", Pipe = "pipe", Stdio = "stdio",
        Udp = "udp", Tcp = "tcp", Unix = "unix", Spicevmc = "spicevmc", Spiceport = "spiceport", Nmdm = "nmdm",
        QemuVdagent = "qemu-vdagent", Dbus = "dbus"
    }
}

xml_enum! {
    pub enum CharKind { Serial = "serial", Parallel = "parallel", Console = "console", Channel = "channel" }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharTarget {
    pub attrs: AttrSet,
    /// `<model name='isa-serial'/>` inside the target.
    pub model: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chardev {
    pub kind: CharKind,
    pub char_type: CharType,
    /// `tty=` on the element: the pty path of a running domain.
    pub tty: Option<String>,
    /// `<source mode= path= host= service= append=/>`; UDP has two.
    pub sources: Vec<AttrSet>,
    pub protocol: Option<String>,
    pub log: Option<AttrSet>,
    pub target: Option<CharTarget>,
    pub info: DeviceInfo,
    pub extras: crate::xml::Extras,
}

impl Chardev {
    pub fn read(el: El<'_, '_>, kind: CharKind) -> Result<Chardev, ParseError> {
        let char_type = el.attr_enum("type")?.unwrap_or(CharType::Pty);
        let tty = el.attr_string("tty");
        let mut sources = Vec::new();
        for s in el.children("source") {
            let set = AttrSet::read(
                s,
                &[
                    "mode", "path", "host", "service", "append", "tls", "channel", "master",
                    "slave",
                ],
            );
            if let Some(p) = set.get("path")
                && !p.starts_with('/')
            {
                return Err(el.err(format!("<{kind}> source path '{p}' must be absolute")));
            }
            sources.push(set);
        }
        // A unix channel without a path gets one generated at start (guest agent).
        let path_needed = match char_type {
            CharType::File | CharType::Dev | CharType::Pipe => true,
            CharType::Unix => kind != CharKind::Channel,
            _ => false,
        };
        if path_needed && sources.first().and_then(|s| s.get("path")).is_none() {
            return Err(el.err(format!(
                "<{kind} type='{char_type}'> needs <source path='...'/>"
            )));
        }
        let protocol = match el.child("protocol") {
            Some(p) => {
                let t = p.req_attr("type")?.to_owned();
                p.done()?;
                Some(t)
            }
            None => None,
        };
        let log = el
            .child("log")
            .map(|l| AttrSet::read(l, &["file", "append"]));
        let target = match el.child("target") {
            Some(t) => {
                let model = match t.child("model") {
                    Some(m) => {
                        let n = m.req_attr("name")?.to_owned();
                        m.done()?;
                        Some(n)
                    }
                    None => None,
                };
                Some(CharTarget {
                    attrs: AttrSet::read(t, &["type", "port", "name", "state", "address"]),
                    model,
                })
            }
            None => None,
        };
        if kind == CharKind::Channel && target.as_ref().and_then(|t| t.attrs.get("type")).is_none()
        {
            return Err(el.err("<channel> needs <target type='virtio|guestfwd|xen'/>"));
        }
        let info = DeviceInfo::read(&el)?;
        let extras = el.finish();
        Ok(Chardev {
            kind,
            char_type,
            tty,
            sources,
            protocol,
            log,
            target,
            info,
            extras,
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start(self.kind_name()).attr("type", self.char_type);
        w.attr_opt("tty", self.tty.as_deref());
        w.extras(&self.extras);
        for s in &self.sources {
            s.write(w, "source");
        }
        if let Some(p) = &self.protocol {
            w.start("protocol").attr("type", p);
            w.end();
        }
        if let Some(l) = &self.log {
            l.write(w, "log");
        }
        if let Some(t) = &self.target {
            w.start("target");
            t.attrs.write_attrs(w);
            if let Some(m) = &t.model {
                w.start("model").attr("name", m);
                w.end();
            }
            w.end();
        }
        self.info.write_alias_address(w);
        w.end();
    }

    fn kind_name(&self) -> &'static str {
        crate::xml::reader::XmlEnum::as_str(self.kind)
    }

    pub fn source_path(&self) -> Option<&str> {
        self.sources.first().and_then(|s| s.get("path"))
    }

    pub fn target_type(&self) -> Option<&str> {
        self.target.as_ref().and_then(|t| t.attrs.get("type"))
    }
}
