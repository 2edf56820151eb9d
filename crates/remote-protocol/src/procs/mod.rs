//! REMOTE program procedures (tier A of the reference notes plus a few cheap
//! stubs): numbers, wire argument/return structs, and the typed
//! [`Request`]/[`Response`] enums the server hands to a backend.
//!
//! The wire structs are written from the documented field layouts (numbers
//! and field orders are interface facts); no libvirt text is copied.

mod consts;
mod decode;
pub mod domain_ops;
mod hostfacts;
mod procedure;
mod request;
pub mod stats;
pub mod storage;
mod wire;

#[cfg(test)]
mod tests;

pub use consts::*;
pub use domain_ops::{DomainOp, DomainOpReply, OpShape};
pub use hostfacts::{
    BaselineCpuArgs, BaselineHypervisorCpuArgs, CONNECT_CPU_MODELS_MAX, CPU_BASELINE_MAX,
    CPUMAP_MAX, CellsFreeMemoryArgs, CellsFreeMemoryRet, CompareCpuArgs, CompareHypervisorCpuArgs,
    CpuMapArgs, CpuMapRet, CpuModelNamesArgs, CpuModelNamesRet, FlagsArgs, NODE_CPU_STATS_MAX,
    NODE_MAX_CELLS, NODE_MEMORY_STATS_MAX, NodeCpuStatsArgs, NodeMemoryStatsArgs, NodeStat,
    NodeStatsRet, cpu_compare,
};
pub use procedure::{Family, Procedure};
pub use request::{Request, Response, Shape};
pub use stats::{StatsReply, StatsRequest, StatsShape, TuningKind};
pub use storage::{StoragePool, StorageReply, StorageRequest, StorageShape, StorageVol};
pub use wire::*;
