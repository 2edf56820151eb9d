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
    /// `<driver><host ...>` and `<driver><guest ...>` offload switches.
    pub driver_host: Option<AttrSet>,
    pub driver_guest: Option<AttrSet>,
    /// `<coalesce><rx><frames max=>`.
    pub coalesce_rx_frames: Option<String>,
    /// `<tune><sndbuf>`.
    pub tune_sndbuf: Option<String>,
    pub link_state: Option<String>,
    pub mtu: Option<u32>,
    /// Children of `<source>`: `<address>` (hostdev interfaces), `<local>`,
    /// `<reconnect>`, `<ip>`, `<route>` (user/udp/tcp), by name.
    pub source_children: Vec<(String, AttrSet)>,
    /// Single leaf children: `<script>`, `<downscript>`, `<backend>`, `<rom>`,
    /// `<port>`, `<teaming>`, `<acpi>`, `<filterref>`, by name.
    pub leaves: Vec<(String, AttrSet)>,
    /// `<ip>` and `<route>`s given to the guest (user networking, passt).
    pub ips: Vec<AttrSet>,
    pub routes: Vec<AttrSet>,
    /// `<bandwidth>`'s `<inbound>`/`<outbound>` (average, peak, burst, floor).
    pub bandwidth: Option<(Option<AttrSet>, Option<AttrSet>)>,
    /// `<vlan trunk=>` with its `<tag id= nativeMode=>`s.
    pub vlan: Option<(Option<String>, Vec<AttrSet>)>,
    /// `<virtualport type=>` with its `<parameters>`.
    pub virtualport: Option<(Option<String>, Option<AttrSet>)>,
    pub info: DeviceInfo,
}

/// Leaf children of `<interface>` kept as attribute sets, in libvirt's order.
const IFACE_LEAVES: &[(&str, &[&str])] = &[
    ("backend", &["type", "tap", "vhost", "logFile"]),
    ("script", &["path"]),
    ("downscript", &["path"]),
    ("filterref", &["filter"]),
    ("rom", &["bar", "file", "enabled"]),
    ("port", &["isolated"]),
    ("teaming", &["type", "persistent"]),
    ("acpi", &["index"]),
];

/// Children of an interface `<source>`.
const SOURCE_CHILDREN: &[(&str, &[&str])] = &[
    ("address", &["type", "domain", "bus", "slot", "function"]),
    ("local", &["address", "port"]),
    ("reconnect", &["enabled", "timeout"]),
    ("ip", &["address", "family", "prefix", "peer"]),
    ("route", &["address", "family", "gateway", "prefix"]),
];

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
fn read_source(
    el: &El<'_, '_>,
    if_type: InterfaceType,
    children: &mut Vec<(String, AttrSet)>,
) -> Result<Option<AttrSet>, ParseError> {
    let source = el.child("source").map(|s| {
        for (name, known) in SOURCE_CHILDREN {
            for c in s.children(name) {
                children.push(((*name).to_owned(), AttrSet::read(c, known)));
            }
        }
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
        let mut source_children = Vec::new();
        let source = read_source(&el, if_type, &mut source_children)?;
        let mut leaves = Vec::new();
        for (name, known) in IFACE_LEAVES {
            if let Some(c) = el.child(name) {
                leaves.push(((*name).to_owned(), AttrSet::read(c, known)));
            }
        }
        let ips = el
            .children("ip")
            .into_iter()
            .map(|c| AttrSet::read(c, &["address", "family", "prefix", "peer"]))
            .collect();
        let routes = el
            .children("route")
            .into_iter()
            .map(|c| {
                AttrSet::read(
                    c,
                    &[
                        "family", "address", "netmask", "prefix", "gateway", "metric",
                    ],
                )
            })
            .collect();
        let bw_keys: &[&str] = &["average", "peak", "burst", "floor"];
        let bandwidth = match el.child("bandwidth") {
            Some(b) => {
                let inbound = b.child("inbound").map(|c| AttrSet::read(c, bw_keys));
                let outbound = b.child("outbound").map(|c| AttrSet::read(c, bw_keys));
                b.done()?;
                Some((inbound, outbound))
            }
            None => None,
        };
        let vlan = match el.child("vlan") {
            Some(v) => {
                let trunk = v.attr_string("trunk");
                let tags = v
                    .children("tag")
                    .into_iter()
                    .map(|t| AttrSet::read(t, &["id", "nativeMode"]))
                    .collect();
                v.done()?;
                Some((trunk, tags))
            }
            None => None,
        };
        let virtualport = match el.child("virtualport") {
            Some(v) => {
                let t = v.attr_string("type");
                let params = v.child("parameters").map(|p| {
                    AttrSet::read(
                        p,
                        &[
                            "managerid",
                            "typeid",
                            "typeidversion",
                            "instanceid",
                            "profileid",
                            "interfaceid",
                        ],
                    )
                });
                v.done()?;
                Some((t, params))
            }
            None => None,
        };
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
        let offloads: &[&str] = &["csum", "gso", "tso4", "tso6", "ecn", "ufo", "mrg_rxbuf"];
        let mut driver_host = None;
        let mut driver_guest = None;
        let driver = el.child("driver").map(|d| {
            driver_host = d.child("host").map(|h| AttrSet::read(h, offloads));
            driver_guest = d.child("guest").map(|g| AttrSet::read(g, offloads));
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
                    "iommu",
                    "ats",
                    "packed",
                    "page_per_vq",
                    "rss",
                    "rss_hash_report",
                ],
            )
        });
        let coalesce_rx_frames = match el.child("coalesce") {
            Some(c) => {
                let mut max = None;
                if let Some(rx) = c.child("rx") {
                    if let Some(f) = rx.child("frames") {
                        max = f.attr_string("max");
                        f.done()?;
                    }
                    rx.done()?;
                }
                c.done()?;
                max
            }
            None => None,
        };
        let tune_sndbuf = match el.child("tune") {
            Some(t) => {
                let v = t.child_text("sndbuf")?;
                t.done()?;
                v
            }
            None => None,
        };
        let link_state = read_link_state(&el)?;
        let mtu = read_mtu(&el)?;
        let info = DeviceInfo::read(&el)?;
        let attrs = AttrSet::read(el, &["managed", "trustGuestRxFilters"]);
        Ok(Interface {
            if_type,
            attrs,
            mac,
            source,
            target,
            model,
            driver,
            driver_host,
            driver_guest,
            coalesce_rx_frames,
            tune_sndbuf,
            link_state,
            mtu,
            source_children,
            leaves,
            ips,
            routes,
            bandwidth,
            vlan,
            virtualport,
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
            w.start("source");
            s.write_attrs(w);
            for (name, c) in &self.source_children {
                c.write(w, name);
            }
            w.end();
        }
        if let Some((t, tags)) = &self.vlan {
            w.start("vlan");
            w.attr_opt("trunk", t.as_deref());
            for tag in tags {
                tag.write(w, "tag");
            }
            w.end();
        }
        if let Some((t, params)) = &self.virtualport {
            w.start("virtualport");
            w.attr_opt("type", t.as_deref());
            if let Some(p) = params {
                p.write(w, "parameters");
            }
            w.end();
        }
        for ip in &self.ips {
            ip.write(w, "ip");
        }
        for r in &self.routes {
            r.write(w, "route");
        }
        if let Some((inb, outb)) = &self.bandwidth {
            w.start("bandwidth");
            if let Some(i) = inb {
                i.write(w, "inbound");
            }
            if let Some(o) = outb {
                o.write(w, "outbound");
            }
            w.end();
        }
        if let Some(t) = &self.target {
            t.write(w, "target");
        }
        if let Some(m) = &self.model {
            w.start("model").attr("type", m);
            w.end();
        }
        if let Some(d) = &self.driver {
            w.start("driver");
            d.write_attrs(w);
            if let Some(h) = &self.driver_host {
                h.write(w, "host");
            }
            if let Some(g) = &self.driver_guest {
                g.write(w, "guest");
            }
            w.end();
        }
        if let Some(t) = &self.tune_sndbuf {
            w.start("tune");
            w.text_elem("sndbuf", t);
            w.end();
        }
        if let Some(l) = &self.link_state {
            w.start("link").attr("state", l);
            w.end();
        }
        if let Some(m) = self.mtu {
            w.start("mtu").attr("size", m);
            w.end();
        }
        if let Some(m) = &self.coalesce_rx_frames {
            w.start("coalesce");
            w.start("rx");
            w.start("frames").attr("max", m);
            w.end();
            w.end();
            w.end();
        }
        for (name, c) in &self.leaves {
            c.write(w, name);
        }
        self.info.write(w);
        w.end();
    }
}
