//! `<interface>`: guest NICs.

use crate::model::common::{AttrSet, DeviceInfo};
use crate::xml::{El, ParseError, XmlWriter};
use crate::xml_enum;

xml_enum! {
    pub enum InterfaceType {
        User = "user", Network = "network", Bridge = "bridge", Ethernet = "ethernet", Direct = "direct",
        VhostUser = "vhostuser", Server = "server", Client = "client", Mcast = "mcast", Udp = "udp",
        Hostdev = "hostdev", Vdpa = "vdpa", Null = "null", Vds = "vds"
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub if_type: InterfaceType,
    pub attrs: AttrSet,
    pub mac: Option<String>,
    /// `network=`, `bridge=`, `dev=`, `mode=`, `portgroup=` as given.
    pub source: Option<AttrSet>,
    pub target: Option<AttrSet>,
    pub model: Option<String>,
    pub driver: Option<AttrSet>,
    pub link_state: Option<String>,
    pub mtu: Option<u32>,
    pub info: DeviceInfo,
}

/// Checks `52:54:00:12:34:56` form; libvirt refuses multicast addresses too.
pub fn valid_mac(mac: &str) -> bool {
    let parts: Vec<&str> = mac.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
        && u8::from_str_radix(parts[0], 16).is_ok_and(|b| b & 1 == 0)
}

fn read_mac(el: &El<'_, '_>) -> Result<Option<String>, ParseError> {
    Ok(match el.child("mac") {
        Some(m) => {
            let a = m.req_attr("address")?;
            if !valid_mac(a) {
                return Err(m.attr_err(
                    "address",
                    format!("invalid MAC address '{a}': expected six hex pairs like 52:54:00:12:34:56, not multicast"),
                ));
            }
            let a = a.to_ascii_lowercase();
            m.done()?;
            Some(a)
        }
        None => None,
    })
}

/// `<source>`, which the network and bridge types cannot do without.
fn read_source(el: &El<'_, '_>, if_type: InterfaceType) -> Result<Option<AttrSet>, ParseError> {
    let source = el.child("source").map(|s| {
        AttrSet::read(
            s,
            &[
                "network",
                "portgroup",
                "portid",
                "bridge",
                "dev",
                "mode",
                "type",
                "path",
                "address",
                "port",
            ],
        )
    });
    match (if_type, source.as_ref()) {
        (InterfaceType::Network, s) if s.and_then(|s| s.get("network")).is_none() => {
            return Err(el.err("<interface type='network'> needs <source network='...'/>"));
        }
        (InterfaceType::Bridge, s) if s.and_then(|s| s.get("bridge")).is_none() => {
            return Err(el.err("<interface type='bridge'> needs <source bridge='...'/>"));
        }
        _ => {}
    }
    Ok(source)
}

fn read_link_state(el: &El<'_, '_>) -> Result<Option<String>, ParseError> {
    Ok(match el.child("link") {
        Some(l) => {
            let s = l.req_attr("state")?;
            if s != "up" && s != "down" {
                return Err(l.attr_err(
                    "state",
                    format!("unknown link state '{s}': expected 'up' or 'down'"),
                ));
            }
            let s = s.to_owned();
            l.done()?;
            Some(s)
        }
        None => None,
    })
}

fn read_mtu(el: &El<'_, '_>) -> Result<Option<u32>, ParseError> {
    Ok(match el.child("mtu") {
        Some(m) => {
            let v = m
                .attr_parse::<u32>("size", "a number")?
                .ok_or_else(|| m.err("<mtu> needs 'size'"))?;
            m.done()?;
            Some(v)
        }
        None => None,
    })
}

impl Interface {
    pub fn read(el: El<'_, '_>) -> Result<Interface, ParseError> {
        let if_type = el.req_enum::<InterfaceType>("type")?;
        let mac = read_mac(&el)?;
        let source = read_source(&el, if_type)?;
        let target = el
            .child("target")
            .map(|t| AttrSet::read(t, &["dev", "managed"]));
        let model = match el.child("model") {
            Some(m) => {
                let t = m.req_attr("type")?.to_owned();
                m.done()?;
                Some(t)
            }
            None => None,
        };
        let driver = el.child("driver").map(|d| {
            AttrSet::read(
                d,
                &[
                    "name",
                    "txmode",
                    "ioeventfd",
                    "event_idx",
                    "queues",
                    "rx_queue_size",
                    "tx_queue_size",
                ],
            )
        });
        let link_state = read_link_state(&el)?;
        let mtu = read_mtu(&el)?;
        let info = DeviceInfo::read(&el)?;
        let attrs = AttrSet::read(el, &["trustGuestRxFilters"]);
        Ok(Interface {
            if_type,
            attrs,
            mac,
            source,
            target,
            model,
            driver,
            link_state,
            mtu,
            info,
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("interface").attr("type", self.if_type);
        self.attrs.write_attrs(w);
        if let Some(m) = &self.mac {
            w.start("mac").attr("address", m);
            w.end();
        }
        if let Some(s) = &self.source {
            s.write(w, "source");
        }
        if let Some(t) = &self.target {
            t.write(w, "target");
        }
        if let Some(m) = &self.model {
            w.start("model").attr("type", m);
            w.end();
        }
        if let Some(d) = &self.driver {
            d.write(w, "driver");
        }
        if let Some(l) = &self.link_state {
            w.start("link").attr("state", l);
            w.end();
        }
        if let Some(m) = self.mtu {
            w.start("mtu").attr("size", m);
            w.end();
        }
        self.info.write(w);
        w.end();
    }
}
