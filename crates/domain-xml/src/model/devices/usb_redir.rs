//! USB hubs (`<hub>`), USB redirection (`<redirdev>`) and its filter (`<redirfilter>`).

use crate::model::common::{AttrSet, DeviceInfo};
use crate::xml::{El, Extras, ParseError, XmlWriter};

/// `<hub type='usb'>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hub {
    pub hub_type: String,
    pub info: DeviceInfo,
    pub extras: Extras,
}

impl Hub {
    pub fn read(el: El<'_, '_>) -> Result<Hub, ParseError> {
        let hub_type = el.req_attr("type")?;
        if hub_type != "usb" {
            return Err(el.attr_err(
                "type",
                format!("unknown hub type '{hub_type}': expected 'usb'"),
            ));
        }
        let hub_type = hub_type.to_owned();
        let info = DeviceInfo::read(&el)?;
        Ok(Hub {
            hub_type,
            info,
            extras: el.finish(),
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("hub")
            .attr("type", &self.hub_type)
            .extras(&self.extras);
        self.info.write(w);
        w.end();
    }
}

/// `<redirdev bus='usb' type='spicevmc|tcp|unix'>` with the chardev source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirdev {
    pub bus: String,
    pub redir_type: String,
    /// `<source mode= host= service= path= channel=>` (with `<reconnect>` inside).
    pub source: Option<AttrSet>,
    pub reconnect: Option<AttrSet>,
    /// `<protocol type=>`.
    pub protocol: Option<AttrSet>,
    pub info: DeviceInfo,
    pub extras: Extras,
}

/// Reads a chardev-style `<source>` with its `<reconnect>`.
pub(crate) fn read_chardev_source(
    el: El<'_, '_>,
) -> Result<(AttrSet, Option<AttrSet>), ParseError> {
    let reconnect = el
        .child("reconnect")
        .map(|r| AttrSet::read(r, &["enabled", "timeout"]));
    let source = AttrSet::read(el, &["mode", "host", "service", "path", "channel"]);
    Ok((source, reconnect))
}

pub(crate) fn write_chardev_source<'e>(
    w: &mut XmlWriter<'e>,
    source: &'e AttrSet,
    reconnect: Option<&'e AttrSet>,
) {
    w.start("source");
    source.write_attrs(w);
    if let Some(r) = reconnect {
        r.write(w, "reconnect");
    }
    w.end();
}

impl Redirdev {
    pub fn read(el: El<'_, '_>) -> Result<Redirdev, ParseError> {
        let bus = el.attr("bus").unwrap_or("usb");
        if bus != "usb" {
            return Err(el.attr_err(
                "bus",
                format!("unknown redirdev bus '{bus}': expected 'usb'"),
            ));
        }
        let bus = bus.to_owned();
        let redir_type = el.req_attr("type")?.to_owned();
        let (source, reconnect) = match el.child("source") {
            Some(s) => {
                let (s, r) = read_chardev_source(s)?;
                (Some(s), r)
            }
            None => (None, None),
        };
        let protocol = el.child("protocol").map(|p| AttrSet::read(p, &["type"]));
        let info = DeviceInfo::read(&el)?;
        Ok(Redirdev {
            bus,
            redir_type,
            source,
            reconnect,
            protocol,
            info,
            extras: el.finish(),
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("redirdev")
            .attr("bus", &self.bus)
            .attr("type", &self.redir_type)
            .extras(&self.extras);
        if let Some(s) = &self.source {
            write_chardev_source(w, s, self.reconnect.as_ref());
        }
        if let Some(p) = &self.protocol {
            p.write(w, "protocol");
        }
        self.info.write(w);
        w.end();
    }
}

/// `<redirfilter>` with its `<usbdev class= vendor= product= version= allow=/>` rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Redirfilter {
    pub rules: Vec<AttrSet>,
    pub extras: Extras,
}

impl Redirfilter {
    pub fn read(el: El<'_, '_>) -> Result<Redirfilter, ParseError> {
        let mut rules = Vec::new();
        for u in el.children("usbdev") {
            let r = AttrSet::read(u, &["class", "vendor", "product", "version", "allow"]);
            if r.get("allow").is_none() {
                return Err(el.err("<usbdev> in <redirfilter> needs 'allow'"));
            }
            rules.push(r);
        }
        Ok(Redirfilter {
            rules,
            extras: el.finish(),
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("redirfilter").extras(&self.extras);
        for r in &self.rules {
            r.write(w, "usbdev");
        }
        w.end();
    }
}
