//! Pool and volume XML of the `dir` storage driver, pure: parsing a pool
//! definition (libvirt's `<pool type='dir'>` schema: name, uuid, source,
//! target path and permissions), writing it back canonically with the sizes a
//! running pool has, and writing a volume's XML from its probed facts.
//!
//! Elements of `<pool>` and `<target>` this driver does not use are kept as
//! their source text and written back, so nothing a user defined is lost.

use std::fmt::Write as _;

use uuid::Uuid;

/// Why a pool definition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("(storage_pool_definition):{line}: {message}")]
    Malformed { line: u32, message: String },
    #[error("unexpected root element <{0}>, expecting <pool>")]
    Root(String),
    #[error("missing storage pool type")]
    MissingType,
    #[error("storage pool type '{0}' is not supported by this driver (only 'dir' pools are)")]
    UnsupportedType(String),
    #[error("missing pool name element")]
    MissingName,
    #[error("name {0} cannot contain '/'")]
    SlashInName(String),
    #[error("malformed uuid element '{0}'")]
    BadUuid(String),
    #[error("missing storage pool target path")]
    MissingTarget,
    #[error("storage pool target path '{0}' must be absolute")]
    RelativeTarget(String),
    #[error("malformed octal mode '{0}' in <permissions>")]
    BadMode(String),
    #[error("malformed {what} '{value}' in <permissions>")]
    BadId { what: &'static str, value: String },
}

/// `<permissions>` of a pool target or a volume.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Perms {
    /// Mode bits (octal in the XML).
    pub mode: Option<u32>,
    /// Owner uid (`-1`: unset in libvirt, written as given).
    pub owner: Option<i64>,
    /// Group gid.
    pub group: Option<i64>,
    /// Security label, kept as given.
    pub label: Option<String>,
}

/// A `dir` pool's definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolDef {
    /// Pool name.
    pub name: String,
    /// Its UUID (made when the XML has none).
    pub uuid: Uuid,
    /// The directory holding the volumes, without a trailing `/`.
    pub target: String,
    /// `<target><permissions>` as defined.
    pub perms: Option<Perms>,
    /// `<source>` as written (a `dir` pool has no source; kept if present).
    pub source: Option<String>,
    /// Other children of `<target>`, as written.
    pub target_extra: Vec<String>,
    /// Other children of `<pool>`, as written.
    pub extra: Vec<String>,
}

/// Sizes of a pool's file system, bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolSizes {
    /// Total size.
    pub capacity: u64,
    /// Used.
    pub allocation: u64,
    /// Free to unprivileged users.
    pub available: u64,
}

/// A volume's on-disk format as detected from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolFormat {
    /// No known header.
    Raw,
    /// QEMU copy-on-write v2/v3.
    Qcow2,
    /// ISO 9660 image.
    Iso,
}

impl VolFormat {
    /// The name libvirt writes in `<format type=...>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Qcow2 => "qcow2",
            Self::Iso => "iso",
        }
    }
}

/// What a volume (a file in the pool's directory) is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolFacts {
    /// File name.
    pub name: String,
    /// Canonical path (also the key).
    pub path: String,
    /// Detected format.
    pub format: VolFormat,
    /// Guest-visible size (qcow2: the virtual size).
    pub capacity: u64,
    /// Bytes allocated on the host.
    pub allocation: u64,
    /// File size.
    pub physical: u64,
    /// Owner, group and mode of the file.
    pub perms: Perms,
    /// qcow2 backing file as the header names it.
    pub backing: Option<String>,
}

/// Parses a pool definition; a missing UUID is made with `new_uuid`.
pub fn parse_pool(xml: &str, new_uuid: impl FnOnce() -> Uuid) -> Result<PoolDef, XmlError> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| XmlError::Malformed {
        line: e.pos().row,
        message: e.to_string(),
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "pool" {
        return Err(XmlError::Root(root.tag_name().name().to_owned()));
    }
    match root.attribute("type") {
        None => return Err(XmlError::MissingType),
        Some("dir") => {}
        Some(t) => return Err(XmlError::UnsupportedType(t.to_owned())),
    }
    let raw = |n: roxmltree::Node<'_, '_>| xml[n.range()].to_owned();
    let (mut name, mut uuid, mut target, mut perms, mut source) = (None, None, None, None, None);
    let (mut target_extra, mut extra) = (Vec::new(), Vec::new());
    for c in root.children().filter(|n| n.is_element()) {
        match c.tag_name().name() {
            "name" => name = Some(c.text().unwrap_or("").trim().to_owned()),
            "uuid" => {
                let t = c.text().unwrap_or("").trim();
                uuid = Some(Uuid::parse_str(t).map_err(|_| XmlError::BadUuid(t.to_owned()))?);
            }
            // Sizes are the pool's state, never part of its definition.
            "capacity" | "allocation" | "available" => {}
            // An empty `<source>` (what a `dir` pool writes) is no source.
            "source" => {
                if c.children().any(|n| n.is_element()) || c.attributes().len() > 0 {
                    source = Some(raw(c));
                }
            }
            "target" => {
                for t in c.children().filter(|n| n.is_element()) {
                    match t.tag_name().name() {
                        "path" => target = Some(t.text().unwrap_or("").trim().to_owned()),
                        "permissions" => perms = Some(parse_perms(t)?),
                        _ => target_extra.push(raw(t)),
                    }
                }
            }
            _ => extra.push(raw(c)),
        }
    }
    let name = name
        .filter(|n| !n.is_empty())
        .ok_or(XmlError::MissingName)?;
    if name.contains('/') {
        return Err(XmlError::SlashInName(name));
    }
    let target = target
        .filter(|t| !t.is_empty())
        .ok_or(XmlError::MissingTarget)?;
    if !target.starts_with('/') {
        return Err(XmlError::RelativeTarget(target));
    }
    Ok(PoolDef {
        name,
        uuid: uuid.unwrap_or_else(new_uuid),
        target: sanitize_path(&target),
        perms,
        source,
        target_extra,
        extra,
    })
}

/// `//a//b/` → `/a/b` (libvirt stores target paths this way).
pub fn sanitize_path(p: &str) -> String {
    let parts: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
    format!("/{}", parts.join("/"))
}

fn parse_perms(n: roxmltree::Node<'_, '_>) -> Result<Perms, XmlError> {
    let mut p = Perms::default();
    for c in n.children().filter(|n| n.is_element()) {
        let t = c.text().unwrap_or("").trim().to_owned();
        match c.tag_name().name() {
            "mode" => {
                p.mode = Some(u32::from_str_radix(&t, 8).map_err(|_| XmlError::BadMode(t))?);
            }
            "owner" => {
                p.owner = Some(t.parse().map_err(|_| XmlError::BadId {
                    what: "owner",
                    value: t,
                })?);
            }
            "group" => {
                p.group = Some(t.parse().map_err(|_| XmlError::BadId {
                    what: "group",
                    value: t,
                })?);
            }
            "label" => p.label = Some(t),
            _ => {}
        }
    }
    Ok(p)
}

/// Text escaped for an element or a quoted attribute.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '\'' => o.push_str("&apos;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    o
}

fn write_perms(o: &mut String, indent: &str, p: &Perms) {
    let _ = writeln!(o, "{indent}<permissions>");
    if let Some(m) = p.mode {
        let _ = writeln!(o, "{indent}  <mode>{m:04o}</mode>");
    }
    if let Some(u) = p.owner {
        let _ = writeln!(o, "{indent}  <owner>{u}</owner>");
    }
    if let Some(g) = p.group {
        let _ = writeln!(o, "{indent}  <group>{g}</group>");
    }
    if let Some(l) = &p.label {
        let _ = writeln!(o, "{indent}  <label>{}</label>", esc(l));
    }
    let _ = writeln!(o, "{indent}</permissions>");
}

/// The pool's XML: its definition, the sizes (zero for an inactive pool, as
/// libvirt writes) and `perms` (the directory's, for a running pool; else the
/// defined ones).
pub fn pool_xml(def: &PoolDef, sizes: PoolSizes, perms: Option<&Perms>) -> String {
    let mut o = String::new();
    o.push_str("<pool type='dir'>\n");
    let _ = writeln!(o, "  <name>{}</name>", esc(&def.name));
    let _ = writeln!(o, "  <uuid>{}</uuid>", def.uuid);
    let _ = writeln!(o, "  <capacity unit='bytes'>{}</capacity>", sizes.capacity);
    let _ = writeln!(
        o,
        "  <allocation unit='bytes'>{}</allocation>",
        sizes.allocation
    );
    let _ = writeln!(
        o,
        "  <available unit='bytes'>{}</available>",
        sizes.available
    );
    match &def.source {
        Some(s) => {
            let _ = writeln!(o, "  {s}");
        }
        None => o.push_str("  <source>\n  </source>\n"),
    }
    o.push_str("  <target>\n");
    let _ = writeln!(o, "    <path>{}</path>", esc(&def.target));
    if let Some(p) = perms.or(def.perms.as_ref()) {
        write_perms(&mut o, "    ", p);
    }
    for t in &def.target_extra {
        let _ = writeln!(o, "    {t}");
    }
    o.push_str("  </target>\n");
    for e in &def.extra {
        let _ = writeln!(o, "  {e}");
    }
    o.push_str("</pool>\n");
    o
}

/// A volume's XML.
pub fn vol_xml(v: &VolFacts) -> String {
    let mut o = String::new();
    o.push_str("<volume type='file'>\n");
    let _ = writeln!(o, "  <name>{}</name>", esc(&v.name));
    let _ = writeln!(o, "  <key>{}</key>", esc(&v.path));
    o.push_str("  <source>\n  </source>\n");
    let _ = writeln!(o, "  <capacity unit='bytes'>{}</capacity>", v.capacity);
    let _ = writeln!(
        o,
        "  <allocation unit='bytes'>{}</allocation>",
        v.allocation
    );
    let _ = writeln!(o, "  <physical unit='bytes'>{}</physical>", v.physical);
    o.push_str("  <target>\n");
    let _ = writeln!(o, "    <path>{}</path>", esc(&v.path));
    let _ = writeln!(o, "    <format type='{}'/>", v.format.as_str());
    write_perms(&mut o, "    ", &v.perms);
    o.push_str("  </target>\n");
    if let Some(b) = &v.backing {
        o.push_str("  <backingStore>\n");
        let _ = writeln!(o, "    <path>{}</path>", esc(b));
        o.push_str("  </backingStore>\n");
    }
    o.push_str("</volume>\n");
    o
}

/// libvirt's pool types, in its order; only `dir` is supported here.
const POOL_TYPES: [&str; 14] = [
    "dir",
    "fs",
    "netfs",
    "logical",
    "disk",
    "iscsi",
    "iscsi-direct",
    "scsi",
    "mpath",
    "rbd",
    "sheepdog",
    "gluster",
    "zfs",
    "vstorage",
];

/// `<storagepoolCapabilities>`: every pool type libvirt knows, `dir`
/// supported with the volume formats this driver can create (raw, qcow2).
pub fn pool_capabilities_xml() -> String {
    let mut o = String::from("<storagepoolCapabilities>\n");
    for t in POOL_TYPES {
        if t == "dir" {
            o.push_str("  <pool type='dir' supported='yes'>\n");
            o.push_str("    <volOptions>\n");
            o.push_str("      <defaultFormat type='raw'/>\n");
            o.push_str("      <enum name='targetFormatType'>\n");
            for f in [VolFormat::Raw, VolFormat::Qcow2] {
                let _ = writeln!(o, "        <value>{}</value>", f.as_str());
            }
            o.push_str("      </enum>\n    </volOptions>\n  </pool>\n");
        } else {
            let _ = writeln!(o, "  <pool type='{t}' supported='no'>\n  </pool>");
        }
    }
    o.push_str("</storagepoolCapabilities>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed() -> Uuid {
        Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0)
    }

    #[test]
    fn virt_install_pool_round_trips() {
        // What virtinst 4.1 defines for `--disk path=/var/tmp/x/disk.qcow2`.
        let xml = "<pool type=\"dir\">\n  <name>x</name>\n  <target>\n    <path>/var/tmp/x/</path>\n  </target>\n</pool>\n";
        let def = parse_pool(xml, fixed).unwrap();
        assert_eq!(def.target, "/var/tmp/x");
        let sizes = PoolSizes {
            capacity: 1000,
            allocation: 400,
            available: 600,
        };
        let perms = Perms {
            mode: Some(0o755),
            owner: Some(0),
            group: Some(0),
            label: None,
        };
        let out = pool_xml(&def, sizes, Some(&perms));
        insta::assert_snapshot!("virt_install_pool", out);
        // The written XML defines the same pool (the directory's permissions
        // of a running pool become defined ones).
        let again = parse_pool(&out, || unreachable!()).unwrap();
        assert_eq!(again.perms.as_ref(), Some(&perms));
        assert_eq!(
            PoolDef {
                perms: None,
                ..again
            },
            def
        );
    }

    #[test]
    fn unknown_elements_are_kept() {
        let xml = "<pool type='dir'><name>p</name><uuid>12345678-9abc-def0-1234-56789abcdef0</uuid>\
            <source><dir path='/x'/></source>\
            <target><path>/srv/p</path><permissions><mode>0711</mode><owner>107</owner><group>107</group><label>l</label></permissions><encryption format='x'/></target>\
            <features><cow state='no'/></features></pool>";
        let def = parse_pool(xml, || unreachable!()).unwrap();
        let out = pool_xml(&def, PoolSizes::default(), None);
        insta::assert_snapshot!("pool_unknown_kept", out);
        assert_eq!(parse_pool(&out, || unreachable!()).unwrap(), def);
    }

    #[test]
    fn bad_definitions_are_named() {
        let e = |x: &str| parse_pool(x, fixed).unwrap_err().to_string();
        assert_eq!(
            e("<pool type='logical'><name>v</name></pool>"),
            "storage pool type 'logical' is not supported by this driver (only 'dir' pools are)"
        );
        assert_eq!(
            e("<pool type='dir'><target><path>/a</path></target></pool>"),
            "missing pool name element"
        );
        assert_eq!(
            e("<pool type='dir'><name>a</name></pool>"),
            "missing storage pool target path"
        );
        assert_eq!(
            e("<pool type='dir'><name>a/b</name><target><path>/a</path></target></pool>"),
            "name a/b cannot contain '/'"
        );
        assert_eq!(
            e("<pool type='dir'><name>a</name><target><path>rel</path></target></pool>"),
            "storage pool target path 'rel' must be absolute"
        );
        assert_eq!(
            e("<pool type='dir'><name>a</name><uuid>zz</uuid></pool>"),
            "malformed uuid element 'zz'"
        );
        assert_eq!(
            e("<domain/>"),
            "unexpected root element <domain>, expecting <pool>"
        );
        assert!(e("<pool").starts_with("(storage_pool_definition):1: "));
    }

    #[test]
    fn pool_capabilities() {
        insta::assert_snapshot!("pool_capabilities", pool_capabilities_xml());
    }

    #[test]
    fn volume_xml() {
        let v = VolFacts {
            name: "disk.qcow2".into(),
            path: "/var/tmp/x/disk.qcow2".into(),
            format: VolFormat::Qcow2,
            capacity: 1 << 30,
            allocation: 200_704,
            physical: 196_616,
            perms: Perms {
                mode: Some(0o644),
                owner: Some(0),
                group: Some(0),
                label: None,
            },
            backing: None,
        };
        insta::assert_snapshot!("volume_qcow2", vol_xml(&v));
    }
}
