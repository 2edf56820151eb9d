//! libvirt's domain lifecycle events: `virDomainEventType` and the detail enum
//! of each type, with their numbers on the wire (interface facts of
//! `libvirt-domain.h`). [`DomainEvent`] pairs a type with a detail of that
//! type, so an event and its detail cannot be mixed up.

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $( $(#[$vm:meta])* $variant:ident = $num:literal, )* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum $name {
            $( $(#[$vm])* $variant = $num, )*
        }

        impl $name {
            /// The number on the wire.
            pub const fn code(self) -> i32 {
                self as i32
            }

            /// The value with this wire number, if any.
            pub const fn from_code(n: i32) -> Option<Self> {
                match n {
                    $( $num => Some(Self::$variant), )*
                    _ => None,
                }
            }
        }
    };
}

wire_enum! {
    /// `virDomainEventType`.
    EventType {
        /// `VIR_DOMAIN_EVENT_DEFINED`.
        Defined = 0,
        /// `VIR_DOMAIN_EVENT_UNDEFINED`.
        Undefined = 1,
        /// `VIR_DOMAIN_EVENT_STARTED`.
        Started = 2,
        /// `VIR_DOMAIN_EVENT_SUSPENDED`.
        Suspended = 3,
        /// `VIR_DOMAIN_EVENT_RESUMED`.
        Resumed = 4,
        /// `VIR_DOMAIN_EVENT_STOPPED`.
        Stopped = 5,
        /// `VIR_DOMAIN_EVENT_SHUTDOWN`.
        Shutdown = 6,
        /// `VIR_DOMAIN_EVENT_PMSUSPENDED`.
        PmSuspended = 7,
        /// `VIR_DOMAIN_EVENT_CRASHED`.
        Crashed = 8,
    }
}

wire_enum! {
    /// `virDomainEventDefinedDetailType`.
    DefinedDetail {
        /// Newly created config file.
        Added = 0,
        /// Changed config file.
        Updated = 1,
        /// Domain was renamed.
        Renamed = 2,
        /// Config was restored from a snapshot.
        FromSnapshot = 3,
    }
}

wire_enum! {
    /// `virDomainEventUndefinedDetailType`.
    UndefinedDetail {
        /// Deleted the config file.
        Removed = 0,
        /// Domain was renamed.
        Renamed = 1,
    }
}

wire_enum! {
    /// `virDomainEventStartedDetailType`.
    StartedDetail {
        /// Normal startup from boot.
        Booted = 0,
        /// Incoming migration from another host.
        Migrated = 1,
        /// Restored from a state file.
        Restored = 2,
        /// Restored from a snapshot.
        FromSnapshot = 3,
        /// Started due to a wakeup event.
        Wakeup = 4,
    }
}

wire_enum! {
    /// `virDomainEventSuspendedDetailType`.
    SuspendedDetail {
        /// Normal suspend due to an admin pause.
        Paused = 0,
        /// Suspended for offline migration.
        Migrated = 1,
        /// Suspended due to a disk I/O error.
        IoError = 2,
        /// Suspended due to a watchdog firing.
        Watchdog = 3,
        /// Restored from a paused state file.
        Restored = 4,
        /// Restored from a paused snapshot.
        FromSnapshot = 5,
        /// Suspended after failure during a libvirt API call.
        ApiError = 6,
        /// Suspended for post-copy migration.
        PostCopy = 7,
        /// Suspended after a failed post-copy.
        PostCopyFailed = 8,
    }
}

wire_enum! {
    /// `virDomainEventResumedDetailType`.
    ResumedDetail {
        /// Normal resume due to an admin unpause.
        Unpaused = 0,
        /// Resumed for completion of migration.
        Migrated = 1,
        /// Resumed from a snapshot.
        FromSnapshot = 2,
        /// Resumed, but migration is still running in post-copy mode.
        PostCopy = 3,
        /// Running, but migration failed in post-copy.
        PostCopyFailed = 4,
    }
}

wire_enum! {
    /// `virDomainEventStoppedDetailType`.
    StoppedDetail {
        /// Normal shutdown.
        Shutdown = 0,
        /// Forced poweroff from the host.
        Destroyed = 1,
        /// Guest crashed.
        Crashed = 2,
        /// Migrated off to another host.
        Migrated = 3,
        /// Saved to a state file.
        Saved = 4,
        /// Host emulator or monitor failure.
        Failed = 5,
        /// Offline snapshot loaded.
        FromSnapshot = 6,
    }
}

wire_enum! {
    /// `virDomainEventShutdownDetailType`.
    ShutdownDetail {
        /// Guest finished its shutdown sequence.
        Finished = 0,
        /// Finished after a guest-initiated shutdown.
        Guest = 1,
        /// Finished after a host-initiated shutdown.
        Host = 2,
    }
}

wire_enum! {
    /// `virDomainEventPMSuspendedDetailType`.
    PmSuspendedDetail {
        /// Guest was PM suspended to memory.
        Memory = 0,
        /// Guest was PM suspended to disk.
        Disk = 1,
    }
}

wire_enum! {
    /// `virDomainEventCrashedDetailType`.
    CrashedDetail {
        /// Guest was panicked.
        Panicked = 0,
        /// Guest was crashloaded.
        CrashLoaded = 1,
    }
}

/// A lifecycle event: its type with a detail of that type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DomainEvent {
    /// DEFINED.
    Defined(DefinedDetail),
    /// UNDEFINED.
    Undefined(UndefinedDetail),
    /// STARTED.
    Started(StartedDetail),
    /// SUSPENDED.
    Suspended(SuspendedDetail),
    /// RESUMED.
    Resumed(ResumedDetail),
    /// STOPPED.
    Stopped(StoppedDetail),
    /// SHUTDOWN.
    Shutdown(ShutdownDetail),
    /// PMSUSPENDED.
    PmSuspended(PmSuspendedDetail),
    /// CRASHED.
    Crashed(CrashedDetail),
}

impl DomainEvent {
    /// The event type.
    pub const fn event_type(self) -> EventType {
        match self {
            Self::Defined(_) => EventType::Defined,
            Self::Undefined(_) => EventType::Undefined,
            Self::Started(_) => EventType::Started,
            Self::Suspended(_) => EventType::Suspended,
            Self::Resumed(_) => EventType::Resumed,
            Self::Stopped(_) => EventType::Stopped,
            Self::Shutdown(_) => EventType::Shutdown,
            Self::PmSuspended(_) => EventType::PmSuspended,
            Self::Crashed(_) => EventType::Crashed,
        }
    }

    /// The event type's wire number.
    pub const fn event_code(self) -> i32 {
        self.event_type().code()
    }

    /// The detail's wire number.
    pub const fn detail_code(self) -> i32 {
        match self {
            Self::Defined(d) => d.code(),
            Self::Undefined(d) => d.code(),
            Self::Started(d) => d.code(),
            Self::Suspended(d) => d.code(),
            Self::Resumed(d) => d.code(),
            Self::Stopped(d) => d.code(),
            Self::Shutdown(d) => d.code(),
            Self::PmSuspended(d) => d.code(),
            Self::Crashed(d) => d.code(),
        }
    }

    /// The event with these wire numbers, if both are known.
    pub const fn from_codes(event: i32, detail: i32) -> Option<Self> {
        macro_rules! with {
            ($variant:ident, $detail:ident) => {
                match $detail::from_code(detail) {
                    Some(d) => Some(Self::$variant(d)),
                    None => None,
                }
            };
        }
        match EventType::from_code(event) {
            Some(EventType::Defined) => with!(Defined, DefinedDetail),
            Some(EventType::Undefined) => with!(Undefined, UndefinedDetail),
            Some(EventType::Started) => with!(Started, StartedDetail),
            Some(EventType::Suspended) => with!(Suspended, SuspendedDetail),
            Some(EventType::Resumed) => with!(Resumed, ResumedDetail),
            Some(EventType::Stopped) => with!(Stopped, StoppedDetail),
            Some(EventType::Shutdown) => with!(Shutdown, ShutdownDetail),
            Some(EventType::PmSuspended) => with!(PmSuspended, PmSuspendedDetail),
            Some(EventType::Crashed) => with!(Crashed, CrashedDetail),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_libvirts() {
        assert_eq!(EventType::Defined.code(), 0);
        assert_eq!(EventType::Stopped.code(), 5);
        assert_eq!(EventType::Crashed.code(), 8);
        let e = DomainEvent::Stopped(StoppedDetail::Failed);
        assert_eq!((e.event_code(), e.detail_code()), (5, 5));
        let e = DomainEvent::Defined(DefinedDetail::Updated);
        assert_eq!((e.event_code(), e.detail_code()), (0, 1));
        assert_eq!(SuspendedDetail::PostCopyFailed.code(), 8);
        assert_eq!(ResumedDetail::PostCopyFailed.code(), 4);
    }

    #[test]
    fn codes_round_trip() {
        for event in 0..=8 {
            for detail in 0..=8 {
                if let Some(e) = DomainEvent::from_codes(event, detail) {
                    assert_eq!((e.event_code(), e.detail_code()), (event, detail));
                }
            }
        }
        assert_eq!(DomainEvent::from_codes(9, 0), None);
        assert_eq!(DomainEvent::from_codes(1, 2), None);
        assert_eq!(
            DomainEvent::from_codes(2, 0),
            Some(DomainEvent::Started(StartedDetail::Booted))
        );
    }
}
