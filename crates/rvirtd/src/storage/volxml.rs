//! Parsing the `<volume>` XML a client sends to create a volume in a `dir`
//! pool, pure: name, capacity and allocation (libvirt's scaled integers),
//! target format and permissions, and a backing store.

use super::xml::{Perms, VolFormat};

/// Why a volume definition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VolXmlError {
    #[error("(storage_volume_definition):{line}: {message}")]
    Malformed { line: u32, message: String },
    #[error("unexpected root element <{0}>, expecting <volume>")]
    Root(String),
    #[error("missing volume name element")]
    MissingName,
    #[error("volume name '{0}' cannot contain '/' nor be '.' or '..'")]
    SlashInName(String),
    #[error("missing capacity element")]
    MissingCapacity,
    #[error("malformed {what} '{value}'")]
    BadNumber { what: &'static str, value: String },
    #[error("unknown storage size unit '{0}'")]
    BadUnit(String),
    #[error("{what} '{value}' {unit} is too large")]
    Overflow {
        what: &'static str,
        value: u64,
        unit: String,
    },
    #[error("volume format '{0}' is not supported by this driver (raw and qcow2 are)")]
    BadFormat(String),
    #[error("malformed permissions: {0}")]
    BadPerms(String),
    #[error("missing backing store path")]
    MissingBackingPath,
}

/// A volume to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolDef {
    /// File name in the pool.
    pub name: String,
    /// Guest-visible size, bytes (`None`: the backing store's).
    pub capacity: Option<u64>,
    /// Bytes to allocate up front (`None`: as the format does).
    pub allocation: Option<u64>,
    /// File format.
    pub format: VolFormat,
    /// Mode, owner, group of the file.
    pub perms: Option<Perms>,
    /// Backing store path and format.
    pub backing: Option<(String, Option<String>)>,
}

/// libvirt's `virScaleInteger` units.
fn scale(unit: &str) -> Option<u64> {
    let u = unit.to_ascii_lowercase();
    let (base, exp): (u64, u32) = match u.as_str() {
        "" | "b" | "byte" | "bytes" => return Some(1),
        "kb" => (1000, 1),
        "k" | "kib" => (1024, 1),
        "mb" => (1000, 2),
        "m" | "mib" => (1024, 2),
        "gb" => (1000, 3),
        "g" | "gib" => (1024, 3),
        "tb" => (1000, 4),
        "t" | "tib" => (1024, 4),
        "pb" => (1000, 5),
        "p" | "pib" => (1024, 5),
        "eb" => (1000, 6),
        "e" | "eib" => (1024, 6),
        _ => return None,
    };
    base.checked_pow(exp)
}

fn scaled(n: roxmltree::Node<'_, '_>, what: &'static str) -> Result<u64, VolXmlError> {
    let t = n.text().unwrap_or("").trim();
    let v: u64 = t.parse().map_err(|_| VolXmlError::BadNumber {
        what,
        value: t.to_owned(),
    })?;
    let unit = n.attribute("unit").unwrap_or("bytes");
    let f = scale(unit).ok_or_else(|| VolXmlError::BadUnit(unit.to_owned()))?;
    v.checked_mul(f).ok_or_else(|| VolXmlError::Overflow {
        what,
        value: v,
        unit: unit.to_owned(),
    })
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(name))
}

/// Parses a volume definition for a `dir` pool.
pub fn parse_vol(xml: &str) -> Result<VolDef, VolXmlError> {
    parse(xml, true)
}

/// Parses the definition of a clone: the capacity may be left out (the
/// original's is used).
pub fn parse_clone(xml: &str) -> Result<VolDef, VolXmlError> {
    parse(xml, false)
}

fn parse(xml: &str, capacity_required: bool) -> Result<VolDef, VolXmlError> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| VolXmlError::Malformed {
        line: e.pos().row,
        message: e.to_string(),
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "volume" {
        return Err(VolXmlError::Root(root.tag_name().name().to_owned()));
    }
    let name = child(root, "name")
        .and_then(|n| n.text())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or(VolXmlError::MissingName)?;
    // A volume is a file of the pool's directory, never a path out of it.
    if name.contains('/') || name == "." || name == ".." {
        return Err(VolXmlError::SlashInName(name));
    }
    let backing = match child(root, "backingStore") {
        None => None,
        Some(b) => {
            let path = child(b, "path")
                .and_then(|p| p.text())
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .ok_or(VolXmlError::MissingBackingPath)?;
            let fmt = child(b, "format").and_then(|f| f.attribute("type").map(str::to_owned));
            Some((path, fmt))
        }
    };
    let capacity = child(root, "capacity")
        .map(|c| scaled(c, "capacity"))
        .transpose()?;
    if capacity_required && capacity.is_none() && backing.is_none() {
        return Err(VolXmlError::MissingCapacity);
    }
    let allocation = child(root, "allocation")
        .map(|c| scaled(c, "allocation"))
        .transpose()?;
    let target = child(root, "target");
    let format = match target
        .and_then(|t| child(t, "format"))
        .and_then(|f| f.attribute("type"))
    {
        None | Some("raw") => VolFormat::Raw,
        Some("qcow2") => VolFormat::Qcow2,
        Some(other) => return Err(VolXmlError::BadFormat(other.to_owned())),
    };
    let perms = target
        .and_then(|t| child(t, "permissions"))
        .map(parse_perms)
        .transpose()?;
    Ok(VolDef {
        name,
        capacity,
        allocation,
        format,
        perms,
        backing,
    })
}

fn parse_perms(n: roxmltree::Node<'_, '_>) -> Result<Perms, VolXmlError> {
    let text = |name: &str| child(n, name).and_then(|c| c.text()).map(str::trim);
    let bad = |what: &str, v: &str| VolXmlError::BadPerms(format!("{what} '{v}'"));
    Ok(Perms {
        mode: text("mode")
            .map(|m| u32::from_str_radix(m, 8).map_err(|_| bad("mode", m)))
            .transpose()?,
        owner: text("owner")
            .map(|o| o.parse().map_err(|_| bad("owner", o)))
            .transpose()?,
        group: text("group")
            .map(|g| g.parse().map_err(|_| bad("group", g)))
            .transpose()?,
        label: text("label").map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_virsh_and_virtinst_send() {
        // virsh vol-create-as NAME 64M --format qcow2
        let v = parse_vol(
            "<volume><name>d.qcow2</name><capacity>67108864</capacity>\
             <target><format type='qcow2'/></target></volume>",
        )
        .unwrap();
        assert_eq!(
            (v.name.as_str(), v.capacity, v.allocation, v.format),
            ("d.qcow2", Some(64 << 20), None, VolFormat::Qcow2)
        );
        // virtinst: units and permissions.
        let v = parse_vol(
            "<volume type='file'><name>r.img</name><capacity unit='G'>2</capacity>\
             <allocation unit='KiB'>4</allocation><target><format type='raw'/>\
             <permissions><mode>0600</mode><owner>107</owner><group>107</group></permissions>\
             </target></volume>",
        )
        .unwrap();
        assert_eq!(v.capacity, Some(2 << 30));
        assert_eq!(v.allocation, Some(4096));
        assert_eq!(v.perms.unwrap().mode, Some(0o600));
        let v = parse_vol(
            "<volume><name>o</name><backingStore><path>/b.qcow2</path><format type='qcow2'/>\
             </backingStore><target><format type='qcow2'/></target></volume>",
        )
        .unwrap();
        assert_eq!(v.capacity, None);
        assert_eq!(
            v.backing,
            Some(("/b.qcow2".to_owned(), Some("qcow2".to_owned())))
        );
    }

    #[test]
    fn bad_volumes_are_named() {
        let e = |x: &str| parse_vol(x).unwrap_err().to_string();
        assert_eq!(
            e("<volume><capacity>1</capacity></volume>"),
            "missing volume name element"
        );
        assert_eq!(
            e("<volume><name>a</name></volume>"),
            "missing capacity element"
        );
        assert_eq!(
            e("<volume><name>a/b</name><capacity>1</capacity></volume>"),
            "volume name 'a/b' cannot contain '/' nor be '.' or '..'"
        );
        assert_eq!(
            e("<volume><name>..</name><capacity>1</capacity></volume>"),
            "volume name '..' cannot contain '/' nor be '.' or '..'"
        );
        assert_eq!(
            e("<volume><name>a</name><capacity unit='zz'>1</capacity></volume>"),
            "unknown storage size unit 'zz'"
        );
        assert_eq!(
            e("<volume><name>a</name><capacity>x</capacity></volume>"),
            "malformed capacity 'x'"
        );
        assert_eq!(
            e("<volume><name>a</name><capacity unit='E'>100</capacity></volume>"),
            "capacity '100' E is too large"
        );
        assert_eq!(
            e(
                "<volume><name>a</name><capacity>1</capacity><target><format type='vmdk'/></target></volume>"
            ),
            "volume format 'vmdk' is not supported by this driver (raw and qcow2 are)"
        );
    }
}
