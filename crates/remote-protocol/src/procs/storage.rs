//! Storage pools and volumes (the [`Family::Storage`] procedures): their wire
//! structs, the typed [`StorageRequest`] they decode to and the
//! [`StorageReply`] a backend answers with.
//!
//! A pool is `remote_nonnull_storage_pool {name, uuid}`, a volume
//! `remote_nonnull_storage_vol {pool, name, key}`; field orders and limits are
//! the remote protocol's interface facts.

use super::procedure::{Family, Procedure};
use super::request::Request;
use super::wire::{StringArgs, StringFlagsArgs, UuidArgs};
use crate::xdr::{Decode, Encode, Reader, Writer, XdrError, from_bytes};
use crate::xdr_struct;

/// `REMOTE_STORAGE_POOL_LIST_MAX`.
pub const STORAGE_POOL_LIST_MAX: u32 = 16_384;
/// `REMOTE_STORAGE_VOL_LIST_MAX`.
pub const STORAGE_VOL_LIST_MAX: u32 = 16_384;

/// `virStoragePoolState`.
pub mod pool_state {
    /// Not running.
    pub const INACTIVE: u32 = 0;
    /// Being built.
    pub const BUILDING: u32 = 1;
    /// Running normally.
    pub const RUNNING: u32 = 2;
}

/// `virConnectListAllStoragePoolsFlags` (the ones a `dir` driver can answer).
pub mod pool_list_flags {
    /// Inactive pools.
    pub const INACTIVE: u32 = 1 << 0;
    /// Active pools.
    pub const ACTIVE: u32 = 1 << 1;
    /// Persistent pools.
    pub const PERSISTENT: u32 = 1 << 2;
    /// Transient pools.
    pub const TRANSIENT: u32 = 1 << 3;
    /// Autostarted pools.
    pub const AUTOSTART: u32 = 1 << 4;
    /// Pools without autostart.
    pub const NO_AUTOSTART: u32 = 1 << 5;
    /// `dir` pools.
    pub const DIR: u32 = 1 << 6;
    /// All type bits (`DIR` .. `ISCSI_DIRECT`): a filter on type if any is set.
    pub const TYPES: u32 = 0x000F_FFC0;
}

xdr_struct! {
    /// `remote_nonnull_storage_pool`.
    #[derive(Debug, Clone, PartialEq, Eq, Hash)]
    pub struct StoragePool {
        /// Pool name.
        pub name: String,
        /// Raw UUID.
        pub uuid: [u8; 16],
    }
}

xdr_struct! {
    /// `remote_nonnull_storage_vol`.
    #[derive(Debug, Clone, PartialEq, Eq, Hash)]
    pub struct StorageVol {
        /// Name of its pool.
        pub pool: String,
        /// Volume name.
        pub name: String,
        /// Unique key (a `dir` pool's volumes: their path).
        pub key: String,
    }
}

// Arguments.

xdr_struct! {
    /// CONNECT_LIST_ALL_STORAGE_POOLS args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ListAllPoolsArgs {
        /// Whether the caller wants the pools or only their count.
        pub need_results: i32,
        /// `virConnectListAllStoragePoolsFlags`.
        pub flags: u32,
    }
}

xdr_struct! {
    /// A pool.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct PoolArgs {
        /// The pool.
        pub pool: StoragePool,
    }
}

xdr_struct! {
    /// A pool and flags.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct PoolFlagsArgs {
        /// The pool.
        pub pool: StoragePool,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// A pool and an int (SET_AUTOSTART, LIST_VOLUMES).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct PoolIntArgs {
        /// The pool.
        pub pool: StoragePool,
        /// The value.
        pub value: i32,
    }
}

xdr_struct! {
    /// STORAGE_POOL_LIST_ALL_VOLUMES args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ListAllVolumesArgs {
        /// The pool.
        pub pool: StoragePool,
        /// Whether the caller wants the volumes or only their count.
        pub need_results: i32,
        /// Flags (none defined).
        pub flags: u32,
    }
}

xdr_struct! {
    /// STORAGE_VOL_LOOKUP_BY_NAME args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct VolLookupByNameArgs {
        /// The pool.
        pub pool: StoragePool,
        /// Volume name.
        pub name: String,
    }
}

xdr_struct! {
    /// STORAGE_VOL_CREATE_XML args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct VolCreateXmlArgs {
        /// The pool.
        pub pool: StoragePool,
        /// Volume XML.
        pub xml: String,
        /// `virStorageVolCreateFlags`.
        pub flags: u32,
    }
}

xdr_struct! {
    /// STORAGE_VOL_CREATE_XML_FROM args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct VolCreateXmlFromArgs {
        /// The pool of the new volume.
        pub pool: StoragePool,
        /// Its XML.
        pub xml: String,
        /// The volume copied.
        pub clonevol: StorageVol,
        /// `virStorageVolCreateFlags`.
        pub flags: u32,
    }
}

xdr_struct! {
    /// STORAGE_VOL_RESIZE args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct VolResizeArgs {
        /// The volume.
        pub vol: StorageVol,
        /// New capacity (or the change, with DELTA), bytes.
        pub capacity: u64,
        /// `virStorageVolResizeFlags`.
        pub flags: u32,
    }
}

xdr_struct! {
    /// A volume.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct VolArgs {
        /// The volume.
        pub vol: StorageVol,
    }
}

xdr_struct! {
    /// A volume and flags.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct VolFlagsArgs {
        /// The volume.
        pub vol: StorageVol,
        /// Flags.
        pub flags: u32,
    }
}

/// What a storage call asks (exhaustive, so a backend handles every one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageRequest {
    /// CONNECT_LIST_ALL_STORAGE_POOLS → [`StorageReply::Pools`].
    ListAllPools {
        /// Whether the pools are sent or only counted.
        need_results: bool,
        /// Filter flags.
        flags: u32,
    },
    /// CONNECT_NUM_OF_(DEFINED_)STORAGE_POOLS → `Int`.
    NumOfPools {
        /// Active pools (or the defined, inactive ones).
        active: bool,
    },
    /// CONNECT_LIST_(DEFINED_)STORAGE_POOLS → `Names`.
    ListPoolNames {
        /// Active pools (or the defined, inactive ones).
        active: bool,
        /// At most this many.
        max: i32,
    },
    /// CONNECT_GET_STORAGE_POOL_CAPABILITIES → `String`.
    PoolCapabilities {
        /// Flags (none defined).
        flags: u32,
    },
    /// STORAGE_POOL_LOOKUP_BY_NAME → `Pool`.
    LookupByName(String),
    /// STORAGE_POOL_LOOKUP_BY_UUID → `Pool`.
    LookupByUuid([u8; 16]),
    /// STORAGE_POOL_LOOKUP_BY_VOLUME → `Pool`.
    LookupByVolume(StorageVol),
    /// STORAGE_POOL_LOOKUP_BY_TARGET_PATH → `Pool`.
    LookupByTargetPath(String),
    /// STORAGE_POOL_DEFINE_XML → `Pool`.
    DefineXml {
        /// Pool XML.
        xml: String,
        /// Flags (VALIDATE = 1).
        flags: u32,
    },
    /// STORAGE_POOL_CREATE_XML → `Pool` (transient, started).
    CreateXml {
        /// Pool XML.
        xml: String,
        /// Flags (BUILD = 1 ...).
        flags: u32,
    },
    /// STORAGE_POOL_CREATE → `Void`.
    Create(StoragePool, u32),
    /// STORAGE_POOL_BUILD → `Void`.
    Build(StoragePool, u32),
    /// STORAGE_POOL_DESTROY → `Void`.
    Destroy(StoragePool),
    /// STORAGE_POOL_DELETE → `Void`.
    Delete(StoragePool, u32),
    /// STORAGE_POOL_UNDEFINE → `Void`.
    Undefine(StoragePool),
    /// STORAGE_POOL_REFRESH → `Void`.
    Refresh(StoragePool, u32),
    /// STORAGE_POOL_GET_INFO → `PoolInfo`.
    GetInfo(StoragePool),
    /// STORAGE_POOL_GET_XML_DESC → `String`.
    GetXmlDesc(StoragePool, u32),
    /// STORAGE_POOL_GET_AUTOSTART → `Int`.
    GetAutostart(StoragePool),
    /// STORAGE_POOL_SET_AUTOSTART → `Void`.
    SetAutostart(StoragePool, bool),
    /// STORAGE_POOL_IS_ACTIVE → `Int`.
    IsActive(StoragePool),
    /// STORAGE_POOL_IS_PERSISTENT → `Int`.
    IsPersistent(StoragePool),
    /// STORAGE_POOL_NUM_OF_VOLUMES → `Int`.
    NumOfVolumes(StoragePool),
    /// STORAGE_POOL_LIST_VOLUMES → `Names`.
    ListVolumes(StoragePool, i32),
    /// STORAGE_POOL_LIST_ALL_VOLUMES → `Vols`.
    ListAllVolumes {
        /// The pool.
        pool: StoragePool,
        /// Whether the volumes are sent or only counted.
        need_results: bool,
    },
    /// STORAGE_VOL_CREATE_XML → `Vol`.
    VolCreateXml {
        /// The pool.
        pool: StoragePool,
        /// Volume XML.
        xml: String,
        /// `virStorageVolCreateFlags` (PREALLOC_METADATA = 1, VALIDATE = 2).
        flags: u32,
    },
    /// STORAGE_VOL_CREATE_XML_FROM → `Vol`.
    VolCreateXmlFrom {
        /// The pool of the new volume.
        pool: StoragePool,
        /// Its XML.
        xml: String,
        /// The volume copied.
        from: StorageVol,
        /// Flags.
        flags: u32,
    },
    /// STORAGE_VOL_DELETE → `Void`.
    VolDelete(StorageVol, u32),
    /// STORAGE_VOL_RESIZE → `Void`.
    VolResize {
        /// The volume.
        vol: StorageVol,
        /// Bytes.
        capacity: u64,
        /// ALLOCATE = 1, DELTA = 2, SHRINK = 4.
        flags: u32,
    },
    /// STORAGE_VOL_LOOKUP_BY_NAME → `Vol`.
    VolLookupByName(StoragePool, String),
    /// STORAGE_VOL_LOOKUP_BY_KEY → `Vol`.
    VolLookupByKey(String),
    /// STORAGE_VOL_LOOKUP_BY_PATH → `Vol`.
    VolLookupByPath(String),
    /// STORAGE_VOL_GET_INFO(_FLAGS) → `VolInfo`.
    VolGetInfo(StorageVol, u32),
    /// STORAGE_VOL_GET_XML_DESC → `String`.
    VolGetXmlDesc(StorageVol, u32),
    /// STORAGE_VOL_GET_PATH → `String`.
    VolGetPath(StorageVol),
}

/// The kind of [`StorageReply`] a [`StorageRequest`] expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum StorageShape {
    Void,
    Int,
    String,
    Names,
    Pool,
    Pools,
    Vol,
    Vols,
    PoolInfo,
    VolInfo,
}

/// A backend's answer to a [`StorageRequest`], encoded as the procedure's ret struct.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageReply {
    /// No payload.
    Void,
    /// `int` (booleans are 0/1).
    Int(i32),
    /// A string (XML, path).
    String(String),
    /// Names (pools or volumes).
    Names(Vec<String>),
    /// A pool.
    Pool(StoragePool),
    /// LIST_ALL_STORAGE_POOLS: the pools (sent only if asked) and their count.
    Pools {
        /// The pools.
        pools: Vec<StoragePool>,
        /// Whether to send them.
        need_results: bool,
    },
    /// A volume.
    Vol(StorageVol),
    /// LIST_ALL_VOLUMES: the volumes (sent only if asked) and their count.
    Vols {
        /// The volumes.
        vols: Vec<StorageVol>,
        /// Whether to send them.
        need_results: bool,
    },
    /// POOL_GET_INFO.
    PoolInfo {
        /// [`pool_state`].
        state: u32,
        /// Bytes.
        capacity: u64,
        /// Bytes.
        allocation: u64,
        /// Bytes.
        available: u64,
    },
    /// VOL_GET_INFO(_FLAGS).
    VolInfo {
        /// `virStorageVolType` (0 file).
        typ: i32,
        /// Bytes (guest-visible size).
        capacity: u64,
        /// Bytes (host allocation).
        allocation: u64,
    },
}

impl StorageReply {
    /// Which shape this is.
    pub fn shape(&self) -> StorageShape {
        use StorageShape as S;
        match self {
            Self::Void => S::Void,
            Self::Int(_) => S::Int,
            Self::String(_) => S::String,
            Self::Names(_) => S::Names,
            Self::Pool(_) => S::Pool,
            Self::Pools { .. } => S::Pools,
            Self::Vol(_) => S::Vol,
            Self::Vols { .. } => S::Vols,
            Self::PoolInfo { .. } => S::PoolInfo,
            Self::VolInfo { .. } => S::VolInfo,
        }
    }

    /// Whether the reply fits the protocol's array limits.
    pub fn check(&self) -> Result<(), &'static str> {
        let (n, max, what) = match self {
            Self::Names(v) => (v.len(), STORAGE_POOL_LIST_MAX, "names"),
            Self::Pools { pools, .. } => (pools.len(), STORAGE_POOL_LIST_MAX, "storage pools"),
            Self::Vols { vols, .. } => (vols.len(), STORAGE_VOL_LIST_MAX, "storage volumes"),
            _ => return Ok(()),
        };
        if n > max as usize { Err(what) } else { Ok(()) }
    }
}

impl Encode for StorageReply {
    fn encode(&self, w: &mut Writer) {
        match self {
            Self::Void => {}
            Self::Int(v) => v.encode(w),
            Self::String(s) => s.encode(w),
            Self::Names(v) => v.encode(w),
            Self::Pool(p) => p.encode(w),
            Self::Vol(v) => v.encode(w),
            Self::Pools {
                pools,
                need_results,
            } => {
                if *need_results {
                    pools.encode(w);
                } else {
                    0u32.encode(w);
                }
                (pools.len() as u32).encode(w);
            }
            Self::Vols { vols, need_results } => {
                if *need_results {
                    vols.encode(w);
                } else {
                    0u32.encode(w);
                }
                (vols.len() as u32).encode(w);
            }
            Self::PoolInfo {
                state,
                capacity,
                allocation,
                available,
            } => {
                state.encode(w);
                capacity.encode(w);
                allocation.encode(w);
                available.encode(w);
            }
            Self::VolInfo {
                typ,
                capacity,
                allocation,
            } => {
                typ.encode(w);
                capacity.encode(w);
                allocation.encode(w);
            }
        }
    }
}

impl StorageRequest {
    /// The reply shape this request expects.
    pub fn shape(&self) -> StorageShape {
        use StorageShape as S;
        match self {
            Self::ListAllPools { .. } => S::Pools,
            Self::NumOfPools { .. }
            | Self::GetAutostart(_)
            | Self::IsActive(_)
            | Self::IsPersistent(_)
            | Self::NumOfVolumes(_) => S::Int,
            Self::ListPoolNames { .. } | Self::ListVolumes(..) => S::Names,
            Self::LookupByName(_)
            | Self::LookupByUuid(_)
            | Self::LookupByVolume(_)
            | Self::LookupByTargetPath(_)
            | Self::DefineXml { .. }
            | Self::CreateXml { .. } => S::Pool,
            Self::Create(..)
            | Self::Build(..)
            | Self::Destroy(_)
            | Self::Delete(..)
            | Self::Undefine(_)
            | Self::Refresh(..)
            | Self::SetAutostart(..)
            | Self::VolDelete(..)
            | Self::VolResize { .. } => S::Void,
            Self::GetInfo(_) => S::PoolInfo,
            Self::GetXmlDesc(..)
            | Self::VolGetXmlDesc(..)
            | Self::VolGetPath(_)
            | Self::PoolCapabilities { .. } => S::String,
            Self::ListAllVolumes { .. } => S::Vols,
            Self::VolLookupByName(..)
            | Self::VolLookupByKey(_)
            | Self::VolLookupByPath(_)
            | Self::VolCreateXml { .. }
            | Self::VolCreateXmlFrom { .. } => S::Vol,
            Self::VolGetInfo(..) => S::VolInfo,
        }
    }
}

fn args<T: Decode>(body: &[u8]) -> Result<T, XdrError> {
    from_bytes(body)
}

fn pool(body: &[u8]) -> Result<StoragePool, XdrError> {
    args::<PoolArgs>(body).map(|a| a.pool)
}

fn pool_flags(body: &[u8]) -> Result<(StoragePool, u32), XdrError> {
    args::<PoolFlagsArgs>(body).map(|a| (a.pool, a.flags))
}

fn vol_flags(body: &[u8]) -> Result<(StorageVol, u32), XdrError> {
    args::<VolFlagsArgs>(body).map(|a| (a.vol, a.flags))
}

/// Decodes the arguments of a [`Family::Storage`] procedure.
pub(super) fn decode(proc: Procedure, body: &[u8]) -> Result<Option<Request>, XdrError> {
    use Procedure as P;
    use StorageRequest as S;
    debug_assert_eq!(proc.family(), Family::Storage);
    let r = match proc {
        P::ConnectListAllStoragePools => {
            let a: ListAllPoolsArgs = args(body)?;
            S::ListAllPools {
                need_results: a.need_results != 0,
                flags: a.flags,
            }
        }
        P::ConnectNumOfStoragePools | P::ConnectNumOfDefinedStoragePools => {
            Reader::new(body).finish()?;
            S::NumOfPools {
                active: proc == P::ConnectNumOfStoragePools,
            }
        }
        P::ConnectListStoragePools | P::ConnectListDefinedStoragePools => S::ListPoolNames {
            active: proc == P::ConnectListStoragePools,
            max: args::<super::wire::IntArgs>(body)?.value,
        },
        P::ConnectGetStoragePoolCapabilities => S::PoolCapabilities {
            flags: args::<super::hostfacts::FlagsArgs>(body)?.flags,
        },
        P::StoragePoolLookupByName => S::LookupByName(args::<StringArgs>(body)?.value),
        P::StoragePoolLookupByUuid => S::LookupByUuid(args::<UuidArgs>(body)?.uuid),
        P::StoragePoolLookupByVolume => S::LookupByVolume(args::<VolArgs>(body)?.vol),
        P::StoragePoolLookupByTargetPath => S::LookupByTargetPath(args::<StringArgs>(body)?.value),
        P::StoragePoolDefineXml => {
            let a: StringFlagsArgs = args(body)?;
            S::DefineXml {
                xml: a.value,
                flags: a.flags,
            }
        }
        P::StoragePoolCreateXml => {
            let a: StringFlagsArgs = args(body)?;
            S::CreateXml {
                xml: a.value,
                flags: a.flags,
            }
        }
        P::StoragePoolCreate => {
            let (p, f) = pool_flags(body)?;
            S::Create(p, f)
        }
        P::StoragePoolBuild => {
            let (p, f) = pool_flags(body)?;
            S::Build(p, f)
        }
        P::StoragePoolDelete => {
            let (p, f) = pool_flags(body)?;
            S::Delete(p, f)
        }
        P::StoragePoolRefresh => {
            let (p, f) = pool_flags(body)?;
            S::Refresh(p, f)
        }
        P::StoragePoolGetXmlDesc => {
            let (p, f) = pool_flags(body)?;
            S::GetXmlDesc(p, f)
        }
        P::StoragePoolDestroy => S::Destroy(pool(body)?),
        P::StoragePoolUndefine => S::Undefine(pool(body)?),
        P::StoragePoolGetInfo => S::GetInfo(pool(body)?),
        P::StoragePoolGetAutostart => S::GetAutostart(pool(body)?),
        P::StoragePoolIsActive => S::IsActive(pool(body)?),
        P::StoragePoolIsPersistent => S::IsPersistent(pool(body)?),
        P::StoragePoolNumOfVolumes => S::NumOfVolumes(pool(body)?),
        P::StoragePoolSetAutostart => {
            let a: PoolIntArgs = args(body)?;
            S::SetAutostart(a.pool, a.value != 0)
        }
        P::StoragePoolListVolumes => {
            let a: PoolIntArgs = args(body)?;
            S::ListVolumes(a.pool, a.value)
        }
        P::StoragePoolListAllVolumes => {
            let a: ListAllVolumesArgs = args(body)?;
            S::ListAllVolumes {
                pool: a.pool,
                need_results: a.need_results != 0,
            }
        }
        P::StorageVolLookupByName => {
            let a: VolLookupByNameArgs = args(body)?;
            S::VolLookupByName(a.pool, a.name)
        }
        P::StorageVolCreateXml => {
            let a: VolCreateXmlArgs = args(body)?;
            S::VolCreateXml {
                pool: a.pool,
                xml: a.xml,
                flags: a.flags,
            }
        }
        P::StorageVolResize => {
            let a: VolResizeArgs = args(body)?;
            S::VolResize {
                vol: a.vol,
                capacity: a.capacity,
                flags: a.flags,
            }
        }
        P::StorageVolCreateXmlFrom => {
            let a: VolCreateXmlFromArgs = args(body)?;
            S::VolCreateXmlFrom {
                pool: a.pool,
                xml: a.xml,
                from: a.clonevol,
                flags: a.flags,
            }
        }
        P::StorageVolDelete => {
            let (v, f) = vol_flags(body)?;
            S::VolDelete(v, f)
        }
        P::StorageVolLookupByKey => S::VolLookupByKey(args::<StringArgs>(body)?.value),
        P::StorageVolLookupByPath => S::VolLookupByPath(args::<StringArgs>(body)?.value),
        P::StorageVolGetInfo => S::VolGetInfo(args::<VolArgs>(body)?.vol, 0),
        P::StorageVolGetInfoFlags => {
            let (v, f) = vol_flags(body)?;
            S::VolGetInfo(v, f)
        }
        P::StorageVolGetXmlDesc => {
            let (v, f) = vol_flags(body)?;
            S::VolGetXmlDesc(v, f)
        }
        P::StorageVolGetPath => S::VolGetPath(args::<VolArgs>(body)?.vol),
        _ => return Ok(None),
    };
    Ok(Some(Request::Storage(r)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procs::{Response, Shape};
    use crate::xdr::to_bytes;

    fn pool() -> StoragePool {
        StoragePool {
            name: "images".into(),
            uuid: [3; 16],
        }
    }

    #[test]
    fn storage_procedures_decode_to_their_requests() {
        let body = to_bytes(&ListAllPoolsArgs {
            need_results: 1,
            flags: pool_list_flags::ACTIVE,
        });
        let r = Request::decode(Procedure::ConnectListAllStoragePools, &body)
            .unwrap()
            .unwrap();
        assert_eq!(
            r,
            Request::Storage(StorageRequest::ListAllPools {
                need_results: true,
                flags: pool_list_flags::ACTIVE
            })
        );
        assert_eq!(r.family(), Family::Storage);
        assert_eq!(r.expected_shape(), Shape::Storage(StorageShape::Pools));
        let body = to_bytes(&PoolIntArgs {
            pool: pool(),
            value: 1,
        });
        let r = Request::decode(Procedure::StoragePoolSetAutostart, &body)
            .unwrap()
            .unwrap();
        assert_eq!(
            r,
            Request::Storage(StorageRequest::SetAutostart(pool(), true))
        );
        let body = to_bytes(&StringArgs {
            value: "/var/lib/x.img".into(),
        });
        let r = Request::decode(Procedure::StorageVolLookupByPath, &body)
            .unwrap()
            .unwrap();
        assert_eq!(r.expected_shape(), Shape::Storage(StorageShape::Vol));
        // Trailing bytes are refused.
        let mut long = body.clone();
        long.extend([0, 0, 0, 0]);
        assert!(Request::decode(Procedure::StorageVolLookupByPath, &long).is_err());
        assert_eq!(
            Procedure::StoragePoolDefineXml.mutating_api(),
            Some("virStoragePoolDefineXML")
        );
        assert_eq!(Procedure::StoragePoolGetInfo.mutating_api(), None);
        assert_eq!(
            Procedure::StorageVolDelete.mutating_api(),
            Some("virStorageVolDelete")
        );
        let body = to_bytes(&VolCreateXmlArgs {
            pool: pool(),
            xml: "<volume/>".into(),
            flags: 1,
        });
        let r = Request::decode(Procedure::StorageVolCreateXml, &body)
            .unwrap()
            .unwrap();
        assert_eq!(r.expected_shape(), Shape::Storage(StorageShape::Vol));
    }

    #[test]
    fn replies_have_the_wire_layout() {
        // pool: string "images" (4 + 8) + uuid 16.
        assert_eq!(to_bytes(&StorageReply::Pool(pool())).len(), 28);
        // Not asked: an empty array and the count.
        let r = StorageReply::Pools {
            pools: vec![pool(), pool()],
            need_results: false,
        };
        assert_eq!(to_bytes(&r), [0, 0, 0, 0, 0, 0, 0, 2]);
        let r = StorageReply::Pools {
            pools: vec![pool()],
            need_results: true,
        };
        assert_eq!(to_bytes(&r).len(), 4 + 28 + 4);
        // state (unsigned char as 4 bytes) + three hypers.
        let info = StorageReply::PoolInfo {
            state: pool_state::RUNNING,
            capacity: 1,
            allocation: 2,
            available: 3,
        };
        assert_eq!(to_bytes(&info).len(), 28);
        assert_eq!(
            to_bytes(&StorageReply::VolInfo {
                typ: 0,
                capacity: 1,
                allocation: 1
            })
            .len(),
            20
        );
        assert_eq!(
            Response::Storage(info).shape(),
            Shape::Storage(StorageShape::PoolInfo)
        );
    }
}
