//! `rvirt-launch`: the single-threaded helper that builds QEMU's namespace and execs
//! it. Started by the daemon with the channel socket on fd 3; see
//! `confine::launcher` for the calling convention and protocol.

fn main() {
    std::process::exit(confine::launcher::launcher_main(std::env::args_os()));
}
