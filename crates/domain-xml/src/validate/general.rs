//! Define-time checks on domain-wide settings: memory and vCPUs, `<os>` (boot order,
//! boot menu, firmware), security labels.

use super::Report;
use crate::model::{Domain, SecLabel};

pub(super) fn check(dom: &Domain, r: &mut Report) {
    memory_and_vcpus(dom, r);
    os(dom, r);
    boot_order(dom, r);
    seclabels(dom, r);
}

/// The largest boot menu timeout QEMU's firmware interface takes (milliseconds, 16 bits).
const BOOT_MENU_TIMEOUT_MAX: u32 = 65535;

fn memory_and_vcpus(dom: &Domain, r: &mut Report) {
    if dom.memory_kib == 0 {
        r.xml("<memory> must be greater than 0");
    }
    if let Some(max) = &dom.max_memory
        && max.kib < dom.memory_kib
    {
        r.xml(format!(
            "<maxMemory> ({} KiB) must be at least <memory> ({} KiB)",
            max.kib, dom.memory_kib
        ));
    }
    let v = &dom.vcpu;
    if v.count == 0 {
        r.xml("<vcpu> must be at least 1");
    }
    if let Some(cur) = v.current
        && cur > v.count
    {
        r.xml(format!(
            "<vcpu current='{cur}'> must not exceed the maximum of {} vCPUs",
            v.count
        ));
    }
    if let Some(set) = &v.cpuset
        && let Err(m) = parse_cpuset(set)
    {
        r.push(
            super::ErrorKind::InvalidArg,
            format!("<vcpu cpuset='{set}'>: {m}"),
        );
    }
}

/// Largest host CPU number a cpuset may name (libvirt's bitmap limit).
const CPUSET_MAX: u32 = 8191;

/// Parses libvirt's cpuset syntax (`0-3,^2,8`) into the CPUs it selects; errors say
/// what is wrong with which part.
pub(crate) fn parse_cpuset(s: &str) -> Result<Vec<u32>, String> {
    let mut on = std::collections::BTreeSet::new();
    let mut off = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let (neg, body) = match part.strip_prefix('^') {
            Some(b) => (true, b),
            None => (false, part),
        };
        let num = |t: &str| -> Result<u32, String> {
            let n: u32 = t
                .trim()
                .parse()
                .map_err(|_| format!("'{part}' is not a CPU number or range"))?;
            if n > CPUSET_MAX {
                return Err(format!("CPU {n} is beyond the limit of {CPUSET_MAX}"));
            }
            Ok(n)
        };
        let (lo, hi) = match body.split_once('-') {
            Some((a, b)) if !neg => (num(a)?, num(b)?),
            Some(_) => return Err(format!("'{part}': a range cannot be excluded")),
            None => {
                let n = num(body)?;
                (n, n)
            }
        };
        if lo > hi {
            return Err(format!("'{part}' is a range that ends before it starts"));
        }
        if neg {
            off.push(lo);
        } else {
            on.extend(lo..=hi);
        }
    }
    for n in off {
        on.remove(&n);
    }
    if on.is_empty() {
        return Err("the set selects no CPU".into());
    }
    Ok(on.into_iter().collect())
}

fn os(dom: &Domain, r: &mut Report) {
    let os = &dom.os;
    if let Some(t) = os.bootmenu.as_ref().and_then(|b| b.timeout)
        && t > BOOT_MENU_TIMEOUT_MAX
    {
        r.unsupported(format!(
            "<bootmenu timeout='{t}'>: the timeout must be in the range [0,{BOOT_MENU_TIMEOUT_MAX}]"
        ));
    }
    // UEFI (a pflash loader, or firmware='efi') needs ACPI tables on x86.
    let uefi = os.firmware.as_deref() == Some("efi")
        || os
            .loader
            .as_ref()
            .is_some_and(|l| l.attrs.get("type") == Some("pflash"));
    let x86 = os
        .arch
        .as_deref()
        .is_none_or(|a| matches!(a, "x86_64" | "i686"));
    let acpi_on = dom.features.as_ref().is_some_and(|f| {
        f.get("acpi")
            .is_some_and(|a| a.attrs.iter().all(|(k, v)| k != "state" || v == "on"))
    });
    if uefi && x86 && !acpi_on {
        r.unsupported(
            "UEFI firmware (<loader type='pflash'> or firmware='efi') requires <features><acpi/> on x86",
        );
    }
}

/// `<os><boot dev>` and per-device `<boot order>` exclude each other, and no two
/// devices may share an order.
fn boot_order(dom: &Domain, r: &mut Report) {
    let d = &dom.devices;
    let mut orders: Vec<(u32, String)> = Vec::new();
    for disk in &d.disks {
        if let Some(o) = disk.info.boot_order {
            orders.push((o, format!("disk '{}'", disk.target.dev)));
        }
    }
    for (i, n) in d.interfaces.iter().enumerate() {
        if let Some(o) = n.info.boot_order {
            let mac = n.mac.clone().unwrap_or_else(|| format!("#{i}"));
            orders.push((o, format!("interface '{mac}'")));
        }
    }
    if orders.is_empty() {
        return;
    }
    if !dom.os.boot.is_empty() {
        r.unsupported(format!(
            "per-device <boot order> ({}) cannot be used together with <os><boot dev>",
            orders[0].1
        ));
    }
    for (i, (o, who)) in orders.iter().enumerate() {
        if let Some((_, first)) = orders[..i].iter().find(|(p, _)| p == o) {
            r.xml(format!(
                "<boot order='{o}'> is used by both {first} and {who}"
            ));
        }
    }
}

fn seclabels(dom: &Domain, r: &mut Report) {
    let labels = &dom.seclabels;
    if labels.len() > 1 && labels.iter().any(|l| l.model.is_none()) {
        r.xml("<seclabel> without a model: a model is needed when there are several labels");
    }
    for disk in &dom.devices.disks {
        if let Some(src) = &disk.source {
            device_seclabels(&format!("disk '{}'", disk.target.dev), &src.seclabels, r);
        }
    }
}

/// The per-device rules: one label per model, a label only with relabelling on, and
/// an explicit relabel='yes' only with a label to apply.
pub(super) fn device_seclabels(who: &str, labels: &[SecLabel], r: &mut Report) {
    for (i, l) in labels.iter().enumerate() {
        let model = l.model.as_deref().unwrap_or("(default)");
        if l.model.is_some() && labels[..i].iter().any(|p| p.model == l.model) {
            r.detail(format!(
                "{who}: <seclabel model='{model}'> is given more than once"
            ));
        }
        if l.label.is_some() && l.relabel == Some(false) {
            r.xml(format!(
                "{who}: <seclabel model='{model}' relabel='no'> cannot have a <label>"
            ));
        }
        if l.relabel == Some(true) && l.label.is_none() {
            r.xml(format!(
                "{who}: <seclabel model='{model}' relabel='yes'> needs a <label>"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_cpuset;

    #[test]
    fn cpusets() {
        assert_eq!(parse_cpuset("0-3,^2,8"), Ok(vec![0, 1, 3, 8]));
        assert_eq!(parse_cpuset("1"), Ok(vec![1]));
        assert!(parse_cpuset("aaa").is_err());
        assert!(parse_cpuset("").is_err());
        assert!(parse_cpuset("3-1").is_err());
        assert!(parse_cpuset("^1").is_err());
        assert!(parse_cpuset("1,").is_err());
        assert!(parse_cpuset("9000").is_err());
    }
}
