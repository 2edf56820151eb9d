//! What an emulator binary supports, as the planner needs to know it.
//!
//! These are the plain types of a capability record. Producing one (starting
//! QEMU and asking it over QMP) and caching it live in crate `qemu`; they are
//! apart so the pure planner can depend on the vocabulary without pulling in
//! an async runtime.
//!
//! # Flags
//!
//! [`Capabilities::flags`] is a set of libvirt capability names derived from
//! the probe (see [`flags`]), so `<qemu:capabilities>` `add`/`del` can adjust
//! them with [`Capabilities::apply_overrides`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// libvirt-style capability flag names derived from the probe.
pub mod flags {
    /// KVM is present and the probe QEMU could enable it (`query-kvm`).
    pub const KVM: &str = "kvm";
    /// The TCG accelerator is built in.
    pub const TCG: &str = "tcg";
    /// `-sandbox` (seccomp) is available.
    pub const SECCOMP_SANDBOX: &str = "seccomp-sandbox";
    /// `-blockdev` / `blockdev-add` usable: `blockdev-add` plus a stable
    /// `blockdev-reopen` (or its `x-` predecessor), as libvirt's threshold.
    pub const BLOCKDEV: &str = "blockdev";
    /// `-device` takes JSON consistently with `device_add` (schema feature
    /// `json-cli-hotplug` of `device_add`).
    pub const DEVICE_JSON: &str = "device.json";
    /// `-object`/`object-add` are QAPI-described (JSON `-object` works).
    pub const OBJECT_JSON: &str = "object.qapified";
    /// `-netdev` takes JSON (netdev type `dgram` exists, as libvirt checks).
    pub const NETDEV_JSON: &str = "netdev.json";
    /// The `stream` netdev backend exists.
    pub const NETDEV_STREAM: &str = "netdev.stream";
    /// `-compat deprecated-input=…,deprecated-output=…` exists. The option
    /// isn't introspectable; it came (QEMU 6.0) with the `deprecated` feature
    /// markers in `query-qmp-schema`, so their presence stands for it.
    pub const COMPAT_DEPRECATED: &str = "compat-deprecated";
}

/// QEMU version triple as reported by the greeting and `query-version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QemuVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Micro version.
    pub micro: u32,
}

impl fmt::Display for QemuVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)
    }
}

/// `query-kvm` as seen by the probe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvmState {
    /// KVM support is compiled in.
    pub present: bool,
    /// The probe QEMU actually runs with KVM (so `/dev/kvm` is usable).
    pub enabled: bool,
}

/// One machine type (`query-machines`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineType {
    /// Canonical name, e.g. `pc-i440fx-7.2`.
    pub name: String,
    /// Alias, e.g. `pc`.
    pub alias: Option<String>,
    /// The machine used when `-machine` is not given.
    pub is_default: bool,
    /// Maximum number of vCPUs.
    pub cpu_max: u32,
    /// Deprecated by QEMU.
    pub deprecated: bool,
    /// Whether vCPUs can be hot-plugged.
    pub hotpluggable_cpus: bool,
    /// Whether `-numa node,memdev=` is supported.
    pub numa_mem_supported: bool,
    /// QOM type of the default CPU, e.g. `qemu64-x86_64-cpu`.
    pub default_cpu_type: Option<String>,
    /// Id of the default RAM backend, e.g. `pc.ram`.
    pub default_ram_id: Option<String>,
    /// Whether the machine type has ACPI (`query-machines` `acpi`, QEMU 8.0
    /// and later); `None` where QEMU does not say.
    #[serde(default)]
    pub acpi: Option<bool>,
    /// `-machine` properties the type takes (the class properties of its
    /// abstract QOM ancestors, e.g. `acpi`, `hpet`, `memory-backend`).
    /// Asked of the abstract classes only: listing a concrete machine's
    /// properties instantiates it, which aborts some QEMUs (7.2's `microvm`).
    #[serde(default)]
    pub properties: BTreeSet<String>,
}

impl MachineType {
    /// Whether `-machine NAME,PROP=…` is accepted.
    pub fn has_property(&self, prop: &str) -> bool {
        self.properties.contains(prop)
    }

    /// Whether the machine type has ACPI at all: QEMU's own answer where it
    /// gives one, otherwise whether ACPI can be switched (an `acpi` property).
    pub fn supports_acpi(&self) -> bool {
        self.acpi.unwrap_or_else(|| self.has_property("acpi"))
    }
}

/// One CPU model (`query-cpu-definitions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuModel {
    /// Model name, e.g. `Skylake-Client-v4`.
    pub name: String,
    /// QOM type name.
    pub typename: Option<String>,
    /// The model this one is an alias of.
    pub alias_of: Option<String>,
    /// Features the probe's accelerator can't provide for this model (empty
    /// means usable as-is under [`Capabilities::probe_accel`]).
    pub unavailable_features: Vec<String>,
    /// The model never changes between QEMU versions.
    pub static_: bool,
    /// Safe to migrate.
    pub migration_safe: bool,
    /// Deprecated by QEMU.
    pub deprecated: bool,
}

/// Everything the planner needs to know about one emulator binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// The emulator that was probed.
    pub emulator: PathBuf,
    /// QEMU version.
    pub qemu_version: QemuVersion,
    /// Distribution package string.
    pub package: String,
    /// Target architecture (`query-target`), e.g. `x86_64`.
    pub arch: String,
    /// Accelerator the probe ran with (`kvm` or `tcg`); CPU model
    /// usability is relative to it.
    pub probe_accel: String,
    /// `query-kvm`.
    pub kvm: KvmState,
    /// Accelerators built in (`kvm`, `tcg`, ...).
    pub accelerators: BTreeSet<String>,
    /// Machine types.
    pub machines: Vec<MachineType>,
    /// Non-abstract device types (`-device` drivers).
    pub devices: BTreeSet<String>,
    /// All non-abstract QOM types (includes `-object` types and devices).
    pub object_types: BTreeSet<String>,
    /// QMP commands.
    pub commands: BTreeSet<String>,
    /// `query-command-line-options`: option → parameter → type. Only
    /// QemuOpts-based options appear (QEMU's own limitation).
    pub command_line_options: BTreeMap<String, BTreeMap<String, String>>,
    /// CPU models.
    pub cpu_models: Vec<CpuModel>,
    /// libvirt-style capability flags, see [`flags`].
    pub flags: BTreeSet<String>,
    /// Hyper-V enlightenments KVM can give a guest: the `hv-` properties a
    /// full expansion of `-cpu host,hv-passthrough=on` turns on (or gives a
    /// value), without the prefix (`relaxed`, `vendor-id`, ...). `None` where
    /// not probed (no KVM, a target without it, an older capture).
    #[serde(default)]
    pub hyperv: Option<BTreeSet<String>>,
    /// CPU model usability under TCG when the probe ran with KVM (a second,
    /// TCG-only QEMU asked `query-cpu-definitions`): model name → features
    /// TCG cannot provide. `None` where not asked (the probe itself ran with
    /// TCG, so [`CpuModel::unavailable_features`] already is TCG's; or an
    /// older capture).
    #[serde(default)]
    pub tcg_unavailable: Option<BTreeMap<String, Vec<String>>>,
}

impl Capabilities {
    /// `(major, minor, micro)`.
    pub fn version(&self) -> (u32, u32, u32) {
        let v = self.qemu_version;
        (v.major, v.minor, v.micro)
    }

    /// Whether `-device name` exists.
    pub fn has_device(&self, name: &str) -> bool {
        self.devices.contains(name)
    }

    /// Whether the (non-abstract) QOM type exists, e.g. `memory-backend-file`.
    pub fn has_object(&self, name: &str) -> bool {
        self.object_types.contains(name)
    }

    /// Whether the QMP command exists.
    pub fn has_command(&self, name: &str) -> bool {
        self.commands.contains(name)
    }

    /// Whether the libvirt-style flag is set.
    pub fn has_flag(&self, name: &str) -> bool {
        self.flags.contains(name)
    }

    /// Whether the command-line option exists, and (if given) accepts `param`.
    pub fn has_option(&self, option: &str, param: Option<&str>) -> bool {
        self.command_line_options
            .get(option)
            .is_some_and(|params| param.is_none_or(|p| params.contains_key(p)))
    }

    /// Whether `-sandbox` (seccomp) is supported.
    pub fn sandbox_supported(&self) -> bool {
        self.has_option("sandbox", None)
    }

    /// Looks a machine type up by name or alias.
    pub fn machine(&self, name: &str) -> Option<&MachineType> {
        self.machines.iter().find(|m| m.name == name).or_else(|| {
            self.machines
                .iter()
                .find(|m| m.alias.as_deref() == Some(name))
        })
    }

    /// The canonical machine name for a name or alias (`pc` →
    /// `pc-i440fx-7.2`); `None` if the machine type doesn't exist.
    pub fn resolve_machine_alias(&self, name: &str) -> Option<&str> {
        self.machine(name).map(|m| m.name.as_str())
    }

    /// The machine QEMU uses without `-machine`.
    pub fn default_machine(&self) -> Option<&MachineType> {
        self.machines.iter().find(|m| m.is_default)
    }

    /// Whether CPU model `m` runs under `accel` (`kvm` or `tcg`) here;
    /// `None` when the probe did not ask that accelerator.
    pub fn cpu_model_usable(&self, m: &CpuModel, accel: &str) -> Option<bool> {
        if self.probe_accel == accel {
            return Some(m.unavailable_features.is_empty());
        }
        if accel == "tcg" {
            return self
                .tcg_unavailable
                .as_ref()
                .and_then(|t| t.get(&m.name))
                .map(Vec::is_empty);
        }
        None
    }

    /// Features `accel` cannot provide for model `m`, when known.
    pub fn cpu_model_blockers<'a>(&'a self, m: &'a CpuModel, accel: &str) -> Option<&'a [String]> {
        if self.probe_accel == accel {
            return Some(&m.unavailable_features);
        }
        if accel == "tcg" {
            return self
                .tcg_unavailable
                .as_ref()
                .and_then(|t| t.get(&m.name))
                .map(Vec::as_slice);
        }
        None
    }

    /// Looks a CPU model up by name.
    pub fn cpu_model(&self, name: &str) -> Option<&CpuModel> {
        self.cpu_models.iter().find(|c| c.name == name)
    }

    /// Applies `<qemu:capabilities>` overrides: adds then removes flags.
    pub fn apply_overrides<'a>(
        &mut self,
        add: impl IntoIterator<Item = &'a str>,
        del: impl IntoIterator<Item = &'a str>,
    ) {
        self.flags.extend(add.into_iter().map(str::to_owned));
        for d in del {
            self.flags.remove(d);
        }
    }
}
