//! The firmware part of `<os>`: `<firmware><feature enabled= name=/>` (what
//! autoselection must or must not pick), `<loader>` and `<nvram>` (the legacy path
//! text or `type='file'` with `<source file=>`).

use super::common::AttrSet;
use crate::xml::{El, ParseError, XmlWriter};

/// The feature names `<os><firmware>` may ask for, in libvirt's order (which is
/// also the order it writes them in).
pub const FIRMWARE_FEATURES: [&str; 2] = ["enrolled-keys", "secure-boot"];

/// `<feature enabled='yes|no' name='secure-boot|enrolled-keys'/>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirmwareFeature {
    pub name: String,
    pub enabled: bool,
}

/// Reads `<os><firmware>`; features come back in libvirt's order.
pub fn read_firmware_features(os: &El<'_, '_>) -> Result<Vec<FirmwareFeature>, ParseError> {
    let Some(fw) = os.child("firmware") else {
        return Ok(Vec::new());
    };
    let mut features: Vec<FirmwareFeature> = Vec::new();
    for f in fw.children("feature") {
        let name = f.req_attr("name")?.to_owned();
        if !FIRMWARE_FEATURES.contains(&name.as_str()) {
            return Err(f.attr_err(
                "name",
                format!(
                    "unknown firmware feature '{name}': expected 'enrolled-keys' or 'secure-boot'"
                ),
            ));
        }
        let enabled = f
            .attr_yes_no("enabled")?
            .ok_or_else(|| f.err("<firmware><feature> needs enabled='yes' or 'no'"))?;
        if features.iter().any(|x| x.name == name) {
            return Err(f.err(format!("firmware feature '{name}' is given twice")));
        }
        f.done()?;
        features.push(FirmwareFeature { name, enabled });
    }
    fw.done()?;
    features.sort_by_key(|f| FIRMWARE_FEATURES.iter().position(|n| *n == f.name));
    Ok(features)
}

pub fn write_firmware_features<'e>(w: &mut XmlWriter<'e>, features: &'e [FirmwareFeature]) {
    if features.is_empty() {
        return;
    }
    w.start("firmware");
    for f in features {
        w.start("feature")
            .attr_yes_no("enabled", Some(f.enabled))
            .attr("name", &f.name);
        w.end();
    }
    w.end();
}

/// `<loader readonly= secure= type= stateless= format=>PATH</loader>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loader {
    pub path: Option<String>,
    pub attrs: AttrSet,
}

/// libvirt's attribute order on `<loader>`.
const LOADER_ATTRS: &[&str] = &["readonly", "secure", "type", "stateless", "format"];

impl Loader {
    pub fn read(l: El<'_, '_>) -> Loader {
        let path = Some(l.text().trim().to_owned()).filter(|p| !p.is_empty());
        Loader {
            path,
            attrs: AttrSet::read(l, LOADER_ATTRS),
        }
    }

    /// `type='pflash'` (UEFI flash) as opposed to a ROM (`-bios`).
    pub fn is_pflash(&self) -> bool {
        self.attrs.get("type") == Some("pflash")
    }

    fn yes(&self, key: &str) -> Option<bool> {
        self.attrs.get(key).map(|v| v == "yes")
    }

    pub fn readonly(&self) -> Option<bool> {
        self.yes("readonly")
    }

    pub fn secure(&self) -> Option<bool> {
        self.yes("secure")
    }

    pub fn stateless(&self) -> Option<bool> {
        self.yes("stateless")
    }

    /// The code image's format (`raw` unless said).
    pub fn format(&self) -> &str {
        self.attrs.get("format").unwrap_or("raw")
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("loader");
        // Attributes set after parsing (autoselection) go where libvirt puts them.
        for key in LOADER_ATTRS {
            if let Some(v) = self.attrs.get(key) {
                w.attr(key, v);
            }
        }
        w.extras(&self.attrs.extras);
        if let Some(p) = &self.path {
            w.text(p);
        }
        w.end();
    }
}

/// `<nvram template= templateFormat= format=>PATH</nvram>` or
/// `<nvram type='file' …><source file='PATH'/></nvram>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nvram {
    /// The legacy form's text.
    pub path: Option<String>,
    /// `<source file=>` of `type='file'`.
    pub source_file: Option<String>,
    pub attrs: AttrSet,
}

/// libvirt's attribute order on `<nvram>`.
const NVRAM_ATTRS: &[&str] = &["template", "templateFormat", "type", "format"];

impl Nvram {
    pub fn read(n: El<'_, '_>) -> Result<Nvram, ParseError> {
        let path = Some(n.text().trim().to_owned()).filter(|p| !p.is_empty());
        // Only the local-file source is modelled; a network source (`type='network'`)
        // stays in the extras and is refused at start by name.
        let source_file = if n.attr("type") == Some("file") {
            match n.child("source") {
                Some(s) => {
                    let f = s.req_attr("file")?.to_owned();
                    s.done()?;
                    Some(f)
                }
                None => None,
            }
        } else {
            None
        };
        Ok(Nvram {
            path,
            source_file,
            attrs: AttrSet::read(n, NVRAM_ATTRS),
        })
    }

    /// The local file holding the variables, in either spelling.
    pub fn file(&self) -> Option<&str> {
        self.path.as_deref().or(self.source_file.as_deref())
    }

    pub fn template(&self) -> Option<&str> {
        self.attrs.get("template")
    }

    /// The variable store's format (`raw` unless said).
    pub fn format(&self) -> &str {
        self.attrs.get("format").unwrap_or("raw")
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("nvram");
        for key in NVRAM_ATTRS {
            if let Some(v) = self.attrs.get(key) {
                w.attr(key, v);
            }
        }
        w.extras(&self.attrs.extras);
        if let Some(f) = &self.source_file {
            w.start("source").attr("file", f);
            w.end();
        }
        if let Some(p) = &self.path {
            w.text(p);
        }
        w.end();
    }
}
