//! Wire structs of the procedures' arguments and returns, written from the
//! documented field layouts (numbers and field orders are interface facts).

use super::consts::{
    AUTH_TYPE_LIST_MAX, DOMAIN_LIST_MAX, DOMAIN_MESSAGES_MAX, SECURITY_DOI_MAX, SECURITY_MODEL_MAX,
};
use crate::xdr::{CharVec, Decode, Encode, FixedChars, Reader, Writer, XdrError};
use crate::xdr_struct;

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
