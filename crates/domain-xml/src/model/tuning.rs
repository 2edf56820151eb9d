//! Resource tuning of a domain: `<cputune>`, `<memtune>` and `<blkiotune>`
//! (`<numatune>` is not modelled yet: it stays kept-unknown). Only what rvirt
//! applies to a running QEMU is modelled (the per-VM
//! cgroup and its threads' affinities); every other child or attribute is kept
//! verbatim as an extra, which makes the domain unstartable with a warning rather
//! than started without it.

use crate::model::general::read_size_kib;
use crate::xml::{El, Extras, ParseError, XmlWriter};

/// `<vcpupin vcpu='N' cpuset='..'/>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VcpuPin {
    pub vcpu: u32,
    pub cpuset: String,
}

/// `<cputune>`: CPU shares and the whole VM's CFS bandwidth, vCPU and emulator pinning.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuTune {
    pub shares: Option<u64>,
    pub global_period: Option<u64>,
    pub global_quota: Option<i64>,
    pub vcpupins: Vec<VcpuPin>,
    /// `<emulatorpin cpuset='..'/>`.
    pub emulatorpin: Option<String>,
    pub extras: Extras,
}

/// `<memtune>` limits, KiB (`None`: unlimited).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemTune {
    pub hard_limit: Option<u64>,
    pub soft_limit: Option<u64>,
    pub swap_hard_limit: Option<u64>,
    pub extras: Extras,
}

/// `<blkiotune><device>`: per-device weight and throttles.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlkioDevice {
    pub path: String,
    pub weight: Option<u32>,
    pub read_iops_sec: Option<u64>,
    pub write_iops_sec: Option<u64>,
    pub read_bytes_sec: Option<u64>,
    pub write_bytes_sec: Option<u64>,
    pub extras: Extras,
}

/// `<blkiotune>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlkioTune {
    pub weight: Option<u32>,
    pub devices: Vec<BlkioDevice>,
    pub extras: Extras,
}

/// libvirt's limit on CPU numbers in a cpuset (`VIR_DOMAIN_CPUMASK_LEN`).
const CPUMASK_LEN: u32 = 16_384;

/// Parses a libvirt cpuset: ranges and single CPUs, `^N` taking one out again
/// (`0-3,^2` is 0, 1 and 3). `None` when it does not parse.
pub fn parse_cpuset(text: &str) -> Option<Vec<u32>> {
    let mut add = Vec::new();
    let mut remove = Vec::new();
    let num = |t: &str| t.trim().parse::<u32>().ok().filter(|n| *n < CPUMASK_LEN);
    for part in text.trim().split(',') {
        let part = part.trim();
        if let Some(n) = part.strip_prefix('^') {
            remove.push(num(n)?);
        } else if let Some((a, b)) = part.split_once('-') {
            let (a, b) = (num(a)?, num(b)?);
            if b < a {
                return None;
            }
            add.extend(a..=b);
        } else {
            add.push(num(part)?);
        }
    }
    add.retain(|c| !remove.contains(c));
    add.sort_unstable();
    add.dedup();
    Some(add)
}

/// CPUs as libvirt writes a cpuset: ascending, runs as ranges (`0-1,3`).
pub fn format_cpuset(cpus: &[u32]) -> String {
    let mut v = cpus.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        while i + 1 < v.len() && v[i + 1] == v[i] + 1 {
            i += 1;
        }
        parts.push(if v[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", v[i])
        });
        i += 1;
    }
    parts.join(",")
}

/// A `cpuset` attribute in libvirt's canonical form; an unparsable or empty one
/// is refused as libvirt refuses it.
fn read_cpuset(el: &El<'_, '_>) -> Result<String, ParseError> {
    let text = el.req_attr("cpuset")?;
    let cpus = parse_cpuset(text)
        .ok_or_else(|| el.attr_err("cpuset", format!("Failed to parse bitmap '{text}'")))?;
    if cpus.is_empty() {
        return Err(el.attr_err("cpuset", format!("Invalid value of 'cpuset': {text}")));
    }
    Ok(format_cpuset(&cpus))
}

/// A whole number in a simple element like `<shares>1024</shares>`.
fn number<T: std::str::FromStr>(el: &El<'_, '_>, name: &str) -> Result<Option<T>, ParseError> {
    let Some(c) = el.child(name) else {
        return Ok(None);
    };
    let t = c.text();
    let v = t.trim().parse().map_err(|_| {
        c.err(format!(
            "invalid value '{}' in <{name}>: expected a whole number",
            t.trim()
        ))
    })?;
    c.done()?;
    Ok(Some(v))
}

/// A size child (`<hard_limit unit='..'>`) in KiB.
fn size(el: &El<'_, '_>, name: &str) -> Result<Option<u64>, ParseError> {
    let Some(c) = el.child(name) else {
        return Ok(None);
    };
    let v = read_size_kib(&c)?;
    c.done()?;
    Ok(Some(v))
}

impl CpuTune {
    pub fn read(el: El<'_, '_>) -> Result<CpuTune, ParseError> {
        let shares = number(&el, "shares")?;
        let global_period = number(&el, "global_period")?;
        let global_quota = number(&el, "global_quota")?;
        let mut vcpupins: Vec<VcpuPin> = Vec::new();
        for p in el.children("vcpupin") {
            let vcpu = p
                .attr_parse::<u32>("vcpu", "a vCPU number")?
                .ok_or_else(|| p.err("<vcpupin> needs the attribute 'vcpu'"))?;
            let cpuset = read_cpuset(&p)?;
            if vcpupins.iter().any(|v| v.vcpu == vcpu) {
                return Err(p.err(format!("duplicate vcpupin for vcpu '{vcpu}'")));
            }
            p.done()?;
            vcpupins.push(VcpuPin { vcpu, cpuset });
        }
        // libvirt writes them in vCPU order.
        vcpupins.sort_by_key(|p| p.vcpu);
        let emulatorpin = match el.child("emulatorpin") {
            Some(p) => {
                let c = read_cpuset(&p)?;
                p.done()?;
                Some(c)
            }
            None => None,
        };
        Ok(CpuTune {
            shares,
            global_period,
            global_quota,
            vcpupins,
            emulatorpin,
            extras: el.finish(),
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == CpuTune::default()
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("cputune").extras(&self.extras);
        if let Some(v) = self.shares {
            w.text_elem("shares", &v.to_string());
        }
        if let Some(v) = self.global_period {
            w.text_elem("global_period", &v.to_string());
        }
        if let Some(v) = self.global_quota {
            w.text_elem("global_quota", &v.to_string());
        }
        for p in &self.vcpupins {
            w.start("vcpupin")
                .attr("vcpu", p.vcpu)
                .attr("cpuset", &p.cpuset);
            w.end();
        }
        if let Some(c) = &self.emulatorpin {
            w.start("emulatorpin").attr("cpuset", c);
            w.end();
        }
        w.end();
    }
}

impl MemTune {
    pub fn read(el: El<'_, '_>) -> Result<MemTune, ParseError> {
        Ok(MemTune {
            hard_limit: size(&el, "hard_limit")?,
            soft_limit: size(&el, "soft_limit")?,
            swap_hard_limit: size(&el, "swap_hard_limit")?,
            extras: el.finish(),
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == MemTune::default()
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("memtune").extras(&self.extras);
        for (name, v) in [
            ("hard_limit", self.hard_limit),
            ("soft_limit", self.soft_limit),
            ("swap_hard_limit", self.swap_hard_limit),
        ] {
            if let Some(v) = v {
                w.start(name).attr("unit", "KiB").text(&v.to_string());
                w.end();
            }
        }
        w.end();
    }
}

impl BlkioDevice {
    fn read(el: El<'_, '_>) -> Result<BlkioDevice, ParseError> {
        let path = el
            .child_text("path")?
            .ok_or_else(|| el.err("<device> in <blkiotune> needs a <path>"))?;
        Ok(BlkioDevice {
            path,
            weight: number(&el, "weight")?,
            read_iops_sec: number(&el, "read_iops_sec")?,
            write_iops_sec: number(&el, "write_iops_sec")?,
            read_bytes_sec: number(&el, "read_bytes_sec")?,
            write_bytes_sec: number(&el, "write_bytes_sec")?,
            extras: el.finish(),
        })
    }

    fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("device").extras(&self.extras);
        w.text_elem("path", &self.path);
        if let Some(v) = self.weight {
            w.text_elem("weight", &v.to_string());
        }
        for (name, v) in [
            ("read_iops_sec", self.read_iops_sec),
            ("write_iops_sec", self.write_iops_sec),
            ("read_bytes_sec", self.read_bytes_sec),
            ("write_bytes_sec", self.write_bytes_sec),
        ] {
            if let Some(v) = v {
                w.text_elem(name, &v.to_string());
            }
        }
        w.end();
    }
}

impl BlkioTune {
    pub fn read(el: El<'_, '_>) -> Result<BlkioTune, ParseError> {
        let weight = number(&el, "weight")?;
        let mut devices = Vec::new();
        for d in el.children("device") {
            devices.push(BlkioDevice::read(d)?);
        }
        Ok(BlkioTune {
            weight,
            devices,
            extras: el.finish(),
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == BlkioTune::default()
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("blkiotune").extras(&self.extras);
        if let Some(v) = self.weight {
            w.text_elem("weight", &v.to_string());
        }
        for d in &self.devices {
            d.write(w);
        }
        w.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpusets_parse_and_format_as_libvirt() {
        assert_eq!(parse_cpuset("0-3,^2").unwrap(), [0, 1, 3]);
        assert_eq!(parse_cpuset(" 3 , 1 ").unwrap(), [1, 3]);
        assert_eq!(parse_cpuset("0,^0").unwrap(), Vec::<u32>::new());
        for bad in ["", "0,,1", "^x", "3-1", "a", "16384"] {
            assert!(parse_cpuset(bad).is_none(), "{bad}");
        }
        assert_eq!(format_cpuset(&[3, 0, 1, 8, 9, 10]), "0-1,3,8-10");
        assert_eq!(format_cpuset(&[]), "");
    }
}
