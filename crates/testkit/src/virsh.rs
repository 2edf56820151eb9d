//! The reference client: which virsh the byte-for-byte comparisons run against.
//!
//! rvirt speaks for libvirt 11.3 ([`RVIRT_LIBVIRT`]); a host may have an older virsh
//! (bookworm's 9.0). What differs between them only because of virsh's own version is
//! brought to virsh's terms here, so the comparisons test behaviour, not the version.

use std::process::Command;
use std::sync::OnceLock;

/// The libvirt version rvirt's CLI and daemon report as their own.
pub const RVIRT_LIBVIRT: &str = "11.3.0";

/// `virsh --version`, as `(major, minor, micro)`; `None` when virsh is missing.
pub fn virsh_version() -> Option<(u32, u32, u32)> {
    static VERSION: OnceLock<Option<(u32, u32, u32)>> = OnceLock::new();
    *VERSION.get_or_init(|| {
        let out = Command::new("virsh").arg("--version").output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut parts = text.trim().split('.').map(|p| p.parse::<u32>().ok());
        Some((
            parts.next()??,
            parts.next()??,
            parts.next().flatten().unwrap_or(0),
        ))
    })
}

/// Whether the installed virsh is at least `major.minor`.
pub fn virsh_at_least(major: u32, minor: u32) -> bool {
    virsh_version().is_some_and(|(a, b, _)| (a, b) >= (major, minor))
}

/// rvirt's output for `args` in the words the installed virsh would use: the lines
/// that name the client's own library (`version`) carry virsh's version instead of
/// rvirt's, and an older virsh's extra newline after `capabilities` is added.
pub fn as_virsh_client(args: &[&str], rvirt_stdout: &[u8]) -> Vec<u8> {
    let Some((a, b, c)) = virsh_version() else {
        return rvirt_stdout.to_vec();
    };
    if args.contains(&"capabilities") && !virsh_at_least(10, 0) {
        let mut out = rvirt_stdout.to_vec();
        out.push(b'\n');
        return out;
    }
    let theirs = format!("{a}.{b}.{c}");
    let text = String::from_utf8_lossy(rvirt_stdout);
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let own = [
            "Compiled against library: ",
            "Using library: ",
            "Using API: ",
        ]
        .iter()
        .any(|p| line.starts_with(p));
        if own {
            out.push_str(&line.replace(RVIRT_LIBVIRT, &theirs));
        } else {
            out.push_str(line);
        }
    }
    out.into_bytes()
}
