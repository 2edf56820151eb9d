//! The device map's layout, libvirt's: key (u64) `(major << 32) | minor` with
//! [`WILDCARD`] for "any"; value (u32) `(access << 16) | type`. Rules to entries and
//! back, merging and denying. No syscalls.

use crate::cgroup::rule::{DeviceKind, DeviceRule};

pub const BPF_DEVCG_ACC_MKNOD: u32 = 1;
pub const BPF_DEVCG_ACC_READ: u32 = 2;
pub const BPF_DEVCG_ACC_WRITE: u32 = 4;
pub const BPF_DEVCG_DEV_BLOCK: u32 = 1;
pub const BPF_DEVCG_DEV_CHAR: u32 = 2;
/// "Any major" / "any minor" in a map key half.
pub const WILDCARD: u32 = 0xffff_ffff;
/// Size of a new map; it doubles when full.
pub const DEVICE_MAP_INITIAL_ENTRIES: u32 = 64;

// ---------------------------------------------------------------------------
// Map encoding

/// The map key of a (major, minor) pair; `None` is the wildcard.
pub fn map_key(major: Option<u32>, minor: Option<u32>) -> u64 {
    (u64::from(major.unwrap_or(WILDCARD)) << 32) | u64::from(minor.unwrap_or(WILDCARD))
}

fn type_bits(kind: DeviceKind) -> u32 {
    match kind {
        DeviceKind::Char => BPF_DEVCG_DEV_CHAR,
        DeviceKind::Block => BPF_DEVCG_DEV_BLOCK,
        DeviceKind::All => BPF_DEVCG_DEV_CHAR | BPF_DEVCG_DEV_BLOCK,
    }
}

fn access_bits(r: &DeviceRule) -> u32 {
    let mut a = 0;
    if r.mknod {
        a |= BPF_DEVCG_ACC_MKNOD;
    }
    if r.read {
        a |= BPF_DEVCG_ACC_READ;
    }
    if r.write {
        a |= BPF_DEVCG_ACC_WRITE;
    }
    a
}

/// The map value of a rule: `(access << 16) | type`.
pub fn map_value(r: &DeviceRule) -> u32 {
    (access_bits(r) << 16) | type_bits(r.kind)
}

/// The rule a map entry stands for (`None` when the value has no type bits).
pub fn decode_map_entry(key: u64, value: u32) -> Option<DeviceRule> {
    let half = |v: u32| (v != WILDCARD).then_some(v);
    let kind = match value & 0xffff & (BPF_DEVCG_DEV_CHAR | BPF_DEVCG_DEV_BLOCK) {
        BPF_DEVCG_DEV_CHAR => DeviceKind::Char,
        BPF_DEVCG_DEV_BLOCK => DeviceKind::Block,
        0 => return None,
        _ => DeviceKind::All,
    };
    let acc = value >> 16;
    Some(DeviceRule {
        kind,
        major: half((key >> 32) as u32),
        minor: half(key as u32),
        read: acc & BPF_DEVCG_ACC_READ != 0,
        write: acc & BPF_DEVCG_ACC_WRITE != 0,
        mknod: acc & BPF_DEVCG_ACC_MKNOD != 0,
    })
}
/// The map value once `rule` is denied from `old` (`None`: delete the entry). If
/// the rule takes away every access the entry grants, the rule's type bits go;
/// otherwise its access bits go for both types (the map cannot hold per-type access).
pub(crate) fn value_after_deny(old: u32, rule: &DeviceRule) -> Option<u32> {
    let (old_acc, old_types) = (old >> 16, old & 0xffff);
    let deny_acc = access_bits(rule);
    if old_acc & !deny_acc == 0 {
        let types = old_types & !type_bits(rule.kind);
        (types != 0).then_some((old_acc << 16) | types)
    } else {
        Some(((old_acc & !deny_acc) << 16) | old_types)
    }
}

/// Rules merged per map key (several rules for the same numbers OR together).
pub(super) fn merged(rules: &[DeviceRule]) -> Vec<(u64, u32)> {
    let mut out: Vec<(u64, u32)> = Vec::new();
    for r in rules.iter().filter(|r| !r.is_empty()) {
        let k = map_key(r.major, r.minor);
        match out.iter_mut().find(|(ok, _)| *ok == k) {
            Some((_, v)) => *v |= map_value(r),
            None => out.push((k, map_value(r))),
        }
    }
    out
}
