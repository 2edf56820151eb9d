//! Host-fact procedures (node CPU/memory stats, CPU map, CPU models and
//! comparisons, sysinfo, per-cell free memory): their wire structs and their
//! decoding, apart from the domain procedures. Layouts follow libvirt's
//! `remote_protocol.x` (field orders and limits are interface facts).

use super::procedure::Procedure;
use super::request::Request;
use crate::xdr::{Opaque, XdrError, from_bytes};
use crate::xdr_struct;

/// `REMOTE_NODE_CPU_STATS_MAX`.
pub const NODE_CPU_STATS_MAX: u32 = 16;
/// `REMOTE_NODE_MEMORY_STATS_MAX`.
pub const NODE_MEMORY_STATS_MAX: u32 = 16;
/// `REMOTE_NODE_MAX_CELLS`.
pub const NODE_MAX_CELLS: u32 = 1024;
/// `REMOTE_CPUMAP_MAX`.
pub const CPUMAP_MAX: u32 = 2048;
/// `REMOTE_CONNECT_CPU_MODELS_MAX`.
pub const CONNECT_CPU_MODELS_MAX: u32 = 8192;
/// `REMOTE_CPU_BASELINE_MAX`.
pub const CPU_BASELINE_MAX: u32 = 256;

/// `virCPUCompareResult`.
pub mod cpu_compare {
    /// Error.
    pub const ERROR: i32 = -1;
    /// The host CPU cannot run the guest CPU.
    pub const INCOMPATIBLE: i32 = 0;
    /// Identical.
    pub const IDENTICAL: i32 = 1;
    /// The host CPU is a superset.
    pub const SUPERSET: i32 = 2;
    /// `VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE` flag.
    pub const FLAG_FAIL_INCOMPATIBLE: u32 = 1;
}

xdr_struct! {
    /// NODE_GET_CELLS_FREE_MEMORY args.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct CellsFreeMemoryArgs {
        /// First NUMA cell.
        pub start_cell: i32,
        /// How many cells at most.
        pub max_cells: i32,
    }
}

xdr_struct! {
    /// NODE_GET_CELLS_FREE_MEMORY ret.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CellsFreeMemoryRet {
        /// Free bytes per cell.
        pub cells: Vec<u64> => max NODE_MAX_CELLS,
    }
}

xdr_struct! {
    /// CONNECT_COMPARE_CPU args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CompareCpuArgs {
        /// `<cpu>` XML.
        pub xml: String,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// CONNECT_BASELINE_CPU args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct BaselineCpuArgs {
        /// `<cpu>` XMLs.
        pub xml_cpus: Vec<String> => max CPU_BASELINE_MAX,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// Args of procedures that take only flags (CONNECT_GET_SYSINFO).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct FlagsArgs {
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// NODE_GET_CPU_STATS args.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct NodeCpuStatsArgs {
        /// CPU number, or -1 for the total.
        pub cpu_num: i32,
        /// Room for this many; 0 asks for the count.
        pub nparams: i32,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// NODE_GET_MEMORY_STATS args.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct NodeMemoryStatsArgs {
        /// Room for this many; 0 asks for the count.
        pub nparams: i32,
        /// NUMA cell, or -1 for the whole host.
        pub cell_num: i32,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// One `remote_node_get_cpu_stats` / `remote_node_get_memory_stats`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct NodeStat {
        /// Field name (`user`, `total`, ...).
        pub field: String,
        /// Value (ns for CPU, KiB for memory).
        pub value: u64,
    }
}

xdr_struct! {
    /// NODE_GET_CPU_STATS / NODE_GET_MEMORY_STATS ret.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct NodeStatsRet {
        /// The values (empty when only the count was asked).
        pub params: Vec<NodeStat> => max NODE_CPU_STATS_MAX,
        /// How many there are.
        pub nparams: i32,
    }
}

xdr_struct! {
    /// NODE_GET_CPU_MAP args.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct CpuMapArgs {
        /// Whether the map is wanted.
        pub need_map: i32,
        /// Whether the online count is wanted.
        pub need_online: i32,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// NODE_GET_CPU_MAP ret.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CpuMapRet {
        /// One bit per CPU, set when online.
        pub cpumap: Opaque => max CPUMAP_MAX,
        /// Online CPUs.
        pub online: u32,
        /// Present CPUs (the map's length in bits).
        pub ret: i32,
    }
}

xdr_struct! {
    /// CONNECT_GET_CPU_MODEL_NAMES args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CpuModelNamesArgs {
        /// Architecture.
        pub arch: String,
        /// 0: only the count.
        pub need_results: i32,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// CONNECT_GET_CPU_MODEL_NAMES ret.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CpuModelNamesRet {
        /// Model names.
        pub models: Vec<String> => max CONNECT_CPU_MODELS_MAX,
        /// How many.
        pub ret: i32,
    }
}

xdr_struct! {
    /// CONNECT_COMPARE_HYPERVISOR_CPU args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CompareHypervisorCpuArgs {
        /// Emulator binary.
        pub emulator: Option<String>,
        /// Architecture.
        pub arch: Option<String>,
        /// Machine type.
        pub machine: Option<String>,
        /// Virt type.
        pub virttype: Option<String>,
        /// `<cpu>` XML.
        pub xml_cpu: String,
        /// Flags.
        pub flags: u32,
    }
}

xdr_struct! {
    /// CONNECT_BASELINE_HYPERVISOR_CPU args.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct BaselineHypervisorCpuArgs {
        /// Emulator binary.
        pub emulator: Option<String>,
        /// Architecture.
        pub arch: Option<String>,
        /// Machine type.
        pub machine: Option<String>,
        /// Virt type.
        pub virttype: Option<String>,
        /// `<cpu>` XMLs.
        pub xml_cpus: Vec<String> => max CPU_BASELINE_MAX,
        /// Flags.
        pub flags: u32,
    }
}

/// Decodes the host-fact procedures; `Ok(None)` for any other.
pub(super) fn decode(proc: Procedure, body: &[u8]) -> Result<Option<Request>, XdrError> {
    use Procedure as P;
    use Request as R;
    Ok(Some(match proc {
        P::NodeGetCellsFreeMemory => {
            let a: CellsFreeMemoryArgs = from_bytes(body)?;
            R::NodeGetCellsFreeMemory {
                start_cell: a.start_cell,
                max_cells: a.max_cells,
            }
        }
        P::ConnectCompareCpu => {
            let a: CompareCpuArgs = from_bytes(body)?;
            R::ConnectCompareCpu {
                xml: a.xml,
                flags: a.flags,
            }
        }
        P::ConnectBaselineCpu => {
            let a: BaselineCpuArgs = from_bytes(body)?;
            R::ConnectBaselineCpu {
                xml_cpus: a.xml_cpus,
                flags: a.flags,
            }
        }
        P::ConnectGetSysinfo => R::ConnectGetSysinfo {
            flags: from_bytes::<FlagsArgs>(body)?.flags,
        },
        P::NodeGetCpuStats => {
            let a: NodeCpuStatsArgs = from_bytes(body)?;
            R::NodeGetCpuStats {
                cpu_num: a.cpu_num,
                nparams: a.nparams,
                flags: a.flags,
            }
        }
        P::NodeGetMemoryStats => {
            let a: NodeMemoryStatsArgs = from_bytes(body)?;
            R::NodeGetMemoryStats {
                nparams: a.nparams,
                cell_num: a.cell_num,
                flags: a.flags,
            }
        }
        P::NodeGetCpuMap => {
            let a: CpuMapArgs = from_bytes(body)?;
            R::NodeGetCpuMap {
                need_map: a.need_map != 0,
                need_online: a.need_online != 0,
                flags: a.flags,
            }
        }
        P::ConnectGetCpuModelNames => {
            let a: CpuModelNamesArgs = from_bytes(body)?;
            R::ConnectGetCpuModelNames {
                arch: a.arch,
                need_results: a.need_results != 0,
                flags: a.flags,
            }
        }
        P::ConnectCompareHypervisorCpu => {
            let a: CompareHypervisorCpuArgs = from_bytes(body)?;
            R::ConnectCompareHypervisorCpu {
                emulator: a.emulator,
                arch: a.arch,
                machine: a.machine,
                virttype: a.virttype,
                xml_cpu: a.xml_cpu,
                flags: a.flags,
            }
        }
        P::ConnectBaselineHypervisorCpu => {
            let a: BaselineHypervisorCpuArgs = from_bytes(body)?;
            R::ConnectBaselineHypervisorCpu {
                emulator: a.emulator,
                arch: a.arch,
                machine: a.machine,
                virttype: a.virttype,
                xml_cpus: a.xml_cpus,
                flags: a.flags,
            }
        }
        _ => return Ok(None),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xdr::to_bytes;

    #[test]
    fn host_fact_args_decode() {
        let body = to_bytes(&CpuMapArgs {
            need_map: 1,
            need_online: 1,
            flags: 0,
        });
        assert_eq!(
            Request::decode(Procedure::NodeGetCpuMap, &body).unwrap(),
            Some(Request::NodeGetCpuMap {
                need_map: true,
                need_online: true,
                flags: 0
            })
        );
        let body = to_bytes(&BaselineHypervisorCpuArgs {
            emulator: None,
            arch: Some("x86_64".into()),
            machine: None,
            virttype: Some("kvm".into()),
            xml_cpus: vec!["<cpu/>".into()],
            flags: 1,
        });
        match Request::decode(Procedure::ConnectBaselineHypervisorCpu, &body).unwrap() {
            Some(Request::ConnectBaselineHypervisorCpu {
                arch,
                xml_cpus,
                flags,
                ..
            }) => {
                assert_eq!(arch.as_deref(), Some("x86_64"));
                assert_eq!(xml_cpus, vec!["<cpu/>".to_owned()]);
                assert_eq!(flags, 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cpu_map_ret_layout() {
        // opaque<> (length, bytes padded to 4), online, ret.
        let bytes = to_bytes(&CpuMapRet {
            cpumap: Opaque(vec![3]),
            online: 2,
            ret: 2,
        });
        assert_eq!(bytes, [0, 0, 0, 1, 3, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2]);
    }
}
