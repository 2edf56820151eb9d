//! Cases after libvirt 11.3's `tests/qemuxmlconfdata/firmware-*` (with this
//! crate's fixture descriptors in place of libvirt's test ones).

use std::path::PathBuf;

use super::*;
use crate::firmware::load;

fn descriptors() -> Vec<Descriptor> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/firmware/share");
    load(&[dir]).unwrap().0
}

fn domain(os: &str, features: &str) -> Domain {
    let xml = format!(
        "<domain type='kvm'><name>guest</name><uuid>63840878-0deb-4095-97e6-fc444d9bc9fa</uuid>\
         <memory unit='KiB'>1048576</memory>{os}<features><acpi/>{features}</features></domain>"
    );
    domain_xml::parse_domain(&xml).unwrap().value
}

/// The `<os>` and `<features>` of `d` after filling (checked to be idempotent).
fn filled(os: &str, features: &str) -> Result<String, FillError> {
    let mut d = domain(os, features);
    fill(&mut d, &descriptors(), Path::new("/nvram"), true)?;
    let once = d.to_xml();
    fill(&mut d, &descriptors(), Path::new("/nvram"), true).unwrap();
    assert_eq!(d.to_xml(), once, "filling twice must change nothing");
    let start = once.find("  <os").unwrap();
    let end = once.find("  </features>").unwrap();
    Ok(once[start..end].to_owned())
}

const Q35: &str = "<type arch='x86_64' machine='pc-q35-10.0'>hvm</type>";
const PC: &str = "<type arch='x86_64' machine='pc-i440fx-10.0'>hvm</type>";

#[test]
fn auto_efi_takes_the_first_descriptor_and_records_everything() {
    let out = filled(&format!("<os firmware='efi'>{Q35}</os>"), "").unwrap();
    assert_eq!(
        out,
        "  <os firmware='efi'>
    <type arch='x86_64' machine='pc-q35-10.0'>hvm</type>
    <firmware>
      <feature enabled='yes' name='enrolled-keys'/>
      <feature enabled='yes' name='secure-boot'/>
    </firmware>
    <loader readonly='yes' secure='yes' type='pflash' format='raw'>/fw/OVMF_CODE_4M.ms.fd</loader>
    <nvram template='/fw/OVMF_VARS_4M.ms.fd' templateFormat='raw' format='raw'>/nvram/guest_VARS.fd</nvram>
    <boot dev='hd'/>
  </os>
  <features>
    <acpi/>
    <smm state='on'/>
"
    );
}

#[test]
fn auto_efi_without_secure_boot() {
    let out = filled(
        &format!(
            "<os firmware='efi'>{Q35}<firmware><feature enabled='no' name='secure-boot'/></firmware></os>"
        ),
        "",
    )
    .unwrap();
    assert!(
        out.contains("<feature enabled='no' name='enrolled-keys'/>"),
        "{out}"
    );
    assert!(
        out.contains("<feature enabled='no' name='secure-boot'/>"),
        "{out}"
    );
    assert!(
        out.contains(
            "<loader readonly='yes' type='pflash' format='raw'>/fw/OVMF_CODE_4M.fd</loader>"
        ),
        "{out}"
    );
    assert!(!out.contains("smm"), "{out}");
}

#[test]
fn auto_efi_secure_boot_without_keys() {
    let out = filled(
        &format!(
            "<os firmware='efi'>{Q35}<firmware><feature enabled='no' name='enrolled-keys'/></firmware></os>"
        ),
        "",
    )
    .unwrap();
    assert!(out.contains("/fw/OVMF_CODE_4M.secboot.fd"), "{out}");
    assert!(
        out.contains("<feature enabled='yes' name='secure-boot'/>"),
        "{out}"
    );
    assert!(out.contains("<smm state='on'/>"), "{out}");
}

#[test]
fn smm_off_picks_firmware_without_smm_and_keeps_smm_off() {
    let out = filled(
        &format!("<os firmware='efi'>{Q35}</os>"),
        "<smm state='off'/>",
    )
    .unwrap();
    assert!(out.contains("/fw/OVMF_CODE_4M.fd"), "{out}");
    assert!(out.contains("<smm state='off'/>"), "{out}");
}

#[test]
fn auto_efi_with_a_user_nvram_path_keeps_it() {
    let out = filled(
        &format!("<os firmware='efi'>{Q35}<nvram>/path/to/guest_VARS.fd</nvram></os>"),
        "",
    )
    .unwrap();
    assert!(
        out.contains("<nvram template='/fw/OVMF_VARS_4M.ms.fd' templateFormat='raw' format='raw'>/path/to/guest_VARS.fd</nvram>"),
        "{out}"
    );
}

#[test]
fn nvram_file_source_is_kept() {
    let out = filled(
        &format!(
            "<os firmware='efi'>{PC}<nvram type='file'><source file='/path/to/guest_VARS.fd'/></nvram></os>"
        ),
        "",
    )
    .unwrap();
    assert!(
        out.contains(
            "<nvram template='/fw/OVMF_VARS_4M.fd' templateFormat='raw' type='file' format='raw'>\n      <source file='/path/to/guest_VARS.fd'/>"
        ),
        "{out}"
    );
}

#[test]
fn manual_pflash_matching_a_descriptor_becomes_a_full_efi_definition() {
    let out = filled(
        &format!(
            "<os>{PC}<loader readonly='yes' type='pflash'>/fw/OVMF_CODE_4M.fd</loader><nvram template='/fw/OVMF_VARS_4M.fd'/></os>"
        ),
        "",
    )
    .unwrap();
    assert_eq!(
        out,
        "  <os firmware='efi'>
    <type arch='x86_64' machine='pc-i440fx-10.0'>hvm</type>
    <firmware>
      <feature enabled='no' name='enrolled-keys'/>
      <feature enabled='no' name='secure-boot'/>
    </firmware>
    <loader readonly='yes' type='pflash' format='raw'>/fw/OVMF_CODE_4M.fd</loader>
    <nvram template='/fw/OVMF_VARS_4M.fd' templateFormat='raw' format='raw'>/nvram/guest_VARS.fd</nvram>
    <boot dev='hd'/>
  </os>
  <features>
    <acpi/>
"
    );
}

#[test]
fn manual_nonstandard_paths_stay_as_given() {
    let out = filled(
        &format!(
            "<os>{Q35}<loader readonly='yes' type='pflash'>/path/to/OVMF_CODE.fd</loader><nvram template='/path/to/OVMF_VARS.fd'/></os>"
        ),
        "",
    )
    .unwrap();
    assert_eq!(
        out,
        "  <os>
    <type arch='x86_64' machine='pc-q35-10.0'>hvm</type>
    <loader readonly='yes' type='pflash' format='raw'>/path/to/OVMF_CODE.fd</loader>
    <nvram template='/path/to/OVMF_VARS.fd' format='raw'>/nvram/guest_VARS.fd</nvram>
    <boot dev='hd'/>
  </os>
  <features>
    <acpi/>
"
    );
}

#[test]
fn bios_rom_and_plain_definitions_are_untouched() {
    let plain = format!("<os>{PC}</os>");
    let before = domain(&plain, "").to_xml();
    let mut d = domain(&plain, "");
    fill(&mut d, &descriptors(), Path::new("/nvram"), true).unwrap();
    assert_eq!(d.to_xml(), before);

    let rom = format!("<os>{PC}<loader type='rom'>/x/bios.bin</loader></os>");
    let before = domain(&rom, "").to_xml();
    let mut d = domain(&rom, "");
    fill(&mut d, &descriptors(), Path::new("/nvram"), true).unwrap();
    assert_eq!(d.to_xml(), before);
}

#[test]
fn auto_bios_picks_the_bios_descriptor() {
    let out = filled(&format!("<os firmware='bios'>{PC}</os>"), "").unwrap();
    assert_eq!(
        out,
        "  <os firmware='bios'>
    <type arch='x86_64' machine='pc-i440fx-10.0'>hvm</type>
    <firmware>
      <feature enabled='no' name='enrolled-keys'/>
      <feature enabled='no' name='secure-boot'/>
    </firmware>
    <loader type='rom' format='raw'>/fw/bios-256k.bin</loader>
    <boot dev='hd'/>
  </os>
  <features>
    <acpi/>
"
    );
}

#[test]
fn no_match_and_bad_formats_are_errors() {
    let e = filled(
        &format!(
            "<os firmware='efi'>{PC}<firmware><feature enabled='yes' name='secure-boot'/></firmware></os>"
        ),
        "",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Unable to find 'efi' firmware that is compatible with the current configuration"
    );
    let e = filled(
        &format!("<os firmware='efi'>{Q35}<loader format='vmdk'/></os>"),
        "",
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "Unsupported loader format 'vmdk'");
}

#[test]
fn a_raw_template_gives_a_raw_extension_only_for_new_definitions() {
    let os = format!(
        "<os>{Q35}<loader readonly='yes' type='pflash'>/p/CODE.raw</loader><nvram template='/p/VARS.raw'/></os>"
    );
    let mut d = domain(&os, "");
    fill(&mut d, &[], Path::new("/nvram"), true).unwrap();
    assert_eq!(
        d.os.nvram.as_ref().unwrap().file(),
        Some("/nvram/guest_VARS.raw")
    );
    let mut d = domain(&os, "");
    fill(&mut d, &[], Path::new("/nvram"), false).unwrap();
    assert_eq!(
        d.os.nvram.as_ref().unwrap().file(),
        Some("/nvram/guest_VARS.fd")
    );
}
