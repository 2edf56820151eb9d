//! rvirtd. When started as `rvirtd launch` or `rvirtd nsexec --pid PID` (by itself,
//! with the launcher channel on fd 3) it is the single-threaded launcher helper: that
//! check comes first, before any thread exists.

fn main() -> anyhow::Result<()> {
    if matches!(
        std::env::args_os()
            .nth(1)
            .as_deref()
            .and_then(|a| a.to_str()),
        Some("launch" | "nsexec")
    ) {
        std::process::exit(confine::launcher::launcher_main(std::env::args_os()));
    }
    anyhow::bail!("rvirtd is not usable yet: the daemon loop is still being written")
}
