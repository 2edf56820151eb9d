//! The typed [`Request`] a backend answers and the [`Response`] it gives.

use super::domain_ops::{DomainOp, DomainOpReply, OpShape};
use super::hostfacts::{CpuMapRet, CpuModelNamesRet, NodeStatsRet};
use super::procedure::Family;
use super::stats::{StatsReply, StatsRequest, StatsShape};
use super::storage::{StorageReply, StorageRequest, StorageShape};
use super::wire::{ControlInfo, Domain, DomainInfo, JobInfo, NodeInfo, StateRet};

/// A call the server forwards to the backend, with typed arguments.
///
/// Several wire procedures fold into one request: DEFINE_XML and
/// DEFINE_XML_FLAGS are both [`Request::DomainDefineXml`] (flags 0 for the
/// old one), CREATE and CREATE_WITH_FLAGS are [`Request::DomainCreate`], and
/// so on; [`crate::server::CallContext::procedure`] tells which one came in.
/// Handshake, keepalive, event registration and the legacy list procedures
/// are answered by the server itself (the latter via
/// [`Request::ConnectListAllDomains`]).
#[derive(Debug, Clone, PartialEq)]
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
    // Host facts (hostfacts.rs).
    /// NODE_GET_CELLS_FREE_MEMORY → `UHypers` (bytes per cell).
    NodeGetCellsFreeMemory {
        /// First cell.
        start_cell: i32,
        /// At most this many.
        max_cells: i32,
    },
    /// CONNECT_COMPARE_CPU → `Int` (`cpu_compare`).
    ConnectCompareCpu {
        /// `<cpu>` XML.
        xml: String,
        /// Flags.
        flags: u32,
    },
    /// CONNECT_BASELINE_CPU → `String` (`<cpu>` XML).
    ConnectBaselineCpu {
        /// `<cpu>` XMLs.
        xml_cpus: Vec<String>,
        /// Flags.
        flags: u32,
    },
    /// CONNECT_GET_SYSINFO → `String` (`<sysinfo>` XML).
    ConnectGetSysinfo {
        /// Flags.
        flags: u32,
    },
    /// NODE_GET_CPU_STATS → `NodeStats`.
    NodeGetCpuStats {
        /// CPU, or -1 for all.
        cpu_num: i32,
        /// Room for this many; 0 asks for the count.
        nparams: i32,
        /// Flags.
        flags: u32,
    },
    /// NODE_GET_MEMORY_STATS → `NodeStats`.
    NodeGetMemoryStats {
        /// Room for this many; 0 asks for the count.
        nparams: i32,
        /// Cell, or -1 for the host.
        cell_num: i32,
        /// Flags.
        flags: u32,
    },
    /// NODE_GET_CPU_MAP → `CpuMap`.
    NodeGetCpuMap {
        /// The map is wanted.
        need_map: bool,
        /// The online count is wanted.
        need_online: bool,
        /// Flags.
        flags: u32,
    },
    /// CONNECT_GET_CPU_MODEL_NAMES → `CpuModelNames`.
    ConnectGetCpuModelNames {
        /// Architecture.
        arch: String,
        /// Names wanted (else only the count).
        need_results: bool,
        /// Flags.
        flags: u32,
    },
    /// CONNECT_COMPARE_HYPERVISOR_CPU → `Int` (`cpu_compare`).
    ConnectCompareHypervisorCpu {
        /// Emulator.
        emulator: Option<String>,
        /// Arch.
        arch: Option<String>,
        /// Machine.
        machine: Option<String>,
        /// Virt type.
        virttype: Option<String>,
        /// `<cpu>` XML.
        xml_cpu: String,
        /// Flags.
        flags: u32,
    },
    /// CONNECT_BASELINE_HYPERVISOR_CPU → `String` (`<cpu>` XML).
    ConnectBaselineHypervisorCpu {
        /// Emulator.
        emulator: Option<String>,
        /// Arch.
        arch: Option<String>,
        /// Machine.
        machine: Option<String>,
        /// Virt type.
        virttype: Option<String>,
        /// `<cpu>` XMLs.
        xml_cpus: Vec<String>,
        /// Flags (EXPAND_FEATURES = 1, MIGRATABLE = 2).
        flags: u32,
    },
    /// One of the domain commands of [`super::domain_ops`].
    DomainOp(DomainOp),
    /// Statistics and tuning ([`Family::Stats`]) → [`Response::Stats`].
    Stats(StatsRequest),
    /// Storage pools and volumes ([`Family::Storage`]) → [`Response::Storage`].
    Storage(StorageRequest),
}

/// What a backend answers; the shape must match the request (see
/// [`Request::expected_shape`]), else the server replies with an internal
/// error instead of sending a malformed reply.
#[derive(Debug, Clone, PartialEq)]
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
    // Host facts (hostfacts.rs).
    /// A list of `unsigned hyper` (NODE_GET_CELLS_FREE_MEMORY).
    UHypers(Vec<u64>),
    /// NODE_GET_CPU_STATS / NODE_GET_MEMORY_STATS.
    NodeStats(NodeStatsRet),
    /// NODE_GET_CPU_MAP.
    CpuMap(CpuMapRet),
    /// CONNECT_GET_CPU_MODEL_NAMES.
    CpuModelNames(CpuModelNamesRet),
    /// The answers only the domain commands have.
    DomainOp(DomainOpReply),
    /// The answer to a [`Request::Stats`].
    Stats(StatsReply),
    /// The answer to a [`Request::Storage`].
    Storage(StorageReply),
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
    UHypers,
    NodeStats,
    CpuMap,
    CpuModelNames,
    DomainOp(OpShape),
    Stats(StatsShape),
    Storage(StorageShape),
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
            Self::UHypers(_) => Shape::UHypers,
            Self::NodeStats(_) => Shape::NodeStats,
            Self::CpuMap(_) => Shape::CpuMap,
            Self::CpuModelNames(_) => Shape::CpuModelNames,
            Self::DomainOp(r) => Shape::DomainOp(r.shape()),
            Self::Stats(r) => Shape::Stats(r.shape()),
            Self::Storage(r) => Shape::Storage(r.shape()),
        }
    }
}

impl Request {
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
            Self::NodeGetCellsFreeMemory { .. } => Shape::UHypers,
            Self::ConnectCompareCpu { .. } | Self::ConnectCompareHypervisorCpu { .. } => Shape::Int,
            Self::ConnectBaselineCpu { .. }
            | Self::ConnectGetSysinfo { .. }
            | Self::ConnectBaselineHypervisorCpu { .. } => Shape::String,
            Self::NodeGetCpuStats { .. } | Self::NodeGetMemoryStats { .. } => Shape::NodeStats,
            Self::NodeGetCpuMap { .. } => Shape::CpuMap,
            Self::ConnectGetCpuModelNames { .. } => Shape::CpuModelNames,
            Self::DomainOp(op) => op.expected_shape(),
            Self::Stats(r) => Shape::Stats(r.shape()),
            Self::Storage(r) => Shape::Storage(r.shape()),
        }
    }

    /// The family of the procedures that decode to this request (never
    /// [`Family::Server`]): backends answer by family.
    pub fn family(&self) -> Family {
        match self {
            Self::ConnectOpen { .. }
            | Self::ConnectGetType
            | Self::ConnectGetVersion
            | Self::ConnectGetLibVersion
            | Self::ConnectGetHostname
            | Self::ConnectGetUri
            | Self::ConnectGetCapabilities
            | Self::ConnectGetMaxVcpus { .. }
            | Self::NodeGetInfo
            | Self::NodeGetSecurityModel
            | Self::NodeGetFreeMemory
            | Self::ConnectGetDomainCapabilities { .. }
            | Self::ConnectDomainXmlToNative { .. } => Family::Connect,
            Self::ConnectListAllDomains { .. }
            | Self::DomainLookupByName { .. }
            | Self::DomainLookupByUuid { .. }
            | Self::DomainLookupById { .. } => Family::Lookup,
            Self::DomainDefineXml { .. }
            | Self::DomainCreateXml { .. }
            | Self::DomainCreate { .. }
            | Self::DomainDestroy { .. }
            | Self::DomainShutdown { .. }
            | Self::DomainReboot { .. }
            | Self::DomainReset { .. }
            | Self::DomainSuspend { .. }
            | Self::DomainResume { .. }
            | Self::DomainUndefine { .. }
            | Self::DomainSetAutostart { .. } => Family::Lifecycle,
            Self::DomainGetXmlDesc { .. }
            | Self::DomainGetState { .. }
            | Self::DomainGetInfo { .. }
            | Self::DomainGetOsType { .. }
            | Self::DomainGetMaxMemory { .. }
            | Self::DomainGetMaxVcpus { .. }
            | Self::DomainGetVcpusFlags { .. }
            | Self::DomainIsActive { .. }
            | Self::DomainIsPersistent { .. }
            | Self::DomainIsUpdated { .. }
            | Self::DomainGetAutostart { .. }
            | Self::DomainHasManagedSaveImage { .. }
            | Self::DomainSnapshotNum { .. }
            | Self::DomainGetMessages { .. }
            | Self::DomainGetJobInfo { .. }
            | Self::DomainGetControlInfo { .. } => Family::Info,
            Self::NodeGetCellsFreeMemory { .. }
            | Self::ConnectCompareCpu { .. }
            | Self::ConnectBaselineCpu { .. }
            | Self::ConnectGetSysinfo { .. }
            | Self::NodeGetCpuStats { .. }
            | Self::NodeGetMemoryStats { .. }
            | Self::NodeGetCpuMap { .. }
            | Self::ConnectGetCpuModelNames { .. }
            | Self::ConnectCompareHypervisorCpu { .. }
            | Self::ConnectBaselineHypervisorCpu { .. } => Family::Connect,
            Self::DomainOp(_) => Family::DomainOps,
            Self::Stats(_) => Family::Stats,
            Self::Storage(_) => Family::Storage,
        }
    }
}
