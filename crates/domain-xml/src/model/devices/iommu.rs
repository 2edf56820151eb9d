//! `<iommu>`: the guest's IOMMU (Intel VT-d, virtio-iommu, SMMUv3).

use crate::model::common::{AttrSet, DeviceInfo};
use crate::xml::{El, Extras, ParseError, XmlWriter};
use crate::xml_enum;

xml_enum! {
    pub enum IommuModel { Intel = "intel", Smmuv3 = "smmuv3", Virtio = "virtio", AmdIommu = "amd" }
}

/// `<driver>` switches, in libvirt's order.
pub const IOMMU_DRIVER_ATTRS: &[&str] = &[
    "intremap",
    "caching_mode",
    "eim",
    "iotlb",
    "aw_bits",
    "dma_translation",
    "xtsup",
    "pt",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iommu {
    pub model: IommuModel,
    pub driver: Option<AttrSet>,
    pub info: DeviceInfo,
    pub extras: Extras,
}

impl Iommu {
    pub fn read(el: El<'_, '_>) -> Result<Iommu, ParseError> {
        let model = el.req_enum("model")?;
        let driver = el
            .child("driver")
            .map(|d| AttrSet::read(d, IOMMU_DRIVER_ATTRS));
        if let Some(d) = &driver {
            for (k, v) in &d.attrs {
                let ok = if k == "aw_bits" {
                    v.parse::<u32>().is_ok()
                } else {
                    v == "on" || v == "off"
                };
                if !ok {
                    return Err(el.err(format!("invalid value '{v}' for <iommu><driver {k}=>")));
                }
            }
        }
        let info = DeviceInfo::read(&el)?;
        Ok(Iommu {
            model,
            driver,
            info,
            extras: el.finish(),
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("iommu")
            .attr("model", self.model)
            .extras(&self.extras);
        if let Some(d) = &self.driver {
            d.write(w, "driver");
        }
        self.info.write(w);
        w.end();
    }
}
