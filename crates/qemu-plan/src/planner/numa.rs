//! Guest NUMA cells (`-numa node`, `-numa dist` and a memory backend per cell)
//! and the host-node binding of guest memory from `<numatune>`.

use domain_xml::model::numa::{NumatuneMode, NumatunePlacement, parse_cpu_list};

use super::state::Planner;
use crate::json::{Json, Obj};

impl Planner<'_> {
    /// `-object memory-backend-…` + `-numa node` per cell, then the distances;
    /// after `-smp`, as libvirt orders them.
    pub(super) fn numa(&mut self) {
        let dom = self.dom;
        let Some(numa) = dom.cpu.as_ref().and_then(|c| c.numa.as_ref()) else {
            return;
        };
        let vcpus = dom.vcpu.count;
        if !numa.interconnects.is_empty() || numa.cells.iter().any(|c| !c.caches.is_empty()) {
            self.problem(
                "numa",
                "HMAT (<interconnects> and cell <cache>s) is not supported yet",
            );
        }
        for cell in &numa.cells {
            let id = format!("ram-node{}", cell.id);
            if cell.discard.is_some() {
                self.problem(
                    "numa",
                    format!("discard on NUMA cell {} is not supported yet", cell.id),
                );
            }
            let bytes = cell.memory_kib.div_ceil(1024) * 1024 * 1024;
            let props = self.memory_backend(&id, bytes, cell.mem_access, Some(cell.id));
            self.object(props);
            let mut s = format!("node,nodeid={}", cell.id);
            if let Some(cpus) = &cell.cpus {
                let list = parse_cpu_list(cpus).unwrap_or_default();
                if let Some(max) = list.iter().max().filter(|m| **m >= vcpus) {
                    self.problem(
                        "numa",
                        format!(
                            "NUMA cell {} names vCPU {max}, but the domain has {vcpus}",
                            cell.id
                        ),
                    );
                }
                // QEMU takes a list as repeated `cpus=` ranges.
                for part in cpus.split(',') {
                    s.push_str(&format!(",cpus={}", part.trim()));
                }
            }
            s.push_str(&format!(",memdev={id}"));
            self.arg2("-numa", s);
        }
        if numa.has_distances() {
            for a in &numa.cells {
                for b in &numa.cells {
                    if let Some(v) = numa.distance(a.id, b.id) {
                        self.arg2("-numa", format!("dist,src={},dst={},val={v}", a.id, b.id));
                    }
                }
            }
        }
    }

    /// Domain-level `<numatune>` checks.
    pub(super) fn check_numatune(&mut self) {
        let dom = self.dom;
        let Some(nt) = &dom.numatune else {
            return;
        };
        if nt
            .memory
            .as_ref()
            .is_some_and(|m| m.placement == Some(NumatunePlacement::Auto) || m.nodeset.is_none())
        {
            self.problem(
                "numatune",
                "<memory placement='auto'> (host nodes chosen by numad) is not supported yet",
            );
        }
        let cells = dom.cpu.as_ref().and_then(|c| c.numa.as_ref());
        for m in &nt.memnodes {
            if !cells.is_some_and(|n| n.cells.iter().any(|c| c.id == m.cellid)) {
                self.problem(
                    "numatune",
                    format!("<memnode cellid='{}'> names no guest NUMA cell", m.cellid),
                );
            }
            if m.mode == Some(NumatuneMode::Restrictive) {
                self.problem(
                    "numatune",
                    "<memnode mode='restrictive'> is not supported yet (it needs cgroup cpuset.mems)",
                );
            }
        }
        if let Some(host) = self.rt.host.numa_nodes() {
            let sets = nt
                .memory
                .iter()
                .filter_map(|m| m.nodeset.as_deref())
                .chain(nt.memnodes.iter().map(|m| m.nodeset.as_str()));
            let missing: Vec<u32> = sets
                .filter_map(parse_cpu_list)
                .flatten()
                .filter(|n| !host.contains(n))
                .collect();
            if let Some(n) = missing.first() {
                self.problem("numatune", format!("host NUMA node {n} is unavailable"));
            }
        }
        if nt
            .memory
            .as_ref()
            .is_some_and(|m| m.mode == Some(NumatuneMode::Restrictive))
        {
            self.problem(
                "numatune",
                "<memory mode='restrictive'> is not supported yet (it needs cgroup cpuset.mems)",
            );
        }
    }

    /// `host-nodes`/`policy` of a memory backend from `<numatune>`.
    pub(super) fn numatune_props(&self, props: &mut Obj, cell: Option<u32>) {
        let Some((nodes, mode)) = self.dom.numatune.as_ref().and_then(|n| n.policy_for(cell))
        else {
            return;
        };
        let policy = match mode {
            NumatuneMode::Strict => "bind",
            NumatuneMode::Preferred => "preferred",
            NumatuneMode::Interleave => "interleave",
            NumatuneMode::Restrictive => return,
        };
        props.set(
            "host-nodes",
            Json::Arr(
                nodes
                    .into_iter()
                    .map(|n| Json::UInt(u64::from(n)))
                    .collect(),
            ),
        );
        props.set("policy", policy);
    }
}
