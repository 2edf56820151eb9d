//! The typed domain model and its libvirt-canonical writer.

pub mod common;
pub mod devices;
pub mod firmware;
pub mod general;
pub mod iothreads_idmap;
pub mod numa;
pub mod qemu_ns;
pub mod rvirt_ns;
pub mod seclabel;
pub mod tuning;

use crate::xml::{El, Extras, ParseError, RawElement, XmlWriter};
use crate::xml_enum;

pub use common::{Address, AttrSet, DeviceInfo};
pub use devices::Devices;
pub use firmware::{FirmwareFeature, Loader, Nvram};
pub use general::{
    BootDev, Clock, ClockOffset, Cpu, CpuMode, Features, LifecycleAction, MemoryBacking, Os,
    Placement, Pm, Vcpu,
};
pub use qemu_ns::{QEMU_NS, QemuEnv, QemuNs};
pub use seclabel::{SecLabel, SecLabelType};

xml_enum! {
    /// The hypervisor type: `kvm` (hardware acceleration) or `qemu` (TCG emulation).
    pub enum VirtType { Kvm = "kvm", Qemu = "qemu" }
}

/// `<genid/>` asks for a generated VM generation id; `<genid>uuid</genid>` fixes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Genid {
    Auto,
    Value(uuid::Uuid),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaxMemory {
    pub slots: Option<u32>,
    pub kib: u64,
}

/// A libvirt domain definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Domain {
    pub virt_type: VirtType,
    /// Only for running domains (`<domain id='N'>` in live XML).
    pub id: Option<i32>,
    pub name: String,
    pub uuid: uuid::Uuid,
    pub genid: Option<Genid>,
    pub title: Option<String>,
    pub description: Option<String>,
    /// `<metadata>` children, kept verbatim with their namespaces.
    pub metadata: Option<Vec<RawElement>>,
    pub max_memory: Option<MaxMemory>,
    pub memory_kib: u64,
    pub memory_dump_core: Option<bool>,
    pub current_memory_kib: u64,
    pub memory_backing: Option<MemoryBacking>,
    pub vcpu: Vcpu,
    pub iothreads: Option<u32>,
    /// `<blkiotune>`, `<memtune>`, `<cputune>`.
    pub blkiotune: Option<tuning::BlkioTune>,
    pub memtune: Option<tuning::MemTune>,
    pub cputune: Option<tuning::CpuTune>,
    pub numatune: Option<numa::Numatune>,
    pub iothreadids: Option<iothreads_idmap::Iothreadids>,
    pub idmap: Option<iothreads_idmap::Idmap>,
    /// `<resource><partition>` — the cgroup partition, e.g. `/machine`.
    pub resource_partition: Option<String>,
    pub os: Os,
    pub features: Option<Features>,
    pub cpu: Option<Cpu>,
    pub clock: Clock,
    pub on_poweroff: LifecycleAction,
    pub on_reboot: LifecycleAction,
    pub on_crash: LifecycleAction,
    pub pm: Option<Pm>,
    pub devices: Devices,
    pub seclabels: Vec<SecLabel>,
    pub qemu: QemuNs,
    /// `<rvirt:grant>`s: paths a passthrough needs, allowed by every layer.
    pub grants: Vec<rvirt_ns::Grant>,
    /// Unmodelled attributes of `<domain>` and unmodelled top-level elements.
    pub extras: Extras,
}

/// Longest accepted name, in bytes: names become file and directory names
/// (`NAME.xml`, `domain-ID-NAME`), which must stay under the 255-byte limit.
pub const MAX_NAME_LEN: usize = 200;

/// A name must be usable as one path component and never escape a directory.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a domain name must not be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "domain name is {} bytes long; the limit is {MAX_NAME_LEN}",
            name.len()
        ));
    }
    if name.contains('/') {
        return Err(format!("domain name '{name}' must not contain '/'"));
    }
    if name.chars().any(char::is_control) {
        return Err(format!(
            "domain name {name:?} must not contain control characters"
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("'{name}' is not a valid domain name"));
    }
    Ok(())
}

/// Accepts 32 hex digits with dashes anywhere (libvirt's rule), e.g. with or
/// without the usual 8-4-4-4-12 grouping.
pub fn parse_uuid(s: &str) -> Option<uuid::Uuid> {
    let hex: String = s.trim().chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(&hex, 16)
        .ok()
        .map(uuid::Uuid::from_u128)
}

fn read_lifecycle(
    el: &El<'_, '_>,
    name: &str,
    default: LifecycleAction,
) -> Result<LifecycleAction, ParseError> {
    match el.child(name) {
        None => Ok(default),
        Some(c) => {
            let t = c.text();
            let v = <LifecycleAction as crate::xml::reader::XmlEnum>::from_xml(t.trim())
                .ok_or_else(|| {
                    c.err(format!(
                        "unknown action '{}' in <{name}>: expected one of {}",
                        t.trim(),
                        <LifecycleAction as crate::xml::reader::XmlEnum>::expected()
                    ))
                })?;
            c.done()?;
            Ok(v)
        }
    }
}

fn check_root(el: &El<'_, '_>) -> Result<(), ParseError> {
    if el.name() != "domain" || el.ns().is_some() {
        return Err(el.err(format!(
            "expected a <domain> document, found <{}>",
            el.name()
        )));
    }
    Ok(())
}

fn read_title(el: &El<'_, '_>) -> Result<Option<String>, ParseError> {
    let title = el.child_text_raw("title")?;
    if let Some(t) = &title
        && t.contains('\n')
    {
        return Err(el.err("<title> must be a single line"));
    }
    Ok(title)
}

fn read_os(el: &El<'_, '_>) -> Result<Os, ParseError> {
    let os_el = el
        .child("os")
        .ok_or_else(|| el.err("<domain> needs an <os> with <type>hvm</type>"))?;
    Os::read(os_el)
}

fn read_virt_type(el: &El<'_, '_>) -> Result<VirtType, ParseError> {
    let vt = el.req_attr("type")?;
    <VirtType as crate::xml::reader::XmlEnum>::from_xml(vt).ok_or_else(|| {
        el.attr_err(
            "type",
            format!(
                "domain type '{vt}' is not supported by rvirt's QEMU driver: use 'kvm' or 'qemu'"
            ),
        )
    })
}

fn read_name(el: &El<'_, '_>) -> Result<String, ParseError> {
    let name_el = el.child("name").ok_or_else(|| {
        el.err("<domain> needs a <name>")
            .of_kind(crate::xml::ParseErrorKind::MissingName)
    })?;
    let name = name_el.text().trim().to_owned();
    check_name(&name).map_err(|m| name_el.err(m))?;
    name_el.done()?;
    Ok(name)
}

fn read_uuid(
    el: &El<'_, '_>,
    new_uuid: &mut dyn FnMut() -> uuid::Uuid,
) -> Result<uuid::Uuid, ParseError> {
    Ok(match el.child("uuid") {
        Some(u) => {
            let t = u.text();
            let v = parse_uuid(&t).ok_or_else(|| {
                u.err(format!(
                    "invalid uuid '{}': expected 32 hex digits, dashes allowed",
                    t.trim()
                ))
            })?;
            u.done()?;
            v
        }
        None => new_uuid(),
    })
}

fn read_genid(el: &El<'_, '_>) -> Result<Option<Genid>, ParseError> {
    Ok(match el.child("genid") {
        Some(g) => {
            let t = g.text();
            let v = if t.trim().is_empty() {
                Genid::Auto
            } else {
                Genid::Value(
                    parse_uuid(&t).ok_or_else(|| g.err(format!("invalid genid '{}'", t.trim())))?,
                )
            };
            g.done()?;
            Some(v)
        }
        None => None,
    })
}

fn read_metadata(el: &El<'_, '_>) -> Result<Option<Vec<RawElement>>, ParseError> {
    Ok(match el.child("metadata") {
        Some(m) => {
            let children = m.take_raw_children();
            m.done()?;
            Some(children)
        }
        None => None,
    })
}

fn read_max_memory(el: &El<'_, '_>) -> Result<Option<MaxMemory>, ParseError> {
    Ok(match el.child("maxMemory") {
        Some(m) => {
            let slots = m.attr_parse::<u32>("slots", "a number")?;
            let kib = general::read_size_kib(&m)?;
            m.done()?;
            Some(MaxMemory { slots, kib })
        }
        None => None,
    })
}

/// `<memory>`: the size in KiB and `dumpCore`.
fn read_memory(el: &El<'_, '_>) -> Result<(u64, Option<bool>), ParseError> {
    let mem = el
        .child("memory")
        .ok_or_else(|| el.err("<domain> needs a <memory> size"))?;
    let memory_kib = general::read_size_kib(&mem)?;
    if memory_kib == 0 {
        return Err(mem.err("<memory> must be larger than 0"));
    }
    let memory_dump_core = mem.attr_on_off("dumpCore")?;
    mem.done()?;
    Ok((memory_kib, memory_dump_core))
}

fn read_current_memory(el: &El<'_, '_>, memory_kib: u64) -> Result<u64, ParseError> {
    Ok(match el.child("currentMemory") {
        Some(c) => {
            let v = general::read_size_kib(&c)?;
            c.done()?;
            // libvirt clamps a balloon target above the maximum.
            v.min(memory_kib)
        }
        None => memory_kib,
    })
}

fn read_vcpu(el: &El<'_, '_>) -> Result<Vcpu, ParseError> {
    Ok(el
        .child("vcpu")
        .map(Vcpu::read)
        .transpose()?
        .unwrap_or_default())
}

fn read_clock(el: &El<'_, '_>) -> Result<Clock, ParseError> {
    Ok(el
        .child("clock")
        .map(Clock::read)
        .transpose()?
        .unwrap_or_default())
}

fn read_iothreads(el: &El<'_, '_>) -> Result<Option<u32>, ParseError> {
    Ok(match el.child("iothreads") {
        Some(i) => {
            let t = i.text();
            let n = t
                .trim()
                .parse::<u32>()
                .map_err(|_| i.err(format!("invalid iothreads count '{}'", t.trim())))?;
            i.done()?;
            Some(n)
        }
        None => None,
    })
}

fn read_resource_partition(el: &El<'_, '_>) -> Result<Option<String>, ParseError> {
    Ok(match el.child("resource") {
        Some(r) => {
            let p = r.child_text("partition")?;
            if let Some(p) = &p
                && !p.starts_with('/')
            {
                return Err(r.err(format!("resource partition '{p}' must start with '/'")));
            }
            r.done()?;
            p
        }
        None => None,
    })
}

fn read_seclabels(el: &El<'_, '_>) -> Result<Vec<SecLabel>, ParseError> {
    let mut seclabels = Vec::new();
    for s in el.children("seclabel") {
        seclabels.push(SecLabel::read(s, true)?);
    }
    for (i, a) in seclabels.iter().enumerate() {
        if a.model.is_some() && seclabels[..i].iter().any(|b| b.model == a.model) {
            return Err(el.err(format!(
                "more than one <seclabel> for the model '{}'",
                a.model.as_deref().unwrap_or_default()
            )));
        }
    }
    Ok(seclabels)
}

/// libvirt boots from the first disk when nothing else says where to boot.
fn add_default_boot(os: &mut Os, devices: &Devices) {
    let any_device_boot = devices.disks.iter().any(|d| d.info.boot_order.is_some())
        || devices
            .interfaces
            .iter()
            .any(|i| i.info.boot_order.is_some());
    if os.boot.is_empty() && os.kernel.is_none() && !any_device_boot {
        os.boot.push(BootDev::Hd);
    }
}

impl Domain {
    /// Reads a `<domain>` element. `new_uuid` supplies the uuid when the document has
    /// none (libvirt generates a random one at define time).
    pub fn read(
        el: El<'_, '_>,
        new_uuid: &mut dyn FnMut() -> uuid::Uuid,
    ) -> Result<Domain, ParseError> {
        check_root(&el)?;
        let virt_type = read_virt_type(&el)?;
        let id = el.attr_parse::<i32>("id", "a number")?;
        let name = read_name(&el)?;
        let uuid = read_uuid(&el, new_uuid)?;
        let genid = read_genid(&el)?;
        let title = read_title(&el)?;
        let description = el.child_text_raw("description")?;
        let metadata = read_metadata(&el)?;
        let max_memory = read_max_memory(&el)?;
        let (memory_kib, memory_dump_core) = read_memory(&el)?;
        let current_memory_kib = read_current_memory(&el, memory_kib)?;
        let memory_backing = el
            .child("memoryBacking")
            .map(MemoryBacking::read)
            .transpose()?;
        let vcpu = read_vcpu(&el)?;
        let iothreads = read_iothreads(&el)?;
        let blkiotune = el
            .child("blkiotune")
            .map(tuning::BlkioTune::read)
            .transpose()?;
        let memtune = el.child("memtune").map(tuning::MemTune::read).transpose()?;
        let mut cputune = el.child("cputune").map(tuning::CpuTune::read).transpose()?;
        // libvirt ignores a <vcpupin> of a vCPU the domain does not have.
        if let Some(t) = cputune.as_mut() {
            t.vcpupins.retain(|p| p.vcpu < vcpu.count);
        }
        let numatune = el.child("numatune").map(numa::Numatune::read).transpose()?;
        let iothreadids = el
            .child("iothreadids")
            .map(iothreads_idmap::Iothreadids::read)
            .transpose()?;
        let idmap = el
            .child("idmap")
            .map(iothreads_idmap::Idmap::read)
            .transpose()?;
        let resource_partition = read_resource_partition(&el)?;
        let mut os = read_os(&el)?;
        let features = el.child("features").map(Features::read).transpose()?;
        let cpu = el.child("cpu").map(Cpu::read).transpose()?;
        let clock = read_clock(&el)?;
        let on_poweroff = read_lifecycle(&el, "on_poweroff", LifecycleAction::Destroy)?;
        let on_reboot = read_lifecycle(&el, "on_reboot", LifecycleAction::Restart)?;
        let on_crash = read_lifecycle(&el, "on_crash", LifecycleAction::Destroy)?;
        let pm = el.child("pm").map(Pm::read).transpose()?;
        let devices = el
            .child("devices")
            .map(Devices::read)
            .transpose()?
            .unwrap_or_default();
        let seclabels = read_seclabels(&el)?;
        let qemu = QemuNs::read(&el)?;
        let grants = rvirt_ns::read_grants(&el)?;
        let extras = el.finish();

        add_default_boot(&mut os, &devices);

        Ok(Domain {
            virt_type,
            id,
            name,
            uuid,
            genid,
            title,
            description,
            metadata,
            max_memory,
            memory_kib,
            memory_dump_core,
            current_memory_kib,
            memory_backing,
            vcpu,
            iothreads,
            blkiotune,
            memtune,
            cputune,
            numatune,
            iothreadids,
            idmap,
            resource_partition,
            os,
            features,
            cpu,
            clock,
            on_poweroff,
            on_reboot,
            on_crash,
            pm,
            devices,
            seclabels,
            qemu,
            grants,
            extras,
        })
    }

    /// Writes the `<domain>` element into `w` (indented at the writer's depth).
    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.fix_prefix("qemu", QEMU_NS);
        w.fix_prefix("rvirt", rvirt_ns::RVIRT_NS);
        w.start("domain").attr("type", self.virt_type);
        w.attr_opt("id", self.id);
        if !self.qemu.is_empty() {
            w.declare_ns(Some("qemu"), QEMU_NS);
        }
        if !self.grants.is_empty() {
            w.declare_ns(Some("rvirt"), rvirt_ns::RVIRT_NS);
        }
        w.extras(&self.extras);
        w.text_elem("name", &self.name);
        w.text_elem("uuid", &self.uuid.hyphenated().to_string());
        match &self.genid {
            Some(Genid::Auto) => w.empty("genid"),
            Some(Genid::Value(u)) => w.text_elem("genid", &u.hyphenated().to_string()),
            None => {}
        }
        w.text_elem_opt("title", self.title.as_deref());
        w.text_elem_opt("description", self.description.as_deref());
        if let Some(m) = &self.metadata {
            w.start("metadata");
            for c in m {
                w.raw(c);
            }
            w.end();
        }
        if let Some(m) = &self.max_memory {
            w.start("maxMemory")
                .attr_opt("slots", m.slots)
                .attr("unit", "KiB")
                .text(&m.kib.to_string());
            w.end();
        }
        w.start("memory")
            .attr("unit", "KiB")
            .attr_on_off("dumpCore", self.memory_dump_core);
        w.text(&self.memory_kib.to_string());
        w.end();
        w.start("currentMemory")
            .attr("unit", "KiB")
            .text(&self.current_memory_kib.to_string());
        w.end();
        // libvirt's order: blkiotune, memtune, memoryBacking, vcpu, iothreads,
        // cputune; an empty one says nothing and is left out, as libvirt does.
        if let Some(t) = self.blkiotune.as_ref().filter(|t| !t.is_empty()) {
            t.write(w);
        }
        if let Some(t) = self.memtune.as_ref().filter(|t| !t.is_empty()) {
            t.write(w);
        }
        if let Some(m) = &self.memory_backing {
            m.write(w);
        }
        self.vcpu.write(w);
        if let Some(n) = self.iothreads {
            w.text_elem("iothreads", &n.to_string());
        }
        if let Some(t) = &self.iothreadids {
            t.write(w);
        }
        if let Some(t) = self.cputune.as_ref().filter(|t| !t.is_empty()) {
            t.write(w);
        }
        if let Some(n) = &self.numatune {
            n.write(w);
        }
        if let Some(p) = &self.resource_partition {
            w.start("resource");
            w.text_elem("partition", p);
            w.end();
        }
        self.os.write(w);
        if let Some(f) = &self.features {
            f.write(w);
        }
        if let Some(c) = &self.cpu {
            c.write(w);
        }
        self.clock.write(w);
        w.text_elem("on_poweroff", self.on_poweroff.as_str_());
        w.text_elem("on_reboot", self.on_reboot.as_str_());
        w.text_elem("on_crash", self.on_crash.as_str_());
        if let Some(p) = &self.pm {
            p.write(w);
        }
        self.devices.write(w);
        if let Some(i) = &self.idmap {
            i.write(w);
        }
        for s in &self.seclabels {
            s.write(w);
        }
        self.qemu.write(w);
        rvirt_ns::write_grants(&self.grants, w);
        w.end();
    }
}

impl LifecycleAction {
    fn as_str_(self) -> &'static str {
        crate::xml::reader::XmlEnum::as_str(self)
    }
}
