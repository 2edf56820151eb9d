//! Define-time firmware selection: turns `<os firmware='efi'>` (or a hand-written
//! `<loader>` that leaves things out) into a fully specified firmware in the
//! definition, the way libvirt 11.3 records it, so every later start — and
//! `virsh dumpxml` — sees the chosen code image, variable template, per-domain
//! NVRAM path, SMM and the firmware's features. Applying it twice changes nothing.
//!
//! Pure: the descriptors ([`crate::firmware::load`]) and the NVRAM directory are
//! given.

use std::path::Path;

use domain_xml::Domain;
use domain_xml::model::general::{FEATURE_ORDER, Feature as DomFeature, Features};
use domain_xml::model::{AttrSet, FirmwareFeature, Loader, Nvram};

use crate::firmware::{
    Choice, ChosenLoader, Descriptor, Feature, Interface, LoaderRequest, Request, select,
};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FillError {
    /// libvirt: `VIR_ERR_CONFIG_UNSUPPORTED`.
    #[error("Unsupported {what} format '{format}'")]
    UnsupportedFormat { what: &'static str, format: String },
    /// libvirt: `VIR_ERR_OPERATION_FAILED`.
    #[error("Unable to find '{0}' firmware that is compatible with the current configuration")]
    NoMatch(String),
}

/// The request a definition makes of the firmware descriptors.
pub fn request_of(d: &Domain) -> Request {
    let os = &d.os;
    let interface = match os.firmware.as_deref() {
        Some("efi") => Some(Interface::Uefi),
        Some("bios") => Some(Interface::Bios),
        _ => None,
    };
    let mut r = Request::new(
        os.arch.as_deref().unwrap_or("x86_64"),
        os.machine.as_deref().unwrap_or_default(),
        interface,
    );
    for f in &os.firmware_features {
        r.features.insert(Feature::from_name(&f.name), f.enabled);
    }
    r.loader = os.loader.as_ref().map(|l| LoaderRequest {
        pflash: l.attrs.get("type").map(|t| t == "pflash"),
        path: l.path.as_ref().map(Into::into),
        nvram_template: os.nvram.as_ref().and_then(Nvram::template).map(Into::into),
        readonly: l.readonly(),
        secure: l.secure(),
        stateless: l.stateless(),
        format: l.attrs.get("format").map(str::to_owned),
    });
    // A template without a loader element still constrains the choice.
    if r.loader.is_none()
        && let Some(t) = os.nvram.as_ref().and_then(Nvram::template)
    {
        r.loader = Some(LoaderRequest {
            nvram_template: Some(t.into()),
            ..LoaderRequest::default()
        });
    }
    r.kernel = os.kernel.as_ref().map(Into::into);
    r.smm = d
        .features
        .as_ref()
        .and_then(|f| f.get("smm"))
        .map(|f| f.attrs.iter().all(|(k, v)| k != "state" || v == "on"));
    r.s3 = d.pm.as_ref().and_then(|p| p.suspend_to_mem);
    r.s4 = d.pm.as_ref().and_then(|p| p.suspend_to_disk);
    r
}

fn check_format(what: &'static str, format: Option<&str>) -> Result<(), FillError> {
    match format {
        None | Some("raw" | "qcow2") => Ok(()),
        Some(other) => Err(FillError::UnsupportedFormat {
            what,
            format: other.to_owned(),
        }),
    }
}

/// libvirt's built-in CODE:VARS pairs (`DEFAULT_LOADER_NVRAM`), consulted for a
/// hand-written pflash loader no descriptor describes.
pub const LEGACY_PAIRS: &[(&str, &str)] = &[
    (
        "/usr/share/OVMF/OVMF_CODE.fd",
        "/usr/share/OVMF/OVMF_VARS.fd",
    ),
    (
        "/usr/share/OVMF/OVMF_CODE.secboot.fd",
        "/usr/share/OVMF/OVMF_VARS.fd",
    ),
    (
        "/usr/share/AAVMF/AAVMF_CODE.fd",
        "/usr/share/AAVMF/AAVMF_VARS.fd",
    ),
    (
        "/usr/share/AAVMF/AAVMF32_CODE.fd",
        "/usr/share/AAVMF/AAVMF32_VARS.fd",
    ),
];

/// Fills the firmware of `d`; see the module documentation. `abi_update` is true
/// when a new definition is being made (libvirt's define): then any descriptor
/// format may be chosen and a `.raw` template's extension followed for the NVRAM
/// file; otherwise (a definition loaded from disk) autoselection keeps to raw
/// images, as before libvirt 9.2.
pub fn fill(
    d: &mut Domain,
    descriptors: &[Descriptor],
    nvram_dir: &Path,
    abi_update: bool,
) -> Result<(), FillError> {
    let auto = d.os.firmware.is_some();
    check_format(
        "loader",
        d.os.loader.as_ref().and_then(|l| l.attrs.get("format")),
    )?;
    check_format(
        "nvram",
        d.os.nvram.as_ref().and_then(|n| n.attrs.get("format")),
    )?;
    // `<nvram format=X>` without a `<loader>` asks for a firmware build in X
    // (libvirt copies the format when it reads the definition).
    if d.os.loader.is_none()
        && let Some(f) = d.os.nvram.as_ref().and_then(|n| n.attrs.get("format"))
    {
        let f = f.to_owned();
        loader_mut(d).attrs.set("format", f);
    }
    if !abi_update && auto {
        let l = loader_mut(d);
        if l.attrs.get("format").is_none() {
            l.attrs.set("format", "raw");
        }
    }
    let rom_only =
        d.os.loader
            .as_ref()
            .is_none_or(|l| l.attrs.get("type") == Some("rom"));
    if auto || !rom_only {
        match select(descriptors, &request_of(d)) {
            Some(desc) => apply(d, &Choice::of(desc), desc),
            None if auto => {
                return Err(FillError::NoMatch(
                    d.os.firmware.clone().unwrap_or_default(),
                ));
            }
            None => {
                // A custom firmware build: libvirt's built-in pairs may know its
                // template; otherwise its paths stay as given, in raw format unless
                // said otherwise.
                if !fill_legacy(d)
                    && let Some(l) = &mut d.os.loader
                    && l.attrs.get("format").is_none()
                {
                    l.attrs.set("format", "raw");
                }
            }
        }
        ensure_nvram(d, nvram_dir, abi_update);
    }
    // A loader with a path and no type is a ROM (libvirt's generic default, set
    // after the firmware step).
    if let Some(l) = &mut d.os.loader
        && l.path.is_some()
        && l.attrs.get("type").is_none()
    {
        l.attrs.set("type", "rom");
    }
    Ok(())
}

/// A read-only, stateful raw pflash loader whose code is one of [`LEGACY_PAIRS`]:
/// its template comes from the pair unless given.
fn fill_legacy(d: &mut Domain) -> bool {
    let Some(l) = &mut d.os.loader else {
        return false;
    };
    let eligible = l.is_pflash()
        && l.readonly() != Some(false)
        && l.stateless() != Some(true)
        && l.attrs.get("format").is_none_or(|f| f == "raw");
    let Some((_, vars)) = LEGACY_PAIRS
        .iter()
        .find(|(code, _)| eligible && l.path.as_deref() == Some(*code))
    else {
        return false;
    };
    l.attrs.set("readonly", "yes");
    l.attrs.set("format", "raw");
    let n = d.os.nvram.get_or_insert_with(|| Nvram {
        path: None,
        source_file: None,
        attrs: AttrSet::default(),
    });
    if n.template().is_none() {
        n.attrs.set("template", *vars);
    }
    n.attrs.set("templateFormat", "raw");
    true
}

fn loader_mut(d: &mut Domain) -> &mut Loader {
    d.os.loader.get_or_insert_with(|| Loader {
        path: None,
        attrs: AttrSet::default(),
    })
}

fn apply(d: &mut Domain, choice: &Choice, desc: &Descriptor) {
    match &choice.loader {
        ChosenLoader::Pflash {
            code,
            nvram_template,
            ..
        } => {
            let l = loader_mut(d);
            l.attrs.set("readonly", "yes");
            l.attrs.set("type", "pflash");
            l.attrs.set("format", code.format.clone());
            l.path = Some(code.filename.to_string_lossy().into_owned());
            if let Some(t) = nvram_template {
                // Only a local (or not yet chosen) NVRAM gets a template: a
                // network one cannot be created or reset from it.
                let local =
                    d.os.nvram
                        .as_ref()
                        .is_none_or(|n| n.attrs.get("type").is_none_or(|t| t == "file"));
                if local {
                    let n = d.os.nvram.get_or_insert_with(|| Nvram {
                        path: None,
                        source_file: None,
                        attrs: AttrSet::default(),
                    });
                    n.attrs
                        .set("template", t.filename.to_string_lossy().into_owned());
                    n.attrs.set("templateFormat", t.format.clone());
                }
            }
        }
        ChosenLoader::Kernel { path } => {
            d.os.kernel = Some(path.to_string_lossy().into_owned());
        }
        ChosenLoader::Rom { path } => {
            let l = loader_mut(d);
            l.attrs.set("type", "rom");
            // libvirt 11.3 records the ROM's format too.
            if l.attrs.get("format").is_none() {
                l.attrs.set("format", "raw");
            }
            l.path = Some(path.to_string_lossy().into_owned());
        }
    }
    if choice.smm {
        set_smm_on(d);
        loader_mut(d).attrs.set("secure", "yes");
    }
    if d.os.firmware.is_none() {
        d.os.firmware = desc.interfaces.iter().find_map(|i| match i {
            Interface::Uefi => Some("efi".to_owned()),
            Interface::Bios => Some("bios".to_owned()),
            _ => None,
        });
    }
    if d.os.firmware.is_some() {
        // A pflash NVRAM whose template is unknown may hold any keys: leave the
        // enrolled-keys claim out then.
        let unknown_vars = d.os.loader.as_ref().is_some_and(|l| {
            l.is_pflash()
                && l.stateless() != Some(true)
                && d.os.nvram.as_ref().and_then(Nvram::template).is_none()
        });
        let mut features = vec![FirmwareFeature {
            name: "secure-boot".into(),
            enabled: choice.secure_boot,
        }];
        if !unknown_vars {
            features.insert(
                0,
                FirmwareFeature {
                    name: "enrolled-keys".into(),
                    enabled: choice.enrolled_keys,
                },
            );
        }
        d.os.firmware_features = features;
    }
}

fn set_smm_on(d: &mut Domain) {
    let features = d.features.get_or_insert_with(Features::default);
    match features.list.iter_mut().find(|f| f.name == "smm") {
        Some(f) => match f.attrs.iter_mut().find(|(k, _)| k == "state") {
            Some((_, v)) => *v = "on".into(),
            None => f.attrs.push(("state".into(), "on".into())),
        },
        None => {
            // Where libvirt writes it among the others.
            let rank = |name: &str| FEATURE_ORDER.iter().position(|n| *n == name);
            let at = features
                .list
                .iter()
                .position(|f| rank(&f.name) > rank("smm"))
                .unwrap_or(features.list.len());
            features.list.insert(
                at,
                DomFeature {
                    name: "smm".into(),
                    attrs: vec![("state".into(), "on".into())],
                    children: Vec::new(),
                },
            );
        }
    }
}

/// A read-only, stateful pflash loader needs a variable store: the per-domain file
/// `NVRAM_DIR/NAME_VARS.fd` unless the definition names one.
fn ensure_nvram(d: &mut Domain, nvram_dir: &Path, abi_update: bool) {
    let Some(l) = &d.os.loader else {
        return;
    };
    if !l.is_pflash() || l.readonly() != Some(true) || l.stateless() == Some(true) {
        return;
    }
    let loader_format = l.format().to_owned();
    let n = d.os.nvram.get_or_insert_with(|| Nvram {
        path: None,
        source_file: None,
        attrs: AttrSet::default(),
    });
    let has_source = n.file().is_some() || n.attrs.get("type").is_some_and(|t| t != "file");
    if has_source {
        // An existing store is in the loader's format unless said.
        if n.attrs.get("format").is_none() {
            n.attrs.set("format", loader_format);
        }
        return;
    }
    // A store made here is in its template's format (libvirt replaces an empty
    // <nvram> whole, format included).
    let format = n
        .attrs
        .get("templateFormat")
        .map_or(loader_format, str::to_owned);
    n.attrs.set("format", format);
    let ext = match n.format() {
        "qcow2" => ".qcow2",
        _ if abi_update && n.template().is_some_and(|t| t.ends_with(".raw")) => ".raw",
        _ => ".fd",
    };
    n.path = Some(
        nvram_dir
            .join(format!("{}_VARS{ext}", d.name))
            .to_string_lossy()
            .into_owned(),
    );
}

#[cfg(test)]
#[path = "firmware_fill_tests.rs"]
mod tests;
