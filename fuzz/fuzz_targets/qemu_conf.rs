//! Any text as qemu.conf: the parser returns settings (with warnings) or an error
//! naming the place, and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(e) = host_config::HostConfig::parse(text, "qemu.conf") {
        assert!(!e.to_string().is_empty());
    }
});
