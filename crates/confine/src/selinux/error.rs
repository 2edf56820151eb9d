//! [`SelinuxError`].

use std::io;
use std::path::PathBuf;

use crate::dac::errno_text;
use crate::hostops::RememberError;

/// Errors of the SELinux driver.
#[derive(Debug, thiserror::Error)]
pub enum SelinuxError {
    #[error("SELinux is not enabled on this host: {0}")]
    NotEnabled(String),
    #[error("cannot read {}: {}", path.display(), errno_text(source))]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is empty", .0.display())]
    EmptyContextFile(PathBuf),
    #[error("invalid SELinux context '{0}' (expected user:role:type[:range])")]
    BadContext(String),
    #[error("SELinux context '{0}' has no MLS/MCS range")]
    NoRange(String),
    #[error("Cannot parse category in {0}")]
    BadCategory(String),
    #[error("No category range available in {0}")]
    NoCategoryRange(String),
    #[error("Category range c{0}-c{1} too small")]
    RangeTooSmall(u32, u32),
    #[error("no free MCS category pair left in {0}")]
    Exhausted(String),
    #[error("MCS level for existing domain label {0} already reserved")]
    AlreadyReserved(String),
    #[error(
        "Unconfined guests are not allowed on this host (qemu.conf security_require_confined = 1)"
    )]
    UnconfinedNotAllowed,
    #[error("invalid SELinux seclabel: {0}")]
    BadSeclabel(String),
    #[error("unable to set security context '{label}' on '{}': {}", path.display(), errno_text(source))]
    SetLabel {
        label: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("unable to read the security context of '{}': {}", path.display(), errno_text(source))]
    GetLabel {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("setting SELinux label '{label}' on '{}' which is already in use with label '{current}'", path.display())]
    InUse {
        path: PathBuf,
        label: String,
        current: String,
    },
    #[error("'{}': remembered label: {source}", path.display())]
    Remember {
        path: PathBuf,
        #[source]
        source: Box<RememberError>,
    },
    #[error(
        "unable to set the exec context '{label}': {}{hint}",
        errno_text(source)
    )]
    ExecLabel {
        label: String,
        /// Extra explanation (e.g. SELinux is off).
        hint: &'static str,
        #[source]
        source: io::Error,
    },
}
