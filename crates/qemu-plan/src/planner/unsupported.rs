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

    /// Domain-level settings the planner does not implement.
    pub(super) fn check_domain_level(&mut self) {
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
}
