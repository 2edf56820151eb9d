//! The firmware facts domain capabilities report: which interfaces (BIOS,
//! UEFI) descriptors offer for a machine, and the loader images.
//!
//! A [`FirmwareDesc`] is the part of a QEMU firmware descriptor
//! (`docs/interop/firmware.json`) that matters here; reading the descriptor
//! files is the caller's (see [`crate::hostcaps`]).

use std::path::PathBuf;

use serde_json::Value;

/// A firmware's guest interface (`interface-types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirmwareInterface {
    /// `bios`.
    Bios,
    /// `uefi`.
    Uefi,
    /// Anything else (`openfirmware`, `uboot`, `none`).
    Other,
}

/// How the firmware is mapped into the guest (`mapping.device`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirmwareMapping {
    /// `flash`: an executable and (unless stateless) an NVRAM template.
    Flash {
        /// The code image.
        executable: PathBuf,
        /// The variable store template.
        nvram_template: Option<PathBuf>,
    },
    /// `memory`: one ROM image.
    Memory {
        /// The image.
        filename: PathBuf,
    },
    /// `kernel` or unknown: no loader image libvirt lists.
    Other,
}

/// One firmware descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareDesc {
    /// The descriptor file (for messages).
    pub source: PathBuf,
    /// `interface-types`.
    pub interfaces: Vec<FirmwareInterface>,
    /// `mapping`.
    pub mapping: FirmwareMapping,
    /// `targets`: architecture and machine-type globs.
    pub targets: Vec<(String, Vec<String>)>,
    /// `features` (`requires-smm`, `secure-boot`, ...).
    pub features: Vec<String>,
    /// Whether the loader image exists on this host (libvirt lists only
    /// images that do).
    pub image_present: bool,
}

impl FirmwareDesc {
    /// Reads the fields of a descriptor's JSON; `None` if it is not one.
    pub fn from_json(source: PathBuf, v: &Value) -> Option<Self> {
        let strs = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let interfaces = strs(v.get("interface-types"))
            .iter()
            .map(|s| match s.as_str() {
                "bios" => FirmwareInterface::Bios,
                "uefi" => FirmwareInterface::Uefi,
                _ => FirmwareInterface::Other,
            })
            .collect();
        let m = v.get("mapping")?;
        let file = |key: &str| -> Option<PathBuf> {
            m.get(key)?.get("filename")?.as_str().map(PathBuf::from)
        };
        let mapping = match m.get("device")?.as_str()? {
            "flash" => FirmwareMapping::Flash {
                executable: file("executable")?,
                nvram_template: file("nvram-template"),
            },
            "memory" => FirmwareMapping::Memory {
                filename: PathBuf::from(m.get("filename")?.as_str()?),
            },
            _ => FirmwareMapping::Other,
        };
        let targets = v
            .get("targets")
            .and_then(Value::as_array)
            .map(|ts| {
                ts.iter()
                    .filter_map(|t| {
                        Some((
                            t.get("architecture")?.as_str()?.to_owned(),
                            strs(t.get("machines")),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Self {
            source,
            interfaces,
            mapping,
            targets,
            features: strs(v.get("features")),
            image_present: true,
        })
    }

    /// The loader image libvirt would list (flash executable or ROM).
    pub fn image(&self) -> Option<&PathBuf> {
        match &self.mapping {
            FirmwareMapping::Flash { executable, .. } => Some(executable),
            FirmwareMapping::Memory { filename } => Some(filename),
            FirmwareMapping::Other => None,
        }
    }

    /// Whether the descriptor serves `machine` on `arch` (its globs matched
    /// against the canonical machine name).
    pub fn matches(&self, machine: &str, arch: &str) -> bool {
        self.targets
            .iter()
            .any(|(a, globs)| a == arch && globs.iter().any(|g| glob(g, machine)))
    }
}

/// `fnmatch` without brackets: `*` any run, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// What the descriptors offer one machine: the `firmware` enum values, the
/// loader images (unique, existing) and whether a Secure Boot (SMM) build is
/// among them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Offer {
    pub bios: bool,
    pub efi: bool,
    pub secure: bool,
    pub images: Vec<String>,
}

pub(super) fn offer(descs: &[FirmwareDesc], machine: &str, arch: &str) -> Offer {
    let mut o = Offer::default();
    for d in descs.iter().filter(|d| d.matches(machine, arch)) {
        o.bios |= d.interfaces.contains(&FirmwareInterface::Bios);
        o.efi |= d.interfaces.contains(&FirmwareInterface::Uefi);
        o.secure |= d.features.iter().any(|f| f == "requires-smm");
        if let Some(img) = d.image()
            && d.image_present
        {
            let s = img.to_string_lossy().into_owned();
            if !o.images.contains(&s) {
                o.images.push(s);
            }
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("pc-q35-*", "pc-q35-10.0"));
        assert!(!glob("pc-q35-*", "pc-i440fx-10.0"));
        assert!(glob("pc-i440fx-*", "pc-i440fx-7.2"));
        assert!(glob("*", "anything"));
        assert!(glob("pc-?35-*", "pc-q35-2"));
        assert!(!glob("pc", "pc-q35"));
    }
}
