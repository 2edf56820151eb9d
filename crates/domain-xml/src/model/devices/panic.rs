//! `<panic model='isa|pvpanic|hyperv'>`: how the guest reports a crash.

use crate::model::common::DeviceInfo;
use crate::xml::{El, Extras, ParseError, XmlWriter};

/// The x86 panic models (`isa` is the default on x86; `pvpanic` is the PCI one).
pub const PANIC_MODELS: &[&str] = &["isa", "pvpanic", "hyperv", "pseries", "s390"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Panic {
    pub model: Option<String>,
    pub info: DeviceInfo,
    pub extras: Extras,
}

impl Panic {
    pub fn read(el: El<'_, '_>) -> Result<Panic, ParseError> {
        let model = el.attr_string("model");
        if let Some(m) = &model
            && !PANIC_MODELS.contains(&m.as_str())
        {
            return Err(el.attr_err("model", format!("unknown panic model '{m}'")));
        }
        let info = DeviceInfo::read(&el)?;
        Ok(Panic {
            model,
            info,
            extras: el.finish(),
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("panic").attr_opt("model", self.model.as_deref());
        w.extras(&self.extras);
        self.info.write_alias_address(w);
        w.end();
    }
}
