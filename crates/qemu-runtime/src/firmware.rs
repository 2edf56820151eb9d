//! QEMU firmware descriptors (QEMU's `docs/interop/firmware.json`): finding them,
//! reading them into a typed [`Descriptor`], and choosing the first one that fits a
//! domain's request, the way libvirt's QEMU driver autoselects firmware for
//! `<os firmware='efi'>` and fills in what a hand-written `<loader>` leaves out.
//!
//! Everything here is pure apart from [`load`], which reads the directories it is
//! given: tests hand it fixture directories, the daemon [`search_dirs`].

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Where QEMU's firmware descriptors live, lowest priority first. The specification's
/// per-user directory is only searched by an unprivileged daemon: for a daemon
/// running as root, root's home holds nothing meant for every VM (libvirt does the
/// same).
pub fn search_dirs(
    privileged: bool,
    xdg_config_home: Option<&Path>,
    home: Option<&Path>,
) -> Vec<PathBuf> {
    let mut dirs = vec![
        PathBuf::from("/usr/share/qemu/firmware"),
        PathBuf::from("/etc/qemu/firmware"),
    ];
    if !privileged {
        let config = xdg_config_home
            .map(Path::to_path_buf)
            .or_else(|| home.map(|h| h.join(".config")));
        if let Some(config) = config {
            dirs.push(config.join("qemu/firmware"));
        }
    }
    dirs
}

/// The firmware interface a guest OS talks to (`interface-types`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Interface {
    Bios,
    OpenFirmware,
    UBoot,
    Uefi,
}

impl Interface {
    pub fn from_name(name: &str) -> Option<Interface> {
        Some(match name {
            "bios" => Interface::Bios,
            "openfirmware" => Interface::OpenFirmware,
            "uboot" => Interface::UBoot,
            "uefi" => Interface::Uefi,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Interface::Bios => "bios",
            Interface::OpenFirmware => "openfirmware",
            Interface::UBoot => "uboot",
            Interface::Uefi => "uefi",
        }
    }
}

/// How a flash-mapped firmware uses its two pflash chips.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlashMode {
    /// Read-only code plus a per-VM variable store copied from a template.
    Split,
    /// One read-write image holding code and variables.
    Combined,
    /// Code only; variables are not kept.
    Stateless,
}

impl FlashMode {
    pub fn name(self) -> &'static str {
        match self {
            FlashMode::Split => "split",
            FlashMode::Combined => "combined",
            FlashMode::Stateless => "stateless",
        }
    }
}

/// One image file with its block format (`raw`, `qcow2`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlashFile {
    pub filename: PathBuf,
    pub format: String,
}

/// How the firmware gets into the guest (`mapping`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mapping {
    /// pflash chips (OVMF, AAVMF).
    Flash {
        mode: FlashMode,
        executable: FlashFile,
        /// Present exactly for [`FlashMode::Split`].
        nvram_template: Option<FlashFile>,
    },
    /// Loaded as the guest kernel (`-kernel`), e.g. OpenSBI-less RISC-V payloads.
    Kernel { filename: PathBuf },
    /// Mapped as a ROM (`-bios`), e.g. SeaBIOS or an AMD SEV OVMF build.
    Memory { filename: PathBuf },
}

/// A feature a descriptor declares. Names this code does not know are kept (so a
/// descriptor from a newer QEMU still loads) but never match a request.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Feature {
    AcpiS3,
    AcpiS4,
    AmdSev,
    AmdSevEs,
    AmdSevSnp,
    EnrolledKeys,
    RequiresSmm,
    SecureBoot,
    VerboseDynamic,
    VerboseStatic,
    Other(String),
}

impl Feature {
    pub fn from_name(name: &str) -> Feature {
        match name {
            "acpi-s3" => Feature::AcpiS3,
            "acpi-s4" => Feature::AcpiS4,
            "amd-sev" => Feature::AmdSev,
            "amd-sev-es" => Feature::AmdSevEs,
            "amd-sev-snp" => Feature::AmdSevSnp,
            "enrolled-keys" => Feature::EnrolledKeys,
            "requires-smm" => Feature::RequiresSmm,
            "secure-boot" => Feature::SecureBoot,
            "verbose-dynamic" => Feature::VerboseDynamic,
            "verbose-static" => Feature::VerboseStatic,
            other => Feature::Other(other.to_string()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Feature::AcpiS3 => "acpi-s3",
            Feature::AcpiS4 => "acpi-s4",
            Feature::AmdSev => "amd-sev",
            Feature::AmdSevEs => "amd-sev-es",
            Feature::AmdSevSnp => "amd-sev-snp",
            Feature::EnrolledKeys => "enrolled-keys",
            Feature::RequiresSmm => "requires-smm",
            Feature::SecureBoot => "secure-boot",
            Feature::VerboseDynamic => "verbose-dynamic",
            Feature::VerboseStatic => "verbose-static",
            Feature::Other(name) => name,
        }
    }
}

/// An architecture and the machine-type globs (`pc-q35-*`) a firmware runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub architecture: String,
    pub machines: Vec<String>,
}

/// One firmware descriptor file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// The file it was read from (what logs and errors name).
    pub path: PathBuf,
    pub description: Option<String>,
    pub interfaces: Vec<Interface>,
    pub mapping: Mapping,
    pub targets: Vec<Target>,
    pub features: Vec<Feature>,
    pub tags: Vec<String>,
}

impl Descriptor {
    pub fn has(&self, feature: &Feature) -> bool {
        self.features.contains(feature)
    }

    /// Whether it runs `machine` (a concrete, versioned type such as `pc-q35-10.0`)
    /// on `arch`.
    pub fn runs_on(&self, arch: &str, machine: &str) -> bool {
        let arch = canonical_arch(arch);
        self.targets.iter().any(|t| {
            canonical_arch(&t.architecture) == arch
                && t.machines.iter().any(|g| glob_match(g, machine))
        })
    }

    /// The flash executable, if the firmware is flash-mapped.
    pub fn flash(&self) -> Option<(FlashMode, &FlashFile, Option<&FlashFile>)> {
        match &self.mapping {
            Mapping::Flash {
                mode,
                executable,
                nvram_template,
            } => Some((*mode, executable, nvram_template.as_ref())),
            _ => None,
        }
    }

    /// The descriptor claims Secure Boot without requiring SMM (or the other way
    /// round), or enrolled keys without Secure Boot: usable, but a packaging mistake
    /// worth a warning, as libvirt logs it.
    pub fn inconsistency(&self) -> Option<String> {
        let sb = self.has(&Feature::SecureBoot);
        let smm = self.has(&Feature::RequiresSmm);
        let keys = self.has(&Feature::EnrolledKeys);
        (sb != smm || (keys && !sb)).then(|| {
            format!(
                "firmware descriptor {} has an inconsistent set of features: requires-smm={smm}, secure-boot={sb}, enrolled-keys={keys}",
                self.path.display()
            )
        })
    }
}

/// The descriptor files are named architectures the way QEMU names its targets;
/// the few that differ from the kernel's names are mapped the way libvirt maps them.
fn canonical_arch(arch: &str) -> &str {
    match arch {
        "i386" => "i686",
        "arm" => "armv7l",
        other => other,
    }
}

/// GLib's simple patterns as the specification uses them: `*` any run, `?` one
/// character, nothing else special.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matcher with one backtrack point: the last `*` seen.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
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

#[derive(Debug, thiserror::Error)]
pub enum FirmwareError {
    #[error("cannot read firmware descriptor directory {}: {source}", path.display())]
    ReadDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read firmware descriptor {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("firmware descriptor {} is not JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("firmware descriptor {}: {what}", path.display())]
    Invalid { path: PathBuf, what: String },
}

/// Descriptors larger than this are refused rather than read (libvirt's bound too).
const MAX_DESCRIPTOR_BYTES: u64 = 1024 * 1024;

/// The descriptor files in effect, in the order the specification gives them
/// priority: across `dirs` (lowest priority first) a file name in a later
/// directory replaces the same name in an earlier one; the survivors are sorted by
/// file name; an empty file only masks the name and is dropped. Dot-files and
/// anything that is not a regular file (after following links) are ignored; a
/// directory that does not exist is simply empty.
pub fn effective_files(dirs: &[PathBuf]) -> Result<Vec<PathBuf>, FirmwareError> {
    let mut by_name: BTreeMap<OsString, (PathBuf, u64)> = BTreeMap::new();
    for dir in dirs {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(FirmwareError::ReadDir {
                    path: dir.clone(),
                    source,
                });
            }
        };
        for entry in entries {
            let entry = entry.map_err(|source| FirmwareError::ReadDir {
                path: dir.clone(),
                source,
            })?;
            let name = entry.file_name();
            if name.as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let path = entry.path();
            let meta = fs::metadata(&path).map_err(|source| FirmwareError::Read {
                path: path.clone(),
                source,
            })?;
            if !meta.is_file() {
                continue;
            }
            by_name.insert(name, (path, meta.len()));
        }
    }
    Ok(by_name
        .into_values()
        .filter(|(_, len)| *len > 0)
        .map(|(path, _)| path)
        .collect())
}

/// Every usable descriptor under `dirs`, in priority order, and the files that
/// could not be used with the reason (libvirt skips those silently; the daemon logs
/// them).
pub fn load(dirs: &[PathBuf]) -> Result<(Vec<Descriptor>, Vec<FirmwareError>), FirmwareError> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for path in effective_files(dirs)? {
        match read_descriptor(&path) {
            Ok(d) => good.push(d),
            Err(e) => bad.push(e),
        }
    }
    Ok((good, bad))
}

fn read_descriptor(path: &Path) -> Result<Descriptor, FirmwareError> {
    let len = fs::metadata(path)
        .map_err(|source| FirmwareError::Read {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    if len > MAX_DESCRIPTOR_BYTES {
        return Err(FirmwareError::Invalid {
            path: path.to_path_buf(),
            what: format!(
                "{len} bytes, more than the {MAX_DESCRIPTOR_BYTES} a descriptor may have"
            ),
        });
    }
    let text = fs::read_to_string(path).map_err(|source| FirmwareError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Reads one descriptor's JSON text. `path` is only used to name it.
pub fn parse(path: &Path, text: &str) -> Result<Descriptor, FirmwareError> {
    let doc: Value = serde_json::from_str(text).map_err(|source| FirmwareError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |what: String| FirmwareError::Invalid {
        path: path.to_path_buf(),
        what,
    };
    let strings = |v: &Value, field: &str| -> Result<Vec<String>, FirmwareError> {
        let arr = v
            .get(field)
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("'{field}' must be an array")))?;
        arr.iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad(format!("'{field}' must hold strings")))
            })
            .collect()
    };
    let string = |v: &Value, field: &str, within: &str| -> Result<String, FirmwareError> {
        v.get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| bad(format!("'{within}' lacks the string '{field}'")))
    };

    let interfaces = strings(&doc, "interface-types")?
        .iter()
        .map(|name| {
            Interface::from_name(name)
                .ok_or_else(|| bad(format!("unknown interface type '{name}'")))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let mapping_v = doc
        .get("mapping")
        .filter(|m| m.is_object())
        .ok_or_else(|| bad("no 'mapping' object".into()))?;
    let device = string(mapping_v, "device", "mapping")?;
    let flash_file = |field: &str| -> Result<FlashFile, FirmwareError> {
        let f = mapping_v
            .get(field)
            .ok_or_else(|| bad(format!("'mapping' lacks '{field}'")))?;
        Ok(FlashFile {
            filename: PathBuf::from(string(f, "filename", field)?),
            format: string(f, "format", field)?,
        })
    };
    let mapping = match device.as_str() {
        "flash" => {
            let mode = match mapping_v.get("mode") {
                // Descriptors from before the field existed are all split.
                None => FlashMode::Split,
                Some(Value::String(m)) if m == "split" => FlashMode::Split,
                Some(Value::String(m)) if m == "combined" => FlashMode::Combined,
                Some(Value::String(m)) if m == "stateless" => FlashMode::Stateless,
                Some(other) => return Err(bad(format!("unknown flash mode {other}"))),
            };
            let executable = flash_file("executable")?;
            let nvram_template = if mode == FlashMode::Split {
                Some(flash_file("nvram-template")?)
            } else {
                None
            };
            Mapping::Flash {
                mode,
                executable,
                nvram_template,
            }
        }
        "kernel" => Mapping::Kernel {
            filename: PathBuf::from(string(mapping_v, "filename", "mapping")?),
        },
        "memory" => Mapping::Memory {
            filename: PathBuf::from(string(mapping_v, "filename", "mapping")?),
        },
        other => return Err(bad(format!("unknown mapping device '{other}'"))),
    };

    let targets_v = doc
        .get("targets")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("'targets' must be an array".into()))?;
    let targets = targets_v
        .iter()
        .map(|t| {
            Ok(Target {
                architecture: string(t, "architecture", "targets")?,
                machines: strings(t, "machines")?,
            })
        })
        .collect::<Result<Vec<_>, FirmwareError>>()?;

    let features = strings(&doc, "features")?
        .iter()
        .map(|f| Feature::from_name(f))
        .collect();
    // Tags are free-form and optional in practice; a malformed list is not worth
    // refusing a firmware over.
    let tags = strings(&doc, "tags").unwrap_or_default();
    let description = doc
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_string);

    Ok(Descriptor {
        path: path.to_path_buf(),
        description,
        interfaces,
        mapping,
        targets,
        features,
        tags,
    })
}

/// The loader a definition names by hand (`<loader>`/`<nvram template>`), as far as
/// it constrains the choice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoaderRequest {
    /// `type='pflash'` (`Some(true)`) or `type='rom'` (`Some(false)`).
    pub pflash: Option<bool>,
    pub path: Option<PathBuf>,
    pub nvram_template: Option<PathBuf>,
    pub readonly: Option<bool>,
    pub secure: Option<bool>,
    pub stateless: Option<bool>,
    pub format: Option<String>,
}

/// AMD memory encryption a domain asks for (`<launchSecurity>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sev {
    Sev,
    /// SEV with the ES policy bit.
    SevEs,
    SevSnp,
}

/// What a domain wants from its firmware.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub arch: String,
    /// The concrete machine type (`pc-q35-10.0`, not the `q35` alias).
    pub machine: String,
    /// `<os firmware=…>`; `None` with a hand-written loader.
    pub interface: Option<Interface>,
    /// `<firmware><feature enabled=… name=…>`: wanted (true) or refused (false).
    pub features: BTreeMap<Feature, bool>,
    pub loader: Option<LoaderRequest>,
    /// `<os><kernel>`, which a kernel-mapped firmware must be.
    pub kernel: Option<PathBuf>,
    /// `<features><smm state=…>`.
    pub smm: Option<bool>,
    /// `<pm><suspend-to-mem>` / `<suspend-to-disk>` enabled.
    pub s3: Option<bool>,
    pub s4: Option<bool>,
    pub sev: Option<Sev>,
}

impl Request {
    pub fn new(arch: &str, machine: &str, interface: Option<Interface>) -> Request {
        Request {
            arch: arch.to_string(),
            machine: machine.to_string(),
            interface,
            features: BTreeMap::new(),
            loader: None,
            kernel: None,
            smm: None,
            s3: None,
            s4: None,
            sev: None,
        }
    }

    /// The interface asked for: the explicit one, else what a hand-written loader
    /// implies (pflash is UEFI, rom is BIOS).
    fn wanted_interface(&self) -> Option<Interface> {
        self.interface.or_else(|| {
            self.loader.as_ref().and_then(|l| l.pflash).map(|pflash| {
                if pflash {
                    Interface::Uefi
                } else {
                    Interface::Bios
                }
            })
        })
    }
}

/// Why a descriptor does not fit a request (for logs and the "no firmware" error).
pub fn mismatch(d: &Descriptor, req: &Request) -> Option<String> {
    let wanted = req.wanted_interface();
    if !wanted.is_some_and(|w| d.interfaces.contains(&w)) {
        return Some(format!(
            "does not offer the '{}' interface",
            wanted.map_or("(none)", Interface::name)
        ));
    }
    let loader = req.loader.as_ref();
    if let Some(why) = path_mismatch(d, loader, req.kernel.as_deref()) {
        return Some(why);
    }
    if !d.runs_on(&req.arch, &req.machine) {
        return Some(format!(
            "does not run machine '{}' on '{}'",
            req.machine, req.arch
        ));
    }
    if req.s3 == Some(true) && !d.has(&Feature::AcpiS3) {
        return Some("lacks acpi-s3, which the domain enables".into());
    }
    if req.s4 == Some(true) && !d.has(&Feature::AcpiS4) {
        return Some("lacks acpi-s4, which the domain enables".into());
    }
    for (feature, &want) in &req.features {
        if d.has(feature) != want {
            return Some(if want {
                format!("lacks {}, which the domain requires", feature.name())
            } else {
                format!("has {}, which the domain refuses", feature.name())
            });
        }
    }
    let secure = loader.and_then(|l| l.secure);
    if d.has(&Feature::RequiresSmm) {
        if req.smm == Some(false) {
            return Some("requires SMM, which the domain turns off".into());
        }
        if secure == Some(false) {
            return Some("requires SMM, but the loader has secure='no'".into());
        }
    } else if secure == Some(true) {
        return Some("does not use SMM, but the loader has secure='yes'".into());
    }
    match &d.mapping {
        Mapping::Flash {
            mode,
            executable,
            nvram_template,
        } => {
            if loader.and_then(|l| l.pflash) == Some(false) {
                return Some("is flash-mapped, but the loader is a ROM".into());
            }
            let stateless = loader.and_then(|l| l.stateless) == Some(true);
            let needed = if stateless {
                FlashMode::Stateless
            } else {
                FlashMode::Split
            };
            if *mode != needed {
                return Some(format!(
                    "is {} flash, the domain needs {}",
                    mode.name(),
                    needed.name()
                ));
            }
            if loader.and_then(|l| l.readonly) == Some(false) && *mode != FlashMode::Combined {
                return Some("has read-only code, but the loader has readonly='no'".into());
            }
            if !matches!(executable.format.as_str(), "raw" | "qcow2") {
                return Some(format!(
                    "has code in unsupported format '{}'",
                    executable.format
                ));
            }
            if let Some(f) = loader.and_then(|l| l.format.as_deref())
                && f != executable.format
            {
                return Some(format!(
                    "has code in '{}', the loader asks for '{f}'",
                    executable.format
                ));
            }
            if let Some(t) = nvram_template
                && !matches!(t.format.as_str(), "raw" | "qcow2")
            {
                return Some(format!(
                    "has an NVRAM template in unsupported format '{}'",
                    t.format
                ));
            }
        }
        Mapping::Memory { .. } => {
            if loader.and_then(|l| l.pflash) == Some(true) {
                return Some("is a ROM, but the loader is pflash".into());
            }
            if loader.and_then(|l| l.readonly) == Some(false) {
                return Some("is a ROM, but the loader has readonly='no'".into());
            }
        }
        Mapping::Kernel { .. } => {}
    }
    match req.sev {
        Some(Sev::Sev) if !d.has(&Feature::AmdSev) => return Some("lacks amd-sev".into()),
        Some(Sev::SevEs) if !d.has(&Feature::AmdSev) || !d.has(&Feature::AmdSevEs) => {
            return Some("lacks amd-sev-es".into());
        }
        Some(Sev::SevSnp) if !d.has(&Feature::AmdSevSnp) => {
            return Some("lacks amd-sev-snp".into());
        }
        _ => {}
    }
    None
}

fn path_mismatch(
    d: &Descriptor,
    loader: Option<&LoaderRequest>,
    kernel: Option<&Path>,
) -> Option<String> {
    let loader_path = loader.and_then(|l| l.path.as_deref());
    match &d.mapping {
        Mapping::Flash {
            mode,
            executable,
            nvram_template,
        } => {
            if let Some(p) = loader_path
                && p != executable.filename
            {
                return Some(format!(
                    "has code {}, not {}",
                    executable.filename.display(),
                    p.display()
                ));
            }
            if let Some(t) = loader.and_then(|l| l.nvram_template.as_deref()) {
                if *mode != FlashMode::Split {
                    return Some("has no NVRAM template".into());
                }
                if nvram_template.as_ref().is_none_or(|nt| nt.filename != t) {
                    return Some(format!("has another NVRAM template than {}", t.display()));
                }
            }
        }
        Mapping::Memory { filename } => {
            if let Some(p) = loader_path
                && p != filename
            {
                return Some(format!("is {}, not {}", filename.display(), p.display()));
            }
        }
        Mapping::Kernel { filename } => {
            if let Some(k) = kernel
                && k != filename
            {
                return Some(format!(
                    "is kernel {}, not {}",
                    filename.display(),
                    k.display()
                ));
            }
        }
    }
    None
}

/// The first descriptor, in priority order, that fits `req`.
pub fn select<'a>(descriptors: &'a [Descriptor], req: &Request) -> Option<&'a Descriptor> {
    descriptors.iter().find(|d| mismatch(d, req).is_none())
}

/// What a selected descriptor writes into a definition, as libvirt records it so
/// the next start (and `virsh dumpxml`) sees a fully specified firmware.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub loader: ChosenLoader,
    /// `requires-smm`: `<smm state='on'/>` and `<loader secure='yes'>`.
    pub smm: bool,
    pub secure_boot: bool,
    pub enrolled_keys: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChosenLoader {
    Pflash {
        code: FlashFile,
        /// `None` for stateless/combined flash.
        nvram_template: Option<FlashFile>,
        stateless: bool,
    },
    Rom {
        path: PathBuf,
    },
    Kernel {
        path: PathBuf,
    },
}

impl Choice {
    pub fn of(d: &Descriptor) -> Choice {
        let loader = match &d.mapping {
            Mapping::Flash {
                mode,
                executable,
                nvram_template,
            } => ChosenLoader::Pflash {
                code: executable.clone(),
                nvram_template: nvram_template.clone(),
                stateless: *mode == FlashMode::Stateless,
            },
            Mapping::Memory { filename } => ChosenLoader::Rom {
                path: filename.clone(),
            },
            Mapping::Kernel { filename } => ChosenLoader::Kernel {
                path: filename.clone(),
            },
        };
        Choice {
            loader,
            smm: d.has(&Feature::RequiresSmm),
            secure_boot: d.has(&Feature::SecureBoot),
            enrolled_keys: d.has(&Feature::EnrolledKeys),
        }
    }
}

/// For domain capabilities: the descriptors that can run `machine` on `arch` at
/// all, in priority order.
pub fn for_machine<'a>(
    descriptors: &'a [Descriptor],
    arch: &'a str,
    machine: &'a str,
) -> impl Iterator<Item = &'a Descriptor> + 'a {
    descriptors.iter().filter(move |d| d.runs_on(arch, machine))
}

#[cfg(test)]
#[path = "firmware_tests.rs"]
mod tests;
