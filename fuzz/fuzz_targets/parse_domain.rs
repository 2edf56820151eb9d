//! Any input: the parser returns an error or a domain, never panics; an accepted
//! domain's canonical form parses back to the same domain.
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
    }
});
