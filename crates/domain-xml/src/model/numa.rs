//! Guest NUMA topology (`<cpu><numa>`) and host NUMA memory policy (`<numatune>`).

use super::common::AttrSet;
use super::general::MemAccess;
use crate::units::to_kib;
use crate::xml::{El, Extras, ParseError, XmlWriter};
use crate::xml_enum;

/// `<cpu><numa>`: the guest's NUMA cells.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Numa {
    pub cells: Vec<NumaCell>,
    /// `<interconnects>`: HMAT `<latency>`/`<bandwidth>` entries by name
    /// (`initiator`, `target`, `cache`, `type`, `value`, `unit`).
    pub interconnects: Vec<(String, AttrSet)>,
    pub extras: Extras,
}

/// A cell's memory-side `<cache level= associativity= policy=>` with its
/// `<size value= unit=>` and `<line value= unit=>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumaCache {
    pub attrs: AttrSet,
    pub size: Option<AttrSet>,
    pub line: Option<AttrSet>,
}

/// `<cell id= cpus= memory= unit= memAccess= discard=>` with its `<distances>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumaCell {
    /// The cell's number; libvirt numbers cells in order when `id` is absent.
    pub id: u32,
    /// The guest CPUs of the cell (a libvirt CPU list such as `0-3,^2,8`); a
    /// memory-only cell has none.
    pub cpus: Option<String>,
    pub memory_kib: u64,
    pub mem_access: Option<MemAccess>,
    pub discard: Option<bool>,
    /// `<distances><sibling id= value=/>`: distance to other cells.
    pub distances: Vec<(u32, u32)>,
    pub caches: Vec<NumaCache>,
    pub extras: Extras,
}

impl Numa {
    pub fn read(el: El<'_, '_>) -> Result<Numa, ParseError> {
        let mut cells: Vec<NumaCell> = Vec::new();
        for (i, c) in el.children("cell").into_iter().enumerate() {
            let cell = NumaCell::read(c, i)?;
            if cells.iter().any(|o| o.id == cell.id) {
                return Err(el.err(format!("two NUMA cells have id {}", cell.id)));
            }
            cells.push(cell);
        }
        if cells.is_empty() {
            return Err(el.err("<numa> needs at least one <cell>"));
        }
        let mut interconnects = Vec::new();
        if let Some(ic) = el.child("interconnects") {
            for kind in ["latency", "bandwidth"] {
                for e in ic.children(kind) {
                    let a = AttrSet::read(
                        e,
                        &["initiator", "target", "cache", "type", "value", "unit"],
                    );
                    interconnects.push((kind.to_owned(), a));
                }
            }
            ic.done()?;
        }
        // Cells are numbered 0..n-1 (in any order), as QEMU numbers nodes.
        let n = cells.len();
        if let Some(c) = cells.iter().find(|c| c.id as usize >= n) {
            return Err(el.err(format!(
                "NUMA cell id {} is out of range: the {n} cells must be numbered 0 to {}",
                c.id,
                n - 1
            )));
        }
        for c in &cells {
            if let Some((sid, _)) = c.distances.iter().find(|(sid, _)| *sid as usize >= n) {
                return Err(el.err(format!(
                    "distance of NUMA cell {} names sibling {sid}, which is not a cell",
                    c.id
                )));
            }
        }
        Ok(Numa {
            cells,
            interconnects,
            extras: el.finish(),
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("numa").extras(&self.extras);
        for c in &self.cells {
            c.write(w);
        }
        if !self.interconnects.is_empty() {
            w.start("interconnects");
            for (kind, a) in &self.interconnects {
                a.write(w, kind);
            }
            w.end();
        }
        w.end();
    }

    /// The distance from cell `a` to cell `b` as the XML gives it (either way
    /// round: libvirt treats distances as symmetric), 10 from a cell to itself.
    pub fn distance(&self, a: u32, b: u32) -> Option<u32> {
        let given = |x: u32, y: u32| {
            self.cells
                .iter()
                .find(|c| c.id == x)
                .and_then(|c| c.distances.iter().find(|(id, _)| *id == y))
                .map(|(_, v)| *v)
        };
        given(a, b)
            .or_else(|| given(b, a))
            .or((a == b).then_some(10))
    }

    /// Whether any cell gives distances.
    pub fn has_distances(&self) -> bool {
        self.cells.iter().any(|c| !c.distances.is_empty())
    }

    /// The guest memory the cells add up to.
    pub fn total_kib(&self) -> u64 {
        self.cells.iter().map(|c| c.memory_kib).sum()
    }
}

impl NumaCell {
    fn read(el: El<'_, '_>, index: usize) -> Result<NumaCell, ParseError> {
        let id = match el.attr_parse::<u32>("id", "a cell id")? {
            Some(id) => id,
            None => u32::try_from(index).unwrap_or(u32::MAX),
        };
        let cpus = el.attr_string("cpus").filter(|c| !c.is_empty());
        if let Some(c) = &cpus {
            parse_cpu_list(c).ok_or_else(|| {
                el.attr_err("cpus", format!("invalid CPU list '{c}' of NUMA cell {id}"))
            })?;
        }
        let memory = el
            .attr_parse::<u64>("memory", "a memory size")?
            .ok_or_else(|| el.err(format!("NUMA cell {id} needs a 'memory' size")))?;
        let unit = el.attr("unit");
        let memory_kib = to_kib(memory, unit).ok_or_else(|| {
            el.attr_err(
                "unit",
                format!("unknown memory unit '{}'", unit.unwrap_or_default()),
            )
        })?;
        let mem_access = el.attr_enum("memAccess")?;
        let discard = el.attr_yes_no("discard")?;
        let mut distances = Vec::new();
        if let Some(d) = el.child("distances") {
            for s in d.children("sibling") {
                let sid = s
                    .attr_parse::<u32>("id", "a cell id")?
                    .ok_or_else(|| s.err("<sibling> needs an 'id'"))?;
                let value = s
                    .attr_parse::<u32>("value", "a distance")?
                    .ok_or_else(|| s.err("<sibling> needs a 'value'"))?;
                if !(10..=255).contains(&value) {
                    return Err(s.attr_err(
                        "value",
                        format!("NUMA distance {value} is out of range 10-255"),
                    ));
                }
                s.done()?;
                distances.push((sid, value));
            }
            d.done()?;
        }
        let mut caches = Vec::new();
        for c in el.children("cache") {
            let size = c
                .child("size")
                .map(|x| AttrSet::read(x, &["value", "unit"]));
            let line = c
                .child("line")
                .map(|x| AttrSet::read(x, &["value", "unit"]));
            let attrs = AttrSet::read(c, &["level", "associativity", "policy"]);
            caches.push(NumaCache { attrs, size, line });
        }
        Ok(NumaCell {
            id,
            cpus,
            memory_kib,
            mem_access,
            discard,
            distances,
            caches,
            extras: el.finish(),
        })
    }

    fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("cell").attr("id", self.id);
        w.attr_opt("cpus", self.cpus.as_deref());
        w.attr("memory", self.memory_kib).attr("unit", "KiB");
        w.attr_opt("memAccess", self.mem_access);
        w.attr_yes_no("discard", self.discard);
        w.extras(&self.extras);
        if !self.distances.is_empty() {
            w.start("distances");
            for (id, value) in &self.distances {
                w.start("sibling").attr("id", id).attr("value", value);
                w.end();
            }
            w.end();
        }
        for c in &self.caches {
            w.start("cache");
            c.attrs.write_attrs(w);
            if let Some(x) = &c.size {
                x.write(w, "size");
            }
            if let Some(x) = &c.line {
                x.write(w, "line");
            }
            w.end();
        }
        w.end();
    }
}

/// A libvirt CPU/node list (`0-3,^2,8`) as the numbers it names, ascending;
/// `None` when it is malformed.
pub fn parse_cpu_list(s: &str) -> Option<Vec<u32>> {
    let mut set = std::collections::BTreeSet::new();
    let mut excluded = Vec::new();
    for part in s.split(',').map(str::trim) {
        if let Some(x) = part.strip_prefix('^') {
            excluded.push(x.parse::<u32>().ok()?);
            continue;
        }
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?);
                if a > b || b - a > 65_536 {
                    return None;
                }
                set.extend(a..=b);
            }
            None => {
                set.insert(part.parse::<u32>().ok()?);
            }
        }
    }
    for x in excluded {
        set.remove(&x);
    }
    Some(set.into_iter().collect())
}

xml_enum! {
    pub enum NumatuneMode { Strict = "strict", Preferred = "preferred", Interleave = "interleave", Restrictive = "restrictive" }
}

xml_enum! {
    pub enum NumatunePlacement { Static = "static", Auto = "auto" }
}

/// `<numatune>`: where on the host the guest's memory may live.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Numatune {
    /// `<memory mode= nodeset= placement=/>`: the whole guest.
    pub memory: Option<NumatuneMemory>,
    /// `<memnode cellid= mode= nodeset=/>`: one guest cell each.
    pub memnodes: Vec<Memnode>,
    pub extras: Extras,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumatuneMemory {
    pub mode: Option<NumatuneMode>,
    pub nodeset: Option<String>,
    pub placement: Option<NumatunePlacement>,
    pub extras: Extras,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Memnode {
    pub cellid: u32,
    pub mode: Option<NumatuneMode>,
    pub nodeset: String,
    pub extras: Extras,
}

impl Numatune {
    pub fn read(el: El<'_, '_>) -> Result<Numatune, ParseError> {
        let memory = match el.child("memory") {
            Some(m) => {
                let mode = m.attr_enum("mode")?;
                let nodeset = m.attr_string("nodeset");
                check_nodeset(&m, nodeset.as_deref())?;
                let placement = m.attr_enum("placement")?;
                if placement == Some(NumatunePlacement::Static) && nodeset.is_none() {
                    return Err(m.err("<numatune><memory placement='static'> needs a 'nodeset'"));
                }
                Some(NumatuneMemory {
                    mode,
                    nodeset,
                    placement,
                    extras: m.finish(),
                })
            }
            None => None,
        };
        let mut memnodes: Vec<Memnode> = Vec::new();
        for m in el.children("memnode") {
            let cellid = m
                .attr_parse::<u32>("cellid", "a cell id")?
                .ok_or_else(|| m.err("<memnode> needs a 'cellid'"))?;
            let mode = m.attr_enum("mode")?;
            let nodeset = m
                .attr_string("nodeset")
                .ok_or_else(|| m.err("<memnode> needs a 'nodeset'"))?;
            check_nodeset(&m, Some(&nodeset))?;
            if memnodes.iter().any(|o| o.cellid == cellid) {
                return Err(m.err(format!("two <memnode>s for cell {cellid}")));
            }
            memnodes.push(Memnode {
                cellid,
                mode,
                nodeset,
                extras: m.finish(),
            });
        }
        Ok(Numatune {
            memory,
            memnodes,
            extras: el.finish(),
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("numatune").extras(&self.extras);
        if let Some(m) = &self.memory {
            w.start("memory");
            w.attr_opt("mode", m.mode);
            w.attr_opt("nodeset", m.nodeset.as_deref());
            w.attr_opt("placement", m.placement);
            w.extras(&m.extras);
            w.end();
        }
        for m in &self.memnodes {
            w.start("memnode").attr("cellid", m.cellid);
            w.attr_opt("mode", m.mode);
            w.attr("nodeset", &m.nodeset);
            w.extras(&m.extras);
            w.end();
        }
        w.end();
    }

    /// The host nodes and mode for guest cell `cell` (`None`: the whole guest):
    /// its `<memnode>`, else `<memory>` with a static nodeset.
    pub fn policy_for(&self, cell: Option<u32>) -> Option<(Vec<u32>, NumatuneMode)> {
        if let Some(c) = cell
            && let Some(m) = self.memnodes.iter().find(|m| m.cellid == c)
        {
            let nodes = parse_cpu_list(&m.nodeset)?;
            return Some((nodes, m.mode.unwrap_or(NumatuneMode::Strict)));
        }
        let m = self.memory.as_ref()?;
        let nodes = parse_cpu_list(m.nodeset.as_deref()?)?;
        Some((nodes, m.mode.unwrap_or(NumatuneMode::Strict)))
    }
}

fn check_nodeset(el: &El<'_, '_>, nodeset: Option<&str>) -> Result<(), ParseError> {
    match nodeset {
        Some(n) if parse_cpu_list(n).is_none_or(|v| v.is_empty()) => Err(el.attr_err(
            "nodeset",
            format!("invalid nodeset '{n}': expected a list such as 0-1,3"),
        )),
        _ => Ok(()),
    }
}
