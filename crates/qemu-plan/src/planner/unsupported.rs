//! What the domain asks for that the planner refuses: XML kept but not
//! understood, and domain-level settings not implemented yet.

use super::state::Planner;
use crate::error::Problem;

fn lifecycle_name(a: domain_xml::model::LifecycleAction) -> String {
    a.to_string()
}

impl Planner<'_> {
    /// Every kept-but-unknown piece of the XML is a problem, with position.
    pub(super) fn check_kept_unknowns(&mut self) {
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

    /// Domain-level settings the planner does not implement, in the order
    /// of the domain XML.
    pub(super) fn check_domain_level(&mut self) {
        self.check_memory_and_vcpus();
        self.check_os();
        self.check_loader();
        self.check_lifecycle();
        self.check_features();
        self.check_cpu_clock_and_parallels();
    }

    fn not_supported(&mut self, what: &str) {
        self.problems.push(Problem {
            subject: String::new(),
            message: format!("{what} is not supported yet"),
        });
    }

    fn check_memory_and_vcpus(&mut self) {
        let dom = self.dom;
        if dom.genid.is_some() {
            self.not_supported("<genid>");
        }
        if dom.max_memory.is_some() {
            self.not_supported("<maxMemory> (memory hotplug)");
        }
        // <cputune>, <memtune>, <blkiotune>: the daemon applies them to the
        // per-VM cgroup and QEMU's threads at start (rvirtd's tuning_live); what
        // it does not apply stays kept-unknown and is refused above. `<idmap>` is
        // for containers and libvirt's QEMU driver ignores it, as the planner does.
        if dom.pm.as_ref().is_some_and(|p| !p.extras.is_empty()) {
            self.not_supported("<pm> children other than suspend-to-mem/suspend-to-disk");
        }
        if dom.vcpu.placement == domain_xml::model::Placement::Auto {
            self.not_supported("<vcpu placement='auto'>");
        }
        if let Some(mb) = &dom.memory_backing {
            if mb.source == Some(domain_xml::model::general::MemSource::File) {
                self.not_supported("<memoryBacking><source type='file'>");
            }
            if mb.allocation.is_some() {
                self.not_supported("<memoryBacking><allocation>");
            }
            if mb.discard {
                self.not_supported("<memoryBacking><discard/>");
            }
            if mb.access.is_some()
                && mb.hugepages.is_none()
                && mb.source != Some(domain_xml::model::general::MemSource::Memfd)
            {
                self.not_supported(
                    "<memoryBacking><access> without <hugepages/> or <source type='memfd'/>",
                );
            }
        }
    }

    fn check_os(&mut self) {
        let dom = self.dom;
        let os = &dom.os;
        if os.arch.as_deref().is_some_and(|a| a != "x86_64") {
            self.not_supported(&format!(
                "<os><type arch='{}'>",
                os.arch.as_deref().unwrap_or_default()
            ));
        }
        // Autoselection happens when the domain is defined; what reaches the
        // planner names its loader (firmware='bios' may leave QEMU's default).
        if os.firmware.as_deref() == Some("efi")
            && os.loader.as_ref().is_none_or(|l| l.path.is_none())
        {
            self.not_supported(
                "<os firmware='efi'> without a chosen <loader> (the firmware is chosen when the domain is defined)",
            );
        }
        let pflash = has_pflash_loader(os);
        if let Some(n) = &os.nvram {
            if !pflash {
                self.not_supported("<os><nvram> without <loader type='pflash'>");
            }
            if n.file().is_none() {
                self.not_supported(
                    "<os><nvram> without a local file (it is chosen when the domain is defined)",
                );
            }
            for (k, v) in &n.attrs.attrs {
                let ok = match k.as_str() {
                    "template" => true,
                    "type" => v == "file",
                    "format" | "templateFormat" => v == "raw" || v == "qcow2",
                    _ => false,
                };
                if !ok {
                    self.not_supported(&format!("<os><nvram {k}='{v}'>"));
                }
            }
        }
        if os.dtb.is_some() {
            self.not_supported("<os><dtb>");
        }
        if os.smbios_mode.is_some() {
            self.not_supported("<os><smbios>");
        }
        if os.bios.is_some() {
            self.not_supported("<os><bios>");
        }
    }

    fn check_loader(&mut self) {
        let dom = self.dom;
        let os = &dom.os;
        let pflash = has_pflash_loader(os);
        if let Some(l) = &os.loader {
            if l.path.is_none() {
                self.not_supported("<os><loader> without a path (firmware auto-selection)");
            }
            for (k, v) in &l.attrs.attrs {
                let ok = match k.as_str() {
                    "type" => v == "rom" || v == "pflash",
                    "readonly" => v == "yes" || (v == "no" && pflash),
                    "secure" => pflash && (v == "yes" || v == "no"),
                    // Without variables (stateless) or, for pflash, with them.
                    "stateless" => v == "yes" || (v == "no" && pflash),
                    "format" => v == "raw" || (pflash && v == "qcow2"),
                    _ => false,
                };
                if !ok {
                    self.not_supported(&format!("<os><loader {k}='{v}'>"));
                }
            }
            let secure = l.attrs.get("secure") == Some("yes");
            let smm_on = dom
                .features
                .as_ref()
                .and_then(|f| f.get("smm"))
                .is_some_and(|f| f.attrs.iter().all(|(k, v)| k != "state" || v == "on"));
            if secure && !smm_on {
                self.not_supported("<loader secure='yes'> without <features><smm state='on'/>");
            }
            if pflash
                && l.attrs.get("readonly") == Some("yes")
                && l.attrs.get("stateless") != Some("yes")
                && os.nvram.is_none()
            {
                self.not_supported("a read-only pflash <loader> without <nvram>");
            }
        }
    }

    fn check_lifecycle(&mut self) {
        use domain_xml::model::LifecycleAction as L;
        let dom = self.dom;
        if dom.on_poweroff != L::Destroy {
            self.not_supported(&format!(
                "<on_poweroff>{}</on_poweroff>",
                lifecycle_name(dom.on_poweroff)
            ));
        }
        if !matches!(dom.on_reboot, L::Restart | L::Destroy) {
            self.not_supported(&format!(
                "<on_reboot>{}</on_reboot>",
                lifecycle_name(dom.on_reboot)
            ));
        }
        // QEMU reports a guest crash only through a panic device (refused below
        // for now): without one the action can never trigger, in libvirt as here.
        if dom.on_crash != L::Destroy && has_panic_device(dom) {
            self.not_supported(&format!(
                "<on_crash>{}</on_crash>",
                lifecycle_name(dom.on_crash)
            ));
        }
    }

    fn check_features(&mut self) {
        let dom = self.dom;
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
                // Checked where they are planned (cpu_features.rs).
                if ["hyperv", "kvm", "pmu", "ioapic"].contains(&feat.name.as_str()) {
                    continue;
                }
                if !["acpi", "apic", "pae"].contains(&feat.name.as_str()) {
                    self.not_supported(&format!("feature <{}/>", feat.name));
                } else if !feat.attrs.is_empty() || !feat.children.is_empty() {
                    self.not_supported(&format!(
                        "feature <{}> with attributes or children",
                        feat.name
                    ));
                }
            }
        }
    }

    fn check_cpu_clock_and_parallels(&mut self) {
        let dom = self.dom;
        if let Some(cpu) = &dom.cpu {
            if cpu.cache.is_some() {
                self.not_supported("<cpu><cache>");
            }
            if cpu.model.as_ref().is_some_and(|m| m.vendor_id.is_some()) {
                self.not_supported("<cpu><model vendor_id=...>");
            }
        }
        // Offsets and their attributes are checked where -rtc is planned
        // (clock.rs).
        let d = &dom.devices;
        for (what, n) in [("<parallel>", d.parallels.len())] {
            if n > 0 {
                self.not_supported(what);
            }
        }
    }
}

/// Whether the domain has a `<panic>` device.
fn has_panic_device(dom: &domain_xml::Domain) -> bool {
    !dom.devices.panics.is_empty()
}

fn has_pflash_loader(os: &domain_xml::model::Os) -> bool {
    os.loader.as_ref().is_some_and(|l| l.is_pflash())
}
