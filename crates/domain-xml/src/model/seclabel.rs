//! `<seclabel>`: per domain (one per security model) and per disk source.

use crate::xml::{El, Extras, ParseError, XmlWriter};
use crate::xml_enum;

xml_enum! {
    pub enum SecLabelType { Dynamic = "dynamic", Static = "static", None = "none" }
}

/// One `<seclabel>`. At domain level `label_type` is set (libvirt defaults it to
/// dynamic); on a disk source only `model`, `relabel` and `label` are meaningful.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecLabel {
    pub label_type: Option<SecLabelType>,
    /// `selinux`, `dac`, `apparmor` or `none`; absent means "the first driver".
    pub model: Option<String>,
    pub relabel: Option<bool>,
    pub label: Option<String>,
    pub image_label: Option<String>,
    pub base_label: Option<String>,
    pub extras: Extras,
}

const MODELS: &[&str] = &["selinux", "dac", "apparmor", "none"];

impl SecLabel {
    pub fn read(el: El<'_, '_>, domain_level: bool) -> Result<SecLabel, ParseError> {
        let label_type = el.attr_enum::<SecLabelType>("type")?;
        let model = el.attr_string("model");
        if let Some(m) = &model
            && !MODELS.contains(&m.as_str())
        {
            return Err(el.attr_err(
                "model",
                format!("unknown security model '{m}': expected one of 'selinux', 'dac', 'apparmor', 'none'"),
            ));
        }
        let relabel = el.attr_yes_no("relabel")?;
        let label = el.child_text("label")?;
        let image_label = el.child_text("imagelabel")?;
        let base_label = el.child_text("baselabel")?;
        if domain_level {
            match label_type.unwrap_or(SecLabelType::Dynamic) {
                SecLabelType::Static if label.is_none() => {
                    return Err(el.err("a static <seclabel> needs a <label>"));
                }
                SecLabelType::Dynamic if relabel == Some(false) => {
                    return Err(el.err("a dynamic <seclabel> must use relabel='yes'"));
                }
                _ => {}
            }
            if model.as_deref() == Some("none")
                && label_type.is_some_and(|t| t != SecLabelType::None)
            {
                return Err(el.err("<seclabel model='none'> can only have type='none'"));
            }
        } else if label_type.is_some() {
            return Err(el.attr_err("type", "a disk <seclabel> cannot have a 'type'"));
        }
        let extras = el.finish();
        Ok(SecLabel {
            label_type,
            model,
            relabel,
            label,
            image_label,
            base_label,
            extras,
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("seclabel");
        w.attr_opt("type", self.label_type);
        w.attr_opt("model", self.model.as_deref());
        if self.label_type != Some(SecLabelType::None) {
            w.attr_yes_no("relabel", self.relabel);
        }
        w.extras(&self.extras);
        w.text_elem_opt("label", self.label.as_deref());
        w.text_elem_opt("imagelabel", self.image_label.as_deref());
        w.text_elem_opt("baselabel", self.base_label.as_deref());
        w.end();
    }

    /// The model this label applies to when the user did not say (libvirt uses the
    /// primary driver; `none` type without model disables every driver).
    pub fn is_model(&self, model: &str) -> bool {
        self.model.as_deref() == Some(model)
    }
}
