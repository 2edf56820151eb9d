//! `<tpm model=…>` with its `<backend>`: `passthrough` (a host TPM,
//! `<device path=>`), `emulator` (swtpm, `version='1.2|2.0'`) or `external` (a
//! swtpm someone else runs, `<source type='unix' path=>`). Parts rvirt does not
//! carry out (state encryption, PCR banks, profiles) are kept verbatim.

use crate::model::common::{AttrSet, DeviceInfo};
use crate::xml::{El, Extras, ParseError, XmlWriter};

pub const TPM_MODELS: &[&str] = &["tpm-tis", "tpm-crb", "tpm-spapr", "spapr-tpm-proxy"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TpmBackend {
    /// `passthrough`, `emulator` or `external`.
    pub backend_type: String,
    /// The emulator's TPM version (`1.2`, `2.0`).
    pub version: Option<String>,
    /// Other backend attributes (`debug`, `persistent_state`); unknown parts of
    /// the backend (`<encryption>`, `<active_pcr_banks>`, `<profile>`) are kept in
    /// its extras.
    pub attrs: AttrSet,
    /// passthrough: `<device path=>`.
    pub device_path: Option<String>,
    /// emulator/external: `<source type= path= mode=>`.
    pub source: Option<AttrSet>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tpm {
    pub model: Option<String>,
    pub backend: TpmBackend,
    pub info: DeviceInfo,
    pub extras: Extras,
}

impl Tpm {
    pub fn read(el: El<'_, '_>) -> Result<Tpm, ParseError> {
        let model = el.attr_string("model");
        if let Some(m) = &model
            && !TPM_MODELS.contains(&m.as_str())
        {
            return Err(el.attr_err("model", format!("unknown TPM model '{m}'")));
        }
        let b = el
            .child("backend")
            .ok_or_else(|| el.err("<tpm> needs a <backend>"))?;
        let backend_type = b.req_attr("type")?.to_owned();
        if !["passthrough", "emulator", "external"].contains(&backend_type.as_str()) {
            return Err(b.attr_err("type", format!("unknown TPM backend type '{backend_type}'")));
        }
        let version = b.attr_string("version");
        if let Some(v) = &version
            && v != "1.2"
            && v != "2.0"
        {
            return Err(b.attr_err("version", format!("unknown TPM version '{v}'")));
        }
        let device_path = match b.child("device") {
            Some(d) => {
                let p = d.req_attr("path")?.to_owned();
                d.done()?;
                Some(p)
            }
            None => None,
        };
        let source = b
            .child("source")
            .map(|s| AttrSet::read(s, &["type", "path", "mode"]));
        let attrs = AttrSet::read(b, &["debug", "persistent_state"]);
        let backend = TpmBackend {
            backend_type,
            version,
            device_path,
            source,
            attrs,
        };
        let info = DeviceInfo::read(&el)?;
        Ok(Tpm {
            model,
            backend,
            info,
            extras: el.finish(),
        })
    }

    pub fn is_emulator(&self) -> bool {
        self.backend.backend_type == "emulator"
    }

    /// libvirt's define-time defaults on x86: `tpm-tis`, and for the emulator
    /// TPM 1.2 behind tpm-tis (its historical default), else 2.0.
    pub fn apply_defaults(&mut self) {
        let model = self.model.get_or_insert_with(|| "tpm-tis".to_owned());
        if self.backend.backend_type == "emulator" && self.backend.version.is_none() {
            self.backend.version = Some(if model == "tpm-tis" { "1.2" } else { "2.0" }.into());
        }
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("tpm");
        w.attr_opt("model", self.model.as_deref());
        w.extras(&self.extras);
        let b = &self.backend;
        w.start("backend").attr("type", &b.backend_type);
        w.attr_opt("version", b.version.as_deref());
        b.attrs.write_attrs(w);
        if let Some(p) = &b.device_path {
            w.start("device").attr("path", p);
            w.end();
        }
        if let Some(s) = &b.source {
            s.write(w, "source");
        }
        w.end();
        self.info.write_alias_address(w);
        w.end();
    }
}
