//! [`LaunchError`]: what can go wrong on the daemon side of a launch.

use std::path::PathBuf;
use std::process::ExitStatus;

use super::protocol::Failure;

/// Errors of the daemon side of a launch.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("invalid launch request: {0}")]
    Invalid(String),
    #[error("cannot start the launcher {}", path.display())]
    Spawn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("I/O on the launcher channel failed")]
    Channel(#[source] std::io::Error),
    #[error("the launcher sent a malformed message")]
    Decode(#[source] serde_json::Error),
    #[error("launcher message of {0} bytes exceeds the limit")]
    TooLarge(usize),
    #[error("unexpected message from the launcher: {0}")]
    Unexpected(String),
    #[error("{0}")]
    Failed(Failure),
    #[error("the launcher exited without reporting (status {})", status.map_or_else(|| "unknown".to_owned(), |s| s.to_string()))]
    LauncherDied { status: Option<ExitStatus> },
}

impl LaunchError {
    /// The launcher's failure report, when that is what this is.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Self::Failed(f) => Some(f),
            _ => None,
        }
    }
}
