//! Times a cold capability probe and a cached read.
//!
//! `cargo run --release -p qemu --example probe -- /usr/bin/qemu-system-x86_64 /tmp/capcache`

use std::path::PathBuf;
use std::time::Instant;

use qemu::caps::CapsCache;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let emulator = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "/usr/bin/qemu-system-x86_64".into()),
    );
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "/tmp/capcache".into()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let cache = CapsCache::new(&dir);
    cache.invalidate(&emulator)?;

    let t = Instant::now();
    let caps = rt.block_on(cache.get(&emulator))?;
    let cold = t.elapsed();

    let t = Instant::now();
    let cached = rt.block_on(cache.get(&emulator))?;
    let warm = t.elapsed();
    assert_eq!(caps, cached, "cached read returns the probed data");

    let (major, minor, micro) = caps.version();
    println!("emulator:     {}", emulator.display());
    println!("version:      {major}.{minor}.{micro} ({})", caps.package);
    println!(
        "arch:         {} (probed with {})",
        caps.arch, caps.probe_accel
    );
    println!(
        "default:      {}",
        caps.default_machine().map_or("-", |m| &m.name)
    );
    println!(
        "counts:       {} machines, {} devices, {} QOM types, {} commands, {} CPU models",
        caps.machines.len(),
        caps.devices.len(),
        caps.object_types.len(),
        caps.commands.len(),
        caps.cpu_models.len()
    );
    println!(
        "flags:        {}",
        caps.flags.iter().cloned().collect::<Vec<_>>().join(" ")
    );
    println!(
        "cache file:   {} ({} bytes)",
        cache.path_for(&emulator).display(),
        std::fs::metadata(cache.path_for(&emulator))?.len()
    );
    println!("cold probe:   {:.1} ms", cold.as_secs_f64() * 1e3);
    println!("cached read:  {:.3} ms", warm.as_secs_f64() * 1e3);
    Ok(())
}
