//! Protocol limits and the flag and state numbers procedures carry.

/// `REMOTE_DOMAIN_LIST_MAX`.
pub const DOMAIN_LIST_MAX: u32 = 16_384;
/// `REMOTE_AUTH_TYPE_LIST_MAX`.
pub const AUTH_TYPE_LIST_MAX: u32 = 20;
/// `REMOTE_SECURITY_MODEL_MAX` (`VIR_SECURITY_MODEL_BUFLEN`).
pub const SECURITY_MODEL_MAX: u32 = 256;
/// `REMOTE_SECURITY_DOI_MAX` (`VIR_SECURITY_DOI_BUFLEN`).
pub const SECURITY_DOI_MAX: u32 = 256;
/// `REMOTE_DOMAIN_MESSAGES_MAX`.
pub const DOMAIN_MESSAGES_MAX: u32 = 2048;

/// `VIR_DRV_FEATURE_*` values asked through CONNECT_SUPPORTS_FEATURE.
pub mod feature {
    /// FD passing (answer 0 until implemented).
    pub const FD_PASSING: i32 = 8;
    /// String typed parameters.
    pub const TYPED_PARAM_STRING: i32 = 9;
    /// The keepalive program (PING/PONG).
    pub const PROGRAM_KEEPALIVE: i32 = 10;
    /// Callback-id based event registration (316/317/318).
    pub const REMOTE_EVENT_CALLBACK: i32 = 14;
    /// Close callback registration (360/361).
    pub const REMOTE_CLOSE_CALLBACK: i32 = 15;
}

/// `virDomainState` values.
pub mod state {
    /// No state.
    pub const NOSTATE: i32 = 0;
    /// Running.
    pub const RUNNING: i32 = 1;
    /// Blocked on a resource.
    pub const BLOCKED: i32 = 2;
    /// Paused by the user.
    pub const PAUSED: i32 = 3;
    /// Being shut down.
    pub const SHUTDOWN: i32 = 4;
    /// Shut off.
    pub const SHUTOFF: i32 = 5;
    /// Crashed.
    pub const CRASHED: i32 = 6;
    /// Suspended by guest power management.
    pub const PMSUSPENDED: i32 = 7;
}

/// `virConnectListAllDomainsFlags`.
pub mod list_flags {
    /// Running or paused.
    pub const ACTIVE: u32 = 1;
    /// Shut off.
    pub const INACTIVE: u32 = 2;
    /// Has a persistent config.
    pub const PERSISTENT: u32 = 4;
    /// Transient.
    pub const TRANSIENT: u32 = 8;
    /// Running.
    pub const RUNNING: u32 = 16;
    /// Paused.
    pub const PAUSED: u32 = 32;
    /// Shut off.
    pub const SHUTOFF: u32 = 64;
    /// Any other state.
    pub const OTHER: u32 = 128;
    /// Has a managed save image.
    pub const MANAGEDSAVE: u32 = 256;
    /// Has no managed save image.
    pub const NO_MANAGEDSAVE: u32 = 512;
    /// Autostarted.
    pub const AUTOSTART: u32 = 1024;
    /// Not autostarted.
    pub const NO_AUTOSTART: u32 = 2048;
    /// Has snapshots.
    pub const HAS_SNAPSHOT: u32 = 4096;
    /// Has no snapshots.
    pub const NO_SNAPSHOT: u32 = 8192;
    /// Has checkpoints.
    pub const HAS_CHECKPOINT: u32 = 16384;
    /// Has no checkpoints.
    pub const NO_CHECKPOINT: u32 = 32768;
}

/// `VIR_CONNECT_RO`: bit 0 of CONNECT_OPEN's flags.
pub const CONNECT_RO: u32 = 1;
/// `VIR_DOMAIN_XML_SECURE`: refused on read-only connections.
pub const DOMAIN_XML_SECURE: u32 = 1;
