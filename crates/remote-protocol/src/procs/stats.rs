//! Statistics and tuning of a domain (the [`Family::Stats`] procedures): vCPU and
//! emulator pinning, IOThreads, block and interface statistics, memory
//! statistics, all-domain stats, CPU stats, scheduler, memory, blkio and NUMA
//! parameters, the snapshot list and the managed-save image. Their wire structs,
//! the typed [`StatsRequest`] they decode to and the [`StatsReply`] a backend
//! answers with.
//!
//! Field orders and limits are the remote protocol's interface facts.

use super::procedure::{Family, Procedure};
use super::request::Request;
use super::wire::{Domain, DomainArgs, DomainFlagsArgs, TypedParam, TypedParamValue};
use crate::xdr::{Decode, Encode, Opaque, Writer, XdrError, from_bytes};
use crate::xdr_struct;

/// `REMOTE_CPUMAP_MAX`.
pub const CPUMAP_MAX: u32 = 2048;
/// `REMOTE_VCPUINFO_MAX`.
pub const VCPUINFO_MAX: u32 = 16_384;
/// `REMOTE_CPUMAPS_MAX`.
pub const CPUMAPS_MAX: u32 = 8_388_608;
/// `REMOTE_IOTHREAD_INFO_MAX`.
pub const IOTHREAD_INFO_MAX: u32 = 16_384;
/// `REMOTE_DOMAIN_BLOCK_STATS_PARAMETERS_MAX`.
pub const BLOCK_STATS_PARAMETERS_MAX: u32 = 16;
/// `REMOTE_DOMAIN_MEMORY_STATS_MAX`.
pub const MEMORY_STATS_MAX: u32 = 1024;
/// `REMOTE_DOMAIN_DISK_ERRORS_MAX`.
pub const DISK_ERRORS_MAX: u32 = 256;
/// `REMOTE_DOMAIN_GET_CPU_STATS_NCPUS_MAX`.
pub const CPU_STATS_NCPUS_MAX: u32 = 128;
/// `REMOTE_NODE_CPU_STATS_MAX` (also the per-CPU limit of GET_CPU_STATS).
pub const CPU_STATS_PARAMS_MAX: u32 = 16;
/// `REMOTE_DOMAIN_GET_CPU_STATS_MAX`.
pub const CPU_STATS_MAX: u32 = 2048;
/// `REMOTE_DOMAIN_SCHEDULER_PARAMETERS_MAX`, `..._MEMORY_...`, `..._BLKIO_...`,
/// `..._NUMA_...` are all 16.
pub const TUNING_PARAMETERS_MAX: u32 = 16;
/// `REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX`.
pub const ALL_DOMAIN_STATS_MAX: u32 = 262_144;
/// `REMOTE_DOMAIN_LIST_MAX`.
const DOMAIN_LIST_MAX: u32 = 16_384;

/// `VIR_TYPED_PARAM_STRING_OKAY`: the caller takes string parameters.
pub const TYPED_PARAM_STRING_OKAY: u32 = 1 << 2;

/// `virDomainModificationImpact`.
pub mod impact {
    /// The domain's current state.
    pub const CURRENT: u32 = 0;
    /// The running domain.
    pub const LIVE: u32 = 1;
    /// The persistent definition.
    pub const CONFIG: u32 = 2;
}

xdr_struct! {
    /// `remote_vcpu_info`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct VcpuInfo {
        /// vCPU number.
        pub number: u32,
        /// `virVcpuState` (0 offline, 1 running, 2 blocked).
        pub state: i32,
        /// CPU time used, ns.
        pub cpu_time: u64,
        /// Host CPU it last ran on.
        pub cpu: i32,
    }
}

xdr_struct! {
    /// `remote_domain_iothread_info`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct IothreadInfo {
        /// IOThread id.
        pub iothread_id: u32,
        /// Its CPU affinity.
        pub cpumap: Opaque => max CPUMAP_MAX,
    }
}

xdr_struct! {
    /// `remote_domain_disk_error`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct DiskError {
        /// Disk target (or source path).
        pub disk: String,
        /// `virDomainDiskErrorCode` (1 unspec, 2 no space).
        pub error: i32,
    }
}

xdr_struct! {
    /// `remote_domain_memory_stat`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct MemoryStat {
        /// `virDomainMemoryStatTags`.
        pub tag: i32,
        /// Value (KiB for sizes).
        pub val: u64,
    }
}

xdr_struct! {
    /// `remote_domain_stats_record`.
    #[derive(Debug, Clone, PartialEq)]
    pub struct DomainStatsRecord {
        /// The domain.
        pub dom: Domain,
        /// Its statistics.
        pub params: Vec<TypedParam> => max ALL_DOMAIN_STATS_MAX,
    }
}

// Arguments.

xdr_struct! {
    /// DOMAIN_GET_VCPUS args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct GetVcpusArgs {
        /// The domain.
        pub dom: Domain,
        /// Entries wanted.
        pub maxinfo: i32,
        /// Bytes per CPU map.
        pub maplen: i32,
    }
}

xdr_struct! {
    /// DOMAIN_GET_VCPU_PIN_INFO args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct GetVcpuPinInfoArgs {
        /// The domain.
        pub dom: Domain,
        /// Maps wanted.
        pub ncpumaps: i32,
        /// Bytes per map.
        pub maplen: i32,
        /// Impact flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// DOMAIN_PIN_VCPU args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct PinVcpuArgs {
        /// The domain.
        pub dom: Domain,
        /// vCPU number.
        pub vcpu: u32,
        /// The map.
        pub cpumap: Opaque => max CPUMAP_MAX,
    }
}

xdr_struct! {
    /// DOMAIN_PIN_VCPU_FLAGS args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct PinVcpuFlagsArgs {
        /// The domain.
        pub dom: Domain,
        /// vCPU number.
        pub vcpu: u32,
        /// The map.
        pub cpumap: Opaque => max CPUMAP_MAX,
        /// Impact flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// DOMAIN_GET_EMULATOR_PIN_INFO args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct GetEmulatorPinInfoArgs {
        /// The domain.
        pub dom: Domain,
        /// Bytes of the map.
        pub maplen: i32,
        /// Impact flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// DOMAIN_PIN_EMULATOR args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct PinEmulatorArgs {
        /// The domain.
        pub dom: Domain,
        /// The map.
        pub cpumap: Opaque => max CPUMAP_MAX,
        /// Impact flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// A domain, a path (or device) and flags: GET_BLOCK_INFO.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct PathFlagsArgs {
        /// The domain.
        pub dom: Domain,
        /// Disk target or source path.
        pub path: String,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// A domain and a path: BLOCK_STATS, INTERFACE_STATS.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct PathArgs {
        /// The domain.
        pub dom: Domain,
        /// Disk or interface.
        pub path: String,
    }
}

xdr_struct! {
    /// DOMAIN_BLOCK_STATS_FLAGS args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct BlockStatsFlagsArgs {
        /// The domain.
        pub dom: Domain,
        /// Disk.
        pub path: String,
        /// Parameters wanted (0: only their count).
        pub nparams: i32,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// A domain, a count and flags: GET_DISK_ERRORS, MEMORY_STATS.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CountFlagsArgs {
        /// The domain.
        pub dom: Domain,
        /// Entries wanted.
        pub max: u32,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// A domain, nparams and flags: the GET_*_PARAMETERS procedures.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct GetParamsArgs {
        /// The domain.
        pub dom: Domain,
        /// Parameters wanted (0: only their count).
        pub nparams: i32,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// A domain, parameters and flags: the SET_*_PARAMETERS procedures.
    #[derive(Debug, Clone, PartialEq)]
    pub struct SetParamsArgs {
        /// The domain.
        pub dom: Domain,
        /// Values to set.
        pub params: Vec<TypedParam> => max TUNING_PARAMETERS_MAX,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// DOMAIN_SET_SCHEDULER_PARAMETERS args (no flags).
    #[derive(Debug, Clone, PartialEq)]
    pub struct SetSchedulerArgs {
        /// The domain.
        pub dom: Domain,
        /// Values to set.
        pub params: Vec<TypedParam> => max TUNING_PARAMETERS_MAX,
    }
}

xdr_struct! {
    /// DOMAIN_GET_SCHEDULER_PARAMETERS args (no flags).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct GetSchedulerArgs {
        /// The domain.
        pub dom: Domain,
        /// Parameters wanted.
        pub nparams: i32,
    }
}

xdr_struct! {
    /// CONNECT_GET_ALL_DOMAIN_STATS args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct AllDomainStatsArgs {
        /// Domains (empty: all, filtered by flags).
        pub doms: Vec<Domain> => max DOMAIN_LIST_MAX,
        /// `virDomainStatsTypes` groups (0: all supported).
        pub stats: u32,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// DOMAIN_GET_CPU_STATS args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CpuStatsArgs {
        /// The domain.
        pub dom: Domain,
        /// Parameters per CPU wanted (0: a count).
        pub nparams: u32,
        /// First host CPU, or -1 for the total.
        pub start_cpu: i32,
        /// Host CPUs wanted.
        pub ncpus: u32,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// DOMAIN_LIST_ALL_SNAPSHOTS args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ListSnapshotsArgs {
        /// The domain.
        pub dom: Domain,
        /// 0: only the count.
        pub need_results: i32,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// DOMAIN_SET_MEMORY_STATS_PERIOD args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct MemoryStatsPeriodArgs {
        /// The domain.
        pub dom: Domain,
        /// Seconds between balloon statistics updates (0: none).
        pub period: i32,
        /// Impact flags.
        pub flags: u32,
    }
}

/// Which GET/SET_*_PARAMETERS family a parameters call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TuningKind {
    /// Memory (198/197).
    Memory,
    /// Block I/O (206/205).
    Blkio,
    /// NUMA (255/254).
    Numa,
    /// Scheduler (223/219, 57/58).
    Scheduler,
}

/// A [`Family::Stats`] call with typed arguments.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StatsRequest {
    /// DOMAIN_GET_VCPUS → [`StatsReply::Vcpus`].
    GetVcpus {
        /// The domain.
        dom: Domain,
        /// Entries wanted.
        maxinfo: i32,
        /// Bytes per map.
        maplen: i32,
    },
    /// DOMAIN_GET_VCPU_PIN_INFO → [`StatsReply::CpuMaps`].
    GetVcpuPinInfo {
        /// The domain.
        dom: Domain,
        /// Maps wanted.
        ncpumaps: i32,
        /// Bytes per map.
        maplen: i32,
        /// Impact flags.
        flags: u32,
    },
    /// DOMAIN_PIN_VCPU(_FLAGS) → [`StatsReply::Void`].
    PinVcpu {
        /// The domain.
        dom: Domain,
        /// vCPU.
        vcpu: u32,
        /// Map.
        cpumap: Vec<u8>,
        /// Impact flags (0 for PIN_VCPU: live).
        flags: u32,
    },
    /// DOMAIN_GET_EMULATOR_PIN_INFO → [`StatsReply::CpuMaps`].
    GetEmulatorPinInfo {
        /// The domain.
        dom: Domain,
        /// Bytes of the map.
        maplen: i32,
        /// Impact flags.
        flags: u32,
    },
    /// DOMAIN_PIN_EMULATOR → [`StatsReply::Void`].
    PinEmulator {
        /// The domain.
        dom: Domain,
        /// Map.
        cpumap: Vec<u8>,
        /// Impact flags.
        flags: u32,
    },
    /// DOMAIN_GET_IOTHREAD_INFO → [`StatsReply::Iothreads`].
    GetIothreadInfo {
        /// The domain.
        dom: Domain,
        /// Impact flags.
        flags: u32,
    },
    /// DOMAIN_GET_BLOCK_INFO → [`StatsReply::BlockInfo`].
    GetBlockInfo {
        /// The domain.
        dom: Domain,
        /// Target or source path.
        path: String,
        /// Flags.
        flags: u32,
    },
    /// DOMAIN_BLOCK_STATS(_FLAGS) → [`StatsReply::Params`] (FLAGS) or
    /// [`StatsReply::BlockStats`] (`nparams` `None`: the old procedure).
    BlockStats {
        /// The domain.
        dom: Domain,
        /// Disk.
        path: String,
        /// Parameters wanted; `None` for the old fixed struct.
        nparams: Option<i32>,
        /// Flags.
        flags: u32,
    },
    /// DOMAIN_GET_DISK_ERRORS → [`StatsReply::DiskErrors`].
    GetDiskErrors {
        /// The domain.
        dom: Domain,
        /// Entries wanted (0: the count).
        maxerrors: u32,
        /// Flags.
        flags: u32,
    },
    /// DOMAIN_INTERFACE_STATS → [`StatsReply::InterfaceStats`].
    InterfaceStats {
        /// The domain.
        dom: Domain,
        /// Host device name or MAC.
        device: String,
    },
    /// DOMAIN_MEMORY_STATS → [`StatsReply::MemoryStats`].
    MemoryStats {
        /// The domain.
        dom: Domain,
        /// Entries wanted.
        max_stats: u32,
        /// Flags.
        flags: u32,
    },
    /// CONNECT_GET_ALL_DOMAIN_STATS → [`StatsReply::AllDomainStats`].
    GetAllDomainStats {
        /// Domains (empty: all).
        doms: Vec<Domain>,
        /// Groups.
        stats: u32,
        /// Flags.
        flags: u32,
    },
    /// DOMAIN_GET_CPU_STATS → [`StatsReply::Params`].
    GetCpuStats {
        /// The domain.
        dom: Domain,
        /// Parameters per CPU.
        nparams: u32,
        /// First CPU or -1.
        start_cpu: i32,
        /// CPUs.
        ncpus: u32,
        /// Flags.
        flags: u32,
    },
    /// DOMAIN_GET_SCHEDULER_TYPE → [`StatsReply::SchedulerType`].
    GetSchedulerType {
        /// The domain.
        dom: Domain,
    },
    /// DOMAIN_GET_{SCHEDULER,MEMORY,BLKIO,NUMA}_PARAMETERS(_FLAGS) →
    /// [`StatsReply::Params`] (scheduler: [`StatsReply::ParamsOnly`]).
    GetParameters {
        /// Which family.
        kind: TuningKind,
        /// The domain.
        dom: Domain,
        /// Parameters wanted (0: their count).
        nparams: i32,
        /// Flags.
        flags: u32,
    },
    /// DOMAIN_SET_{SCHEDULER,MEMORY,BLKIO,NUMA}_PARAMETERS(_FLAGS) → [`StatsReply::Void`].
    SetParameters {
        /// Which family.
        kind: TuningKind,
        /// The domain.
        dom: Domain,
        /// Values.
        params: Vec<TypedParam>,
        /// Flags.
        flags: u32,
    },
    /// DOMAIN_LIST_ALL_SNAPSHOTS → [`StatsReply::NoSnapshots`].
    ListAllSnapshots {
        /// The domain.
        dom: Domain,
        /// Flags.
        flags: u32,
    },
    /// DOMAIN_MANAGED_SAVE_GET_XML_DESC → [`StatsReply::String`].
    ManagedSaveGetXmlDesc {
        /// The domain.
        dom: Domain,
        /// Flags.
        flags: u32,
    },
    /// DOMAIN_SET_MEMORY_STATS_PERIOD → [`StatsReply::Void`].
    SetMemoryStatsPeriod {
        /// The domain.
        dom: Domain,
        /// Seconds (0: no collection).
        period: i32,
        /// Impact flags.
        flags: u32,
    },
}

/// The kind of [`StatsReply`] a [`StatsRequest`] expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum StatsShape {
    Void,
    Vcpus,
    CpuMaps,
    Iothreads,
    BlockInfo,
    BlockStats,
    Params,
    ParamsOnly,
    DiskErrors,
    InterfaceStats,
    MemoryStats,
    AllDomainStats,
    SchedulerType,
    NoSnapshots,
    String,
}

/// A backend's answer to a [`StatsRequest`], encoded as the procedure's ret struct.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StatsReply {
    /// No payload.
    Void,
    /// GET_VCPUS: one entry per vCPU and `maxinfo * maplen` bytes of maps.
    Vcpus {
        /// Entries.
        info: Vec<VcpuInfo>,
        /// Maps.
        cpumaps: Vec<u8>,
    },
    /// GET_VCPU_PIN_INFO / GET_EMULATOR_PIN_INFO: maps and a count.
    CpuMaps {
        /// Maps, `maplen` bytes each.
        cpumaps: Vec<u8>,
        /// How many maps are meaningful.
        num: i32,
    },
    /// GET_IOTHREAD_INFO.
    Iothreads(Vec<IothreadInfo>),
    /// GET_BLOCK_INFO.
    BlockInfo {
        /// Bytes allocated.
        allocation: u64,
        /// Guest-visible size.
        capacity: u64,
        /// Host size.
        physical: u64,
    },
    /// The old BLOCK_STATS struct (-1: unknown).
    BlockStats {
        /// Read requests.
        rd_req: i64,
        /// Bytes read.
        rd_bytes: i64,
        /// Write requests.
        wr_req: i64,
        /// Bytes written.
        wr_bytes: i64,
        /// Errors.
        errs: i64,
    },
    /// Typed parameters and a count (GET_*_PARAMETERS with `params_len`, CPU
    /// stats, block stats flags).
    Params {
        /// Parameters.
        params: Vec<TypedParam>,
        /// The count the procedure returns.
        nparams: i32,
    },
    /// Only typed parameters (the scheduler's GET).
    ParamsOnly(Vec<TypedParam>),
    /// GET_DISK_ERRORS.
    DiskErrors {
        /// Errors (empty when only the count was asked).
        errors: Vec<DiskError>,
        /// Count.
        nerrors: i32,
    },
    /// INTERFACE_STATS (-1: unknown).
    InterfaceStats([i64; 8]),
    /// MEMORY_STATS.
    MemoryStats(Vec<MemoryStat>),
    /// CONNECT_GET_ALL_DOMAIN_STATS.
    AllDomainStats(Vec<DomainStatsRecord>),
    /// GET_SCHEDULER_TYPE.
    SchedulerType {
        /// "posix".
        typ: String,
        /// Parameters it has.
        nparams: i32,
    },
    /// LIST_ALL_SNAPSHOTS with no snapshot.
    NoSnapshots,
    /// A string (XML).
    String(String),
}

impl StatsReply {
    /// Which shape this is.
    pub fn shape(&self) -> StatsShape {
        match self {
            Self::Void => StatsShape::Void,
            Self::Vcpus { .. } => StatsShape::Vcpus,
            Self::CpuMaps { .. } => StatsShape::CpuMaps,
            Self::Iothreads(_) => StatsShape::Iothreads,
            Self::BlockInfo { .. } => StatsShape::BlockInfo,
            Self::BlockStats { .. } => StatsShape::BlockStats,
            Self::Params { .. } => StatsShape::Params,
            Self::ParamsOnly(_) => StatsShape::ParamsOnly,
            Self::DiskErrors { .. } => StatsShape::DiskErrors,
            Self::InterfaceStats(_) => StatsShape::InterfaceStats,
            Self::MemoryStats(_) => StatsShape::MemoryStats,
            Self::AllDomainStats(_) => StatsShape::AllDomainStats,
            Self::SchedulerType { .. } => StatsShape::SchedulerType,
            Self::NoSnapshots => StatsShape::NoSnapshots,
            Self::String(_) => StatsShape::String,
        }
    }
}

impl Encode for StatsReply {
    fn encode(&self, w: &mut Writer) {
        match self {
            Self::Void => {}
            Self::Vcpus { info, cpumaps } => {
                info.encode(w);
                w.put_opaque_var(cpumaps);
            }
            Self::CpuMaps { cpumaps, num } => {
                w.put_opaque_var(cpumaps);
                num.encode(w);
            }
            Self::Iothreads(info) => {
                info.encode(w);
                (info.len() as u32).encode(w);
            }
            Self::BlockInfo {
                allocation,
                capacity,
                physical,
            } => {
                allocation.encode(w);
                capacity.encode(w);
                physical.encode(w);
            }
            Self::BlockStats {
                rd_req,
                rd_bytes,
                wr_req,
                wr_bytes,
                errs,
            } => {
                for v in [rd_req, rd_bytes, wr_req, wr_bytes, errs] {
                    v.encode(w);
                }
            }
            Self::Params { params, nparams } => {
                params.encode(w);
                nparams.encode(w);
            }
            Self::ParamsOnly(params) => params.encode(w),
            Self::DiskErrors { errors, nerrors } => {
                errors.encode(w);
                nerrors.encode(w);
            }
            Self::InterfaceStats(v) => {
                for x in v {
                    x.encode(w);
                }
            }
            Self::MemoryStats(s) => s.encode(w),
            Self::AllDomainStats(r) => r.encode(w),
            Self::SchedulerType { typ, nparams } => {
                typ.encode(w);
                nparams.encode(w);
            }
            // An empty snapshot array and a count of 0.
            Self::NoSnapshots => {
                0u32.encode(w);
                0i32.encode(w);
            }
            Self::String(s) => s.encode(w),
        }
    }
}

impl StatsRequest {
    /// The reply shape this request expects.
    pub fn shape(&self) -> StatsShape {
        use StatsShape as S;
        match self {
            Self::GetVcpus { .. } => S::Vcpus,
            Self::GetVcpuPinInfo { .. } | Self::GetEmulatorPinInfo { .. } => S::CpuMaps,
            Self::PinVcpu { .. }
            | Self::PinEmulator { .. }
            | Self::SetParameters { .. }
            | Self::SetMemoryStatsPeriod { .. } => S::Void,
            Self::GetIothreadInfo { .. } => S::Iothreads,
            Self::GetBlockInfo { .. } => S::BlockInfo,
            Self::BlockStats { nparams: None, .. } => S::BlockStats,
            Self::BlockStats { .. } | Self::GetCpuStats { .. } => S::Params,
            Self::GetParameters {
                kind: TuningKind::Scheduler,
                ..
            } => S::ParamsOnly,
            Self::GetParameters { .. } => S::Params,
            Self::GetDiskErrors { .. } => S::DiskErrors,
            Self::InterfaceStats { .. } => S::InterfaceStats,
            Self::MemoryStats { .. } => S::MemoryStats,
            Self::GetAllDomainStats { .. } => S::AllDomainStats,
            Self::GetSchedulerType { .. } => S::SchedulerType,
            Self::ListAllSnapshots { .. } => S::NoSnapshots,
            Self::ManagedSaveGetXmlDesc { .. } => S::String,
        }
    }

    /// The domain the call is about (`None` for all-domain stats).
    pub fn domain(&self) -> Option<&Domain> {
        match self {
            Self::GetAllDomainStats { .. } => None,
            Self::GetVcpus { dom, .. }
            | Self::GetVcpuPinInfo { dom, .. }
            | Self::PinVcpu { dom, .. }
            | Self::GetEmulatorPinInfo { dom, .. }
            | Self::PinEmulator { dom, .. }
            | Self::GetIothreadInfo { dom, .. }
            | Self::GetBlockInfo { dom, .. }
            | Self::BlockStats { dom, .. }
            | Self::GetDiskErrors { dom, .. }
            | Self::InterfaceStats { dom, .. }
            | Self::MemoryStats { dom, .. }
            | Self::GetCpuStats { dom, .. }
            | Self::GetSchedulerType { dom }
            | Self::GetParameters { dom, .. }
            | Self::SetParameters { dom, .. }
            | Self::ListAllSnapshots { dom, .. }
            | Self::ManagedSaveGetXmlDesc { dom, .. }
            | Self::SetMemoryStatsPeriod { dom, .. } => Some(dom),
        }
    }
}

fn args<T: Decode>(body: &[u8]) -> Result<T, XdrError> {
    from_bytes(body)
}

/// Decodes the arguments of a [`Family::Stats`] procedure.
pub(super) fn decode(proc: Procedure, body: &[u8]) -> Result<Option<Request>, XdrError> {
    use Procedure as P;
    use StatsRequest as S;
    debug_assert_eq!(proc.family(), Family::Stats);
    let get = |kind, a: GetParamsArgs| S::GetParameters {
        kind,
        dom: a.dom,
        nparams: a.nparams,
        flags: a.flags,
    };
    let set = |kind, a: SetParamsArgs| S::SetParameters {
        kind,
        dom: a.dom,
        params: a.params,
        flags: a.flags,
    };
    let r = match proc {
        P::DomainGetVcpus => {
            let a: GetVcpusArgs = args(body)?;
            S::GetVcpus {
                dom: a.dom,
                maxinfo: a.maxinfo,
                maplen: a.maplen,
            }
        }
        P::DomainGetVcpuPinInfo => {
            let a: GetVcpuPinInfoArgs = args(body)?;
            S::GetVcpuPinInfo {
                dom: a.dom,
                ncpumaps: a.ncpumaps,
                maplen: a.maplen,
                flags: a.flags,
            }
        }
        P::DomainPinVcpu => {
            let a: PinVcpuArgs = args(body)?;
            S::PinVcpu {
                dom: a.dom,
                vcpu: a.vcpu,
                cpumap: a.cpumap.0,
                flags: impact::LIVE,
            }
        }
        P::DomainPinVcpuFlags => {
            let a: PinVcpuFlagsArgs = args(body)?;
            S::PinVcpu {
                dom: a.dom,
                vcpu: a.vcpu,
                cpumap: a.cpumap.0,
                flags: a.flags,
            }
        }
        P::DomainGetEmulatorPinInfo => {
            let a: GetEmulatorPinInfoArgs = args(body)?;
            S::GetEmulatorPinInfo {
                dom: a.dom,
                maplen: a.maplen,
                flags: a.flags,
            }
        }
        P::DomainPinEmulator => {
            let a: PinEmulatorArgs = args(body)?;
            S::PinEmulator {
                dom: a.dom,
                cpumap: a.cpumap.0,
                flags: a.flags,
            }
        }
        P::DomainGetIothreadInfo => {
            let a: DomainFlagsArgs = args(body)?;
            S::GetIothreadInfo {
                dom: a.dom,
                flags: a.flags,
            }
        }
        P::DomainGetBlockInfo => {
            let a: PathFlagsArgs = args(body)?;
            S::GetBlockInfo {
                dom: a.dom,
                path: a.path,
                flags: a.flags,
            }
        }
        P::DomainBlockStats => {
            let a: PathArgs = args(body)?;
            S::BlockStats {
                dom: a.dom,
                path: a.path,
                nparams: None,
                flags: 0,
            }
        }
        P::DomainBlockStatsFlags => {
            let a: BlockStatsFlagsArgs = args(body)?;
            S::BlockStats {
                dom: a.dom,
                path: a.path,
                nparams: Some(a.nparams),
                flags: a.flags,
            }
        }
        P::DomainGetDiskErrors => {
            let a: CountFlagsArgs = args(body)?;
            S::GetDiskErrors {
                dom: a.dom,
                maxerrors: a.max,
                flags: a.flags,
            }
        }
        P::DomainInterfaceStats => {
            let a: PathArgs = args(body)?;
            S::InterfaceStats {
                dom: a.dom,
                device: a.path,
            }
        }
        P::DomainMemoryStats => {
            let a: CountFlagsArgs = args(body)?;
            S::MemoryStats {
                dom: a.dom,
                max_stats: a.max,
                flags: a.flags,
            }
        }
        P::ConnectGetAllDomainStats => {
            let a: AllDomainStatsArgs = args(body)?;
            S::GetAllDomainStats {
                doms: a.doms,
                stats: a.stats,
                flags: a.flags,
            }
        }
        P::DomainGetCpuStats => {
            let a: CpuStatsArgs = args(body)?;
            S::GetCpuStats {
                dom: a.dom,
                nparams: a.nparams,
                start_cpu: a.start_cpu,
                ncpus: a.ncpus,
                flags: a.flags,
            }
        }
        P::DomainGetSchedulerType => S::GetSchedulerType {
            dom: args::<DomainArgs>(body)?.dom,
        },
        P::DomainGetSchedulerParameters => {
            let a: GetSchedulerArgs = args(body)?;
            S::GetParameters {
                kind: TuningKind::Scheduler,
                dom: a.dom,
                nparams: a.nparams,
                flags: 0,
            }
        }
        P::DomainGetSchedulerParametersFlags => get(TuningKind::Scheduler, args(body)?),
        P::DomainGetMemoryParameters => get(TuningKind::Memory, args(body)?),
        P::DomainGetBlkioParameters => get(TuningKind::Blkio, args(body)?),
        P::DomainGetNumaParameters => get(TuningKind::Numa, args(body)?),
        P::DomainSetSchedulerParameters => {
            let a: SetSchedulerArgs = args(body)?;
            S::SetParameters {
                kind: TuningKind::Scheduler,
                dom: a.dom,
                params: a.params,
                flags: 0,
            }
        }
        P::DomainSetSchedulerParametersFlags => set(TuningKind::Scheduler, args(body)?),
        P::DomainSetMemoryParameters => set(TuningKind::Memory, args(body)?),
        P::DomainSetBlkioParameters => set(TuningKind::Blkio, args(body)?),
        P::DomainSetNumaParameters => set(TuningKind::Numa, args(body)?),
        P::DomainListAllSnapshots => {
            let a: ListSnapshotsArgs = args(body)?;
            S::ListAllSnapshots {
                dom: a.dom,
                flags: a.flags,
            }
        }
        P::DomainManagedSaveGetXmlDesc => {
            let a: DomainFlagsArgs = args(body)?;
            S::ManagedSaveGetXmlDesc {
                dom: a.dom,
                flags: a.flags,
            }
        }
        P::DomainSetMemoryStatsPeriod => {
            let a: MemoryStatsPeriodArgs = args(body)?;
            S::SetMemoryStatsPeriod {
                dom: a.dom,
                period: a.period,
                flags: a.flags,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(Request::Stats(r)))
}

/// Parameters as a procedure sends them: strings only to a caller that said
/// it takes them (`VIR_TYPED_PARAM_STRING_OKAY` in `flags`).
pub fn params_for(flags: u32, params: Vec<TypedParam>) -> Vec<TypedParam> {
    if flags & TYPED_PARAM_STRING_OKAY != 0 {
        return params;
    }
    params
        .into_iter()
        .filter(|p| !matches!(p.value, TypedParamValue::String(_)))
        .collect()
}

/// A typed parameter.
pub fn param(field: impl Into<String>, value: TypedParamValue) -> TypedParam {
    TypedParam {
        field: field.into(),
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procs::Response;
    use crate::xdr::to_bytes;

    fn dom() -> Domain {
        Domain {
            name: "vm".into(),
            uuid: [7; 16],
            id: 1,
        }
    }

    #[test]
    fn stats_procedures_decode_to_their_requests() {
        let body = to_bytes(&GetParamsArgs {
            dom: dom(),
            nparams: 0,
            flags: TYPED_PARAM_STRING_OKAY,
        });
        let r = Request::decode(Procedure::DomainGetNumaParameters, &body)
            .unwrap()
            .unwrap();
        assert_eq!(
            r,
            Request::Stats(StatsRequest::GetParameters {
                kind: TuningKind::Numa,
                dom: dom(),
                nparams: 0,
                flags: TYPED_PARAM_STRING_OKAY,
            })
        );
        assert_eq!(r.family(), Family::Stats);
        let body = to_bytes(&GetVcpusArgs {
            dom: dom(),
            maxinfo: 2,
            maplen: 1,
        });
        let r = Request::decode(Procedure::DomainGetVcpus, &body)
            .unwrap()
            .unwrap();
        assert_eq!(
            r.expected_shape(),
            crate::procs::Shape::Stats(StatsShape::Vcpus)
        );
        // Trailing bytes are refused.
        let mut long = body.clone();
        long.extend([0, 0, 0, 0]);
        assert!(Request::decode(Procedure::DomainGetVcpus, &long).is_err());
        assert_eq!(
            Procedure::DomainSetMemoryParameters.mutating_api(),
            Some("virDomainSetMemoryParameters")
        );
        assert_eq!(Procedure::DomainGetCpuStats.mutating_api(), None);
    }

    #[test]
    fn replies_have_the_wire_layout() {
        let r = StatsReply::Vcpus {
            info: vec![VcpuInfo {
                number: 0,
                state: 1,
                cpu_time: 5,
                cpu: 1,
            }],
            cpumaps: vec![3],
        };
        // count + (4 + 4 + 8 + 4) + opaque (4 + 1 padded to 4).
        assert_eq!(to_bytes(&r).len(), 4 + 20 + 8);
        assert_eq!(
            to_bytes(&StatsReply::BlockInfo {
                allocation: 1,
                capacity: 2,
                physical: 3
            })
            .len(),
            24
        );
        assert_eq!(to_bytes(&StatsReply::InterfaceStats([0; 8])).len(), 64);
        assert_eq!(to_bytes(&StatsReply::NoSnapshots), [0; 8]);
        let p = StatsReply::Params {
            params: vec![param("cpu_time", TypedParamValue::ULLong(9))],
            nparams: 1,
        };
        // count + (string "cpu_time" 4+8) + (discriminant 4 + u64 8) + nparams.
        assert_eq!(to_bytes(&p).len(), 4 + 12 + 12 + 4);
        assert_eq!(
            Response::Stats(p).shape(),
            crate::procs::Shape::Stats(StatsShape::Params)
        );
    }

    #[test]
    fn strings_only_for_callers_that_take_them() {
        let ps = vec![
            param("numa_mode", TypedParamValue::Int(0)),
            param("numa_nodeset", TypedParamValue::String("0".into())),
        ];
        assert_eq!(params_for(0, ps.clone()).len(), 1);
        assert_eq!(params_for(TYPED_PARAM_STRING_OKAY, ps).len(), 2);
    }
}
