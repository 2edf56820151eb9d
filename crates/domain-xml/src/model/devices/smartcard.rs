//! `<smartcard>`: a CCID smartcard reader (host, host certificates or passthrough).

use super::usb_redir::{read_chardev_source, write_chardev_source};
use crate::model::common::{AttrSet, DeviceInfo};
use crate::xml::{El, Extras, ParseError, XmlWriter};
use crate::xml_enum;

xml_enum! {
    pub enum SmartcardMode { Host = "host", HostCertificates = "host-certificates", Passthrough = "passthrough" }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Smartcard {
    pub mode: SmartcardMode,
    /// Passthrough only: the chardev type (`tcp`, `spicevmc`, `unix`, ...).
    pub chardev_type: Option<String>,
    /// host-certificates: the three certificate names, and the NSS database.
    pub certificates: Vec<String>,
    pub database: Option<String>,
    pub source: Option<AttrSet>,
    pub reconnect: Option<AttrSet>,
    pub protocol: Option<AttrSet>,
    pub info: DeviceInfo,
    pub extras: Extras,
}

impl Smartcard {
    pub fn read(el: El<'_, '_>) -> Result<Smartcard, ParseError> {
        let mode: SmartcardMode = el.req_enum("mode")?;
        let chardev_type = el.attr_string("type");
        if mode == SmartcardMode::Passthrough && chardev_type.is_none() {
            return Err(el.err("<smartcard mode='passthrough'> needs a 'type'"));
        }
        let mut certificates = Vec::new();
        for c in el.children("certificate") {
            let t = c.text().trim().to_owned();
            c.done()?;
            certificates.push(t);
        }
        if mode == SmartcardMode::HostCertificates && certificates.len() != 3 {
            return Err(el.err(format!(
                "<smartcard mode='host-certificates'> needs exactly 3 <certificate>s, found {}",
                certificates.len()
            )));
        }
        let database = el.child_text("database")?;
        let (source, reconnect) = match el.child("source") {
            Some(s) => {
                let (s, r) = read_chardev_source(s)?;
                (Some(s), r)
            }
            None => (None, None),
        };
        let protocol = el.child("protocol").map(|p| AttrSet::read(p, &["type"]));
        let info = DeviceInfo::read(&el)?;
        Ok(Smartcard {
            mode,
            chardev_type,
            certificates,
            database,
            source,
            reconnect,
            protocol,
            info,
            extras: el.finish(),
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("smartcard").attr("mode", self.mode);
        w.attr_opt("type", self.chardev_type.as_deref());
        w.extras(&self.extras);
        if let Some(s) = &self.source {
            write_chardev_source(w, s, self.reconnect.as_ref());
        }
        if let Some(p) = &self.protocol {
            p.write(w, "protocol");
        }
        for c in &self.certificates {
            w.text_elem("certificate", c);
        }
        w.text_elem_opt("database", self.database.as_deref());
        self.info.write(w);
        w.end();
    }
}
