//! `<hostdev>`: host devices given to the guest (PCI, USB, SCSI, SCSI host,
//! mediated devices), and the `<auth>` of network sources they share with disks.

use crate::model::common::{AttrSet, DeviceInfo, read_flag, write_flag};
use crate::xml::{El, Extras, ParseError, XmlWriter};
use crate::xml_enum;

xml_enum! {
    pub enum HostdevMode { Subsystem = "subsystem", Capabilities = "capabilities" }
}

xml_enum! {
    pub enum HostdevType {
        Pci = "pci", Usb = "usb", Scsi = "scsi", ScsiHost = "scsi_host", Mdev = "mdev",
        Storage = "storage", Misc = "misc", Net = "net"
    }
}

/// Attributes of `<hostdev>` besides mode, type and managed, in libvirt's order.
const HOSTDEV_ATTRS: &[&str] = &["model", "display", "ramfb"];
/// Attributes of `<source>`.
const SOURCE_ATTRS: &[&str] = &[
    "startupPolicy",
    "guestReset",
    "protocol",
    "name",
    "wwpn",
    "writeFiltering",
];
/// Attributes of `<source><address>` (PCI, USB, SCSI and mdev forms).
const SOURCE_ADDRESS_ATTRS: &[&str] = &[
    "type", "domain", "bus", "slot", "function", "device", "target", "unit", "uuid",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hostdev {
    pub mode: HostdevMode,
    pub hostdev_type: HostdevType,
    pub managed: Option<bool>,
    /// `model`, `display`, `ramfb`.
    pub attrs: AttrSet,
    pub source: Option<HostdevSource>,
    /// `<driver name= model=>`.
    pub driver: Option<AttrSet>,
    /// `<rom bar= file= enabled=>`.
    pub rom: Option<AttrSet>,
    pub readonly: bool,
    pub shareable: bool,
    /// `<teaming type= persistent=>`.
    pub teaming: Option<AttrSet>,
    pub info: DeviceInfo,
    pub extras: Extras,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostdevSource {
    pub attrs: AttrSet,
    pub address: Option<AttrSet>,
    /// `<adapter name=>` of a SCSI source.
    pub adapter: Option<AttrSet>,
    /// `<vendor id=>` / `<product id=>` of a USB source.
    pub vendor: Option<String>,
    pub product: Option<String>,
    /// `<host name= port=>` of an iSCSI source.
    pub hosts: Vec<AttrSet>,
    pub auth: Option<Auth>,
    /// `<initiator><iqn name=>`.
    pub initiator_iqn: Option<String>,
    pub extras: Extras,
}

/// `<initiator><iqn name=…/></initiator>` of an iSCSI source (a disk's or a
/// SCSI host device's): the IQN, or `None` without the element.
pub(crate) fn read_initiator(el: &El<'_, '_>) -> Result<Option<String>, ParseError> {
    let Some(i) = el.child("initiator") else {
        return Ok(None);
    };
    let iqn = i
        .child("iqn")
        .ok_or_else(|| i.err("<initiator> needs an <iqn>"))?;
    let name = iqn.req_attr("name")?.to_owned();
    iqn.done()?;
    i.done()?;
    Ok(Some(name))
}

pub(crate) fn write_initiator<'e>(w: &mut XmlWriter<'e>, iqn: Option<&'e str>) {
    if let Some(i) = iqn {
        w.start("initiator");
        w.start("iqn").attr("name", i);
        w.end();
        w.end();
    }
}

/// `<auth username=><secret type= usage=|uuid=/></auth>` of a network source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Auth {
    pub username: Option<String>,
    /// `type`, `usage`, `uuid`.
    pub secret: Option<AttrSet>,
    pub extras: Extras,
}

impl Auth {
    pub fn read(el: El<'_, '_>) -> Result<Auth, ParseError> {
        let username = el.attr_string("username");
        let secret = el
            .child("secret")
            .map(|s| AttrSet::read(s, &["type", "usage", "uuid"]));
        if secret.is_none() {
            return Err(el.err("<auth> needs a <secret>"));
        }
        Ok(Auth {
            username,
            secret,
            extras: el.finish(),
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("auth");
        w.attr_opt("username", self.username.as_deref());
        w.extras(&self.extras);
        if let Some(s) = &self.secret {
            s.write(w, "secret");
        }
        w.end();
    }
}

fn id_child(el: &El<'_, '_>, name: &str) -> Result<Option<String>, ParseError> {
    match el.child(name) {
        Some(c) => {
            let id = c.req_attr("id")?.to_owned();
            c.done()?;
            Ok(Some(id))
        }
        None => Ok(None),
    }
}

impl HostdevSource {
    fn read(el: El<'_, '_>) -> Result<HostdevSource, ParseError> {
        let vendor = id_child(&el, "vendor")?;
        let product = id_child(&el, "product")?;
        let address = el
            .child("address")
            .map(|a| AttrSet::read(a, SOURCE_ADDRESS_ATTRS));
        let adapter = el.child("adapter").map(|a| AttrSet::read(a, &["name"]));
        let hosts = el
            .children("host")
            .into_iter()
            .map(|h| AttrSet::read(h, &["name", "port"]))
            .collect();
        let auth = el.child("auth").map(Auth::read).transpose()?;
        let initiator_iqn = read_initiator(&el)?;
        let mut attrs = AttrSet::default();
        for k in SOURCE_ATTRS {
            if let Some(v) = el.attr(k) {
                attrs.set(k, v);
            }
        }
        attrs.extras = el.finish();
        Ok(HostdevSource {
            attrs,
            address,
            adapter,
            vendor,
            product,
            hosts,
            auth,
            initiator_iqn,
            extras: Extras::default(),
        })
    }

    fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("source");
        self.attrs.write_attrs(w);
        if let Some(v) = &self.vendor {
            w.start("vendor").attr("id", v);
            w.end();
        }
        if let Some(p) = &self.product {
            w.start("product").attr("id", p);
            w.end();
        }
        for h in &self.hosts {
            h.write(w, "host");
        }
        if let Some(a) = &self.auth {
            a.write(w);
        }
        write_initiator(w, self.initiator_iqn.as_deref());
        if let Some(a) = &self.adapter {
            a.write(w, "adapter");
        }
        if let Some(a) = &self.address {
            a.write(w, "address");
        }
        w.end();
    }

    /// An attribute of the source's `<address>`.
    pub fn address_attr(&self, k: &str) -> Option<&str> {
        self.address.as_ref().and_then(|a| a.get(k))
    }
}

impl Hostdev {
    pub fn read(el: El<'_, '_>) -> Result<Hostdev, ParseError> {
        let mode = el.attr_enum("mode")?.unwrap_or(HostdevMode::Subsystem);
        let hostdev_type = el.req_enum("type")?;
        let managed = el.attr_yes_no("managed")?;
        let mut attrs = AttrSet::default();
        for k in HOSTDEV_ATTRS {
            if let Some(v) = el.attr(k) {
                attrs.set(k, v);
            }
        }
        let source = el.child("source").map(HostdevSource::read).transpose()?;
        if source.is_none() && mode == HostdevMode::Subsystem {
            return Err(el.err("<hostdev> needs a <source>"));
        }
        let driver = el
            .child("driver")
            .map(|d| AttrSet::read(d, &["name", "model"]));
        let rom = el
            .child("rom")
            .map(|r| AttrSet::read(r, &["bar", "file", "enabled"]));
        let readonly = read_flag(&el, "readonly")?;
        let shareable = read_flag(&el, "shareable")?;
        let teaming = el
            .child("teaming")
            .map(|t| AttrSet::read(t, &["type", "persistent"]));
        let info = DeviceInfo::read(&el)?;
        Ok(Hostdev {
            mode,
            hostdev_type,
            managed,
            attrs,
            source,
            driver,
            rom,
            readonly,
            shareable,
            teaming,
            info,
            extras: el.finish(),
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("hostdev")
            .attr("mode", self.mode)
            .attr("type", self.hostdev_type);
        w.attr_yes_no("managed", self.managed);
        for (k, v) in &self.attrs.attrs {
            w.attr(k, v);
        }
        w.extras(&self.extras);
        if let Some(d) = &self.driver {
            d.write(w, "driver");
        }
        if let Some(s) = &self.source {
            s.write(w);
        }
        write_flag(w, "readonly", self.readonly);
        write_flag(w, "shareable", self.shareable);
        if let Some(t) = &self.teaming {
            t.write(w, "teaming");
        }
        self.info.write_boot(w);
        if let Some(r) = &self.rom {
            r.write(w, "rom");
        }
        self.info.write_alias_address(w);
        w.end();
    }
}
