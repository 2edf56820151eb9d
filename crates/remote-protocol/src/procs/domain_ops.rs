//! The domain commands that change one thing of a domain or tell one fact about
//! it (virsh `setmem`, `setvcpus`, `send-key`, `metadata`, `desc`, `domrename`,
//! `domtime`, `domhostname`, `domfsinfo`, `domifaddr`): their wire arguments and
//! returns (field layouts from the protocol definition: interface facts), the
//! typed [`DomainOp`] a backend answers and the replies only they have
//! ([`DomainOpReply`]). Kept in one file so the shared request enum grows by one
//! variant.

use super::procedure::Procedure;
use super::request::{Request, Shape};
use super::wire::Domain;
use crate::error::ErrorCode;
use crate::xdr::{Decode, Encode, Reader, Writer, XdrError, from_bytes};
use crate::xdr_struct;

/// `VIR_ERR_NO_DOMAIN_METADATA`: the requested metadata does not exist.
pub const ERR_NO_DOMAIN_METADATA: ErrorCode = ErrorCode(80);
/// `VIR_ERR_AGENT_UNRESPONSIVE`: the guest agent is not connected or does not answer.
pub const ERR_AGENT_UNRESPONSIVE: ErrorCode = ErrorCode(86);
/// `REMOTE_DOMAIN_SEND_KEY_MAX`.
pub const SEND_KEY_MAX: u32 = 16;
/// `REMOTE_DOMAIN_FSINFO_MAX`.
pub const FSINFO_MAX: u32 = 256;
/// `REMOTE_DOMAIN_FSINFO_DISKS_MAX`.
pub const FSINFO_DISKS_MAX: u32 = 256;
/// `REMOTE_DOMAIN_INTERFACE_MAX`.
pub const INTERFACE_MAX: u32 = 2048;
/// `REMOTE_DOMAIN_IP_ADDR_MAX`.
pub const IP_ADDR_MAX: u32 = 2048;

/// `virDomainModificationImpact`: where a change applies.
pub mod impact {
    /// The running domain if it runs, else the persistent definition.
    pub const CURRENT: u32 = 0;
    /// The running domain.
    pub const LIVE: u32 = 1;
    /// The persistent definition.
    pub const CONFIG: u32 = 2;
}

/// `virDomainMetadataType`.
pub mod metadata_type {
    /// `<description>`.
    pub const DESCRIPTION: i32 = 0;
    /// `<title>`.
    pub const TITLE: i32 = 1;
    /// `<metadata>` element in a namespace.
    pub const ELEMENT: i32 = 2;
}

xdr_struct! {
    /// DOMAIN_SCREENSHOT args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ScreenshotArgs {
        /// The domain.
        pub dom: Domain,
        /// Screen number (0 = the primary head).
        pub screen: u32,
        /// Flags (none defined).
        pub flags: u32,
    }
}

xdr_struct! {
    /// DOMAIN_SEND_KEY args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SendKeyArgs {
        /// The domain.
        pub dom: Domain,
        /// `virKeycodeSet`.
        pub codeset: u32,
        /// Milliseconds to hold the keys.
        pub holdtime: u32,
        /// The keys, pressed together.
        pub keycodes: Vec<u32> => max SEND_KEY_MAX,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// DOMAIN_SET_MEMORY_FLAGS args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SetMemoryFlagsArgs {
        /// The domain.
        pub dom: Domain,
        /// KiB.
        pub memory: u64,
        /// `virDomainMemoryModFlags`.
        pub flags: u32,
    }
}

xdr_struct! {
    /// DOMAIN_SET_MEMORY args (old: the running domain).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SetMemoryArgs {
        /// The domain.
        pub dom: Domain,
        /// KiB.
        pub memory: u64,
    }
}

xdr_struct! {
    /// DOMAIN_SET_VCPUS_FLAGS args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SetVcpusFlagsArgs {
        /// The domain.
        pub dom: Domain,
        /// vCPU count.
        pub nvcpus: u32,
        /// `virDomainVcpuFlags`.
        pub flags: u32,
    }
}

xdr_struct! {
    /// DOMAIN_SET_VCPUS args (old: the running domain).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SetVcpusArgs {
        /// The domain.
        pub dom: Domain,
        /// vCPU count.
        pub nvcpus: u32,
    }
}

xdr_struct! {
    /// DOMAIN_SET_METADATA args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SetMetadataArgs {
        /// The domain.
        pub dom: Domain,
        /// [`metadata_type`].
        pub typ: i32,
        /// New value (`None` removes it).
        pub metadata: Option<String>,
        /// Namespace prefix (ELEMENT only).
        pub key: Option<String>,
        /// Namespace URI (ELEMENT only).
        pub uri: Option<String>,
        /// [`impact`] flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// DOMAIN_GET_METADATA args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct GetMetadataArgs {
        /// The domain.
        pub dom: Domain,
        /// [`metadata_type`].
        pub typ: i32,
        /// Namespace URI (ELEMENT only).
        pub uri: Option<String>,
        /// [`impact`] flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// DOMAIN_RENAME args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct RenameArgs {
        /// The domain.
        pub dom: Domain,
        /// The new name.
        pub new_name: Option<String>,
        /// Flags (none defined).
        pub flags: u32,
    }
}

xdr_struct! {
    /// DOMAIN_SET_TIME args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SetTimeArgs {
        /// The domain.
        pub dom: Domain,
        /// Seconds since the epoch.
        pub seconds: i64,
        /// Nanoseconds.
        pub nseconds: u32,
        /// SYNC = 1: take the time from the host's RTC instead.
        pub flags: u32,
    }
}

xdr_struct! {
    /// DOMAIN_INTERFACE_ADDRESSES args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct InterfaceAddressesArgs {
        /// The domain.
        pub dom: Domain,
        /// LEASE = 0, AGENT = 1, ARP = 2.
        pub source: u32,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// DOMAIN_GET_GUEST_INFO args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct GuestInfoArgs {
        /// `virDomainGuestInfoTypes` bits (0 = all).
        pub types: u32,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// DOMAIN_GET_TIME ret.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct TimeRet {
        /// Seconds since the epoch.
        pub seconds: i64,
        /// Nanoseconds.
        pub nseconds: u32,
    }
}

xdr_struct! {
    /// `remote_domain_fsinfo`: one mounted filesystem of the guest.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct FsInfo {
        /// Where it is mounted.
        pub mountpoint: String,
        /// Device name in the guest.
        pub name: String,
        /// Filesystem type.
        pub fstype: String,
        /// The domain's disk targets it lies on.
        pub dev_aliases: Vec<String> => max FSINFO_DISKS_MAX,
    }
}

xdr_struct! {
    /// `remote_domain_ip_addr`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct IpAddr {
        /// IPv4 = 0, IPv6 = 1.
        pub typ: i32,
        /// The address.
        pub addr: String,
        /// Prefix length.
        pub prefix: u32,
    }
}

xdr_struct! {
    /// `remote_domain_interface`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Interface {
        /// Interface name in the guest.
        pub name: String,
        /// MAC address.
        pub hwaddr: Option<String>,
        /// Its addresses.
        pub addrs: Vec<IpAddr> => max IP_ADDR_MAX,
    }
}

xdr_struct! {
    /// DOMAIN_EVENT_CALLBACK_METADATA_CHANGE message (379).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CallbackMetadataChangeMsg {
        /// Callback id from registration.
        pub callback_id: i32,
        /// The domain.
        pub dom: Domain,
        /// [`metadata_type`].
        pub typ: i32,
        /// Namespace URI (ELEMENT only).
        pub nsuri: Option<String>,
    }
}

/// One call of the domain commands, with typed arguments. The old SET_MEMORY and
/// SET_VCPUS fold into the flags forms with [`impact::LIVE`], as libvirt's
/// client library does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DomainOp {
    /// DOMAIN_SET_MEMORY_FLAGS → `Void`.
    SetMemory {
        /// Domain.
        dom: Domain,
        /// KiB.
        kib: u64,
        /// Flags (LIVE 1, CONFIG 2, MAXIMUM 4).
        flags: u32,
    },
    /// DOMAIN_SET_VCPUS_FLAGS → `Void`.
    SetVcpus {
        /// Domain.
        dom: Domain,
        /// Count.
        nvcpus: u32,
        /// Flags (LIVE 1, CONFIG 2, MAXIMUM 4, GUEST 8, HOTPLUGGABLE 16).
        flags: u32,
    },
    /// DOMAIN_SEND_KEY → `Void`.
    SendKey {
        /// Domain.
        dom: Domain,
        /// `virKeycodeSet`.
        codeset: u32,
        /// Hold time, ms.
        holdtime: u32,
        /// Key codes in `codeset`.
        keycodes: Vec<u32>,
        /// Flags.
        flags: u32,
    },
    /// DOMAIN_SET_METADATA → `Void`.
    SetMetadata {
        /// Domain.
        dom: Domain,
        /// [`metadata_type`].
        typ: i32,
        /// New value; `None` removes it.
        metadata: Option<String>,
        /// Namespace prefix.
        key: Option<String>,
        /// Namespace URI.
        uri: Option<String>,
        /// [`impact`].
        flags: u32,
    },
    /// DOMAIN_GET_METADATA → `String`.
    GetMetadata {
        /// Domain.
        dom: Domain,
        /// [`metadata_type`].
        typ: i32,
        /// Namespace URI.
        uri: Option<String>,
        /// [`impact`].
        flags: u32,
    },
    /// DOMAIN_RENAME → `Int` (0).
    Rename {
        /// Domain.
        dom: Domain,
        /// New name.
        new_name: Option<String>,
        /// Flags.
        flags: u32,
    },
    /// DOMAIN_GET_HOSTNAME → `String`.
    GetHostname {
        /// Domain.
        dom: Domain,
        /// Flags (LEASE 1, AGENT 2).
        flags: u32,
    },
    /// DOMAIN_GET_TIME → [`DomainOpReply::Time`].
    GetTime {
        /// Domain.
        dom: Domain,
        /// Flags.
        flags: u32,
    },
    /// DOMAIN_SET_TIME → `Void`.
    SetTime {
        /// Domain.
        dom: Domain,
        /// Seconds.
        seconds: i64,
        /// Nanoseconds.
        nseconds: u32,
        /// Flags (SYNC 1).
        flags: u32,
    },
    /// DOMAIN_GET_FSINFO → [`DomainOpReply::FsInfo`].
    GetFsInfo {
        /// Domain.
        dom: Domain,
        /// Flags.
        flags: u32,
    },
    /// DOMAIN_INTERFACE_ADDRESSES → [`DomainOpReply::Interfaces`].
    InterfaceAddresses {
        /// Domain.
        dom: Domain,
        /// LEASE 0, AGENT 1, ARP 2.
        source: u32,
        /// Flags.
        flags: u32,
    },
    /// DOMAIN_GET_GUEST_INFO → [`DomainOpReply::GuestInfo`].
    GetGuestInfo {
        /// Domain.
        dom: Domain,
        /// Info types (0 = all).
        types: u32,
        /// Flags.
        flags: u32,
    },
}

/// The answers only the domain commands have.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DomainOpReply {
    /// DOMAIN_GET_TIME.
    Time(TimeRet),
    /// DOMAIN_GET_FSINFO.
    FsInfo(Vec<FsInfo>),
    /// DOMAIN_INTERFACE_ADDRESSES.
    Interfaces(Vec<Interface>),
    /// DOMAIN_GET_GUEST_INFO: typed parameters.
    GuestInfo(Vec<super::wire::TypedParam>),
}

// Typed parameters hold doubles; equality is all a test asks of a reply.
impl Eq for DomainOpReply {}

/// The kind of [`DomainOpReply`] a [`DomainOp`] expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum OpShape {
    Time,
    FsInfo,
    Interfaces,
    GuestInfo,
}

impl DomainOpReply {
    /// Which shape this is.
    pub fn shape(&self) -> OpShape {
        match self {
            Self::Time(_) => OpShape::Time,
            Self::FsInfo(_) => OpShape::FsInfo,
            Self::Interfaces(_) => OpShape::Interfaces,
            Self::GuestInfo(_) => OpShape::GuestInfo,
        }
    }

    /// The reply's XDR body; `Err` names the list that is too long.
    pub fn encode_body(&self) -> Result<Vec<u8>, &'static str> {
        let mut w = Writer::new();
        match self {
            Self::Time(t) => t.encode(&mut w),
            Self::FsInfo(v) => {
                if v.len() > FSINFO_MAX as usize {
                    return Err("filesystems");
                }
                v.encode(&mut w);
                // `unsigned int ret`: the count.
                (v.len() as u32).encode(&mut w);
            }
            Self::Interfaces(v) => {
                if v.len() > INTERFACE_MAX as usize {
                    return Err("interfaces");
                }
                v.encode(&mut w);
            }
            Self::GuestInfo(v) => {
                if v.len() > GUEST_INFO_PARAMS_MAX as usize {
                    return Err("guest info parameters");
                }
                v.encode(&mut w);
            }
        }
        Ok(w.into_bytes())
    }
}

/// `REMOTE_DOMAIN_GUEST_INFO_PARAMS_MAX`.
pub const GUEST_INFO_PARAMS_MAX: u32 = 2048;

impl DomainOp {
    /// The response shape the server encodes for this call.
    pub fn expected_shape(&self) -> Shape {
        match self {
            Self::SetMemory { .. }
            | Self::SetVcpus { .. }
            | Self::SendKey { .. }
            | Self::SetMetadata { .. }
            | Self::SetTime { .. } => Shape::Void,
            Self::GetMetadata { .. } | Self::GetHostname { .. } => Shape::String,
            Self::Rename { .. } => Shape::Int,
            Self::GetTime { .. } => Shape::DomainOp(OpShape::Time),
            Self::GetFsInfo { .. } => Shape::DomainOp(OpShape::FsInfo),
            Self::InterfaceAddresses { .. } => Shape::DomainOp(OpShape::Interfaces),
            Self::GetGuestInfo { .. } => Shape::DomainOp(OpShape::GuestInfo),
        }
    }

    /// The domain the call is about.
    pub fn domain(&self) -> &Domain {
        match self {
            Self::SetMemory { dom, .. }
            | Self::SetVcpus { dom, .. }
            | Self::SendKey { dom, .. }
            | Self::SetMetadata { dom, .. }
            | Self::GetMetadata { dom, .. }
            | Self::Rename { dom, .. }
            | Self::GetHostname { dom, .. }
            | Self::GetTime { dom, .. }
            | Self::SetTime { dom, .. }
            | Self::GetFsInfo { dom, .. }
            | Self::InterfaceAddresses { dom, .. }
            | Self::GetGuestInfo { dom, .. } => dom,
        }
    }
}

/// Domain plus flags (GET_HOSTNAME, GET_TIME, GET_FSINFO).
struct DomFlags {
    dom: Domain,
    flags: u32,
}

impl Decode for DomFlags {
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        Ok(Self {
            dom: Domain::decode(r)?,
            flags: u32::decode(r)?,
        })
    }
}

/// Decodes the arguments of one of the domain commands.
pub(super) fn decode(proc: Procedure, body: &[u8]) -> Result<Option<Request>, XdrError> {
    use DomainOp as O;
    use Procedure as P;
    let op = match proc {
        P::DomainSetMemoryFlags => {
            let a: SetMemoryFlagsArgs = from_bytes(body)?;
            O::SetMemory {
                dom: a.dom,
                kib: a.memory,
                flags: a.flags,
            }
        }
        P::DomainSetMemory => {
            let a: SetMemoryArgs = from_bytes(body)?;
            O::SetMemory {
                dom: a.dom,
                kib: a.memory,
                flags: impact::LIVE,
            }
        }
        P::DomainSetVcpusFlags => {
            let a: SetVcpusFlagsArgs = from_bytes(body)?;
            O::SetVcpus {
                dom: a.dom,
                nvcpus: a.nvcpus,
                flags: a.flags,
            }
        }
        P::DomainSetVcpus => {
            let a: SetVcpusArgs = from_bytes(body)?;
            O::SetVcpus {
                dom: a.dom,
                nvcpus: a.nvcpus,
                flags: impact::LIVE,
            }
        }
        P::DomainSendKey => {
            let a: SendKeyArgs = from_bytes(body)?;
            O::SendKey {
                dom: a.dom,
                codeset: a.codeset,
                holdtime: a.holdtime,
                keycodes: a.keycodes,
                flags: a.flags,
            }
        }
        P::DomainSetMetadata => {
            let a: SetMetadataArgs = from_bytes(body)?;
            O::SetMetadata {
                dom: a.dom,
                typ: a.typ,
                metadata: a.metadata,
                key: a.key,
                uri: a.uri,
                flags: a.flags,
            }
        }
        P::DomainGetMetadata => {
            let a: GetMetadataArgs = from_bytes(body)?;
            O::GetMetadata {
                dom: a.dom,
                typ: a.typ,
                uri: a.uri,
                flags: a.flags,
            }
        }
        P::DomainRename => {
            let a: RenameArgs = from_bytes(body)?;
            O::Rename {
                dom: a.dom,
                new_name: a.new_name,
                flags: a.flags,
            }
        }
        P::DomainGetHostname => {
            let a: DomFlags = from_bytes(body)?;
            O::GetHostname {
                dom: a.dom,
                flags: a.flags,
            }
        }
        P::DomainGetTime => {
            let a: DomFlags = from_bytes(body)?;
            O::GetTime {
                dom: a.dom,
                flags: a.flags,
            }
        }
        P::DomainSetTime => {
            let a: SetTimeArgs = from_bytes(body)?;
            O::SetTime {
                dom: a.dom,
                seconds: a.seconds,
                nseconds: a.nseconds,
                flags: a.flags,
            }
        }
        P::DomainGetFsinfo => {
            let a: DomFlags = from_bytes(body)?;
            O::GetFsInfo {
                dom: a.dom,
                flags: a.flags,
            }
        }
        P::DomainInterfaceAddresses => {
            let a: InterfaceAddressesArgs = from_bytes(body)?;
            O::InterfaceAddresses {
                dom: a.dom,
                source: a.source,
                flags: a.flags,
            }
        }
        P::DomainGetGuestInfo => {
            let mut r = Reader::new(body);
            let dom = Domain::decode(&mut r)?;
            let a = GuestInfoArgs::decode(&mut r)?;
            r.finish()?;
            O::GetGuestInfo {
                dom,
                types: a.types,
                flags: a.flags,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(Request::DomainOp(op)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xdr::to_bytes;

    fn dom() -> Domain {
        Domain {
            name: "vm".into(),
            uuid: [7; 16],
            id: 3,
        }
    }

    #[test]
    fn send_key_args_decode_and_limit() {
        let a = SendKeyArgs {
            dom: dom(),
            codeset: 0,
            holdtime: 0,
            keycodes: vec![30],
            flags: 0,
        };
        let r = Request::decode(Procedure::DomainSendKey, &to_bytes(&a)).unwrap();
        assert_eq!(
            r,
            Some(Request::DomainOp(DomainOp::SendKey {
                dom: dom(),
                codeset: 0,
                holdtime: 0,
                keycodes: vec![30],
                flags: 0
            }))
        );
        let too_many = SendKeyArgs {
            keycodes: vec![1; 17],
            ..a
        };
        assert!(Request::decode(Procedure::DomainSendKey, &to_bytes(&too_many)).is_err());
    }

    #[test]
    fn old_setters_fold_into_live_flags() {
        let a = SetMemoryArgs {
            dom: dom(),
            memory: 1024,
        };
        let Some(Request::DomainOp(DomainOp::SetMemory { flags, kib, .. })) =
            Request::decode(Procedure::DomainSetMemory, &to_bytes(&a)).unwrap()
        else {
            panic!("not SetMemory");
        };
        assert_eq!((flags, kib), (impact::LIVE, 1024));
    }

    #[test]
    fn fsinfo_reply_carries_its_count() {
        let r = DomainOpReply::FsInfo(vec![FsInfo {
            mountpoint: "/".into(),
            name: "vda1".into(),
            fstype: "ext4".into(),
            dev_aliases: vec!["vda".into()],
        }]);
        let b = r.encode_body().unwrap();
        // The trailing `ret` is the count.
        assert_eq!(&b[b.len() - 4..], &[0, 0, 0, 1]);
        assert_eq!(
            DomainOp::GetTime {
                dom: dom(),
                flags: 0
            }
            .expected_shape(),
            Shape::DomainOp(OpShape::Time)
        );
    }
}
