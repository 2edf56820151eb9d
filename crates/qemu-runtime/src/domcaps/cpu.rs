//! The `<cpu>` part of domain capabilities: which CPU modes a domain can use
//! and the named models with their usability.

use qemu::caps::{Capabilities, CpuModel};

/// The host CPU as `/proc/cpuinfo` tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostCpu {
    /// libvirt's vendor name (`Intel`, `AMD`, `Hygon`), from `vendor_id`.
    pub vendor: Option<String>,
    /// The `flags` line, in the kernel's spelling.
    pub flags: Vec<String>,
}

impl HostCpu {
    /// libvirt's vendor name for a `/proc/cpuinfo` `vendor_id`.
    pub fn vendor_name(vendor_id: &str) -> Option<&'static str> {
        match vendor_id {
            "GenuineIntel" => Some("Intel"),
            "AuthenticAMD" => Some("AMD"),
            "HygonGenuine" => Some("Hygon"),
            _ => None,
        }
    }
}

/// QEMU's x86 model families, oldest first per vendor: the order in which one
/// is a better stand-in for a newer host. A family only counts when the probed
/// QEMU has a usable model of it, so a QEMU without a family is unaffected.
const FAMILIES: &[(&str, &[&str])] = &[
    (
        "Intel",
        &[
            "Conroe",
            "Penryn",
            "Nehalem",
            "Westmere",
            "SandyBridge",
            "IvyBridge",
            "Haswell",
            "Broadwell",
            "Skylake-Client",
            "Skylake-Server",
            "Cascadelake-Server",
            "Cooperlake",
            "Icelake-Server",
            "SapphireRapids",
            "GraniteRapids",
        ],
    ),
    (
        "AMD",
        &[
            "Opteron_G1",
            "Opteron_G2",
            "Opteron_G3",
            "Opteron_G4",
            "Opteron_G5",
            "EPYC",
            "EPYC-Rome",
            "EPYC-Milan",
            "EPYC-Genoa",
        ],
    ),
    ("Hygon", &["Dhyana"]),
];

/// Vendor-neutral models, weakest first, for a host no family fits.
const GENERIC: &[&str] = &[
    "486", "pentium", "pentium2", "pentium3", "qemu32", "kvm32", "kvm64", "qemu64",
];

/// Models that are modes, not models (`-cpu host`, `-cpu max`, QEMU's `base`).
pub(super) fn is_named_model(m: &CpuModel) -> bool {
    !matches!(m.name.as_str(), "host" | "max" | "base")
}

/// Whether the model is usable for `virttype`: known when the probe asked
/// that accelerator.
pub(super) fn usable(caps: &Capabilities, virttype: &str, m: &CpuModel) -> Option<bool> {
    caps.cpu_model_usable(m, accel(virttype))
}

/// The accelerator a virt type runs with.
pub(super) fn accel(virttype: &str) -> &'static str {
    if virttype == "kvm" { "kvm" } else { "tcg" }
}

/// The model name a family member or generic model is known by (`EPYC-Rome`
/// or its newest usable version `EPYC-Rome-v4` when the alias is not usable).
fn usable_member(caps: &Capabilities, virttype: &str, base: &str) -> Option<String> {
    let ok = |m: &CpuModel| usable(caps, virttype, m) == Some(true);
    if caps.cpu_model(base).is_some_and(ok) {
        return Some(base.to_owned());
    }
    let prefix = format!("{base}-v");
    caps.cpu_models
        .iter()
        .filter(|m| {
            m.name
                .strip_prefix(&prefix)
                .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit()))
        })
        .filter(|m| ok(m))
        .max_by_key(|m| m.name[prefix.len()..].parse::<u32>().unwrap_or(0))
        .map(|m| m.name.clone())
}

/// The host-model stand-in: the newest usable family of the host's vendor
/// (with that vendor), else the strongest usable generic model (no vendor).
/// `None` when usability is unknown for this virt type or nothing is usable.
pub(super) fn host_model(
    caps: &Capabilities,
    virttype: &str,
    host: &HostCpu,
) -> Option<(String, Option<String>)> {
    if let Some(vendor) = &host.vendor
        && let Some((_, fams)) = FAMILIES.iter().find(|(v, _)| v == vendor)
        && let Some(found) = fams
            .iter()
            .rev()
            .find_map(|f| usable_member(caps, virttype, f))
    {
        return Some((found, Some(vendor.clone())));
    }
    GENERIC
        .iter()
        .rev()
        .find_map(|g| usable_member(caps, virttype, g))
        .map(|m| (m, None))
}
