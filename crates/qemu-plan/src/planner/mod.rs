//! The planner: walks the domain in libvirt 9.0's command-line order and
//! collects argv items, resources, fds and problems as it goes.

mod devices;
mod disks;
mod machine;
mod pci;

use std::collections::BTreeMap;

use domain_xml::Domain;
use domain_xml::model::devices::DiskDevice;
use domain_xml::model::{CpuMode, SecLabel, SecLabelType};
use host_config::{HostConfig, IdSpec, Namespace};
use qemu_caps::Capabilities;
use qemu_caps::flags;

use crate::error::{PlanError, Problem};
use crate::json::{Json, Obj};
use crate::launch::{FdSource, LaunchPlan, PassFd, Taint};
use crate::resources::{Access, Provision, Resource, ResourceClass, ResourceKind, SelinuxRole};
use crate::runtime::{PathKind, QEMU_PATH_ENV, Runtime};

use pci::{PciAddr, PciAlloc, PciDev};

/// The `-sandbox` value libvirt uses when the sandbox is on.
pub const SANDBOX_ON: &str =
    "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";

/// One piece of the command line; devices stay structured until the end so
/// `<qemu:override>` can merge into them.
#[derive(Debug)]
enum Item {
    Arg(String),
    Device { alias: String, props: Obj },
    Object(Obj),
}

/// What kind of host path is expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    File,
    Block,
    Char,
}

/// The machine family, which fixes bus names and built-in controllers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    I440fx,
    Q35,
}

pub(crate) struct Planner<'a> {
    pub dom: &'a Domain,
    pub host: &'a HostConfig,
    pub caps: Capabilities,
    pub rt: &'a Runtime<'a>,
    items: Vec<Item>,
    problems: Vec<Problem>,
    pub resources: Vec<Resource>,
    fds: Vec<PassFd>,
    next_fd: i32,
    next_fdset: u32,
    pub family: Family,
    pub pci: BTreeMap<PciDev, PciAddr>,
    /// The domain allows DAC relabelling at all.
    dac: bool,
    /// The domain allows SELinux relabelling at all.
    selinux: bool,
    /// Boot indexes by disk and interface position.
    pub disk_boot: BTreeMap<usize, u32>,
    pub net_boot: BTreeMap<usize, u32>,
    nvram_from_template: Option<(String, String)>,
}

/// Plans a start; see the crate docs.
pub(crate) fn run(
    dom: &Domain,
    host: &HostConfig,
    caps: &Capabilities,
    rt: &Runtime<'_>,
) -> Result<LaunchPlan, PlanError> {
    let mut caps = caps.clone();
    caps.apply_overrides(
        dom.qemu.caps_add.iter().map(String::as_str),
        dom.qemu.caps_del.iter().map(String::as_str),
    );
    let mut p = Planner {
        dom,
        host,
        caps,
        rt,
        items: Vec::new(),
        problems: Vec::new(),
        resources: Vec::new(),
        fds: Vec::new(),
        next_fd: rt.first_free_fd,
        next_fdset: 0,
        family: Family::I440fx,
        pci: BTreeMap::new(),
        dac: host.dynamic_ownership && domain_relabels(dom, "dac"),
        selinux: domain_relabels(dom, "selinux"),
        disk_boot: BTreeMap::new(),
        net_boot: BTreeMap::new(),
        nvram_from_template: None,
    };
    p.check_kept_unknowns();
    p.check_domain_level();
    let machine = p.machine();
    p.assign_pci();
    p.assign_boot();
    p.build(&machine);
    p.acl_resources();
    p.apply_overrides();
    p.finish()
}

/// Whether the domain-level `<seclabel>` of `model` (or a blanket
/// `type='none'`) leaves relabelling on.
fn domain_relabels(dom: &Domain, model: &str) -> bool {
    let blanket_off = dom.seclabels.iter().any(|s| {
        (s.model.is_none() || s.is_model("none")) && s.label_type == Some(SecLabelType::None)
    });
    let own = dom.seclabels.iter().find(|s| s.is_model(model));
    let own_off = own.is_some_and(|s| {
        s.label_type == Some(SecLabelType::None)
            || s.relabel == Some(false)
            || (s.label_type == Some(SecLabelType::Static)
                && s.relabel.is_none()
                && model == "selinux")
    });
    !blanket_off && !own_off
}

fn lifecycle_name(a: domain_xml::model::LifecycleAction) -> String {
    a.to_string()
}

/// Whether per-source labels turn relabelling off for `model`.
pub(crate) fn source_relabel_off(labels: &[SecLabel], model: &str) -> bool {
    labels
        .iter()
        .any(|s| (s.model.is_none() || s.is_model(model)) && s.relabel == Some(false))
}

impl<'a> Planner<'a> {
    pub fn problem(&mut self, subject: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            subject: subject.into(),
            message: message.into(),
        });
    }

    pub fn problem_count(&self) -> usize {
        self.problems.len()
    }

    pub fn arg(&mut self, a: impl Into<String>) {
        self.items.push(Item::Arg(a.into()));
    }

    pub fn arg2(&mut self, a: &str, b: impl Into<String>) {
        self.arg(a);
        self.arg(b);
    }

    pub fn device(&mut self, props: Obj) {
        let alias = match props.get("id") {
            Some(Json::Str(s)) => s.clone(),
            _ => String::new(),
        };
        self.items.push(Item::Device { alias, props });
    }

    pub fn object(&mut self, props: Obj) {
        self.items.push(Item::Object(props));
    }

    pub fn bus_name(&self) -> &'static str {
        match self.family {
            Family::I440fx => "pci.0",
            Family::Q35 => "pcie.0",
        }
    }

    /// Adds `bus`/`addr` for a PCI device that got an address.
    pub fn pci_props(&self, dev: PciDev, props: Obj) -> Obj {
        match self.pci.get(&dev) {
            Some(a) => {
                let bus = if a.bus == 0 {
                    self.bus_name().to_owned()
                } else {
                    format!("pci.{}", a.bus)
                };
                let props = props.with("bus", bus);
                let props = if a.multifunction {
                    props.with("multifunction", true)
                } else {
                    props
                };
                props.with("addr", a.addr_prop())
            }
            None => props,
        }
    }

    /// Hands out the next fd number for a passed fd.
    pub fn pass_fd(&mut self, owner: &str, source: FdSource) -> i32 {
        let fd = self.next_fd;
        self.next_fd += 1;
        self.fds.push(PassFd {
            fd,
            owner: owner.to_owned(),
            source,
        });
        fd
    }

    pub fn next_fdset(&mut self) -> u32 {
        let s = self.next_fdset;
        self.next_fdset += 1;
        s
    }

    /// Whether DAC relabelling applies to a source with these labels.
    pub fn dac_for(&self, labels: &[SecLabel]) -> bool {
        self.dac && !source_relabel_off(labels, "dac")
    }

    /// The SELinux role for a source with these labels.
    pub fn selinux_for(&self, labels: &[SecLabel], role: SelinuxRole) -> SelinuxRole {
        if !self.selinux || source_relabel_off(labels, "selinux") {
            SelinuxRole::Untouched
        } else {
            role
        }
    }

    pub fn push_resource(&mut self, r: Resource) {
        if !self
            .resources
            .iter()
            .any(|x| x.path == r.path && x.origin == r.origin)
        {
            self.resources.push(r);
        }
    }

    /// Records a host path that must exist, checking its kind through
    /// `HostFacts`. Returns the kind found (or `None` after a problem).
    #[allow(clippy::too_many_arguments)]
    pub fn existing(
        &mut self,
        subject: &str,
        origin: &str,
        path: &str,
        expect: Expect,
        access: Access,
        class: ResourceClass,
        dac_relabel: bool,
        selinux: SelinuxRole,
    ) -> Option<ResourceKind> {
        let Some(found) = self.rt.host.stat(path) else {
            self.problem(subject, format!("'{path}' does not exist"));
            return None;
        };
        let kind = match (expect, found) {
            (Expect::File, PathKind::File) => ResourceKind::File,
            (Expect::Block, PathKind::BlockDev { major, minor }) => {
                ResourceKind::BlockDev { major, minor }
            }
            (Expect::Char, PathKind::CharDev { major, minor }) => {
                ResourceKind::CharDev { major, minor }
            }
            (_, other) => {
                let want = match expect {
                    Expect::File => "a regular file",
                    Expect::Block => "a block device",
                    Expect::Char => "a character device",
                };
                let is = match other {
                    PathKind::File => "a regular file".to_owned(),
                    PathKind::Dir => "a directory".to_owned(),
                    PathKind::CharDev { major, minor } => {
                        format!("a character device ({major}:{minor})")
                    }
                    PathKind::BlockDev { major, minor } => {
                        format!("a block device ({major}:{minor})")
                    }
                    PathKind::Other => "neither a file nor a device".to_owned(),
                };
                self.problem(subject, format!("'{path}' is {is}, not {want}"));
                return None;
            }
        };
        self.push_resource(Resource {
            path: path.to_owned(),
            kind,
            access,
            origin: origin.to_owned(),
            class,
            provision: Provision::Exists,
            dac_relabel,
            dac_label: None,
            selinux,
        });
        Some(kind)
    }

    /// `<rvirt:grant>`s: each path enters the one resource list, so the private
    /// `/dev`, the cgroup ACL, DAC, SELinux and Landlock all allow exactly it.
    fn grants(&mut self) {
        let dom = self.dom;
        for g in &dom.grants {
            match crate::grants::grant_resource(g, self.rt.host, self.dac, self.selinux) {
                Ok(r) => self.push_resource(r),
                Err(m) => self.problem(format!("grant '{}'", g.path), m),
            }
        }
    }

    /// Every kept-but-unknown piece of the XML is a problem, with position.
    fn check_kept_unknowns(&mut self) {
        let mut diags = self.dom.unsupported();
        diags.sort_by_key(|d| (d.pos.line, d.pos.col));
        for d in diags {
            let msg = d
                .message
                .split("; it is kept")
                .next()
                .unwrap_or(&d.message)
                .to_owned();
            self.problem(
                format!(
                    "line {} column {} of the canonical XML",
                    d.pos.line, d.pos.col
                ),
                msg,
            );
        }
    }

    /// Domain-level settings the planner does not implement.
    fn check_domain_level(&mut self) {
        let dom = self.dom;
        let mut no = |what: &str| {
            self.problems.push(Problem {
                subject: String::new(),
                message: format!("{what} is not supported yet"),
            });
        };
        if dom.genid.is_some() {
            no("<genid>");
        }
        if dom.max_memory.is_some() {
            no("<maxMemory> (memory hotplug)");
        }
        if dom.pm.as_ref().is_some_and(|p| !p.extras.is_empty()) {
            no("<pm> children other than suspend-to-mem/suspend-to-disk");
        }
        if dom.vcpu.placement == domain_xml::model::Placement::Auto {
            no("<vcpu placement='auto'>");
        }
        if let Some(mb) = &dom.memory_backing {
            if mb.source == Some(domain_xml::model::general::MemSource::File) {
                no("<memoryBacking><source type='file'>");
            }
            if mb.allocation.is_some() {
                no("<memoryBacking><allocation>");
            }
            if mb.discard {
                no("<memoryBacking><discard/>");
            }
            if mb.access.is_some()
                && mb.hugepages.is_none()
                && mb.source != Some(domain_xml::model::general::MemSource::Memfd)
            {
                no("<memoryBacking><access> without <hugepages/> or <source type='memfd'/>");
            }
        }
        let os = &dom.os;
        if os.arch.as_deref().is_some_and(|a| a != "x86_64") {
            no(&format!(
                "<os><type arch='{}'>",
                os.arch.as_deref().unwrap_or_default()
            ));
        }
        if os.firmware.is_some() {
            no("<os firmware=...> (firmware auto-selection)");
        }
        let pflash = os
            .loader
            .as_ref()
            .is_some_and(|l| l.attrs.get("type") == Some("pflash"));
        if let Some(n) = &os.nvram {
            if !pflash {
                no("<os><nvram> without <loader type='pflash'>");
            }
            if n.path.is_none() {
                no("<os><nvram> without a path (it is chosen when the domain is defined)");
            }
            for (k, _) in &n.attrs.attrs {
                if k != "template" {
                    no(&format!("<os><nvram {k}=...>"));
                }
            }
        }
        if os.dtb.is_some() {
            no("<os><dtb>");
        }
        if os.smbios_mode.is_some() {
            no("<os><smbios>");
        }
        if os.bios.is_some() {
            no("<os><bios>");
        }
        if let Some(l) = &os.loader {
            if l.path.is_none() {
                no("<os><loader> without a path (firmware auto-selection)");
            }
            for (k, v) in &l.attrs.attrs {
                let ok = match k.as_str() {
                    "type" => v == "rom" || v == "pflash",
                    "readonly" => v == "yes" || (v == "no" && pflash),
                    "secure" => pflash && (v == "yes" || v == "no"),
                    "format" => v == "raw",
                    _ => false,
                };
                if !ok {
                    no(&format!("<os><loader {k}='{v}'>"));
                }
            }
            let secure = l.attrs.get("secure") == Some("yes");
            let smm_on = dom
                .features
                .as_ref()
                .and_then(|f| f.get("smm"))
                .is_some_and(|f| f.attrs.iter().all(|(k, v)| k != "state" || v == "on"));
            if secure && !smm_on {
                no("<loader secure='yes'> without <features><smm state='on'/>");
            }
            if pflash && l.attrs.get("readonly") == Some("yes") && os.nvram.is_none() {
                no("a read-only pflash <loader> without <nvram>");
            }
        }
        {
            use domain_xml::model::LifecycleAction as L;
            if dom.on_poweroff != L::Destroy {
                no(&format!(
                    "<on_poweroff>{}</on_poweroff>",
                    lifecycle_name(dom.on_poweroff)
                ));
            }
            if !matches!(dom.on_reboot, L::Restart | L::Destroy) {
                no(&format!(
                    "<on_reboot>{}</on_reboot>",
                    lifecycle_name(dom.on_reboot)
                ));
            }
            if dom.on_crash != L::Destroy {
                no(&format!(
                    "<on_crash>{}</on_crash>",
                    lifecycle_name(dom.on_crash)
                ));
            }
        }
        if let Some(f) = &dom.features {
            for feat in &f.list {
                let vmport_ok = (feat.name == "vmport" || feat.name == "smm")
                    && feat.children.is_empty()
                    && feat.attrs.len() == 1
                    && feat.attrs[0].0 == "state"
                    && (feat.attrs[0].1 == "on" || feat.attrs[0].1 == "off");
                if vmport_ok {
                    continue;
                }
                if !["acpi", "apic", "pae"].contains(&feat.name.as_str()) {
                    no(&format!("feature <{}/>", feat.name));
                } else if !feat.attrs.is_empty() || !feat.children.is_empty() {
                    no(&format!(
                        "feature <{}> with attributes or children",
                        feat.name
                    ));
                }
            }
        }
        if let Some(cpu) = &dom.cpu {
            if cpu.cache.is_some() {
                no("<cpu><cache>");
            }
            if cpu.model.as_ref().is_some_and(|m| m.vendor_id.is_some()) {
                no("<cpu><model vendor_id=...>");
            }
            if cpu
                .topology
                .as_ref()
                .is_some_and(|t| t.get("clusters").is_some())
            {
                no("<cpu><topology clusters=...>");
            }
        }
        if !matches!(
            dom.clock.offset,
            domain_xml::model::ClockOffset::Utc | domain_xml::model::ClockOffset::Localtime
        ) {
            no(&format!("<clock offset='{}'>", dom.clock.offset));
        }
        if !dom.clock.attrs.attrs.is_empty() {
            no("<clock> attributes other than 'offset'");
        }
        let d = &dom.devices;
        for (what, n) in [("<parallel>", d.parallels.len())] {
            if n > 0 {
                no(what);
            }
        }
    }

    /// Resolves the machine type; sets the family.
    fn machine(&mut self) -> String {
        let asked = self.dom.os.machine.clone();
        let resolved = match &asked {
            Some(m) => self.caps.resolve_machine_alias(m).map(str::to_owned),
            None => self.caps.default_machine().map(|m| m.name.clone()),
        };
        let Some(name) = resolved else {
            match asked {
                Some(m) => self.problem(
                    "",
                    format!(
                        "machine type '{m}' is not supported by {}",
                        self.rt.emulator
                    ),
                ),
                None => self.problem(
                    "",
                    format!("{} has no default machine type", self.rt.emulator),
                ),
            }
            return "pc".to_owned();
        };
        if name.starts_with("pc-q35") {
            self.family = Family::Q35;
        } else if !name.starts_with("pc-i440fx") && name != "pc" {
            self.problem(
                "",
                format!("machine type '{name}' is not supported yet (use pc or q35)"),
            );
        }
        name
    }

    /// Assigns PCI addresses: explicit ones first, then libvirt's order.
    fn assign_pci(&mut self) {
        let mut alloc = PciAlloc::new(self.family == Family::Q35);
        let dom = self.dom;
        let buses: Vec<u32> = dom
            .devices
            .controllers
            .iter()
            .filter(|c| devices::provides_bus(c))
            .filter_map(|c| c.index)
            .collect();
        let mut wants: Vec<(PciDev, Option<&domain_xml::model::Address>, String)> = Vec::new();
        let videos: Vec<usize> = dom
            .devices
            .videos
            .iter()
            .enumerate()
            .filter(|(_, v)| v.model_type() != Some("none"))
            .map(|(i, _)| i)
            .collect();
        for (n, i) in videos.iter().enumerate() {
            let dev = if n == 0 {
                PciDev::PrimaryVideo
            } else {
                PciDev::Video(*i)
            };
            wants.push((
                dev,
                dom.devices.videos[*i].info.address.as_ref(),
                format!("video{n}"),
            ));
        }
        for (i, c) in dom.devices.controllers.iter().enumerate() {
            if devices::controller_needs_pci(self.family, c) {
                wants.push((
                    PciDev::Controller(i),
                    c.info.address.as_ref(),
                    format!("controller '{}'", c.ctype),
                ));
            }
        }
        for (i, n) in dom.devices.interfaces.iter().enumerate() {
            wants.push((
                PciDev::Net(i),
                n.info.address.as_ref(),
                format!("interface 'net{i}'"),
            ));
        }
        for (i, snd) in dom.devices.sounds.iter().enumerate() {
            if devices::sound_driver(&snd.model).is_some_and(|(_, pci)| pci) {
                wants.push((
                    PciDev::Sound(i),
                    snd.info.address.as_ref(),
                    format!("sound{i}"),
                ));
            }
        }
        for (i, d) in dom.devices.disks.iter().enumerate() {
            if disks::bus_of(d) == Some(domain_xml::model::devices::DiskBus::Virtio) {
                wants.push((
                    PciDev::Disk(i),
                    d.info.address.as_ref(),
                    format!("disk '{}'", d.target.dev),
                ));
            }
        }
        if let Some(b) = &dom.devices.memballoon
            && b.model != "none"
        {
            wants.push((
                PciDev::Balloon,
                b.info.address.as_ref(),
                "memballoon".to_owned(),
            ));
        }
        for (i, r) in dom.devices.rngs.iter().enumerate() {
            wants.push((PciDev::Rng(i), r.info.address.as_ref(), format!("rng{i}")));
        }
        for (i, w) in dom.devices.watchdogs.iter().enumerate() {
            if w.model == "i6300esb" {
                wants.push((
                    PciDev::Watchdog(i),
                    w.info.address.as_ref(),
                    format!("watchdog{i}"),
                ));
            }
        }
        for (i, inp) in dom.devices.inputs.iter().enumerate() {
            if inp.bus == Some(domain_xml::model::devices::InputBus::Virtio) {
                wants.push((
                    PciDev::Input(i),
                    inp.info.address.as_ref(),
                    format!("input{i}"),
                ));
            }
        }
        for (dev, addr, subject) in &wants {
            if let Some(a) = addr {
                match pci::explicit(a, &buses) {
                    Ok(a) => alloc.reserve(*dev, a),
                    Err(e) => self.problem(subject.clone(), e),
                }
            }
        }
        for (dev, addr, subject) in &wants {
            if addr.is_some() {
                continue;
            }
            let r = if *dev == PciDev::PrimaryVideo {
                let slot = if self.family == Family::Q35 { 1 } else { 2 };
                alloc.prefer(*dev, slot)
            } else {
                alloc.next(*dev)
            };
            if let Err(e) = r {
                self.problem(subject.clone(), e);
            }
        }
        self.pci = alloc.assigned;
    }

    /// Per-device boot indexes: `<boot order>` where given, otherwise the
    /// legacy `<os><boot dev>` list mapped onto the first matching device.
    fn assign_boot(&mut self) {
        let dom = self.dom;
        let any_order = dom
            .devices
            .disks
            .iter()
            .any(|d| d.info.boot_order.is_some())
            || dom
                .devices
                .interfaces
                .iter()
                .any(|n| n.info.boot_order.is_some());
        if any_order {
            for (i, d) in dom.devices.disks.iter().enumerate() {
                if let Some(o) = d.info.boot_order {
                    self.disk_boot.insert(i, o);
                }
            }
            for (i, n) in dom.devices.interfaces.iter().enumerate() {
                if let Some(o) = n.info.boot_order {
                    self.net_boot.insert(i, o);
                }
            }
            return;
        }
        let mut index = 0;
        for b in &dom.os.boot {
            use domain_xml::model::BootDev;
            let found = match b {
                BootDev::Hd => dom
                    .devices
                    .disks
                    .iter()
                    .position(|d| d.device == DiskDevice::Disk)
                    .map(|i| (true, i)),
                BootDev::Cdrom => dom
                    .devices
                    .disks
                    .iter()
                    .position(|d| d.device == DiskDevice::Cdrom)
                    .map(|i| (true, i)),
                BootDev::Network => {
                    if dom.devices.interfaces.is_empty() {
                        None
                    } else {
                        Some((false, 0))
                    }
                }
                BootDev::Fd => None,
            };
            if let Some((disk, i)) = found {
                index += 1;
                if disk {
                    self.disk_boot.entry(i).or_insert(index);
                } else {
                    self.net_boot.entry(i).or_insert(index);
                }
            }
        }
    }

    /// The command line, in libvirt 9.0's order.
    fn build(&mut self, machine: &str) {
        let dom = self.dom;
        let rt = self.rt;
        let priv_dir = rt.lib_dir.clone();
        self.push_resource(Resource {
            path: priv_dir,
            kind: ResourceKind::Dir,
            access: Access::ReadWrite,
            origin: "private directory".into(),
            class: ResourceClass::Device,
            provision: Provision::DaemonCreates,
            dac_relabel: self.dac,
            dac_label: None,
            selinux: self.selinux_for(&[], SelinuxRole::Exclusive),
        });
        self.push_resource(Resource {
            path: rt.monitor_socket.clone(),
            kind: ResourceKind::Socket,
            access: Access::ReadWrite,
            origin: "monitor".into(),
            class: ResourceClass::Device,
            provision: Provision::PassedAsFd,
            dac_relabel: false,
            dac_label: None,
            selinux: SelinuxRole::Untouched,
        });
        self.push_resource(Resource {
            path: rt.log_path.clone(),
            kind: ResourceKind::File,
            access: Access::ReadWrite,
            origin: "log".into(),
            class: ResourceClass::Device,
            provision: Provision::PassedAsFd,
            dac_relabel: false,
            dac_label: None,
            selinux: SelinuxRole::Untouched,
        });

        self.arg2(
            "-name",
            format!("guest={},debug-threads=on", dom.name.replace(',', ",,")),
        );
        self.compat();
        self.arg("-S");
        if let Some(key) = &rt.master_key {
            self.push_resource(Resource {
                path: key.clone(),
                kind: ResourceKind::File,
                access: Access::ReadOnly,
                origin: "master key".into(),
                class: ResourceClass::Device,
                provision: Provision::DaemonCreates,
                dac_relabel: self.dac,
                dac_label: None,
                selinux: self.selinux_for(&[], SelinuxRole::Exclusive),
            });
            self.object(
                Obj::new()
                    .with("qom-type", "secret")
                    .with("id", "masterKey0")
                    .with("format", "raw")
                    .with("file", key.as_str()),
            );
        }
        self.pflash();
        self.machine_arg(machine);
        self.accel();
        self.cpu();
        if let Some(l) = &dom.os.loader
            && let Some(path) = &l.path
        {
            if l.attrs.get("secure") == Some("yes") {
                self.arg2("-global", "driver=cfi.pflash01,property=secure,value=on");
            }
            if l.attrs.get("type").unwrap_or("rom") == "rom" {
                // System firmware is shared and read-only: not chowned.
                let se = self.selinux_for(&[], SelinuxRole::ReadOnly);
                self.existing(
                    "loader",
                    "loader",
                    path,
                    Expect::File,
                    Access::ReadOnly,
                    ResourceClass::Device,
                    false,
                    se,
                );
                self.arg2("-bios", path.clone());
            }
        }
        self.memory();
        self.smp();
        if let Some(n) = dom.iothreads {
            for i in 1..=n {
                self.object(
                    Obj::new()
                        .with("qom-type", "iothread")
                        .with("id", format!("iothread{i}")),
                );
            }
        }
        self.arg2("-uuid", dom.uuid.hyphenated().to_string());
        if dom.devices.graphics.is_empty() {
            self.arg2("-display", "none");
        }
        self.arg("-no-user-config");
        self.arg("-nodefaults");
        self.arg2(
            "-chardev",
            format!(
                "socket,id=charmonitor,fd={},server=on,wait=off",
                rt.monitor_fd
            ),
        );
        self.fds.push(PassFd {
            fd: rt.monitor_fd,
            owner: "monitor".into(),
            source: FdSource::UnixListener {
                path: rt.monitor_socket.clone(),
            },
        });
        self.arg2("-mon", "chardev=charmonitor,id=monitor,mode=control");
        let base = match dom.clock.offset {
            domain_xml::model::ClockOffset::Localtime => "localtime",
            _ => "utc",
        };
        self.clock(base);
        self.arg("-no-shutdown");
        self.power_management();
        self.boot();
        self.controllers();
        self.disks();
        self.nets();
        self.serials();
        self.channels();
        self.consoles();
        self.inputs();
        self.audio();
        self.graphics();
        self.videos();
        self.sounds();
        self.watchdogs();
        self.balloon();
        self.rngs();
        for a in &dom.qemu.args {
            self.arg(a.clone());
        }
        self.grants();
        if self.caps.has_flag(flags::SECCOMP_SANDBOX) {
            if self.host.sandbox_enabled() {
                self.sandbox_params_known();
                self.arg2("-sandbox", SANDBOX_ON);
            } else {
                self.arg2("-sandbox", "off");
            }
        }
        if self.host.log_timestamp && self.caps.has_option("msg", Some("timestamp")) {
            self.arg2("-msg", "timestamp=on");
        }
    }

    /// Every filter [`SANDBOX_ON`] denies must be one this QEMU's `-sandbox`
    /// knows: a silently weaker sandbox is worse than a refused start.
    fn sandbox_params_known(&mut self) {
        for part in SANDBOX_ON.split(',').skip(1) {
            let param = part.split('=').next().unwrap_or_default();
            if !self.caps.has_option("sandbox", Some(param)) {
                self.problem(
                    "",
                    format!(
                        "the seccomp sandbox needs -sandbox {param}=, which {} lacks \
                         (seccomp_sandbox = 0 in qemu.conf starts it unsandboxed)",
                        self.rt.emulator
                    ),
                );
            }
        }
    }

    /// The `cgroup_device_acl` entries (default list or qemu.conf's), skipping
    /// paths the host lacks as libvirt does.
    fn acl_resources(&mut self) {
        for p in &self.host.cgroup_device_acl {
            let path = p.to_string_lossy().into_owned();
            if self.resources.iter().any(|r| r.path == path) {
                continue;
            }
            let kind = match self.rt.host.stat(&path) {
                Some(PathKind::CharDev { major, minor }) => ResourceKind::CharDev { major, minor },
                Some(PathKind::BlockDev { major, minor }) => {
                    ResourceKind::BlockDev { major, minor }
                }
                _ => continue,
            };
            self.push_resource(Resource {
                path,
                kind,
                access: Access::ReadWrite,
                origin: "device ACL".into(),
                class: ResourceClass::DeviceAcl,
                provision: Provision::Exists,
                dac_relabel: false,
                dac_label: None,
                selinux: SelinuxRole::Untouched,
            });
        }
    }

    /// Merges `<qemu:override>` properties into the matching `-device`.
    fn apply_overrides(&mut self) {
        use domain_xml::model::qemu_ns::PropertyType as T;
        for ov in &self.dom.qemu.overrides {
            let target = self.items.iter_mut().find_map(|i| match i {
                Item::Device { alias, props } if *alias == ov.alias => Some(props),
                _ => None,
            });
            let Some(props) = target else {
                self.problems.push(Problem {
                    subject: format!("qemu:override for alias '{}'", ov.alias),
                    message: "no device with that alias is on the command line".into(),
                });
                continue;
            };
            for p in &ov.frontend {
                let v = p.value.clone().unwrap_or_default();
                match p.ptype {
                    T::Remove => props.remove(&p.name),
                    T::String => {
                        props.set(&p.name, v);
                    }
                    T::Signed => {
                        props.set(&p.name, Json::Int(v.parse().unwrap_or_default()));
                    }
                    T::Unsigned => {
                        props.set(&p.name, Json::UInt(v.parse().unwrap_or_default()));
                    }
                    T::Bool => {
                        props.set(&p.name, v == "true");
                    }
                }
            }
        }
    }

    fn finish(mut self) -> Result<LaunchPlan, PlanError> {
        let mut seen = Vec::new();
        for f in &self.fds {
            if f.fd < 3 || seen.contains(&f.fd) {
                self.problems.push(Problem {
                    subject: "runtime".into(),
                    message: format!(
                        "fd {} for {} is below 3 or already used; choose monitor_fd and first_free_fd apart",
                        f.fd, f.owner
                    ),
                });
            }
            seen.push(f.fd);
        }
        if !self.problems.is_empty() {
            return Err(PlanError::Domain {
                domain: self.dom.name.clone(),
                problems: self.problems,
            });
        }
        let json_dev = self.caps.has_flag(flags::DEVICE_JSON);
        let json_obj = self.caps.has_flag(flags::OBJECT_JSON);
        let mut argv = Vec::with_capacity(self.items.len() * 2);
        for item in self.items {
            match item {
                Item::Arg(a) => argv.push(a),
                Item::Device { props, .. } => {
                    argv.push("-device".into());
                    argv.push(if json_dev {
                        props.to_json()
                    } else {
                        props.to_opts("driver")
                    });
                }
                Item::Object(props) => {
                    argv.push("-object".into());
                    argv.push(if json_obj {
                        props.to_json()
                    } else {
                        props.to_opts("qom-type")
                    });
                }
            }
        }
        let rt = self.rt;
        let lib = rt.lib_dir.trim_end_matches('/');
        let mut env = vec![
            ("LC_ALL".to_owned(), "C".to_owned()),
            ("PATH".to_owned(), QEMU_PATH_ENV.to_owned()),
            ("HOME".to_owned(), lib.to_owned()),
            ("XDG_DATA_HOME".to_owned(), format!("{lib}/.local/share")),
            ("XDG_CACHE_HOME".to_owned(), format!("{lib}/.cache")),
            ("XDG_CONFIG_HOME".to_owned(), format!("{lib}/.config")),
        ];
        for e in &self.dom.qemu.env {
            env.push((e.name.clone(), e.value.clone().unwrap_or_default()));
        }
        let mut taints = Vec::new();
        let q = &self.dom.qemu;
        if q.has_custom_argv() {
            taints.push(Taint::CustomArgv);
        }
        let is_root = |id: &IdSpec| match id {
            IdSpec::Id(n) => *n == 0,
            IdSpec::Name(n) => n == "root",
        };
        if is_root(&self.host.user) || is_root(&self.host.group) {
            taints.push(Taint::HighPrivileges);
        }
        if self
            .dom
            .cpu
            .as_ref()
            .is_some_and(|c| c.mode == Some(CpuMode::HostPassthrough))
        {
            taints.push(Taint::HostCpu);
        }
        if !q.caps_add.is_empty() || !q.caps_del.is_empty() {
            taints.push(Taint::CustomHypervisorFeature);
        }
        if !q.overrides.is_empty() {
            taints.push(Taint::CustomDevice);
        }
        let static_dac = self
            .dom
            .seclabels
            .iter()
            .find(|s| s.is_model("dac") && s.label_type == Some(SecLabelType::Static));
        let sandbox = if !self.caps.has_flag(flags::SECCOMP_SANDBOX) {
            None
        } else if self.host.sandbox_enabled() {
            Some(SANDBOX_ON.to_owned())
        } else {
            Some("off".to_owned())
        };
        Ok(LaunchPlan {
            emulator: rt.emulator.clone(),
            argv,
            env,
            fds: self.fds,
            taints,
            resources: self.resources,
            mount_namespace: self.host.namespaces.contains(&Namespace::Mount),
            landlock: self.host.landlock,
            sandbox,
            dac_label: static_dac.and_then(|s| s.label.clone()),
            dac_image_label: static_dac.and_then(|s| s.image_label.clone().or(s.label.clone())),
            log_path: rt.log_path.clone(),
            nvram_from_template: self.nvram_from_template.clone(),
            reboot_is_shutdown: self.dom.on_reboot == domain_xml::model::LifecycleAction::Destroy,
            balloon_target_kib: (self.dom.current_memory_kib < self.dom.memory_kib
                && self
                    .dom
                    .devices
                    .memballoon
                    .as_ref()
                    .is_some_and(|b| b.model != "none"))
            .then_some(self.dom.current_memory_kib),
        })
    }
}
