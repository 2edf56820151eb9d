//! Domain capabilities (`virConnectGetDomainCapabilities`, `virsh
//! domcapabilities`): what a domain of one virt type, arch and machine can use
//! with the probed emulator, in libvirt 11.3's `<domainCapabilities>` shape.
//!
//! Pure: every fact comes from the probed [`Capabilities`] (device and object
//! types, options, machine list, CPU models) or from the [`HostView`] the
//! caller gathered (firmware descriptors, swtpm, VFIO, the host CPU vendor).
//! Nothing is assumed of a QEMU version, so an older QEMU (7.2) gets what it
//! really offers.

mod cpu;
mod firmware;
mod xml;

use qemu::Capabilities;
use thiserror::Error;

pub use cpu::HostCpu;
pub use firmware::images as firmware_images;

/// What the caller asked for; `None` means "the default" as in libvirt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomCapsQuery {
    /// Emulator binary (`--emulatorbin`).
    pub emulator: Option<String>,
    /// Architecture (`--arch`).
    pub arch: Option<String>,
    /// Machine type or alias (`--machine`).
    pub machine: Option<String>,
    /// Virtualization type (`--virttype`: `kvm`, `qemu`, ...).
    pub virttype: Option<String>,
}

/// Host facts the answer depends on besides the emulator's own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostView {
    /// The host architecture (`std::env::consts::ARCH`).
    pub arch: String,
    /// Firmware descriptors (`/usr/share/qemu/firmware/*.json` and the
    /// `/etc` overrides), in the order libvirt reads them.
    pub firmware: Vec<crate::firmware::Descriptor>,
    /// Loader images of those descriptors that do not exist on this host
    /// (libvirt lists only existing ones).
    pub absent_images: Vec<std::path::PathBuf>,
    /// `swtpm` and `swtpm_setup` are installed (TPM emulator backend).
    pub swtpm: bool,
    /// TPM versions `swtpm_setup --print-capabilities` offers (`1.2`, `2.0`).
    pub swtpm_versions: Vec<String>,
    /// VFIO PCI passthrough is possible on this host (`/dev/vfio/vfio` and
    /// an IOMMU).
    pub vfio: bool,
    /// The largest vCPU count KVM allows (`KVM_CAP_MAX_VCPUS`), when known.
    pub kvm_max_vcpus: Option<u32>,
    /// The host CPU as `/proc/cpuinfo` describes it.
    pub cpu: HostCpu,
}

/// Why a query cannot be answered, with libvirt's text for each.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomCapsError {
    /// `--virttype` is no libvirt virt type.
    #[error("unknown virttype: {0}")]
    UnknownVirtType(String),
    /// `--arch` is no architecture libvirt knows.
    #[error("unknown architecture: {0}")]
    UnknownArch(String),
    /// The emulator's target differs from `--arch`.
    #[error("architecture from emulator '{emulator}' doesn't match given architecture '{given}'")]
    ArchMismatch {
        /// The emulator's arch.
        emulator: String,
        /// What was asked.
        given: String,
    },
    /// `--emulatorbin` is not the probed emulator (rvirtd probes one).
    #[error("unable to find any emulator to serve '{0}' architecture")]
    NoEmulator(String),
    /// An accelerated type (kvm) the emulator cannot use here.
    #[error("the accel '{accel}' is not supported by '{emulator}' on this host")]
    AccelUnsupported {
        /// The accelerator.
        accel: String,
        /// The emulator.
        emulator: String,
    },
    /// A virt type the QEMU driver does not serve at all (xen, lxc, ...).
    #[error("virttype '{0}' is not supported by the QEMU driver")]
    VirtTypeUnsupported(String),
    /// The machine type is not in the emulator's list.
    #[error("the machine '{machine}' is not supported by emulator '{emulator}'")]
    MachineUnsupported {
        /// The canonical machine name asked for.
        machine: String,
        /// The emulator.
        emulator: String,
    },
}

impl DomCapsError {
    /// libvirt reports the missing emulator as CONFIG_UNSUPPORTED, the rest
    /// as INVALID_ARG.
    pub fn is_config_unsupported(&self) -> bool {
        matches!(self, Self::NoEmulator(_) | Self::VirtTypeUnsupported(_))
    }
}

/// libvirt's virt type names (`virDomainVirtType`), all of which it parses.
const VIRT_TYPES: &[&str] = &[
    "qemu",
    "kqemu",
    "kvm",
    "xen",
    "lxc",
    "uml",
    "openvz",
    "test",
    "vmware",
    "hyperv",
    "vbox",
    "phyp",
    "parallels",
    "bhyve",
    "vz",
    "none",
    "hvf",
];

/// Architecture names libvirt knows (`virArch`).
const ARCHES: &[&str] = &[
    "alpha",
    "armv6l",
    "armv7l",
    "armv7b",
    "aarch64",
    "cris",
    "i686",
    "ia64",
    "lm32",
    "loongarch64",
    "m68k",
    "microblaze",
    "microblazeel",
    "mips",
    "mipsel",
    "mips64",
    "mips64el",
    "openrisc",
    "parisc",
    "parisc64",
    "ppc",
    "ppcle",
    "ppc64",
    "ppc64le",
    "ppcemb",
    "riscv32",
    "riscv64",
    "s390",
    "s390x",
    "sh4",
    "sh4eb",
    "sparc",
    "sparc64",
    "unicore32",
    "x86_64",
    "xtensa",
    "xtensaeb",
];

/// Arch families libvirt lets one emulator serve (`i686` on
/// `qemu-system-x86_64` and so on).
fn same_family(a: &str, b: &str) -> bool {
    let fam = |x: &str| {
        match x {
            "i686" | "x86_64" => "x86",
            "ppc" | "ppcle" | "ppc64" | "ppc64le" | "ppcemb" => "ppc",
            "armv6l" | "armv7l" | "armv7b" | "aarch64" => "arm",
            "s390" | "s390x" => "s390",
            other => other,
        }
        .to_owned()
    };
    fam(a) == fam(b)
}

/// What the query resolved to: the domain type, arch and canonical machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// `kvm` or `qemu`.
    pub virttype: String,
    /// The architecture.
    pub arch: String,
    /// The canonical machine name.
    pub machine: String,
}

/// Resolves a query against the emulator as libvirt's cache lookup does:
/// virt type and arch validated, the machine made canonical (`q35` →
/// `pc-q35-10.0`), the default machine where none is given.
pub fn resolve(
    caps: &Capabilities,
    host: &HostView,
    q: &DomCapsQuery,
) -> Result<Resolved, DomCapsError> {
    if let Some(v) = &q.virttype {
        if !VIRT_TYPES.contains(&v.as_str()) {
            return Err(DomCapsError::UnknownVirtType(v.clone()));
        }
        if !matches!(v.as_str(), "qemu" | "kvm") {
            return Err(DomCapsError::VirtTypeUnsupported(v.clone()));
        }
    }
    if let Some(a) = &q.arch
        && !ARCHES.contains(&a.as_str())
    {
        return Err(DomCapsError::UnknownArch(a.clone()));
    }
    let emulator = caps.emulator.to_string_lossy().into_owned();
    let arch = q.arch.clone().unwrap_or_else(|| host.arch.clone());
    if let Some(bin) = &q.emulator
        && bin != &emulator
    {
        return Err(DomCapsError::NoEmulator(arch));
    }
    if !same_family(&arch, &caps.arch) {
        if q.emulator.is_none() {
            return Err(DomCapsError::NoEmulator(arch));
        }
        return Err(DomCapsError::ArchMismatch {
            emulator: caps.arch.clone(),
            given: arch,
        });
    }
    let kvm_ok = caps.kvm.present && caps.kvm.enabled;
    let virttype = match q.virttype.as_deref() {
        Some("kvm") if !kvm_ok => {
            return Err(DomCapsError::AccelUnsupported {
                accel: "kvm".into(),
                emulator,
            });
        }
        Some(v) => v.to_owned(),
        None if kvm_ok => "kvm".to_owned(),
        None => "qemu".to_owned(),
    };
    let machine = match &q.machine {
        Some(m) => match caps.resolve_machine_alias(m) {
            Some(c) => c.to_owned(),
            None => {
                return Err(DomCapsError::MachineUnsupported {
                    machine: m.clone(),
                    emulator,
                });
            }
        },
        None => caps
            .default_machine()
            .or_else(|| caps.machines.first())
            .map(|m| m.name.clone())
            .unwrap_or_default(),
    };
    Ok(Resolved {
        virttype,
        arch,
        machine,
    })
}

/// The `<domainCapabilities>` XML for a query.
pub fn domain_capabilities(
    caps: &Capabilities,
    host: &HostView,
    q: &DomCapsQuery,
) -> Result<String, DomCapsError> {
    let r = resolve(caps, host, q)?;
    Ok(xml::write(caps, host, &r))
}

/// Whether `machine` is an x86 `pc`-family machine with IDE built in.
fn has_builtin_ide(machine: &str) -> bool {
    machine == "isapc"
        || machine.starts_with("pc-i440fx")
        || machine.starts_with("pc-0")
        || machine.starts_with("pc-1")
}

/// The model host-model stands for on this host (also the host CPU model of
/// the capabilities XML); `None` when unknown.
pub fn host_model_name(caps: &Capabilities, virttype: &str, host: &HostCpu) -> Option<String> {
    cpu::host_model(caps, virttype, host).map(|(m, _)| m)
}

/// Whether the emulator can run CPU model `name` for `virttype` here; `None`
/// when the probe does not tell (another accelerator, unknown model).
pub fn model_usable(caps: &Capabilities, virttype: &str, name: &str) -> Option<bool> {
    cpu::usable(caps, virttype, caps.cpu_model(name)?)
}
