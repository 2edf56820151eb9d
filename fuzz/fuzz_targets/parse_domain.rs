//! Any input: the parser returns an error or a domain, never panics; an accepted
//! domain's canonical form parses back to the same domain, and define-time
//! validation (with and without libvirt's defaults) answers without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut id = || uuid::Uuid::from_u128(7);
    if let Ok(parsed) = domain_xml::parse_domain_with(text, &mut id) {
        let xml = parsed.value.to_xml();
        let again = domain_xml::parse_domain_with(&xml, &mut id).expect("canonical output must parse");
        assert_eq!(again.value, parsed.value);
        assert_eq!(again.value.to_xml(), xml);
        let _ = domain_xml::validate_all(&parsed.value);
        let mut filled = parsed.value;
        let resolve = |m: &str| match m {
            "pc" => Some("pc-i440fx-10.0".to_owned()),
            "q35" => Some("pc-q35-10.0".to_owned()),
            _ => None,
        };
        let ctx = domain_xml::defaults::DefaultsContext {
            emulator: "/usr/bin/qemu-system-x86_64",
            arch: "x86_64",
            default_machine: "pc-i440fx-10.0",
            resolve_machine: &resolve,
        };
        domain_xml::defaults::apply(&mut filled, &ctx);
        let _ = domain_xml::validate_all(&filled);
    }
});
