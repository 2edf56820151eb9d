//! libvirt's domain states and their reasons, with the numbers the remote protocol
//! carries (`virDomainState` and the per-state reason enums) and the words used in
//! status files.

macro_rules! reasons {
    ($name:ident { $($var:ident = $n:literal, $s:literal),+ $(,)? }) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($var),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            pub fn code(self) -> i32 { match self { $($name::$var => $n),+ } }
            pub fn as_str(self) -> &'static str { match self { $($name::$var => $s),+ } }
            pub fn from_str_opt(s: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|r| r.as_str() == s)
            }
        }
    };
}

reasons!(RunningReason {
    Unknown = 0, "unknown", Booted = 1, "booted", Migrated = 2, "migrated", Restored = 3, "restored",
    FromSnapshot = 4, "from snapshot", Unpaused = 5, "unpaused", MigrationCanceled = 6, "migration canceled",
    SaveCanceled = 7, "save canceled", Wakeup = 8, "event wakeup", Crashed = 9, "crashed", Postcopy = 10, "post-copy",
});
reasons!(PausedReason {
    Unknown = 0, "unknown", User = 1, "user", Migration = 2, "migrating", Save = 3, "saving", Dump = 4, "dumping",
    IoError = 5, "I/O error", Watchdog = 6, "watchdog", FromSnapshot = 7, "from snapshot",
    ShuttingDown = 8, "shutting down", Snapshot = 9, "creating snapshot", Crashed = 10, "crashed",
    StartingUp = 11, "starting up", Postcopy = 12, "post-copy", PostcopyFailed = 13, "post-copy failed",
    ApiError = 14, "api error",
});
reasons!(ShutdownReason { Unknown = 0, "unknown", User = 1, "user" });
reasons!(ShutoffReason {
    Unknown = 0, "unknown", Shutdown = 1, "shutdown", Destroyed = 2, "destroyed", Crashed = 3, "crashed",
    Migrated = 4, "migrated", Saved = 5, "saved", Failed = 6, "failed", FromSnapshot = 7, "from snapshot",
    Daemon = 8, "daemon",
});
reasons!(CrashedReason { Unknown = 0, "unknown", Panicked = 1, "panicked" });

/// A state with its reason, as `virsh domstate --reason` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DomainState {
    Running(RunningReason),
    Paused(PausedReason),
    Shutdown(ShutdownReason),
    Shutoff(ShutoffReason),
    Crashed(CrashedReason),
}

impl DomainState {
    /// `virDomainState`: running 1, blocked 2, paused 3, shutdown 4, shutoff 5, crashed 6.
    pub fn code(self) -> i32 {
        match self {
            DomainState::Running(_) => 1,
            DomainState::Paused(_) => 3,
            DomainState::Shutdown(_) => 4,
            DomainState::Shutoff(_) => 5,
            DomainState::Crashed(_) => 6,
        }
    }

    pub fn reason_code(self) -> i32 {
        match self {
            DomainState::Running(r) => r.code(),
            DomainState::Paused(r) => r.code(),
            DomainState::Shutdown(r) => r.code(),
            DomainState::Shutoff(r) => r.code(),
            DomainState::Crashed(r) => r.code(),
        }
    }

    /// The state word used in status files (`<domstatus state=>`).
    pub fn name(self) -> &'static str {
        match self {
            DomainState::Running(_) => "running",
            DomainState::Paused(_) => "paused",
            DomainState::Shutdown(_) => "shutdown",
            DomainState::Shutoff(_) => "shutoff",
            DomainState::Crashed(_) => "crashed",
        }
    }

    pub fn reason_name(self) -> &'static str {
        match self {
            DomainState::Running(r) => r.as_str(),
            DomainState::Paused(r) => r.as_str(),
            DomainState::Shutdown(r) => r.as_str(),
            DomainState::Shutoff(r) => r.as_str(),
            DomainState::Crashed(r) => r.as_str(),
        }
    }

    /// Reads a status file's `state`/`reason` pair; unknown reasons become `unknown`.
    pub fn parse(state: &str, reason: &str) -> Option<DomainState> {
        Some(match state {
            "running" => DomainState::Running(
                RunningReason::from_str_opt(reason).unwrap_or(RunningReason::Unknown),
            ),
            "paused" => DomainState::Paused(
                PausedReason::from_str_opt(reason).unwrap_or(PausedReason::Unknown),
            ),
            "shutdown" => DomainState::Shutdown(
                ShutdownReason::from_str_opt(reason).unwrap_or(ShutdownReason::Unknown),
            ),
            "shutoff" => DomainState::Shutoff(
                ShutoffReason::from_str_opt(reason).unwrap_or(ShutoffReason::Unknown),
            ),
            "crashed" => DomainState::Crashed(
                CrashedReason::from_str_opt(reason).unwrap_or(CrashedReason::Unknown),
            ),
            _ => return None,
        })
    }

    /// Whether a QEMU process exists for the domain.
    pub fn is_active(self) -> bool {
        !matches!(self, DomainState::Shutoff(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_libvirt() {
        assert_eq!(DomainState::Running(RunningReason::Booted).code(), 1);
        assert_eq!(
            DomainState::Shutoff(ShutoffReason::Destroyed).reason_code(),
            2
        );
        assert_eq!(
            DomainState::Paused(PausedReason::StartingUp).reason_code(),
            11
        );
        assert_eq!(DomainState::Shutoff(ShutoffReason::Daemon).reason_code(), 8);
        assert_eq!(DomainState::Crashed(CrashedReason::Panicked).code(), 6);
    }

    #[test]
    fn names_round_trip() {
        let all = RunningReason::ALL
            .iter()
            .map(|r| DomainState::Running(*r))
            .chain(PausedReason::ALL.iter().map(|r| DomainState::Paused(*r)))
            .chain(ShutoffReason::ALL.iter().map(|r| DomainState::Shutoff(*r)))
            .chain(
                ShutdownReason::ALL
                    .iter()
                    .map(|r| DomainState::Shutdown(*r)),
            )
            .chain(CrashedReason::ALL.iter().map(|r| DomainState::Crashed(*r)));
        for s in all {
            assert_eq!(DomainState::parse(s.name(), s.reason_name()), Some(s));
        }
        assert_eq!(
            DomainState::parse("running", "bogus"),
            Some(DomainState::Running(RunningReason::Unknown))
        );
        assert_eq!(DomainState::parse("bogus", "x"), None);
    }
}
