//! Small pieces shared by many elements: attribute sets for simple leaf elements,
//! device addresses, the alias/boot/address tail of devices.

use crate::xml::{El, Extras, ParseError, XmlWriter};

/// A leaf element whose attributes are all plain values (`<driver name= type= cache=>`).
/// Known attribute names come from a list that also fixes their canonical order;
/// anything else is kept in `extras`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttrSet {
    pub attrs: Vec<(String, String)>,
    pub extras: Extras,
}

impl AttrSet {
    pub fn read(el: El<'_, '_>, known: &[&str]) -> AttrSet {
        let attrs = known
            .iter()
            .filter_map(|k| el.attr(k).map(|v| ((*k).to_owned(), v.to_owned())))
            .collect();
        AttrSet {
            attrs,
            extras: el.finish(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self.attrs.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.attrs.push((key.to_owned(), value)),
        }
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>, name: &str) {
        w.start(name);
        self.write_attrs(w);
        w.end();
    }

    /// Writes the attributes (and attaches extras) on an element already started.
    pub fn write_attrs<'e>(&'e self, w: &mut XmlWriter<'e>) {
        for (k, v) in &self.attrs {
            w.attr(k, v);
        }
        w.extras(&self.extras);
    }
}

/// `<address type='pci' domain= bus= slot= function=/>` and the other address kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    pub addr_type: String,
    pub attrs: AttrSet,
}

const ADDRESS_TYPES: &[(&str, &[&str])] = &[
    (
        "pci",
        &["domain", "bus", "slot", "function", "multifunction"],
    ),
    ("drive", &["controller", "bus", "target", "unit"]),
    ("virtio-serial", &["controller", "bus", "port"]),
    ("ccid", &["controller", "slot"]),
    ("usb", &["bus", "port"]),
    ("spapr-vio", &["reg"]),
    ("ccw", &["cssid", "ssid", "devno"]),
    ("virtio-mmio", &[]),
    ("isa", &["iobase", "irq"]),
    ("dimm", &["slot", "base"]),
    ("unassigned", &[]),
];

impl Address {
    pub fn read(el: El<'_, '_>) -> Result<Address, ParseError> {
        let t = el.req_attr("type")?;
        let Some((name, known)) = ADDRESS_TYPES.iter().find(|(n, _)| *n == t) else {
            let expected: Vec<_> = ADDRESS_TYPES
                .iter()
                .map(|(n, _)| format!("'{n}'"))
                .collect();
            let err = el.attr_err(
                "type",
                format!(
                    "unknown address type '{t}': expected one of {}",
                    expected.join(", ")
                ),
            );
            el.finish();
            return Err(err);
        };
        Ok(Address {
            addr_type: (*name).to_owned(),
            attrs: AttrSet::read(el, known),
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("address").attr("type", &self.addr_type);
        self.attrs.write_attrs(w);
        w.end();
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.attrs.get(key)
    }
}

/// The `<boot order>`, `<alias>` and `<address>` every device may carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceInfo {
    pub boot_order: Option<u32>,
    pub alias: Option<String>,
    pub address: Option<Address>,
}

impl DeviceInfo {
    pub fn read(el: &El<'_, '_>) -> Result<DeviceInfo, ParseError> {
        let boot_order = match el.child("boot") {
            Some(b) => {
                let order = b.attr_parse::<u32>("order", "a positive number")?;
                let order = order.ok_or_else(|| b.err("<boot> needs the attribute 'order'"))?;
                if order == 0 {
                    return Err(b.attr_err("order", "boot order must be at least 1"));
                }
                b.done()?;
                Some(order)
            }
            None => None,
        };
        let alias = match el.child("alias") {
            Some(a) => {
                let name = a.req_attr("name")?.to_owned();
                a.done()?;
                Some(name)
            }
            None => None,
        };
        let address = el.child("address").map(Address::read).transpose()?;
        Ok(DeviceInfo {
            boot_order,
            alias,
            address,
        })
    }

    pub fn write_boot(&self, w: &mut XmlWriter<'_>) {
        if let Some(o) = self.boot_order {
            w.start("boot").attr("order", o);
            w.end();
        }
    }

    pub fn write_alias_address<'e>(&'e self, w: &mut XmlWriter<'e>) {
        if let Some(a) = &self.alias {
            w.start("alias").attr("name", a);
            w.end();
        }
        if let Some(a) = &self.address {
            a.write(w);
        }
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        self.write_boot(w);
        self.write_alias_address(w);
    }
}

/// Reads a child that is only a marker (`<readonly/>`).
pub fn read_flag(el: &El<'_, '_>, name: &str) -> Result<bool, ParseError> {
    match el.child(name) {
        Some(c) => {
            c.done()?;
            Ok(true)
        }
        None => Ok(false),
    }
}

pub fn write_flag(w: &mut XmlWriter<'_>, name: &str, on: bool) {
    if on {
        w.empty(name);
    }
}
