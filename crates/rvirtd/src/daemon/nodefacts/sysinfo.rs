//! `virsh sysinfo`: the host's SMBIOS as libvirt's `<sysinfo type='smbios'>`,
//! from the kernel's DMI attributes (`/sys/class/dmi/id`), which hold the
//! BIOS, system, base board and chassis strings without running dmidecode.

use std::fmt::Write as _;
use std::path::Path;

/// The `<sysinfo>` sections libvirt writes, each with its entries in
/// libvirt's order and the DMI attribute file each comes from.
const SECTIONS: &[(&str, &[(&str, &str)])] = &[
    (
        "bios",
        &[
            ("vendor", "bios_vendor"),
            ("version", "bios_version"),
            ("date", "bios_date"),
            ("release", "bios_release"),
        ],
    ),
    (
        "system",
        &[
            ("manufacturer", "sys_vendor"),
            ("product", "product_name"),
            ("version", "product_version"),
            ("serial", "product_serial"),
            ("uuid", "product_uuid"),
            ("sku", "product_sku"),
            ("family", "product_family"),
        ],
    ),
    (
        "baseBoard",
        &[
            ("manufacturer", "board_vendor"),
            ("product", "board_name"),
            ("version", "board_version"),
            ("serial", "board_serial"),
            ("asset", "board_asset_tag"),
        ],
    ),
    (
        "chassis",
        &[
            ("manufacturer", "chassis_vendor"),
            ("version", "chassis_version"),
            ("serial", "chassis_serial"),
            ("asset", "chassis_asset_tag"),
        ],
    ),
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
}

/// The XML from a lookup of DMI attributes by file name (`None`: absent or
/// unreadable, as the serials are to non-root). Sections without any entry
/// are left out; with none at all the element is empty, as libvirt writes it.
pub fn sysinfo_xml(attr: impl Fn(&str) -> Option<String>) -> String {
    let mut body = String::new();
    for (section, entries) in SECTIONS {
        let found: Vec<(&str, String)> = entries
            .iter()
            .filter_map(|(name, file)| {
                let v = attr(file)?;
                let v = v.trim_end_matches('\n').to_owned();
                (!v.is_empty()).then_some((*name, v))
            })
            .collect();
        if found.is_empty() {
            continue;
        }
        let _ = writeln!(body, "  <{section}>");
        for (name, v) in found {
            let _ = writeln!(body, "    <entry name='{name}'>{}</entry>", esc(&v));
        }
        let _ = writeln!(body, "  </{section}>");
    }
    if body.is_empty() {
        "<sysinfo type='smbios'/>\n".to_owned()
    } else {
        format!("<sysinfo type='smbios'>\n{body}</sysinfo>\n")
    }
}

/// The host's, from `dir` (normally `/sys/class/dmi/id`).
pub fn read(dir: &Path) -> String {
    sysinfo_xml(|f| std::fs::read_to_string(dir.join(f)).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_in_libvirts_order_and_empty_ones_left_out() {
        let attrs = |f: &str| {
            Some(
                match f {
                    "bios_vendor" => "SeaBIOS",
                    "bios_version" => "1.16.3-debian-1.16.3-2",
                    "bios_date" => "04/01/2014",
                    "sys_vendor" => "QEMU",
                    "product_name" => "Standard PC (Q35 + ICH9, 2009)",
                    "product_version" => "pc-q35-10.0",
                    _ => return None,
                }
                .to_owned()
                    + "\n",
            )
        };
        assert_eq!(
            sysinfo_xml(attrs),
            "<sysinfo type='smbios'>\n  <bios>\n    <entry name='vendor'>SeaBIOS</entry>\n    \
             <entry name='version'>1.16.3-debian-1.16.3-2</entry>\n    \
             <entry name='date'>04/01/2014</entry>\n  </bios>\n  <system>\n    \
             <entry name='manufacturer'>QEMU</entry>\n    \
             <entry name='product'>Standard PC (Q35 + ICH9, 2009)</entry>\n    \
             <entry name='version'>pc-q35-10.0</entry>\n  </system>\n</sysinfo>\n"
        );
        assert_eq!(sysinfo_xml(|_| None), "<sysinfo type='smbios'/>\n");
    }
}
