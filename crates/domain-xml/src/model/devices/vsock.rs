//! `<vsock model='virtio'>`: the host-guest socket device.

use crate::model::common::{AttrSet, DeviceInfo};
use crate::xml::{El, Extras, ParseError, XmlWriter};

/// `<vsock model='virtio'>` with `<cid auto= address=>` and `<driver>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vsock {
    pub model: Option<String>,
    pub cid: Option<AttrSet>,
    pub driver: Option<AttrSet>,
    pub info: DeviceInfo,
    pub extras: Extras,
}

impl Vsock {
    pub fn read(el: El<'_, '_>) -> Result<Vsock, ParseError> {
        let model = el.attr_string("model");
        let cid = el
            .child("cid")
            .map(|c| AttrSet::read(c, &["auto", "address"]));
        let driver = el
            .child("driver")
            .map(|d| AttrSet::read(d, &["iommu", "ats", "packed", "page_per_vq"]));
        let info = DeviceInfo::read(&el)?;
        Ok(Vsock {
            model,
            cid,
            driver,
            info,
            extras: el.finish(),
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("vsock");
        w.attr_opt("model", self.model.as_deref());
        w.extras(&self.extras);
        if let Some(c) = &self.cid {
            c.write(w, "cid");
        }
        if let Some(d) = &self.driver {
            d.write(w, "driver");
        }
        self.info.write(w);
        w.end();
    }
}
