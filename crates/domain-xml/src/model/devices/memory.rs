//! `<memory>` devices: DIMMs, NVDIMMs, virtio-mem and virtio-pmem, SGX EPC.

use crate::model::common::{DeviceInfo, read_flag, write_flag};
use crate::units::to_kib;
use crate::xml::{El, Extras, ParseError, XmlWriter};
use crate::xml_enum;

xml_enum! {
    pub enum MemoryModel { Dimm = "dimm", Nvdimm = "nvdimm", VirtioPmem = "virtio-pmem", VirtioMem = "virtio-mem", SgxEpc = "sgx-epc" }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryDevice {
    pub model: MemoryModel,
    /// `access='shared|private'`, `discard='yes|no'`.
    pub access: Option<String>,
    pub discard: Option<bool>,
    pub source: Option<MemorySource>,
    pub target: MemoryTarget,
    pub info: DeviceInfo,
    pub extras: Extras,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemorySource {
    pub pagesize_kib: Option<u64>,
    pub nodemask: Option<String>,
    pub path: Option<String>,
    pub alignsize_kib: Option<u64>,
    pub pmem: bool,
    pub extras: Extras,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryTarget {
    pub dynamic_memslots: Option<String>,
    pub size_kib: u64,
    pub node: Option<u32>,
    pub label_size_kib: Option<u64>,
    pub block_kib: Option<u64>,
    pub requested_kib: Option<u64>,
    pub current_kib: Option<u64>,
    /// `<address base=>` of virtio-mem/virtio-pmem memory.
    pub address_base: Option<String>,
    pub readonly: bool,
    pub extras: Extras,
}

/// A `<NAME unit=>N</NAME>` size child, in KiB.
fn size_child(el: &El<'_, '_>, name: &str) -> Result<Option<u64>, ParseError> {
    let Some(c) = el.child(name) else {
        return Ok(None);
    };
    let unit = c.attr_string("unit");
    let text = c.text().trim().to_owned();
    let pos_err = c.err(format!("invalid <{name}> size '{text}'"));
    c.done()?;
    let n: u64 = text.parse().map_err(|_| pos_err.clone())?;
    to_kib(n, unit.as_deref()).map(Some).ok_or(pos_err)
}

fn write_size(w: &mut XmlWriter<'_>, name: &str, kib: Option<u64>) {
    if let Some(k) = kib {
        w.start(name).attr("unit", "KiB").text(&k.to_string());
        w.end();
    }
}

impl MemoryDevice {
    pub fn read(el: El<'_, '_>) -> Result<MemoryDevice, ParseError> {
        let model = el.req_enum("model")?;
        let access = el.attr_string("access");
        let discard = el.attr_yes_no("discard")?;
        let source = match el.child("source") {
            Some(s) => {
                let pagesize_kib = size_child(&s, "pagesize")?;
                let nodemask = s.child_text("nodemask")?;
                let path = s.child_text("path")?;
                let alignsize_kib = size_child(&s, "alignsize")?;
                let pmem = read_flag(&s, "pmem")?;
                Some(MemorySource {
                    pagesize_kib,
                    nodemask,
                    path,
                    alignsize_kib,
                    pmem,
                    extras: s.finish(),
                })
            }
            None => None,
        };
        let t = el
            .child("target")
            .ok_or_else(|| el.err("<memory> device needs a <target>"))?;
        let dynamic_memslots = t.attr_string("dynamicMemslots");
        let size_kib =
            size_child(&t, "size")?.ok_or_else(|| t.err("<memory><target> needs a <size>"))?;
        let node = match t.child_text("node")? {
            Some(n) => Some(
                n.parse::<u32>()
                    .map_err(|_| t.err(format!("invalid <node> '{n}'")))?,
            ),
            None => None,
        };
        let label_size_kib = match t.child("label") {
            Some(l) => {
                let s = size_child(&l, "size")?;
                l.done()?;
                s
            }
            None => None,
        };
        let block_kib = size_child(&t, "block")?;
        let requested_kib = size_child(&t, "requested")?;
        let current_kib = size_child(&t, "current")?;
        let address_base = match t.child("address") {
            Some(a) => {
                let b = a.attr_string("base");
                a.done()?;
                b
            }
            None => None,
        };
        let readonly = read_flag(&t, "readonly")?;
        let target = MemoryTarget {
            dynamic_memslots,
            size_kib,
            node,
            label_size_kib,
            block_kib,
            requested_kib,
            current_kib,
            address_base,
            readonly,
            extras: t.finish(),
        };
        let info = DeviceInfo::read(&el)?;
        Ok(MemoryDevice {
            model,
            access,
            discard,
            source,
            target,
            info,
            extras: el.finish(),
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("memory").attr("model", self.model);
        w.attr_opt("access", self.access.as_deref());
        w.attr_yes_no("discard", self.discard);
        w.extras(&self.extras);
        if let Some(s) = &self.source {
            w.start("source").extras(&s.extras);
            write_size(w, "pagesize", s.pagesize_kib);
            w.text_elem_opt("nodemask", s.nodemask.as_deref());
            w.text_elem_opt("path", s.path.as_deref());
            write_size(w, "alignsize", s.alignsize_kib);
            write_flag(w, "pmem", s.pmem);
            w.end();
        }
        let t = &self.target;
        w.start("target");
        w.attr_opt("dynamicMemslots", t.dynamic_memslots.as_deref());
        w.extras(&t.extras);
        write_size(w, "size", Some(t.size_kib));
        if let Some(n) = t.node {
            w.text_elem("node", &n.to_string());
        }
        if t.label_size_kib.is_some() {
            w.start("label");
            write_size(w, "size", t.label_size_kib);
            w.end();
        }
        write_size(w, "block", t.block_kib);
        write_size(w, "requested", t.requested_kib);
        write_size(w, "current", t.current_kib);
        if let Some(b) = &t.address_base {
            w.start("address").attr("base", b);
            w.end();
        }
        write_flag(w, "readonly", t.readonly);
        w.end();
        self.info.write(w);
        w.end();
    }
}
