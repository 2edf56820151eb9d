//! Probes an emulator and prints its [`qemu::Capabilities`] as JSON: how the
//! planner's golden capability sets (`crates/qemu-plan/tests/caps/`) are
//! captured from real binaries.
//!
//! `cargo run -p qemu --example capture-caps -- /usr/bin/qemu-system-x86_64`

use std::path::PathBuf;

use anyhow::Context as _;
use qemu::caps::{Prober, QemuProber};

fn main() -> anyhow::Result<()> {
    let emulator: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/qemu-system-x86_64"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let caps = runtime
        .block_on(QemuProber::default().probe(&emulator))
        .with_context(|| format!("probing {}", emulator.display()))?;
    println!("{}", serde_json::to_string_pretty(&caps)?);
    Ok(())
}
