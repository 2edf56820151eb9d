//! REMOTE program procedures (tier A of the reference notes plus a few cheap
//! stubs): numbers, wire argument/return structs, and the typed
//! [`Request`]/[`Response`] enums the server hands to a backend.
//!
//! The wire structs are written from the documented field layouts (numbers
//! and field orders are interface facts); no libvirt text is copied.

use crate::xdr::{CharVec, Decode, Encode, FixedChars, Reader, Writer, XdrError, from_bytes};
use crate::xdr_struct;

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

xdr_struct! {
    /// `remote_nonnull_domain`: name, UUID and id (-1 when inactive).
    #[derive(Debug, Clone, PartialEq, Eq, Hash)]
    pub struct Domain {
        /// Domain name.
        pub name: String,
        /// Raw UUID.
        pub uuid: [u8; 16],
        /// Running id, or -1 when inactive.
        pub id: i32,
    }
}

impl Domain {
    /// The UUID in the usual 8-4-4-4-12 form.
    pub fn uuid_string(&self) -> String {
        uuid::Uuid::from_bytes(self.uuid).hyphenated().to_string()
    }
}

xdr_struct! {
    /// CONNECT_OPEN args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct OpenArgs {
        /// URI the client asks for (`None` or `""`: server default).
        pub name: Option<String>,
        /// `VIR_CONNECT_*` flags; bit 0 = read-only.
        pub flags: u32,
    }
}

xdr_struct! {
    /// Args with one `int` (SUPPORTS_FEATURE, LOOKUP_BY_ID, LIST_DOMAINS, event register 167/168, 317).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct IntArgs {
        /// The value.
        pub value: i32,
    }
}

xdr_struct! {
    /// Args with one optional string (CONNECT_GET_MAX_VCPUS).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct OptStringArgs {
        /// The value.
        pub value: Option<String>,
    }
}

xdr_struct! {
    /// Args with one string (LOOKUP_BY_NAME, DEFINE_XML).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct StringArgs {
        /// The value.
        pub value: String,
    }
}

xdr_struct! {
    /// A string plus flags (DEFINE_XML_FLAGS, CREATE_XML).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct StringFlagsArgs {
        /// The string (XML).
        pub value: String,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// DOMAIN_LOOKUP_BY_UUID args.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct UuidArgs {
        /// Raw UUID.
        pub uuid: [u8; 16],
    }
}

xdr_struct! {
    /// Args that are just a domain.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct DomainArgs {
        /// The domain.
        pub dom: Domain,
    }
}

xdr_struct! {
    /// A domain plus flags.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct DomainFlagsArgs {
        /// The domain.
        pub dom: Domain,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// DOMAIN_SET_AUTOSTART args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SetAutostartArgs {
        /// The domain.
        pub dom: Domain,
        /// 1 to enable, 0 to disable.
        pub autostart: i32,
    }
}

xdr_struct! {
    /// CONNECT_LIST_ALL_DOMAINS args.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct ListAllDomainsArgs {
        /// 0: only the count is wanted.
        pub need_results: i32,
        /// `list_flags` bits.
        pub flags: u32,
    }
}

xdr_struct! {
    /// CONNECT_LIST_ALL_DOMAINS ret.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ListAllDomainsRet {
        /// The domains (empty if `need_results` was 0).
        pub domains: Vec<Domain> => max DOMAIN_LIST_MAX,
        /// How many matched.
        pub ret: u32,
    }
}

xdr_struct! {
    /// CONNECT_LIST_DOMAINS ret.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct IdsRet {
        /// Running domain ids.
        pub ids: Vec<i32> => max DOMAIN_LIST_MAX,
    }
}

xdr_struct! {
    /// CONNECT_LIST_DEFINED_DOMAINS ret.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct NamesRet {
        /// Names.
        pub names: Vec<String> => max DOMAIN_LIST_MAX,
    }
}

xdr_struct! {
    /// DOMAIN_GET_MESSAGES ret.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct MessagesRet {
        /// Messages.
        pub msgs: Vec<String> => max DOMAIN_MESSAGES_MAX,
    }
}

xdr_struct! {
    /// AUTH_LIST ret.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct AuthListRet {
        /// Auth types (0 = none, 1 = SASL, 2 = polkit).
        pub types: Vec<i32> => max AUTH_TYPE_LIST_MAX,
    }
}

xdr_struct! {
    /// DOMAIN_GET_STATE ret.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct StateRet {
        /// `virDomainState`.
        pub state: i32,
        /// State-specific reason.
        pub reason: i32,
    }
}

xdr_struct! {
    /// DOMAIN_GET_INFO ret: 32 bytes on the wire (char and short take 4).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct DomainInfo {
        /// `virDomainState`.
        pub state: u8,
        /// Maximum memory, KiB.
        pub max_mem: u64,
        /// Current memory, KiB.
        pub memory: u64,
        /// Number of vCPUs.
        pub nr_virt_cpu: u16,
        /// CPU time used, ns.
        pub cpu_time: u64,
    }
}

xdr_struct! {
    /// NODE_GET_INFO ret: `model` is 32 chars of 4 bytes each.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct NodeInfo {
        /// CPU model / architecture string (NUL-padded).
        pub model: FixedChars<32>,
        /// Memory, KiB.
        pub memory: u64,
        /// Active CPUs.
        pub cpus: i32,
        /// CPU frequency, MHz.
        pub mhz: i32,
        /// NUMA nodes.
        pub nodes: i32,
        /// Sockets per node.
        pub sockets: i32,
        /// Cores per socket.
        pub cores: i32,
        /// Threads per core.
        pub threads: i32,
    }
}

xdr_struct! {
    /// NODE_GET_SECURITY_MODEL ret (`char x<N>`, not strings).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SecurityModelRet {
        /// Model name (empty: none).
        pub model: CharVec => max SECURITY_MODEL_MAX,
        /// Domain of interpretation.
        pub doi: CharVec => max SECURITY_DOI_MAX,
    }
}

xdr_struct! {
    /// DOMAIN_GET_JOB_INFO ret (`virDomainJobInfo`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct JobInfo {
        /// `virDomainJobType` (0 = none).
        pub typ: i32,
        /// Elapsed time, ms.
        pub time_elapsed: u64,
        /// Remaining time, ms.
        pub time_remaining: u64,
        /// Data total, bytes.
        pub data_total: u64,
        /// Data processed.
        pub data_processed: u64,
        /// Data remaining.
        pub data_remaining: u64,
        /// Memory total.
        pub mem_total: u64,
        /// Memory processed.
        pub mem_processed: u64,
        /// Memory remaining.
        pub mem_remaining: u64,
        /// File total.
        pub file_total: u64,
        /// File processed.
        pub file_processed: u64,
        /// File remaining.
        pub file_remaining: u64,
    }
}

xdr_struct! {
    /// DOMAIN_GET_CONTROL_INFO ret.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct ControlInfo {
        /// `virDomainControlState` (0 = ok).
        pub state: u32,
        /// State details.
        pub details: u32,
        /// Time in this state, ms.
        pub state_time: u64,
    }
}

xdr_struct! {
    /// CONNECT_GET_DOMAIN_CAPABILITIES args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct DomainCapabilitiesArgs {
        /// Emulator binary.
        pub emulatorbin: Option<String>,
        /// Architecture.
        pub arch: Option<String>,
        /// Machine type.
        pub machine: Option<String>,
        /// Virtualization type (kvm, qemu).
        pub virttype: Option<String>,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// DOMAIN_OPEN_CONSOLE args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct OpenConsoleArgs {
        /// The domain.
        pub dom: Domain,
        /// Console device alias (`None`: the first console).
        pub dev_name: Option<String>,
        /// FORCE = 1, SAFE = 2.
        pub flags: u32,
    }
}

xdr_struct! {
    /// CONNECT_DOMAIN_XML_TO_NATIVE args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct XmlToNativeArgs {
        /// Native format (e.g. `qemu-argv`).
        pub native_format: String,
        /// Domain XML.
        pub domain_xml: String,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CallbackRegisterArgs {
        /// Event id (0 = lifecycle ...).
        pub event_id: i32,
        /// Optional domain filter.
        pub dom: Option<Domain>,
    }
}

xdr_struct! {
    /// `remote_domain_event_lifecycle_msg`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct LifecycleMsg {
        /// The domain.
        pub dom: Domain,
        /// `virDomainEventType`.
        pub event: i32,
        /// Event-specific detail.
        pub detail: i32,
    }
}

xdr_struct! {
    /// DOMAIN_EVENT_CALLBACK_LIFECYCLE message (318).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CallbackLifecycleMsg {
        /// Callback id from registration.
        pub callback_id: i32,
        /// The event.
        pub msg: LifecycleMsg,
    }
}

/// `remote_typed_param_value`: a union on the `VIR_TYPED_PARAM_*` type,
/// whose discriminants are the real values 1..=7 (not variant indices).
#[derive(Debug, Clone, PartialEq)]
pub enum TypedParamValue {
    /// INT = 1.
    Int(i32),
    /// UINT = 2.
    UInt(u32),
    /// LLONG = 3.
    LLong(i64),
    /// ULLONG = 4.
    ULLong(u64),
    /// DOUBLE = 5.
    Double(f64),
    /// BOOLEAN = 6 (an int on the wire).
    Boolean(bool),
    /// STRING = 7 (only if the client announced TYPED_PARAM_STRING).
    String(String),
}

impl Encode for TypedParamValue {
    fn encode(&self, w: &mut Writer) {
        match self {
            Self::Int(v) => w.put_union(1, v),
            Self::UInt(v) => w.put_union(2, v),
            Self::LLong(v) => w.put_union(3, v),
            Self::ULLong(v) => w.put_union(4, v),
            Self::Double(v) => w.put_union(5, v),
            Self::Boolean(v) => w.put_union(6, &i32::from(*v)),
            Self::String(v) => w.put_union(7, v),
        }
    }
}

impl Decode for TypedParamValue {
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        Ok(match r.get_i32()? {
            1 => Self::Int(r.get_i32()?),
            2 => Self::UInt(r.get_u32()?),
            3 => Self::LLong(r.get_i64()?),
            4 => Self::ULLong(r.get_u64()?),
            5 => Self::Double(r.get_f64()?),
            6 => Self::Boolean(r.get_i32()? != 0),
            7 => Self::String(String::decode(r)?),
            value => {
                return Err(XdrError::BadDiscriminant {
                    what: "remote_typed_param_value",
                    value,
                });
            }
        })
    }
}

xdr_struct! {
    /// `remote_typed_param`: a named, typed value (stats, tunables).
    #[derive(Debug, Clone, PartialEq)]
    pub struct TypedParam {
        /// Field name (libvirt limits it to 80 bytes).
        pub field: String,
        /// The value.
        pub value: TypedParamValue,
    }
}

macro_rules! procedures {
    ($( $(#[$m:meta])* $variant:ident = $num:literal $(, mutating $api:literal)? ;)*) => {
        /// REMOTE program procedures known to this crate.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Procedure {
            $( $(#[$m])* $variant = $num, )*
        }

        impl Procedure {
            /// All known procedures.
            pub const ALL: &'static [Procedure] = &[$(Procedure::$variant),*];

            /// Look up a procedure number.
            pub fn from_number(n: i32) -> Option<Self> {
                match n {
                    $( $num => Some(Self::$variant), )*
                    _ => None,
                }
            }

            /// The procedure number on the wire.
            pub fn number(self) -> i32 {
                self as i32
            }

            /// Our variant name (CamelCase form of libvirt's `REMOTE_PROC_*`).
            pub fn variant_name(self) -> &'static str {
                match self {
                    $( Self::$variant => stringify!($variant), )*
                }
            }

            /// For procedures refused on read-only connections: the public
            /// libvirt API name used in the "read only access prevents" text.
            pub fn mutating_api(self) -> Option<&'static str> {
                match self {
                    $( $( Self::$variant => Some($api), )? )*
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
        }
    };
}

procedures! {
    /// `void -> void`; opens the connection.
    ConnectOpen = 1;
    /// Close the connection.
    ConnectClose = 2;
    /// Driver name ("QEMU").
    ConnectGetType = 3;
    /// Hypervisor version.
    ConnectGetVersion = 4;
    /// Max vCPUs for a guest type.
    ConnectGetMaxVcpus = 5;
    /// Host information.
    NodeGetInfo = 6;
    /// Capabilities XML.
    ConnectGetCapabilities = 7;
    /// Start a defined domain (void ret).
    DomainCreate = 9, mutating "virDomainCreate";
    /// Start a transient domain.
    DomainCreateXml = 10, mutating "virDomainCreateXML";
    /// Define a persistent domain.
    DomainDefineXml = 11, mutating "virDomainDefineXML";
    /// Hard stop.
    DomainDestroy = 12, mutating "virDomainDestroy";
    /// Domain XML.
    DomainGetXmlDesc = 14;
    /// Autostart flag.
    DomainGetAutostart = 15;
    /// Domain info (32-byte struct).
    DomainGetInfo = 16;
    /// Max memory.
    DomainGetMaxMemory = 17;
    /// Max vCPUs.
    DomainGetMaxVcpus = 18;
    /// OS type ("hvm").
    DomainGetOsType = 19;
    /// Legacy: names of inactive domains.
    ConnectListDefinedDomains = 21;
    /// Lookup by running id.
    DomainLookupById = 22;
    /// Lookup by name.
    DomainLookupByName = 23;
    /// Lookup by UUID.
    DomainLookupByUuid = 24;
    /// Legacy: count of inactive domains.
    ConnectNumOfDefinedDomains = 25;
    /// Reboot.
    DomainReboot = 27, mutating "virDomainReboot";
    /// Resume.
    DomainResume = 28, mutating "virDomainResume";
    /// Set autostart.
    DomainSetAutostart = 29, mutating "virDomainSetAutostart";
    /// Graceful shutdown.
    DomainShutdown = 33, mutating "virDomainShutdown";
    /// Pause.
    DomainSuspend = 34, mutating "virDomainSuspend";
    /// Undefine.
    DomainUndefine = 35, mutating "virDomainUndefine";
    /// Legacy: ids of running domains.
    ConnectListDomains = 37;
    /// Legacy: count of running domains.
    ConnectNumOfDomains = 51;
    /// Host name.
    ConnectGetHostname = 59;
    /// Feature probe.
    ConnectSupportsFeature = 60;
    /// Auth types offered.
    AuthList = 66;
    /// Free host memory, bytes.
    NodeGetFreeMemory = 102;
    /// Legacy lifecycle event message (server to client).
    DomainEventLifecycle = 107;
    /// Canonical URI.
    ConnectGetUri = 110;
    /// Host security model.
    NodeGetSecurityModel = 122;
    /// Domain XML to native config.
    ConnectDomainXmlToNative = 136, mutating "virConnectDomainXMLToNative";
    /// Whether the connection is secure.
    ConnectIsSecure = 149;
    /// Running?
    DomainIsActive = 150;
    /// Persistent?
    DomainIsPersistent = 151;
    /// Library version.
    ConnectGetLibVersion = 157;
    /// Job progress (old API).
    DomainGetJobInfo = 163;
    /// Legacy event registration.
    ConnectDomainEventRegisterAny = 167;
    /// Legacy event deregistration.
    ConnectDomainEventDeregisterAny = 168;
    /// Managed save image present?
    DomainHasManagedSaveImage = 183;
    /// Snapshot count.
    DomainSnapshotNum = 187;
    /// Start a defined domain, returns it.
    DomainCreateWithFlags = 196, mutating "virDomainCreateWithFlags";
    /// vCPU count.
    DomainGetVcpusFlags = 200;
    /// Open the domain's console as a stream.
    DomainOpenConsole = 201, mutating "virDomainOpenConsole";
    /// Config updated since start?
    DomainIsUpdated = 202;
    /// State and reason.
    DomainGetState = 212;
    /// Monitor/control channel state.
    DomainGetControlInfo = 229;
    /// Undefine with flags.
    DomainUndefineFlags = 231, mutating "virDomainUndefineFlags";
    /// Destroy with flags.
    DomainDestroyFlags = 234, mutating "virDomainDestroyFlags";
    /// Hard reset.
    DomainReset = 245, mutating "virDomainReset";
    /// Shutdown with flags.
    DomainShutdownFlags = 258, mutating "virDomainShutdownFlags";
    /// List domains with filters.
    ConnectListAllDomains = 273;
    /// Event registration with callback ids.
    ConnectDomainEventCallbackRegisterAny = 316;
    /// Event deregistration with callback ids.
    ConnectDomainEventCallbackDeregisterAny = 317;
    /// Lifecycle event message with callback id (server to client).
    DomainEventCallbackLifecycle = 318;
    /// Domain capabilities XML.
    ConnectGetDomainCapabilities = 342;
    /// Define with flags.
    DomainDefineXmlFlags = 350, mutating "virDomainDefineXMLFlags";
    /// Register the close callback.
    ConnectRegisterCloseCallback = 360;
    /// Unregister the close callback.
    ConnectUnregisterCloseCallback = 361;
    /// Domain messages (tainting, deprecations).
    DomainGetMessages = 426;
}

/// A call the server forwards to the backend, with typed arguments.
///
/// Several wire procedures fold into one request: DEFINE_XML and
/// DEFINE_XML_FLAGS are both [`Request::DomainDefineXml`] (flags 0 for the
/// old one), CREATE and CREATE_WITH_FLAGS are [`Request::DomainCreate`], and
/// so on; [`crate::server::CallContext::procedure`] tells which one came in.
/// Handshake, keepalive, event registration and the legacy list procedures
/// are answered by the server itself (the latter via
/// [`Request::ConnectListAllDomains`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// CONNECT_OPEN: accept or refuse the URI (`None`/`""` = default).
    /// Expected response: [`Response::Void`].
    ConnectOpen {
        /// URI.
        name: Option<String>,
        /// Flags (bit 0 = read-only).
        flags: u32,
    },
    /// CONNECT_GET_TYPE → `String` ("QEMU").
    ConnectGetType,
    /// CONNECT_GET_VERSION → `UHyper` (major·10⁶ + minor·10³ + micro).
    ConnectGetVersion,
    /// CONNECT_GET_LIB_VERSION → `UHyper`.
    ConnectGetLibVersion,
    /// CONNECT_GET_HOSTNAME → `String`.
    ConnectGetHostname,
    /// CONNECT_GET_URI → `String`.
    ConnectGetUri,
    /// CONNECT_GET_CAPABILITIES → `String` (XML).
    ConnectGetCapabilities,
    /// CONNECT_GET_MAX_VCPUS → `Int`.
    ConnectGetMaxVcpus {
        /// Guest type (e.g. "kvm").
        typ: Option<String>,
    },
    /// NODE_GET_INFO → `NodeInfo`.
    NodeGetInfo,
    /// NODE_GET_SECURITY_MODEL → `SecurityModel` (empty model: none).
    NodeGetSecurityModel,
    /// CONNECT_LIST_ALL_DOMAINS (and the legacy list/num procs) → `Domains`.
    ConnectListAllDomains {
        /// `list_flags` bits (0 = all).
        flags: u32,
    },
    /// DOMAIN_LOOKUP_BY_NAME → `Domain` or NO_DOMAIN.
    DomainLookupByName {
        /// Name.
        name: String,
    },
    /// DOMAIN_LOOKUP_BY_UUID → `Domain` or NO_DOMAIN.
    DomainLookupByUuid {
        /// Raw UUID.
        uuid: [u8; 16],
    },
    /// DOMAIN_LOOKUP_BY_ID → `Domain` or NO_DOMAIN.
    DomainLookupById {
        /// Running id.
        id: i32,
    },
    /// DOMAIN_DEFINE_XML(_FLAGS) → `Domain`.
    DomainDefineXml {
        /// Domain XML.
        xml: String,
        /// Flags (VALIDATE = 1).
        flags: u32,
    },
    /// DOMAIN_CREATE_XML → `Domain` (transient, started).
    DomainCreateXml {
        /// Domain XML.
        xml: String,
        /// Flags.
        flags: u32,
    },
    /// DOMAIN_CREATE(_WITH_FLAGS) → `Domain` (with its new id).
    DomainCreate {
        /// Domain.
        dom: Domain,
        /// Flags (START_PAUSED = 1 ...).
        flags: u32,
    },
    /// DOMAIN_DESTROY(_FLAGS) → `Void`.
    DomainDestroy {
        /// Domain.
        dom: Domain,
        /// Flags (GRACEFUL = 1).
        flags: u32,
    },
    /// DOMAIN_SHUTDOWN(_FLAGS) → `Void`.
    DomainShutdown {
        /// Domain.
        dom: Domain,
        /// Flags (ACPI = 1, AGENT = 2 ...).
        flags: u32,
    },
    /// DOMAIN_REBOOT → `Void`.
    DomainReboot {
        /// Domain.
        dom: Domain,
        /// Flags.
        flags: u32,
    },
    /// DOMAIN_RESET → `Void`.
    DomainReset {
        /// Domain.
        dom: Domain,
        /// Flags.
        flags: u32,
    },
    /// DOMAIN_SUSPEND → `Void`.
    DomainSuspend {
        /// Domain.
        dom: Domain,
    },
    /// DOMAIN_RESUME → `Void`.
    DomainResume {
        /// Domain.
        dom: Domain,
    },
    /// DOMAIN_UNDEFINE(_FLAGS) → `Void`.
    DomainUndefine {
        /// Domain.
        dom: Domain,
        /// Flags (NVRAM = 4 ...).
        flags: u32,
    },
    /// DOMAIN_GET_XML_DESC → `String`.
    DomainGetXmlDesc {
        /// Domain.
        dom: Domain,
        /// Flags (SECURE = 1, INACTIVE = 2 ...).
        flags: u32,
    },
    /// DOMAIN_GET_STATE → `State`.
    DomainGetState {
        /// Domain.
        dom: Domain,
        /// Flags.
        flags: u32,
    },
    /// DOMAIN_GET_INFO → `DomainInfo`.
    DomainGetInfo {
        /// Domain.
        dom: Domain,
    },
    /// DOMAIN_GET_OS_TYPE → `String` ("hvm").
    DomainGetOsType {
        /// Domain.
        dom: Domain,
    },
    /// DOMAIN_GET_MAX_MEMORY → `UHyper` (KiB).
    DomainGetMaxMemory {
        /// Domain.
        dom: Domain,
    },
    /// DOMAIN_GET_MAX_VCPUS → `Int`.
    DomainGetMaxVcpus {
        /// Domain.
        dom: Domain,
    },
    /// DOMAIN_GET_VCPUS_FLAGS → `Int`.
    DomainGetVcpusFlags {
        /// Domain.
        dom: Domain,
        /// Flags.
        flags: u32,
    },
    /// DOMAIN_IS_ACTIVE → `Int` (0/1).
    DomainIsActive {
        /// Domain.
        dom: Domain,
    },
    /// DOMAIN_IS_PERSISTENT → `Int` (0/1).
    DomainIsPersistent {
        /// Domain.
        dom: Domain,
    },
    /// DOMAIN_IS_UPDATED → `Int` (0/1).
    DomainIsUpdated {
        /// Domain.
        dom: Domain,
    },
    /// DOMAIN_GET_AUTOSTART → `Int` (0/1).
    DomainGetAutostart {
        /// Domain.
        dom: Domain,
    },
    /// DOMAIN_SET_AUTOSTART → `Void`.
    DomainSetAutostart {
        /// Domain.
        dom: Domain,
        /// New value.
        autostart: bool,
    },
    /// DOMAIN_HAS_MANAGED_SAVE_IMAGE → `Int` (0/1).
    DomainHasManagedSaveImage {
        /// Domain.
        dom: Domain,
        /// Flags.
        flags: u32,
    },
    /// DOMAIN_SNAPSHOT_NUM → `Int`.
    DomainSnapshotNum {
        /// Domain.
        dom: Domain,
        /// Flags.
        flags: u32,
    },
    /// DOMAIN_GET_MESSAGES → `Strings`.
    DomainGetMessages {
        /// Domain.
        dom: Domain,
        /// Flags.
        flags: u32,
    },
    /// NODE_GET_FREE_MEMORY → `UHyper` (bytes).
    NodeGetFreeMemory,
    /// DOMAIN_GET_JOB_INFO → `JobInfo`.
    DomainGetJobInfo {
        /// Domain.
        dom: Domain,
    },
    /// DOMAIN_GET_CONTROL_INFO → `ControlInfo`.
    DomainGetControlInfo {
        /// Domain.
        dom: Domain,
        /// Flags.
        flags: u32,
    },
    /// CONNECT_GET_DOMAIN_CAPABILITIES → `String` (XML).
    ConnectGetDomainCapabilities {
        /// Emulator binary.
        emulatorbin: Option<String>,
        /// Architecture.
        arch: Option<String>,
        /// Machine type.
        machine: Option<String>,
        /// Virtualization type.
        virttype: Option<String>,
        /// Flags.
        flags: u32,
    },
    /// CONNECT_DOMAIN_XML_TO_NATIVE → `String`.
    ConnectDomainXmlToNative {
        /// Native format name.
        native_format: String,
        /// Domain XML.
        domain_xml: String,
        /// Flags.
        flags: u32,
    },
}

/// What a backend answers; the shape must match the request (see
/// [`Request::expected_shape`]), else the server replies with an internal
/// error instead of sending a malformed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Response {
    /// No payload.
    Void,
    /// `int` (booleans are 0/1).
    Int(i32),
    /// `unsigned hyper`.
    UHyper(u64),
    /// `remote_nonnull_string`.
    String(String),
    /// `remote_nonnull_domain`.
    Domain(Domain),
    /// A list of domains.
    Domains(Vec<Domain>),
    /// State and reason.
    State(StateRet),
    /// DOMAIN_GET_INFO.
    DomainInfo(DomainInfo),
    /// NODE_GET_INFO.
    NodeInfo(NodeInfo),
    /// NODE_GET_SECURITY_MODEL (`model`, `doi`).
    SecurityModel {
        /// Model name ("" = none).
        model: String,
        /// DOI.
        doi: String,
    },
    /// A list of strings.
    Strings(Vec<String>),
    /// DOMAIN_GET_JOB_INFO.
    JobInfo(JobInfo),
    /// DOMAIN_GET_CONTROL_INFO.
    ControlInfo(ControlInfo),
}

/// The kind of [`Response`] a request expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Shape {
    Void,
    Int,
    UHyper,
    String,
    Domain,
    Domains,
    State,
    DomainInfo,
    NodeInfo,
    SecurityModel,
    Strings,
    JobInfo,
    ControlInfo,
}

impl Response {
    /// `Int(1)` / `Int(0)`.
    pub fn bool(b: bool) -> Self {
        Self::Int(i32::from(b))
    }

    /// Which shape this is.
    pub fn shape(&self) -> Shape {
        match self {
            Self::Void => Shape::Void,
            Self::Int(_) => Shape::Int,
            Self::UHyper(_) => Shape::UHyper,
            Self::String(_) => Shape::String,
            Self::Domain(_) => Shape::Domain,
            Self::Domains(_) => Shape::Domains,
            Self::State(_) => Shape::State,
            Self::DomainInfo(_) => Shape::DomainInfo,
            Self::NodeInfo(_) => Shape::NodeInfo,
            Self::SecurityModel { .. } => Shape::SecurityModel,
            Self::Strings(_) => Shape::Strings,
            Self::JobInfo(_) => Shape::JobInfo,
            Self::ControlInfo(_) => Shape::ControlInfo,
        }
    }
}

fn args<T: Decode>(body: &[u8]) -> Result<T, XdrError> {
    from_bytes(body)
}

impl Request {
    /// Decode the arguments of `proc` into a request. `Ok(None)` for
    /// procedures the server answers itself (or that are server-to-client
    /// messages).
    pub fn decode(proc: Procedure, body: &[u8]) -> Result<Option<Self>, XdrError> {
        use Procedure as P;
        let df = |body: &[u8]| args::<DomainFlagsArgs>(body).map(|a| (a.dom, a.flags));
        let d = |body: &[u8]| args::<DomainArgs>(body).map(|a| a.dom);
        let void = |body: &[u8]| Reader::new(body).finish();
        Ok(Some(match proc {
            P::ConnectOpen => {
                let a: OpenArgs = args(body)?;
                Self::ConnectOpen {
                    name: a.name,
                    flags: a.flags,
                }
            }
            P::ConnectGetType => void(body).map(|()| Self::ConnectGetType)?,
            P::ConnectGetVersion => void(body).map(|()| Self::ConnectGetVersion)?,
            P::ConnectGetLibVersion => void(body).map(|()| Self::ConnectGetLibVersion)?,
            P::ConnectGetHostname => void(body).map(|()| Self::ConnectGetHostname)?,
            P::ConnectGetUri => void(body).map(|()| Self::ConnectGetUri)?,
            P::ConnectGetCapabilities => void(body).map(|()| Self::ConnectGetCapabilities)?,
            P::ConnectGetMaxVcpus => Self::ConnectGetMaxVcpus {
                typ: args::<OptStringArgs>(body)?.value,
            },
            P::NodeGetInfo => void(body).map(|()| Self::NodeGetInfo)?,
            P::NodeGetSecurityModel => void(body).map(|()| Self::NodeGetSecurityModel)?,
            P::ConnectListAllDomains => Self::ConnectListAllDomains {
                flags: args::<ListAllDomainsArgs>(body)?.flags,
            },
            P::DomainLookupByName => Self::DomainLookupByName {
                name: args::<StringArgs>(body)?.value,
            },
            P::DomainLookupByUuid => Self::DomainLookupByUuid {
                uuid: args::<UuidArgs>(body)?.uuid,
            },
            P::DomainLookupById => Self::DomainLookupById {
                id: args::<IntArgs>(body)?.value,
            },
            P::DomainDefineXml => Self::DomainDefineXml {
                xml: args::<StringArgs>(body)?.value,
                flags: 0,
            },
            P::DomainDefineXmlFlags => {
                let a: StringFlagsArgs = args(body)?;
                Self::DomainDefineXml {
                    xml: a.value,
                    flags: a.flags,
                }
            }
            P::DomainCreateXml => {
                let a: StringFlagsArgs = args(body)?;
                Self::DomainCreateXml {
                    xml: a.value,
                    flags: a.flags,
                }
            }
            P::DomainCreate => Self::DomainCreate {
                dom: d(body)?,
                flags: 0,
            },
            P::DomainCreateWithFlags => {
                let (dom, flags) = df(body)?;
                Self::DomainCreate { dom, flags }
            }
            P::DomainDestroy => Self::DomainDestroy {
                dom: d(body)?,
                flags: 0,
            },
            P::DomainDestroyFlags => {
                let (dom, flags) = df(body)?;
                Self::DomainDestroy { dom, flags }
            }
            P::DomainShutdown => Self::DomainShutdown {
                dom: d(body)?,
                flags: 0,
            },
            P::DomainShutdownFlags => {
                let (dom, flags) = df(body)?;
                Self::DomainShutdown { dom, flags }
            }
            P::DomainReboot => {
                let (dom, flags) = df(body)?;
                Self::DomainReboot { dom, flags }
            }
            P::DomainReset => {
                let (dom, flags) = df(body)?;
                Self::DomainReset { dom, flags }
            }
            P::DomainSuspend => Self::DomainSuspend { dom: d(body)? },
            P::DomainResume => Self::DomainResume { dom: d(body)? },
            P::DomainUndefine => Self::DomainUndefine {
                dom: d(body)?,
                flags: 0,
            },
            P::DomainUndefineFlags => {
                let (dom, flags) = df(body)?;
                Self::DomainUndefine { dom, flags }
            }
            P::DomainGetXmlDesc => {
                let (dom, flags) = df(body)?;
                Self::DomainGetXmlDesc { dom, flags }
            }
            P::DomainGetState => {
                let (dom, flags) = df(body)?;
                Self::DomainGetState { dom, flags }
            }
            P::DomainGetInfo => Self::DomainGetInfo { dom: d(body)? },
            P::DomainGetOsType => Self::DomainGetOsType { dom: d(body)? },
            P::DomainGetMaxMemory => Self::DomainGetMaxMemory { dom: d(body)? },
            P::DomainGetMaxVcpus => Self::DomainGetMaxVcpus { dom: d(body)? },
            P::DomainGetVcpusFlags => {
                let (dom, flags) = df(body)?;
                Self::DomainGetVcpusFlags { dom, flags }
            }
            P::DomainIsActive => Self::DomainIsActive { dom: d(body)? },
            P::DomainIsPersistent => Self::DomainIsPersistent { dom: d(body)? },
            P::DomainIsUpdated => Self::DomainIsUpdated { dom: d(body)? },
            P::DomainGetAutostart => Self::DomainGetAutostart { dom: d(body)? },
            P::DomainSetAutostart => {
                let a: SetAutostartArgs = args(body)?;
                Self::DomainSetAutostart {
                    dom: a.dom,
                    autostart: a.autostart != 0,
                }
            }
            P::DomainHasManagedSaveImage => {
                let (dom, flags) = df(body)?;
                Self::DomainHasManagedSaveImage { dom, flags }
            }
            P::DomainSnapshotNum => {
                let (dom, flags) = df(body)?;
                Self::DomainSnapshotNum { dom, flags }
            }
            P::DomainGetMessages => {
                let (dom, flags) = df(body)?;
                Self::DomainGetMessages { dom, flags }
            }
            P::NodeGetFreeMemory => void(body).map(|()| Self::NodeGetFreeMemory)?,
            P::DomainGetJobInfo => Self::DomainGetJobInfo { dom: d(body)? },
            P::DomainGetControlInfo => {
                let (dom, flags) = df(body)?;
                Self::DomainGetControlInfo { dom, flags }
            }
            P::ConnectGetDomainCapabilities => {
                let a: DomainCapabilitiesArgs = args(body)?;
                Self::ConnectGetDomainCapabilities {
                    emulatorbin: a.emulatorbin,
                    arch: a.arch,
                    machine: a.machine,
                    virttype: a.virttype,
                    flags: a.flags,
                }
            }
            P::ConnectDomainXmlToNative => {
                let a: XmlToNativeArgs = args(body)?;
                Self::ConnectDomainXmlToNative {
                    native_format: a.native_format,
                    domain_xml: a.domain_xml,
                    flags: a.flags,
                }
            }
            P::ConnectClose
            | P::ConnectSupportsFeature
            | P::AuthList
            | P::ConnectIsSecure
            | P::ConnectListDomains
            | P::ConnectNumOfDomains
            | P::ConnectListDefinedDomains
            | P::ConnectNumOfDefinedDomains
            | P::ConnectDomainEventRegisterAny
            | P::ConnectDomainEventDeregisterAny
            | P::ConnectDomainEventCallbackRegisterAny
            | P::ConnectDomainEventCallbackDeregisterAny
            | P::ConnectRegisterCloseCallback
            | P::ConnectUnregisterCloseCallback
            | P::DomainEventLifecycle
            | P::DomainEventCallbackLifecycle
            | P::DomainOpenConsole => return Ok(None),
        }))
    }

    /// The response shape the server will encode for this request.
    pub fn expected_shape(&self) -> Shape {
        match self {
            Self::ConnectOpen { .. }
            | Self::DomainDestroy { .. }
            | Self::DomainShutdown { .. }
            | Self::DomainReboot { .. }
            | Self::DomainReset { .. }
            | Self::DomainSuspend { .. }
            | Self::DomainResume { .. }
            | Self::DomainUndefine { .. }
            | Self::DomainSetAutostart { .. } => Shape::Void,
            Self::ConnectGetType
            | Self::ConnectGetHostname
            | Self::ConnectGetUri
            | Self::ConnectGetCapabilities
            | Self::DomainGetXmlDesc { .. }
            | Self::DomainGetOsType { .. }
            | Self::ConnectDomainXmlToNative { .. }
            | Self::ConnectGetDomainCapabilities { .. } => Shape::String,
            Self::ConnectGetVersion
            | Self::ConnectGetLibVersion
            | Self::DomainGetMaxMemory { .. }
            | Self::NodeGetFreeMemory => Shape::UHyper,
            Self::ConnectGetMaxVcpus { .. }
            | Self::DomainGetMaxVcpus { .. }
            | Self::DomainGetVcpusFlags { .. }
            | Self::DomainIsActive { .. }
            | Self::DomainIsPersistent { .. }
            | Self::DomainIsUpdated { .. }
            | Self::DomainGetAutostart { .. }
            | Self::DomainHasManagedSaveImage { .. }
            | Self::DomainSnapshotNum { .. } => Shape::Int,
            Self::NodeGetInfo => Shape::NodeInfo,
            Self::NodeGetSecurityModel => Shape::SecurityModel,
            Self::ConnectListAllDomains { .. } => Shape::Domains,
            Self::DomainLookupByName { .. }
            | Self::DomainLookupByUuid { .. }
            | Self::DomainLookupById { .. }
            | Self::DomainDefineXml { .. }
            | Self::DomainCreateXml { .. }
            | Self::DomainCreate { .. } => Shape::Domain,
            Self::DomainGetState { .. } => Shape::State,
            Self::DomainGetInfo { .. } => Shape::DomainInfo,
            Self::DomainGetMessages { .. } => Shape::Strings,
            Self::DomainGetJobInfo { .. } => Shape::JobInfo,
            Self::DomainGetControlInfo { .. } => Shape::ControlInfo,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xdr::to_bytes;

    #[test]
    fn numbers_round_trip() {
        for p in Procedure::ALL {
            assert_eq!(Procedure::from_number(p.number()), Some(*p));
        }
        assert_eq!(Procedure::from_number(8), None);
        assert_eq!(Procedure::DomainLookupByName.number(), 23);
        assert_eq!(Procedure::ConnectListAllDomains.number(), 273);
        assert_eq!(Procedure::DomainGetMessages.number(), 426);
        assert_eq!(
            Procedure::DomainDefineXml.mutating_api(),
            Some("virDomainDefineXML")
        );
        assert_eq!(Procedure::DomainGetXmlDesc.mutating_api(), None);
    }

    #[test]
    fn wire_sizes_match_libvirt() {
        let info = DomainInfo {
            state: 5,
            max_mem: 1,
            memory: 2,
            nr_virt_cpu: 3,
            cpu_time: 4,
        };
        assert_eq!(to_bytes(&info).len(), 32);
        let node = NodeInfo {
            model: FixedChars::from_str_lossy("x86_64"),
            memory: 1,
            cpus: 2,
            mhz: 3,
            nodes: 1,
            sockets: 1,
            cores: 2,
            threads: 1,
        };
        assert_eq!(to_bytes(&node).len(), 160);
        assert_eq!(to_bytes(&JobInfo::default()).len(), 4 + 11 * 8);
        assert_eq!(to_bytes(&ControlInfo::default()).len(), 16);
        let dom = Domain {
            name: "vm1".into(),
            uuid: [1; 16],
            id: -1,
        };
        assert_eq!(to_bytes(&dom).len(), 8 + 16 + 4);
        assert_eq!(from_bytes::<Domain>(&to_bytes(&dom)).unwrap(), dom);
    }

    proptest::proptest! {
        #[test]
        fn decoding_random_args_never_panics(
            idx in 0..Procedure::ALL.len(),
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..96),
        ) {
            let _ = Request::decode(Procedure::ALL[idx], &body);
        }
    }

    #[test]
    fn typed_param_union_uses_real_discriminants() {
        let p = TypedParam {
            field: "cpu.time".into(),
            value: TypedParamValue::ULLong(7),
        };
        let b = to_bytes(&p);
        // field (4 + 8), discriminant 4, u64.
        assert_eq!(b.len(), 12 + 4 + 8);
        assert_eq!(&b[12..16], &[0, 0, 0, 4]);
        assert_eq!(from_bytes::<TypedParam>(&b).unwrap(), p);
        for v in [
            TypedParamValue::Int(-1),
            TypedParamValue::UInt(1),
            TypedParamValue::LLong(-5),
            TypedParamValue::Double(0.5),
            TypedParamValue::Boolean(true),
            TypedParamValue::String("x".into()),
        ] {
            assert_eq!(from_bytes::<TypedParamValue>(&to_bytes(&v)).unwrap(), v);
        }
        assert!(matches!(
            from_bytes::<TypedParamValue>(&[0, 0, 0, 0, 0, 0, 0, 0]),
            Err(XdrError::BadDiscriminant { value: 0, .. })
        ));
    }

    #[test]
    fn folded_requests() {
        let dom = Domain {
            name: "vm".into(),
            uuid: [9; 16],
            id: 3,
        };
        let body = to_bytes(&DomainArgs { dom: dom.clone() });
        assert_eq!(
            Request::decode(Procedure::DomainCreate, &body).unwrap(),
            Some(Request::DomainCreate {
                dom: dom.clone(),
                flags: 0
            })
        );
        let body = to_bytes(&DomainFlagsArgs {
            dom: dom.clone(),
            flags: 4,
        });
        assert_eq!(
            Request::decode(Procedure::DomainUndefineFlags, &body).unwrap(),
            Some(Request::DomainUndefine { dom, flags: 4 })
        );
        // Trailing garbage is an error, void args must be empty.
        assert!(Request::decode(Procedure::ConnectGetType, &[0, 0, 0, 0]).is_err());
        assert_eq!(Request::decode(Procedure::AuthList, &[]).unwrap(), None);
    }
}
