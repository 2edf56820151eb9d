//! `<redirdev bus='usb' type='spicevmc'>`: a USB device of the SPICE client
//! redirected into the guest (virt-manager adds two with SPICE graphics).

use crate::model::common::DeviceInfo;
use crate::model::devices::CharType;
use crate::xml::{El, Extras, ParseError, XmlWriter};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirdev {
    pub bus: String,
    pub char_type: CharType,
    pub info: DeviceInfo,
    pub extras: Extras,
}

impl Redirdev {
    pub fn read(el: El<'_, '_>) -> Result<Redirdev, ParseError> {
        let bus = el.attr_string("bus").unwrap_or_else(|| "usb".to_owned());
        if bus != "usb" {
            return Err(el.attr_err("bus", format!("unknown redirdev bus '{bus}'")));
        }
        let char_type = el.req_enum::<CharType>("type")?;
        let info = DeviceInfo::read(&el)?;
        Ok(Redirdev {
            bus,
            char_type,
            info,
            extras: el.finish(),
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("redirdev")
            .attr("bus", &self.bus)
            .attr("type", self.char_type);
        w.extras(&self.extras);
        self.info.write_alias_address(w);
        w.end();
    }
}
