//! [`DacError`], and errno text as libvirt prints it.

use std::io;
use std::path::PathBuf;

use crate::hostops::RememberError;

/// Errors of the DAC driver.
#[derive(Debug, thiserror::Error)]
pub enum DacError {
    #[error("cannot read {}: {}", path.display(), errno_text(source))]
    Load {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("user '{0}' not found (not in /etc/passwd, and not a number)")]
    UnknownUser(String),
    #[error("group '{0}' not found (not in /etc/group, and not a number)")]
    UnknownGroup(String),
    #[error("invalid numeric id '{0}' (expected +N with N a decimal number)")]
    BadNumber(String),
    #[error("failed to parse uid and gid from '{0}' (expected USER:GROUP)")]
    BadLabel(String),
    /// A syscall on a file failed.
    #[error("{what} '{}': {step}: {}", path.display(), errno_text(source))]
    Step {
        what: String,
        path: PathBuf,
        step: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "{what} '{}': setting DAC owner {uid}:{gid} on a file already in use by another \
         domain as {cur_uid}:{cur_gid}",
        path.display()
    )]
    InUse {
        what: String,
        path: PathBuf,
        uid: u32,
        gid: u32,
        cur_uid: u32,
        cur_gid: u32,
    },
    #[error("{what} '{}': remembered owner: {source}", path.display())]
    Remember {
        what: String,
        path: PathBuf,
        #[source]
        source: Box<RememberError>,
    },
    #[error(
        "{what} '{}': owned by QEMU's account {uid}:{gid} and its original owner is not \
         known (no journal record, no remembered owner): left as it is",
        path.display()
    )]
    OwnerUnknown {
        what: String,
        path: PathBuf,
        uid: u32,
        gid: u32,
    },
    #[error(
        "{what} '{}': now owned by {uid}:{gid}, neither QEMU's account {label_uid}:{label_gid} \
         nor its original owner {}: changed by someone else, left as it is",
        path.display(),
        orig.map_or_else(|| "(unknown)".to_owned(), |(u, g)| format!("{u}:{g}"))
    )]
    ChangedMeanwhile {
        what: String,
        path: PathBuf,
        uid: u32,
        gid: u32,
        label_uid: u32,
        label_gid: u32,
        orig: Option<(u32, u32)>,
    },
    #[error("{first}; rolling back also failed: {}", failures.join("; "))]
    Rollback {
        first: Box<DacError>,
        failures: Vec<String>,
    },
}

/// `Permission denied` rather than `Permission denied (os error 13)`.
pub fn errno_text(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}
