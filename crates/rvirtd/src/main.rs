//! rvirtd. When started as `rvirtd launch` or `rvirtd nsexec --pid PID` (by itself,
//! with the launcher channel on fd 3) it is the single-threaded launcher helper: that
//! check comes first, before any thread exists.

use std::path::PathBuf;

use anyhow::{Context, bail};

const USAGE: &str =
    "usage: rvirtd [--root DIR] [--foreground] [--socket-mode OCTAL] [--socket-group GROUP]

  --root DIR        keep every file under DIR (config, state, sockets, logs),
                    like libvirt's qemu:///embed; one daemon per root
  --foreground      stay in the foreground (the default; rvirtd never forks)
  --socket-mode M   mode of the read-write socket (default 0700)
  --socket-group G  group of the read-write socket (e.g. with --socket-mode 0770)

Logs go to stderr; RVIRTD_LOG (e.g. debug, rvirtd=trace) sets the level.";

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
    // glibc gives every thread that allocates its own malloc arena, which would
    // double the idle daemon's memory (about 5 MB of mostly empty arenas). The
    // setting is read only at process start, so set it and exec ourselves once,
    // before any thread exists.
    if std::env::var_os("MALLOC_ARENA_MAX").is_none()
        && let Ok(exe) = std::env::current_exe()
    {
        use std::os::unix::process::CommandExt;
        let e = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("MALLOC_ARENA_MAX", "2")
            .exec();
        eprintln!("rvirtd: cannot re-exec with MALLOC_ARENA_MAX=2 ({e}); continuing");
    }
    let Some(opts) = parse_args()? else {
        println!("{USAGE}");
        return Ok(());
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RVIRTD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .init();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get().min(4))
        .unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .max_blocking_threads(64)
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(rvirtd::daemon::run(opts))?;
    // Do not wait for blocking tasks: running guests are left alone.
    rt.shutdown_background();
    Ok(())
}

/// The daemon's options from the command line; `None` for `--help`.
fn parse_args() -> anyhow::Result<Option<rvirtd::daemon::Options>> {
    let mut root: Option<PathBuf> = None;
    let mut socket_mode = 0o700;
    let mut socket_group = None;
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        match a.to_str() {
            Some("--root") => {
                let dir = PathBuf::from(args.next().context("--root needs a directory")?);
                let dir = if dir.is_absolute() {
                    dir
                } else {
                    std::env::current_dir()?.join(dir)
                };
                root = Some(dir);
            }
            Some("--foreground") => {}
            Some("--socket-mode") => {
                let m = args.next().context("--socket-mode needs an octal mode")?;
                socket_mode = u32::from_str_radix(&m.to_string_lossy(), 8)
                    .context("--socket-mode needs an octal mode")?;
            }
            Some("--socket-group") => {
                let g = args.next().context("--socket-group needs a group")?;
                socket_group = Some(g.to_string_lossy().into_owned());
            }
            Some("-h" | "--help") => return Ok(None),
            _ => bail!("unknown argument {a:?}\n{USAGE}"),
        }
    }
    Ok(Some(rvirtd::daemon::Options {
        root,
        launcher: std::env::current_exe().context("cannot find the rvirtd executable")?,
        socket_mode,
        socket_group,
    }))
}
