//! The machine-level arguments: clock, power management, firmware (pflash), the
//! `-machine` line and its compat properties, the accelerator, the CPU model,
//! memory (with hugepage backing) and `-smp`, and the boot arguments.

use domain_xml::VirtType;
use domain_xml::model::CpuMode;
use qemu_caps::flags;

use super::state::{Expect, Family, Planner};
use crate::json::Obj;
use crate::resources::{Access, Provision, Resource, ResourceClass, ResourceKind, SelinuxRole};
use crate::runtime::{PathKind, Runtime};

impl Planner<'_> {
    /// Resolves the machine type; sets the family.
    pub(super) fn machine(&mut self) -> String {
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

    /// `-rtc` with the timers libvirt turns into arguments: rtc
    /// `tickpolicy='catchup'` (driftfix), pit `delay`/`discard`; hpet
    /// `present` is a `-machine` property ([`Self::machine_arg`]).
    pub(super) fn clock(&mut self, base: &str) {
        let mut rtc = format!("base={base}");
        let mut pit = None;
        for t in &self.dom.clock.timers {
            let name = t.get("name").unwrap_or_default();
            let others: Vec<&str> = t
                .attrs
                .iter()
                .map(|(k, _)| k.as_str())
                .filter(|k| *k != "name")
                .collect();
            let ok = match (name, others.as_slice()) {
                // track= then tickpolicy=, in libvirt's order.
                ("rtc", attrs) if attrs.iter().all(|k| ["tickpolicy", "track"].contains(k)) => {
                    let clock = match t.get("track") {
                        None => Some(""),
                        Some("guest") => Some(",clock=vm"),
                        Some("wall") => Some(",clock=host"),
                        Some("realtime") => Some(",clock=rt"),
                        Some(_) => None,
                    };
                    let drift = match t.get("tickpolicy") {
                        None | Some("delay") => Some(""),
                        Some("catchup") => Some(",driftfix=slew"),
                        Some(_) => None,
                    };
                    match (clock, drift) {
                        (Some(c), Some(d)) => {
                            rtc.push_str(c);
                            rtc.push_str(d);
                            true
                        }
                        _ => false,
                    }
                }
                // No policy is QEMU's kvm-pit default made explicit (delay);
                // catchup is KVM's own behaviour, nothing to say.
                ("pit", [] | ["tickpolicy"]) => match t.get("tickpolicy") {
                    None => {
                        pit = Some("delay".to_owned());
                        true
                    }
                    Some(p @ ("delay" | "discard")) => {
                        pit = Some(p.to_owned());
                        true
                    }
                    Some("catchup") => true,
                    _ => false,
                },
                ("hpet", ["present"]) => true,
                // -cpu properties (cpu_features.rs).
                ("kvmclock" | "hypervclock", ["present"]) => true,
                _ => false,
            };
            if !ok {
                let attrs: Vec<String> =
                    t.attrs.iter().map(|(k, v)| format!("{k}='{v}'")).collect();
                self.problem(
                    "clock",
                    format!("<timer {}/> is not supported yet", attrs.join(" ")),
                );
            }
        }
        self.arg2("-rtc", rtc);
        if let Some(p) = pit {
            self.arg2("-global", format!("kvm-pit.lost_tick_policy={p}"));
        }
    }

    /// `<timer name='hpet' present='yes|no'/>`, if the clock says.
    fn hpet_present(&self) -> Option<bool> {
        self.dom
            .clock
            .timers
            .iter()
            .filter(|t| t.get("name") == Some("hpet"))
            .find_map(|t| t.get("present"))
            .map(|p| p == "yes")
    }

    /// The HPET and ACPI switches, which QEMU 9 turned from `-no-hpet` and
    /// `-no-acpi` into `-machine` properties (the only spelling QEMU 10 has;
    /// 7.2's pc and q35 take it too). Chosen by the machine type's probed
    /// properties, never by version.
    fn machine_switches(&mut self, machine: &str, s: &mut String) {
        let Some((hpet_switch, acpi_switch, has_acpi)) = self.caps.machine(machine).map(|m| {
            (
                m.has_property("hpet"),
                m.has_property("acpi"),
                m.supports_acpi(),
            )
        }) else {
            return; // an unknown machine type is already a problem
        };
        let on_off = |on: bool| if on { "on" } else { "off" };
        if let Some(present) = self.hpet_present() {
            if hpet_switch {
                s.push_str(&format!(",hpet={}", on_off(present)));
            } else {
                self.problem(
                    "clock",
                    format!(
                        "<timer name='hpet'/>: machine type '{machine}' of {} has no HPET switch \
                         (no 'hpet' machine property)",
                        self.rt.emulator
                    ),
                );
            }
        }
        let acpi = self.dom.features.as_ref().is_some_and(|f| f.has("acpi"));
        if acpi_switch {
            s.push_str(&format!(",acpi={}", on_off(acpi)));
        } else if acpi && !has_acpi {
            self.problem(
                "features",
                format!("<acpi/>: machine type '{machine}' does not support ACPI"),
            );
        } else if !acpi && has_acpi {
            self.problem(
                "features",
                format!(
                    "machine type '{machine}' of {} cannot turn ACPI off (no 'acpi' machine \
                     property): add <acpi/> to <features>",
                    self.rt.emulator
                ),
            );
        }
    }

    /// `<pm>`: S3/S4 on or off through the PM device's globals.
    pub(super) fn power_management(&mut self) {
        let Some(pm) = &self.dom.pm else {
            return;
        };
        let dev = match self.family {
            Family::I440fx => "PIIX4_PM",
            Family::Q35 => "ICH9-LPC",
        };
        for (state, enabled) in [("s3", pm.suspend_to_mem), ("s4", pm.suspend_to_disk)] {
            if let Some(on) = enabled {
                self.arg2(
                    "-global",
                    format!("{dev}.disable_{state}={}", if on { 0 } else { 1 }),
                );
            }
        }
    }

    /// UEFI firmware in pflash: the code (read-only) and the variable store
    /// as `-blockdev` nodes referenced from `-machine` (see
    /// [`super::firmware`]). A missing variable store with a `template` is
    /// copied by the daemon before start ([`LaunchPlan::nvram_from_template`]).
    pub(super) fn pflash(&mut self) {
        let dom = self.dom;
        let Some(l) = dom.os.loader.as_ref().filter(|l| l.is_pflash()) else {
            return;
        };
        let Some(code) = &l.path else {
            return;
        };
        let readonly = l.readonly() == Some(true);
        let se = self.selinux_for(&[], SelinuxRole::ReadOnly);
        self.existing(
            "loader",
            "loader",
            code,
            Expect::File,
            if readonly {
                Access::ReadOnly
            } else {
                Access::ReadWrite
            },
            ResourceClass::Device,
            !readonly && self.dac,
            se,
        );
        self.pflash_unit(0, code, l.format(), readonly);
        if let Some(n) = &dom.os.nvram
            && let Some(path) = n.file()
        {
            self.nvram_resource(path, n.template());
            self.pflash_unit(1, path, n.format(), false);
        }
    }

    /// The variable store: an existing file, or one the daemon copies from
    /// its template before start.
    fn nvram_resource(&mut self, path: &str, template: Option<&str>) {
        let exists = self.rt.host.stat(path).is_some();
        if exists || template.is_none() {
            let (dac, se) = (self.dac, self.selinux_for(&[], SelinuxRole::Exclusive));
            self.existing(
                "nvram",
                "nvram",
                path,
                Expect::File,
                Access::ReadWrite,
                ResourceClass::Device,
                dac,
                se,
            );
        } else if let Some(t) = template {
            // The daemon reads the template; QEMU never sees it.
            if self.rt.host.stat(t) != Some(PathKind::File) && !self.rt.host.assume_missing() {
                self.problem("nvram", format!("template '{t}' is not a regular file"));
            }
            self.nvram_from_template = Some((t.to_owned(), path.to_owned()));
            self.push_resource(Resource {
                path: path.to_owned(),
                kind: ResourceKind::File,
                access: Access::ReadWrite,
                origin: "nvram".into(),
                class: ResourceClass::Device,
                provision: Provision::DaemonCreates,
                dac_relabel: self.dac,
                dac_label: None,
                selinux: self.selinux_for(&[], SelinuxRole::Exclusive),
            });
        }
    }

    pub(super) fn compat(&mut self) {
        use domain_xml::model::qemu_ns::DeprecationBehavior as D;
        let behavior = match self.dom.qemu.deprecation {
            Some(d) => match d {
                D::None => "none",
                D::Omit => "omit",
                D::Reject => "reject",
                D::Crash => "crash",
            },
            None => self.host.deprecation_behavior.name(),
        };
        let v = match behavior {
            "omit" => Obj::new().with("deprecated-output", "hide"),
            "reject" => Obj::new()
                .with("deprecated-output", "hide")
                .with("deprecated-input", "reject"),
            "crash" => Obj::new()
                .with("deprecated-output", "hide")
                .with("deprecated-input", "crash"),
            _ => return,
        };
        // libvirt ignores the setting silently when QEMU lacks -compat.
        if self.caps.has_flag(flags::COMPAT_DEPRECATED) {
            let text = if self.caps.has_flag(flags::OBJECT_JSON) {
                v.to_json()
            } else {
                v.to_opts("")
            };
            self.arg2("-compat", text);
        }
    }

    pub(super) fn machine_arg(&mut self, machine: &str) {
        let dom = self.dom;
        let ram_id = self
            .caps
            .machine(machine)
            .and_then(|m| m.default_ram_id.clone())
            .unwrap_or_else(|| "pc.ram".to_owned());
        // The type as the definition names it, as libvirt passes it (an alias such as
        // `pc` stays one: QEMU resolves it the same way the capabilities did).
        let shown = dom.os.machine.as_deref().unwrap_or(machine);
        let mut s = format!("{shown},usb=off");
        if let Some(v) = dom
            .features
            .as_ref()
            .and_then(|f| f.get("vmport"))
            .and_then(|f| f.attrs.first())
        {
            s.push_str(&format!(",vmport={}", v.1));
        }
        if let Some(f) = dom.features.as_ref().and_then(|f| f.get("smm")) {
            let on = f.attrs.iter().all(|(k, v)| k != "state" || v == "on");
            s.push_str(if on { ",smm=on" } else { ",smm=off" });
        }
        if let Some(p) = self.ioapic_machine_prop() {
            s.push_str(p);
        }
        s.push_str(&format!(
            ",dump-guest-core={}",
            if dom.memory_dump_core == Some(true) {
                "on"
            } else {
                "off"
            }
        ));
        if dom.memory_backing.as_ref().is_some_and(|m| m.nosharepages) {
            s.push_str(",mem-merge=off");
        }
        // With NUMA cells each cell has its own backend (`-numa ...,memdev=`).
        if dom.cpu.as_ref().and_then(|c| c.numa.as_ref()).is_none() {
            s.push_str(&format!(",memory-backend={ram_id}"));
        }
        if dom.os.loader.as_ref().is_some_and(|l| l.is_pflash()) {
            s.push_str(",pflash0=libvirt-pflash0-format");
            if let Some(n) = dom.os.nvram.as_ref().filter(|n| n.file().is_some()) {
                s.push_str(&format!(
                    ",pflash1={}",
                    super::firmware::pflash_node(1, n.format())
                ));
            }
        }
        self.machine_switches(machine, &mut s);
        self.arg2("-machine", s);
    }

    pub(super) fn accel(&mut self) {
        match self.dom.virt_type {
            VirtType::Kvm => {
                if !(self.caps.has_flag(flags::KVM) || self.caps.accelerators.contains("kvm")) {
                    self.problem(
                        "",
                        format!(
                            "type 'kvm' needs KVM, which {} cannot use",
                            self.rt.emulator
                        ),
                    );
                }
                let dac = false;
                self.existing(
                    "type 'kvm'",
                    "accelerator kvm",
                    "/dev/kvm",
                    Expect::Char,
                    Access::ReadWrite,
                    ResourceClass::Device,
                    dac,
                    SelinuxRole::Untouched,
                );
                self.arg2("-accel", "kvm");
            }
            VirtType::Qemu => {
                if !(self.caps.has_flag(flags::TCG) || self.caps.accelerators.contains("tcg")) {
                    self.problem(
                        "",
                        format!("type 'qemu' needs TCG, which {} lacks", self.rt.emulator),
                    );
                }
                self.arg2("-accel", "tcg");
            }
        }
    }

    /// `-cpu`: no `<cpu>` gives `qemu64`; host-passthrough gives `host` (KVM
    /// only); host-model gives `host` under KVM and `max` under TCG (libvirt
    /// would expand the host model into a named model plus features; rvirt
    /// leaves that to QEMU); maximum gives `max`.
    pub(super) fn cpu(&mut self) {
        let dom = self.dom;
        let kvm = dom.virt_type == VirtType::Kvm;
        let Some(cpu) = &dom.cpu else {
            let mut s = "qemu64".to_owned();
            for p in self.cpu_feature_props() {
                s.push(',');
                s.push_str(&p);
            }
            self.arg2("-cpu", s);
            return;
        };
        let mode = cpu.mode.unwrap_or(CpuMode::Custom);
        let mut s = match mode {
            CpuMode::Custom => match &cpu.model {
                Some(m) if !m.name.is_empty() => {
                    if !self.caps.cpu_models.is_empty() && self.caps.cpu_model(&m.name).is_none() {
                        self.problem(
                            "cpu",
                            format!(
                                "CPU model '{}' is not known to {}",
                                m.name, self.rt.emulator
                            ),
                        );
                    }
                    m.name.clone()
                }
                _ => "qemu64".to_owned(),
            },
            CpuMode::HostPassthrough => {
                if !kvm {
                    self.problem("cpu", "mode 'host-passthrough' needs type 'kvm'");
                }
                "host".to_owned()
            }
            CpuMode::HostModel => if kvm { "host" } else { "max" }.to_owned(),
            CpuMode::Maximum => "max".to_owned(),
        };
        if let Some(m) = cpu.migratable {
            s.push_str(if m {
                ",migratable=on"
            } else {
                ",migratable=off"
            });
        }
        for f in &cpu.features {
            use domain_xml::model::general::FeaturePolicy as P;
            let on = !matches!(f.policy, Some(P::Disable | P::Forbid));
            s.push_str(&format!(",{}={}", f.name, if on { "on" } else { "off" }));
        }
        for p in self.cpu_feature_props() {
            s.push(',');
            s.push_str(&p);
        }
        // <maxphysaddr>: the host's address width (optionally capped), or a
        // given one; 'emulate' without bits turns the host's off.
        if let Some(m) = &cpu.maxphysaddr {
            match (m.get("mode"), m.get("bits"), m.get("limit")) {
                (Some("passthrough"), _, limit) => {
                    s.push_str(",host-phys-bits=on");
                    if let Some(l) = limit {
                        s.push_str(&format!(",host-phys-bits-limit={l}"));
                    }
                }
                (_, Some(bits), _) => s.push_str(&format!(",phys-bits={bits}")),
                _ => s.push_str(",host-phys-bits=off"),
            }
        }
        self.arg2("-cpu", s);
    }

    pub(super) fn memory(&mut self) {
        let dom = self.dom;
        let numa = dom.cpu.as_ref().and_then(|c| c.numa.as_ref());
        // With NUMA cells the guest memory is theirs, each rounded up to whole
        // MiB as QEMU needs; otherwise `<memory>`, rounded the same way.
        let kib = match numa {
            Some(n) => n
                .cells
                .iter()
                .map(|c| c.memory_kib.div_ceil(1024) * 1024)
                .sum(),
            None => dom.memory_kib.div_ceil(1024) * 1024,
        };
        // libvirt 11 writes the size in KiB.
        self.arg2("-m", format!("size={kib}k"));
        if numa.is_none() {
            let props = self.memory_backend("pc.ram", kib * 1024, None, None);
            self.object(props);
        }
        let lock = dom.memory_backing.as_ref().is_some_and(|m| m.locked);
        self.arg2(
            "-overcommit",
            format!("mem-lock={}", if lock { "on" } else { "off" }),
        );
    }

    /// The `memory-backend-*` object `id` of `bytes` for the whole guest or one
    /// NUMA cell: RAM, hugetlbfs file or memfd as `<memoryBacking>` says, shared
    /// as the cell's `memAccess` (else `<memoryBacking><access>`) says, bound to
    /// host nodes as `<numatune>` says.
    pub(super) fn memory_backend(
        &mut self,
        id: &str,
        bytes: u64,
        cell_access: Option<domain_xml::model::general::MemAccess>,
        cell: Option<u32>,
    ) -> Obj {
        use domain_xml::model::general::{MemAccess, MemSource};
        let mb = self.dom.memory_backing.as_ref();
        let share = cell_access
            .or(mb.and_then(|m| m.access))
            .map(|a| a == MemAccess::Shared);
        let memfd = mb.and_then(|m| m.source) == Some(MemSource::Memfd);
        let pages = mb.and_then(|m| m.hugepages.as_ref());
        let mut props = match (memfd, pages) {
            (false, None) => {
                if cell_access.is_some() {
                    // libvirt backs such a cell with a file in its memory
                    // backing directory, which rvirt does not provide yet.
                    self.problem(
                        "numa",
                        format!(
                            "memAccess on NUMA cell '{id}' without <hugepages/> or <source type='memfd'/> is not supported yet"
                        ),
                    );
                }
                Obj::new()
                    .with("qom-type", "memory-backend-ram")
                    .with("id", id)
            }
            (false, Some(pages)) => {
                let path = match self.hugepage_mount(pages) {
                    Some(m) => self.hugepage_dir(&m),
                    None => String::new(),
                };
                Obj::new()
                    .with("qom-type", "memory-backend-file")
                    .with("id", id)
                    .with("mem-path", path.as_str())
                    .with_opt("share", share)
                    .with("x-use-canonical-path-for-ramblock-id", false)
                    .with("prealloc", true)
            }
            (true, None) => Obj::new()
                .with("qom-type", "memory-backend-memfd")
                .with("id", id)
                .with_opt("share", share)
                .with("x-use-canonical-path-for-ramblock-id", false),
            (true, Some(pages)) => {
                let size = self
                    .hugepage_mount(pages)
                    .map_or(0, |m| m.page_size_kib * 1024);
                Obj::new()
                    .with("qom-type", "memory-backend-memfd")
                    .with("id", id)
                    .with("hugetlb", true)
                    .with("hugetlbsize", size)
                    .with_opt("share", share)
                    .with("x-use-canonical-path-for-ramblock-id", false)
                    .with("prealloc", true)
            }
        };
        props.set("size", bytes);
        self.numatune_props(&mut props, cell);
        props
    }

    /// The hugetlbfs mount for the requested page size (problems otherwise).
    pub(super) fn hugepage_mount(
        &mut self,
        pages: &[domain_xml::model::general::HugePage],
    ) -> Option<crate::runtime::HugetlbfsMountInfo> {
        let mounts = if self.host.hugetlbfs_mount == host_config::HugetlbfsMount::Disabled {
            Vec::new()
        } else {
            self.rt.hugetlbfs.clone()
        };
        if pages.iter().any(|p| p.nodeset.is_some()) || pages.len() > 1 {
            self.problem(
                "memoryBacking",
                "per-NUMA-node hugepage sizes are not supported yet",
            );
        }
        if mounts.is_empty() {
            self.problem(
                "memoryBacking",
                "hugetlbfs filesystem is not mounted or disabled by administrator config",
            );
            return None;
        }
        let mount = match pages.first() {
            None => mounts.iter().find(|m| m.default).or(mounts.first()),
            Some(p) => mounts.iter().find(|m| m.page_size_kib == p.size_kib),
        };
        let Some(mount) = mount.cloned() else {
            let size = pages.first().map_or(0, |p| p.size_kib);
            self.problem(
                "memoryBacking",
                format!("no hugetlbfs mount with {size} KiB pages is known (unable to find any usable hugetlbfs mount for {size} KiB)"),
            );
            return None;
        };
        let page_bytes = mount.page_size_kib * 1024;
        let mem_bytes = self.dom.memory_kib.div_ceil(1024) * 1024 * 1024;
        if page_bytes > 0 && !mem_bytes.is_multiple_of(page_bytes) {
            self.problem(
                "memoryBacking",
                format!(
                    "memory of {} KiB is not a multiple of the {} KiB hugepage size",
                    mem_bytes / 1024,
                    mount.page_size_kib
                ),
            );
        }
        Some(mount)
    }

    /// The per-domain hugetlbfs directory on a mount.
    pub(super) fn hugepage_dir(&mut self, mount: &crate::runtime::HugetlbfsMountInfo) -> String {
        let dir = format!(
            "{}/libvirt/{}/{}",
            mount.path.trim_end_matches('/'),
            self.rt.hugepage_subdir,
            Runtime::short_name(self.rt.domain_id, &self.dom.name)
        );
        self.push_resource(Resource {
            path: dir.clone(),
            kind: ResourceKind::Dir,
            access: Access::ReadWrite,
            origin: format!("hugepages ({} KiB)", mount.page_size_kib),
            class: ResourceClass::Device,
            provision: Provision::DaemonCreates,
            dac_relabel: self.dac,
            dac_label: None,
            selinux: self.selinux_for(&[], SelinuxRole::Exclusive),
        });
        dir
    }

    pub(super) fn smp(&mut self) {
        let v = &self.dom.vcpu;
        let count = v.count;
        let current = v.current.unwrap_or(count);
        let topo = self.dom.cpu.as_ref().and_then(|c| c.topology.as_ref());
        let get = |k: &str| {
            topo.and_then(|t| t.get(k))
                .and_then(|x| x.parse::<u32>().ok())
        };
        let (sockets, dies, clusters, cores, threads) = match topo {
            Some(_) => (
                get("sockets").unwrap_or(1),
                get("dies").unwrap_or(1),
                get("clusters").unwrap_or(1),
                get("cores").unwrap_or(1),
                get("threads").unwrap_or(1),
            ),
            None => (count, 1, 1, 1, 1),
        };
        let product = [sockets, dies, clusters, cores, threads]
            .iter()
            .map(|n| u64::from(*n))
            .product::<u64>();
        if product != u64::from(count) {
            self.problem(
                "cpu",
                format!(
                    "topology {sockets} sockets × {dies} dies × {clusters} clusters × {cores} cores × \
                     {threads} threads does not match the {count} vCPUs"
                ),
            );
        }
        let mut s = current.to_string();
        if current != count {
            s.push_str(&format!(",maxcpus={count}"));
        }
        s.push_str(&format!(",sockets={sockets}"));
        // libvirt prints dies and clusters whenever the XML gives a topology and
        // QEMU knows them; without a topology it prints sockets/cores/threads only.
        if topo.is_some() && self.caps.has_option("smp-opts", Some("dies")) {
            s.push_str(&format!(",dies={dies}"));
        }
        if topo.is_some() && self.caps.has_option("smp-opts", Some("clusters")) {
            s.push_str(&format!(",clusters={clusters}"));
        } else if clusters != 1 {
            self.problem(
                "cpu",
                format!(
                    "<topology clusters='{clusters}'>: {} has no clusters",
                    self.rt.emulator
                ),
            );
        }
        s.push_str(&format!(",cores={cores},threads={threads}"));
        self.arg2("-smp", s);
    }

    pub(super) fn boot(&mut self) {
        let dom = self.dom;
        let mut s = String::new();
        if let Some(m) = &dom.os.bootmenu {
            match m.enable {
                Some(true) => {
                    s.push_str("menu=on,");
                    if let Some(t) = m.timeout {
                        s.push_str(&format!("splash-time={t},"));
                    }
                }
                Some(false) => s.push_str("menu=off,"),
                None => {}
            }
        }
        s.push_str("strict=on");
        self.arg2("-boot", s);
        let (dac, se) = (self.dac, self.selinux_for(&[], SelinuxRole::ReadOnly));
        if let Some(k) = &dom.os.kernel {
            self.existing(
                "kernel",
                "kernel",
                k,
                Expect::File,
                Access::ReadOnly,
                ResourceClass::Device,
                dac,
                se,
            );
            self.arg2("-kernel", k.clone());
        }
        if let Some(i) = &dom.os.initrd {
            self.existing(
                "initrd",
                "initrd",
                i,
                Expect::File,
                Access::ReadOnly,
                ResourceClass::Device,
                dac,
                se,
            );
            self.arg2("-initrd", i.clone());
        }
        if let Some(c) = &dom.os.cmdline {
            if dom.os.kernel.is_none() {
                self.problem("os", "<cmdline> needs a <kernel>");
            }
            self.arg2("-append", c.clone());
        }
    }
}
