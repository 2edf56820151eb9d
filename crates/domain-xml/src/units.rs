//! Memory sizes with libvirt's unit suffixes, normalised to KiB.

/// Bytes per unit, or `None` when the unit is not one libvirt accepts.
/// `b`/`bytes`; `K`/`KiB` (1024) and `KB` (1000), likewise M, G, T, P, E.
pub fn unit_factor(unit: &str) -> Option<u128> {
    let u = unit.trim();
    if u.eq_ignore_ascii_case("b")
        || u.eq_ignore_ascii_case("byte")
        || u.eq_ignore_ascii_case("bytes")
    {
        return Some(1);
    }
    let mut chars = u.chars();
    let exp = match chars.next()?.to_ascii_lowercase() {
        'k' => 1,
        'm' => 2,
        'g' => 3,
        't' => 4,
        'p' => 5,
        'e' => 6,
        _ => return None,
    };
    let base: u128 = match chars.as_str() {
        "" | "iB" | "ib" => 1024,
        "B" | "b" => 1000,
        _ => return None,
    };
    Some(base.pow(exp))
}

/// Converts `value` in `unit` (default KiB) to KiB, rounding up like libvirt.
pub fn to_kib(value: u64, unit: Option<&str>) -> Option<u64> {
    let factor = match unit {
        None => 1024,
        Some(u) => unit_factor(u)?,
    };
    let bytes = u128::from(value).checked_mul(factor)?;
    u64::try_from(bytes.div_ceil(1024)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(to_kib(1, Some("GiB")), Some(1048576));
        assert_eq!(to_kib(1, Some("G")), Some(1048576));
        assert_eq!(to_kib(1, Some("GB")), Some(976563));
        assert_eq!(to_kib(128, Some("MiB")), Some(131072));
        assert_eq!(to_kib(512, None), Some(512));
        assert_eq!(to_kib(1025, Some("b")), Some(2));
        assert_eq!(to_kib(1, Some("bytes")), Some(1));
        assert_eq!(to_kib(2, Some("k")), Some(2));
        assert_eq!(to_kib(1, Some("EiB")), Some(1u64 << 50));
        assert_eq!(to_kib(u64::MAX, Some("EiB")), None);
        assert_eq!(to_kib(1, Some("furlong")), None);
    }
}
