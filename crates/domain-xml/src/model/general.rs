//! Domain-level settings other than devices: memory, vCPUs, OS/boot, features, CPU,
//! clock, power management, resource partition.

use crate::model::common::{AttrSet, read_flag, write_flag};
use crate::model::firmware::{
    FirmwareFeature, Loader, Nvram, read_firmware_features, write_firmware_features,
};
use crate::units::to_kib;
use crate::xml::{El, Extras, ParseError, RawElement, XmlWriter};
use crate::xml_enum;

/// Reads `<memory unit='..'>N</memory>`-style elements into KiB.
pub fn read_size_kib(el: &El<'_, '_>) -> Result<u64, ParseError> {
    let text = el.text();
    let value: u64 = text.trim().parse().map_err(|_| {
        el.err(format!(
            "invalid size '{}' in <{}>: expected a whole number",
            text.trim(),
            el.name()
        ))
    })?;
    let unit = el.attr("unit");
    to_kib(value, unit).ok_or_else(|| match unit {
        Some(u) if crate::units::unit_factor(u).is_none() => {
            el.attr_err("unit", format!("unknown unit '{u}' in <{}>", el.name()))
        }
        _ => el.err(format!("size in <{}> is too large", el.name())),
    })
}

xml_enum! {
    pub enum Placement { Static = "static", Auto = "auto" }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vcpu {
    pub count: u32,
    pub placement: Placement,
    pub cpuset: Option<String>,
    pub current: Option<u32>,
}

impl Default for Vcpu {
    fn default() -> Self {
        Vcpu {
            count: 1,
            placement: Placement::Static,
            cpuset: None,
            current: None,
        }
    }
}

impl Vcpu {
    pub fn read(el: El<'_, '_>) -> Result<Vcpu, ParseError> {
        let text = el.text();
        let count: u32 = text.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            el.err(format!(
                "invalid vcpu count '{}': expected a number ≥ 1",
                text.trim()
            ))
        })?;
        let placement = el.attr_enum("placement")?.unwrap_or(Placement::Static);
        let cpuset = el.attr_string("cpuset");
        let current = el.attr_parse::<u32>("current", "a number")?;
        if let Some(c) = current
            && (c == 0 || c > count)
        {
            return Err(el.attr_err(
                "current",
                format!("current vcpus {c} must be between 1 and {count}"),
            ));
        }
        el.done()?;
        Ok(Vcpu {
            count,
            placement,
            cpuset,
            current,
        })
    }

    pub fn write(&self, w: &mut XmlWriter<'_>) {
        w.start("vcpu").attr("placement", self.placement);
        w.attr_opt("cpuset", self.cpuset.as_deref());
        w.attr_opt("current", self.current);
        w.text(&self.count.to_string());
        w.end();
    }
}

xml_enum! {
    pub enum MemSource { File = "file", Anonymous = "anonymous", Memfd = "memfd" }
}
xml_enum! {
    pub enum MemAccess { Shared = "shared", Private = "private" }
}

/// `<hugepages><page size= unit= nodeset=/></hugepages>`; sizes in KiB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HugePage {
    pub size_kib: u64,
    pub nodeset: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryBacking {
    /// `Some(vec![])` is `<hugepages/>`: the default page size.
    pub hugepages: Option<Vec<HugePage>>,
    pub nosharepages: bool,
    pub locked: bool,
    pub source: Option<MemSource>,
    pub access: Option<MemAccess>,
    pub allocation: Option<AttrSet>,
    pub discard: bool,
    pub extras: Extras,
}

impl MemoryBacking {
    pub fn read(el: El<'_, '_>) -> Result<MemoryBacking, ParseError> {
        let hugepages = match el.child("hugepages") {
            None => None,
            Some(h) => {
                let mut pages = Vec::new();
                for p in h.children("page") {
                    let size: u64 = p
                        .attr_parse("size", "a page size")?
                        .ok_or_else(|| p.err("<page> needs the attribute 'size'"))?;
                    let unit = p.attr("unit");
                    let size_kib = to_kib(size, unit).ok_or_else(|| {
                        p.attr_err(
                            "unit",
                            format!("unknown unit '{}' in <page>", unit.unwrap_or("")),
                        )
                    })?;
                    let nodeset = p.attr_string("nodeset");
                    p.done()?;
                    pages.push(HugePage { size_kib, nodeset });
                }
                h.done()?;
                Some(pages)
            }
        };
        let nosharepages = read_flag(&el, "nosharepages")?;
        let locked = read_flag(&el, "locked")?;
        let source = match el.child("source") {
            Some(s) => {
                let t = s.req_enum::<MemSource>("type")?;
                s.done()?;
                Some(t)
            }
            None => None,
        };
        let access = match el.child("access") {
            Some(s) => {
                let t = s.req_enum::<MemAccess>("mode")?;
                s.done()?;
                Some(t)
            }
            None => None,
        };
        let allocation = el
            .child("allocation")
            .map(|a| AttrSet::read(a, &["mode", "threads"]));
        let discard = read_flag(&el, "discard")?;
        let extras = el.finish();
        Ok(MemoryBacking {
            hugepages,
            nosharepages,
            locked,
            source,
            access,
            allocation,
            discard,
            extras,
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("memoryBacking").extras(&self.extras);
        if let Some(pages) = &self.hugepages {
            w.start("hugepages");
            for p in pages {
                w.start("page").attr("size", p.size_kib).attr("unit", "KiB");
                w.attr_opt("nodeset", p.nodeset.as_deref());
                w.end();
            }
            w.end();
        }
        write_flag(w, "nosharepages", self.nosharepages);
        write_flag(w, "locked", self.locked);
        if let Some(s) = self.source {
            w.start("source").attr("type", s);
            w.end();
        }
        if let Some(a) = self.access {
            w.start("access").attr("mode", a);
            w.end();
        }
        if let Some(a) = &self.allocation {
            a.write(w, "allocation");
        }
        write_flag(w, "discard", self.discard);
        w.end();
    }
}

xml_enum! {
    pub enum OsType { Hvm = "hvm" }
}

xml_enum! {
    pub enum BootDev { Hd = "hd", Cdrom = "cdrom", Network = "network", Fd = "fd" }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootMenu {
    pub enable: Option<bool>,
    pub timeout: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Os {
    pub os_type: OsType,
    pub arch: Option<String>,
    pub machine: Option<String>,
    /// `<os firmware='efi|bios'>` auto-selection.
    pub firmware: Option<String>,
    /// `<firmware><feature>`: what autoselection must (not) pick.
    pub firmware_features: Vec<FirmwareFeature>,
    pub loader: Option<Loader>,
    pub nvram: Option<Nvram>,
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    pub cmdline: Option<String>,
    pub dtb: Option<String>,
    pub boot: Vec<BootDev>,
    pub bootmenu: Option<BootMenu>,
    pub smbios_mode: Option<String>,
    pub bios: Option<AttrSet>,
    pub extras: Extras,
}

/// `<os firmware=...>`: auto-selection asks for `efi` or `bios`.
fn read_firmware(el: &El<'_, '_>) -> Result<Option<String>, ParseError> {
    let firmware = el.attr_string("firmware");
    if let Some(f) = &firmware
        && f != "efi"
        && f != "bios"
    {
        return Err(el.attr_err(
            "firmware",
            format!("unknown firmware '{f}': expected 'efi' or 'bios'"),
        ));
    }
    Ok(firmware)
}

/// `<type arch= machine=>hvm</type>`.
fn read_os_type(el: &El<'_, '_>) -> Result<(OsType, Option<String>, Option<String>), ParseError> {
    let ty = el
        .child("type")
        .ok_or_else(|| el.err("<os> needs a <type> (for QEMU: <type>hvm</type>)"))?;
    let arch = ty.attr_string("arch");
    let machine = ty.attr_string("machine");
    let ty_text = ty.text();
    let os_type = match ty_text.trim() {
        "hvm" => OsType::Hvm,
        other => {
            return Err(ty.err(format!(
                "unsupported OS type '{other}': the QEMU driver runs 'hvm' guests"
            )));
        }
    };
    ty.done()?;
    Ok((os_type, arch, machine))
}

fn read_bootmenu(el: &El<'_, '_>) -> Result<Option<BootMenu>, ParseError> {
    Ok(match el.child("bootmenu") {
        Some(b) => {
            let m = BootMenu {
                enable: b.attr_yes_no("enable")?,
                timeout: b.attr_parse("timeout", "milliseconds")?,
            };
            b.done()?;
            Some(m)
        }
        None => None,
    })
}

fn read_smbios_mode(el: &El<'_, '_>) -> Result<Option<String>, ParseError> {
    Ok(match el.child("smbios") {
        Some(s) => {
            let m = s.req_attr("mode")?.to_owned();
            s.done()?;
            Some(m)
        }
        None => None,
    })
}

impl Os {
    pub fn read(el: El<'_, '_>) -> Result<Os, ParseError> {
        let firmware = read_firmware(&el)?;
        let (os_type, arch, machine) = read_os_type(&el)?;
        let firmware_features = read_firmware_features(&el)?;
        let loader = el.child("loader").map(Loader::read);
        let nvram = el.child("nvram").map(Nvram::read).transpose()?;
        let kernel = el.child_text("kernel")?;
        let initrd = el.child_text("initrd")?;
        let cmdline = el.child_text_raw("cmdline")?;
        let dtb = el.child_text("dtb")?;
        let mut boot = Vec::new();
        for b in el.children("boot") {
            boot.push(b.req_enum::<BootDev>("dev")?);
            b.done()?;
        }
        let bootmenu = read_bootmenu(&el)?;
        let smbios_mode = read_smbios_mode(&el)?;
        let bios = el
            .child("bios")
            .map(|b| AttrSet::read(b, &["useserial", "rebootTimeout"]));
        let extras = el.finish();
        Ok(Os {
            os_type,
            arch,
            machine,
            firmware,
            firmware_features,
            loader,
            nvram,
            kernel,
            initrd,
            cmdline,
            dtb,
            boot,
            bootmenu,
            smbios_mode,
            bios,
            extras,
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("os");
        w.attr_opt("firmware", self.firmware.as_deref());
        w.extras(&self.extras);
        w.start("type");
        w.attr_opt("arch", self.arch.as_deref());
        w.attr_opt("machine", self.machine.as_deref());
        w.text(self.os_type.as_str_());
        w.end();
        write_firmware_features(w, &self.firmware_features);
        if let Some(l) = &self.loader {
            l.write(w);
        }
        if let Some(n) = &self.nvram {
            n.write(w);
        }
        w.text_elem_opt("kernel", self.kernel.as_deref());
        w.text_elem_opt("initrd", self.initrd.as_deref());
        w.text_elem_opt("cmdline", self.cmdline.as_deref());
        w.text_elem_opt("dtb", self.dtb.as_deref());
        for b in &self.boot {
            w.start("boot").attr("dev", b);
            w.end();
        }
        if let Some(m) = &self.bootmenu {
            w.start("bootmenu")
                .attr_yes_no("enable", m.enable)
                .attr_opt("timeout", m.timeout);
            w.end();
        }
        if let Some(m) = &self.smbios_mode {
            w.start("smbios").attr("mode", m);
            w.end();
        }
        if let Some(b) = &self.bios {
            b.write(w, "bios");
        }
        w.end();
    }
}

impl OsType {
    fn as_str_(self) -> &'static str {
        crate::xml::reader::XmlEnum::as_str(self)
    }
}

/// Hypervisor features in libvirt's canonical order.
pub const FEATURE_ORDER: &[&str] = &[
    "acpi",
    "apic",
    "pae",
    "hap",
    "viridian",
    "privnet",
    "hyperv",
    "kvm",
    "pvspinlock",
    "capabilities",
    "pmu",
    "vmport",
    "gic",
    "smm",
    "ioapic",
    "hpt",
    "vmcoreinfo",
    "htm",
    "nested-hv",
    "msrs",
    "ccf-assist",
    "xen",
    "cfpc",
    "sbbc",
    "ibs",
    "tcg",
    "async-teardown",
    "ras",
    "ps2",
    "aia",
];

/// One `<features>` child: its name selects the feature, its attributes and nested
/// elements (e.g. hyperv's enlightenments) are kept as given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Feature {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<RawElement>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Features {
    pub list: Vec<Feature>,
    pub extras: Extras,
}

impl Features {
    pub fn read(el: El<'_, '_>) -> Result<Features, ParseError> {
        let mut list = Vec::new();
        for name in FEATURE_ORDER {
            if let Some(f) = el.child(name) {
                let node = f.node();
                let attrs = node
                    .attributes()
                    .filter(|a| a.namespace().is_none())
                    .map(|a| {
                        f.attr(a.name());
                        (a.name().to_owned(), a.value().to_owned())
                    })
                    .collect();
                let children = f.take_raw_children();
                let extras = f.finish();
                if let Some(a) = extras.attrs.first() {
                    return Err(el.diags().error(
                        a.pos,
                        format!("unsupported attribute '{}' on <{name}>", a.name),
                    ));
                }
                list.push(Feature {
                    name: (*name).to_owned(),
                    attrs,
                    children,
                });
            }
        }
        let extras = el.finish();
        Ok(Features { list, extras })
    }

    pub fn has(&self, name: &str) -> bool {
        self.list.iter().any(|f| f.name == name)
    }

    pub fn get(&self, name: &str) -> Option<&Feature> {
        self.list.iter().find(|f| f.name == name)
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("features").extras(&self.extras);
        for f in &self.list {
            w.start(&f.name);
            for (k, v) in &f.attrs {
                w.attr(k, v);
            }
            for c in &f.children {
                w.raw(c);
            }
            w.end();
        }
        w.end();
    }
}

xml_enum! {
    pub enum CpuMode { Custom = "custom", HostModel = "host-model", HostPassthrough = "host-passthrough", Maximum = "maximum" }
}
xml_enum! {
    pub enum CpuMatch { Minimum = "minimum", Exact = "exact", Strict = "strict" }
}
xml_enum! {
    pub enum CpuCheck { None = "none", Partial = "partial", Full = "full" }
}
xml_enum! {
    pub enum FeaturePolicy { Force = "force", Require = "require", Optional = "optional", Disable = "disable", Forbid = "forbid" }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuModel {
    pub name: String,
    pub fallback: Option<String>,
    pub vendor_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuFeature {
    pub policy: Option<FeaturePolicy>,
    pub name: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cpu {
    pub mode: Option<CpuMode>,
    pub match_: Option<CpuMatch>,
    pub check: Option<CpuCheck>,
    pub migratable: Option<bool>,
    pub model: Option<CpuModel>,
    pub vendor: Option<String>,
    pub topology: Option<AttrSet>,
    pub cache: Option<AttrSet>,
    pub features: Vec<CpuFeature>,
    /// `<maxphysaddr mode= bits= limit=>`: the guest's physical address bits.
    pub maxphysaddr: Option<AttrSet>,
    /// `<numa>`: the guest's NUMA cells.
    pub numa: Option<super::numa::Numa>,
    pub extras: Extras,
}

impl Cpu {
    pub fn read(el: El<'_, '_>) -> Result<Cpu, ParseError> {
        let mode = el.attr_enum("mode")?;
        let match_ = el.attr_enum("match")?;
        let check = el.attr_enum("check")?;
        let migratable = el.attr_on_off("migratable")?;
        let model = match el.child("model") {
            Some(m) => {
                let fallback = m.attr_string("fallback");
                if let Some(f) = &fallback
                    && f != "allow"
                    && f != "forbid"
                {
                    return Err(m.attr_err(
                        "fallback",
                        format!("unknown fallback '{f}': expected 'allow' or 'forbid'"),
                    ));
                }
                let vendor_id = m.attr_string("vendor_id");
                let name = m.text().trim().to_owned();
                m.done()?;
                Some(CpuModel {
                    name,
                    fallback,
                    vendor_id,
                })
            }
            None => None,
        };
        let vendor = el.child_text("vendor")?;
        let topology = el
            .child("topology")
            .map(|t| AttrSet::read(t, &["sockets", "dies", "clusters", "cores", "threads"]));
        if let Some(t) = &topology {
            for (k, v) in &t.attrs {
                if v.parse::<u32>().ok().filter(|n| *n > 0).is_none() {
                    return Err(el.err(format!(
                        "invalid CPU topology {k}='{v}': expected a number ≥ 1"
                    )));
                }
            }
        }
        let cache = el
            .child("cache")
            .map(|c| AttrSet::read(c, &["level", "mode"]));
        let mut features = Vec::new();
        for f in el.children("feature") {
            let policy = f.attr_enum("policy")?;
            let name = f.req_attr("name")?.to_owned();
            f.done()?;
            features.push(CpuFeature { policy, name });
        }
        let maxphysaddr = el
            .child("maxphysaddr")
            .map(|m| AttrSet::read(m, &["mode", "bits", "limit"]));
        if let Some(m) = &maxphysaddr {
            if !matches!(m.get("mode"), Some("passthrough" | "emulate")) {
                return Err(el.err("<maxphysaddr> needs mode='passthrough' or mode='emulate'"));
            }
            for k in ["bits", "limit"] {
                if m.get(k).is_some_and(|v| v.parse::<u32>().is_err()) {
                    return Err(el.err(format!("<maxphysaddr {k}=> must be a number")));
                }
            }
            if m.get("mode") == Some("passthrough") && m.get("bits").is_some() {
                return Err(el.err(
                    "<maxphysaddr mode='passthrough'> takes no 'bits' (the host's are used; 'limit' caps them)",
                ));
            }
            if m.get("mode") == Some("emulate") && m.get("limit").is_some() {
                return Err(el.err("<maxphysaddr mode='emulate'> takes 'bits', not 'limit'"));
            }
        }
        let numa = el.child("numa").map(super::numa::Numa::read).transpose()?;
        let extras = el.finish();
        Ok(Cpu {
            mode,
            match_,
            check,
            migratable,
            model,
            vendor,
            topology,
            cache,
            features,
            maxphysaddr,
            numa,
            extras,
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("cpu");
        w.attr_opt("mode", self.mode);
        w.attr_opt("match", self.match_);
        w.attr_opt("check", self.check);
        w.attr_on_off("migratable", self.migratable);
        w.extras(&self.extras);
        if let Some(m) = &self.model {
            w.start("model");
            w.attr_opt("fallback", m.fallback.as_deref());
            w.attr_opt("vendor_id", m.vendor_id.as_deref());
            w.text(&m.name);
            w.end();
        }
        w.text_elem_opt("vendor", self.vendor.as_deref());
        if let Some(t) = &self.topology {
            t.write(w, "topology");
        }
        if let Some(c) = &self.cache {
            c.write(w, "cache");
        }
        if let Some(m) = &self.maxphysaddr {
            m.write(w, "maxphysaddr");
        }
        for f in &self.features {
            w.start("feature");
            w.attr_opt("policy", f.policy);
            w.attr("name", &f.name);
            w.end();
        }
        if let Some(n) = &self.numa {
            n.write(w);
        }
        w.end();
    }
}

xml_enum! {
    pub enum ClockOffset { Utc = "utc", Localtime = "localtime", Timezone = "timezone", Variable = "variable", Absolute = "absolute" }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clock {
    pub offset: ClockOffset,
    pub attrs: AttrSet,
    /// `<timer name= present= tickpolicy= track= frequency= mode=/>`
    pub timers: Vec<AttrSet>,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            offset: ClockOffset::Utc,
            attrs: AttrSet::default(),
            timers: Vec::new(),
        }
    }
}

pub const TIMER_NAMES: &[&str] = &[
    "platform",
    "pit",
    "rtc",
    "hpet",
    "tsc",
    "kvmclock",
    "hypervclock",
    "armvtimer",
];

impl Clock {
    pub fn read(el: El<'_, '_>) -> Result<Clock, ParseError> {
        let offset = el.attr_enum("offset")?.unwrap_or(ClockOffset::Utc);
        let mut timers = Vec::new();
        for t in el.children("timer") {
            let name = t.req_attr("name")?;
            if !TIMER_NAMES.contains(&name) {
                return Err(t.attr_err("name", format!("unknown timer '{name}'")));
            }
            timers.push(AttrSet::read(
                t,
                &[
                    "name",
                    "present",
                    "tickpolicy",
                    "track",
                    "frequency",
                    "mode",
                ],
            ));
        }
        let attrs = AttrSet::read(el, &["timezone", "adjustment", "basis", "start"]);
        Ok(Clock {
            offset,
            attrs,
            timers,
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("clock").attr("offset", self.offset);
        self.attrs.write_attrs(w);
        for t in &self.timers {
            t.write(w, "timer");
        }
        w.end();
    }
}

xml_enum! {
    pub enum LifecycleAction {
        Destroy = "destroy", Restart = "restart", Preserve = "preserve",
        RenameRestart = "rename-restart", CoredumpDestroy = "coredump-destroy", CoredumpRestart = "coredump-restart"
    }
}

/// `<pm><suspend-to-mem enabled=/><suspend-to-disk enabled=/></pm>`
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pm {
    pub suspend_to_mem: Option<bool>,
    pub suspend_to_disk: Option<bool>,
    pub extras: Extras,
}

impl Pm {
    pub fn read(el: El<'_, '_>) -> Result<Pm, ParseError> {
        let read = |name: &str| -> Result<Option<bool>, ParseError> {
            match el.child(name) {
                Some(c) => {
                    let v = c.attr_yes_no("enabled")?;
                    c.done()?;
                    Ok(v)
                }
                None => Ok(None),
            }
        };
        let suspend_to_mem = read("suspend-to-mem")?;
        let suspend_to_disk = read("suspend-to-disk")?;
        Ok(Pm {
            suspend_to_mem,
            suspend_to_disk,
            extras: el.finish(),
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("pm").extras(&self.extras);
        if let Some(v) = self.suspend_to_mem {
            w.start("suspend-to-mem").attr_yes_no("enabled", Some(v));
            w.end();
        }
        if let Some(v) = self.suspend_to_disk {
            w.start("suspend-to-disk").attr_yes_no("enabled", Some(v));
            w.end();
        }
        w.end();
    }
}
