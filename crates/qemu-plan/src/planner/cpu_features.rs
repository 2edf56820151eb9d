//! Hypervisor features and timers that libvirt turns into `-cpu` properties
//! (Hyper-V enlightenments, `kvmclock`, `hypervclock`, `<kvm><hidden>`, `<pmu>`)
//! and `<ioapic driver>` (a `-machine` property), in libvirt 11.3's order:
//! timers in document order, then Hyper-V, then KVM, then the PMU.

use domain_xml::model::general::Feature;
use domain_xml::xml::{RawElement, RawNode};

use super::state::Planner;

/// Hyper-V enlightenments in libvirt's order: (XML name, QEMU property).
const HYPERV: &[(&str, &str)] = &[
    ("relaxed", "hv-relaxed"),
    ("vapic", "hv-vapic"),
    ("spinlocks", "hv-spinlocks"),
    ("vpindex", "hv-vpindex"),
    ("runtime", "hv-runtime"),
    ("synic", "hv-synic"),
    ("stimer", "hv-stimer"),
    ("reset", "hv-reset"),
    ("vendor_id", "hv-vendor-id"),
    ("frequencies", "hv-frequencies"),
    ("reenlightenment", "hv-reenlightenment"),
    ("tlbflush", "hv-tlbflush"),
    ("ipi", "hv-ipi"),
    ("evmcs", "hv-evmcs"),
    ("avic", "hv-avic"),
    ("emsr_bitmap", "hv-emsr-bitmap"),
    ("xmm_input", "hv-xmm-input"),
];

fn attr<'a>(e: &'a RawElement, name: &str) -> Option<&'a str> {
    e.attrs
        .iter()
        .find(|a| a.ns.is_none() && a.name == name)
        .map(|a| a.value.as_str())
}

fn elements(children: &[RawElement]) -> impl Iterator<Item = &RawElement> {
    children.iter().filter(|c| c.ns.is_none())
}

fn child_elements(e: &RawElement) -> impl Iterator<Item = &RawElement> {
    e.children.iter().filter_map(|n| match n {
        RawNode::Element(c) if c.ns.is_none() => Some(c),
        _ => None,
    })
}

fn state_on(e: &RawElement) -> Result<bool, String> {
    match attr(e, "state") {
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        other => Err(format!(
            "<{}> needs state='on' or 'off' (got {})",
            e.name,
            other.map_or("nothing".to_owned(), |v| format!("'{v}'"))
        )),
    }
}

/// The `-cpu` properties of `<hyperv>`; `Err` names what is not understood.
pub(super) fn hyperv_props(f: &Feature) -> Result<Vec<String>, String> {
    let mode = f
        .attrs
        .iter()
        .find(|(k, _)| k == "mode")
        .map(|(_, v)| v.as_str());
    if let Some((k, _)) = f.attrs.iter().find(|(k, _)| k != "mode") {
        return Err(format!("<hyperv {k}=...> is not supported yet"));
    }
    match mode {
        Some("passthrough") => return Ok(vec!["hv-passthrough=on".to_owned()]),
        None | Some("custom") => {}
        Some(m) => return Err(format!("<hyperv mode='{m}'> is not supported")),
    }
    let kids: Vec<&RawElement> = elements(&f.children).collect();
    if let Some(k) = kids
        .iter()
        .find(|k| !HYPERV.iter().any(|(n, _)| *n == k.name))
    {
        return Err(format!("<hyperv><{}> is not supported yet", k.name));
    }
    let mut out = Vec::new();
    for (name, prop) in HYPERV {
        let Some(e) = kids.iter().find(|k| k.name == *name) else {
            continue;
        };
        if !state_on(e)? {
            continue;
        }
        match *name {
            "spinlocks" => {
                let retries: u32 = match attr(e, "retries") {
                    None => 0x1fff,
                    Some(r) => r.parse().ok().filter(|n| *n >= 0xfff).ok_or_else(|| {
                        format!("<spinlocks retries='{r}'>: expected a number ≥ 4095")
                    })?,
                };
                out.push(format!("{prop}={retries:#x}"));
            }
            "vendor_id" => {
                let v = attr(e, "value")
                    .ok_or("<vendor_id state='on'> needs a value (up to 12 characters)")?;
                if v.is_empty() || v.len() > 12 || v.contains(',') {
                    return Err(format!(
                        "<vendor_id value='{v}'>: expected 1 to 12 characters, no comma"
                    ));
                }
                out.push(format!("{prop}={v}"));
            }
            "stimer" | "tlbflush" => {
                out.push(format!("{prop}=on"));
                for sub in child_elements(e) {
                    let suffix = match (*name, sub.name.as_str()) {
                        ("stimer", "direct") => "direct",
                        ("tlbflush", "direct") => "direct",
                        ("tlbflush", "extended") => "ext",
                        (_, other) => {
                            return Err(format!("<{name}><{other}> is not supported"));
                        }
                    };
                    if state_on(sub)? {
                        out.push(format!("{prop}-{suffix}=on"));
                    }
                }
            }
            _ => out.push(format!("{prop}=on")),
        }
    }
    Ok(out)
}

/// `<kvm><hidden state='on'/></kvm>` is `kvm=off`.
fn kvm_props(f: &Feature) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for k in elements(&f.children) {
        match k.name.as_str() {
            "hidden" => {
                if state_on(k)? {
                    out.push("kvm=off".to_owned());
                }
            }
            other => return Err(format!("<kvm><{other}> is not supported yet")),
        }
    }
    Ok(out)
}

impl Planner<'_> {
    /// Properties appended to `-cpu` for the clock's timers and the
    /// hypervisor features.
    pub(super) fn cpu_feature_props(&mut self) -> Vec<String> {
        let dom = self.dom;
        let mut out = Vec::new();
        for t in &dom.clock.timers {
            let present = t.get("present").map(|p| p == "yes");
            match (t.get("name"), present) {
                (Some("kvmclock"), Some(p)) => {
                    out.push(format!("kvmclock={}", if p { "on" } else { "off" }))
                }
                (Some("hypervclock"), Some(true)) => out.push("hv-time=on".to_owned()),
                _ => {}
            }
        }
        let hyperv_panic = dom
            .devices
            .panics
            .iter()
            .any(|p| p.model.as_deref() == Some("hyperv"));
        let Some(features) = &dom.features else {
            if hyperv_panic {
                out.push("hv-crash".to_owned());
            }
            return out;
        };
        let mut problems = Vec::new();
        if let Some(f) = features.get("hyperv") {
            match hyperv_props(f) {
                Ok(p) => out.extend(p),
                Err(e) => problems.push(e),
            }
        }
        if hyperv_panic {
            out.push("hv-crash".to_owned());
        }
        if let Some(f) = features.get("kvm") {
            match kvm_props(f) {
                Ok(p) => out.extend(p),
                Err(e) => problems.push(e),
            }
        }
        if let Some(f) = features.get("pmu") {
            match f
                .attrs
                .iter()
                .find(|(k, _)| k == "state")
                .map(|(_, v)| v.as_str())
            {
                Some(s @ ("on" | "off")) => out.push(format!("pmu={s}")),
                _ => problems.push("<pmu> needs state='on' or 'off'".to_owned()),
            }
        }
        for p in problems {
            self.problem("features", p);
        }
        out
    }

    /// `<ioapic driver='qemu'>` puts the IOAPIC in QEMU (`kernel_irqchip=split`);
    /// `driver='kvm'` is KVM's own (`kernel_irqchip=on`).
    pub(super) fn ioapic_machine_prop(&mut self) -> Option<&'static str> {
        let f = self.dom.features.as_ref()?.get("ioapic")?;
        match f
            .attrs
            .iter()
            .find(|(k, _)| k == "driver")
            .map(|(_, v)| v.as_str())
        {
            Some("qemu") => Some(",kernel_irqchip=split"),
            Some("kvm") => Some(",kernel_irqchip=on"),
            _ => {
                self.problem("features", "<ioapic> needs driver='qemu' or 'kvm'");
                None
            }
        }
    }
}
