//! Host resource tuning of the whole domain: `<cputune>`, `<memtune>`,
//! `<blkiotune>`, `<iothreadids>`, and the container `<idmap>`.

use super::common::AttrSet;
use crate::units::to_kib;
use crate::xml::{El, Extras, ParseError, XmlWriter};

/// `<cputune>`: pinning (`vcpupin`, `emulatorpin`, `iothreadpin`), CFS values
/// (`shares`, `period`, `quota`, ...), and schedulers (`vcpusched`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cputune {
    /// Numeric children by name, in libvirt's order (quotas may be -1).
    pub values: Vec<(String, i64)>,
    /// `vcpupin`/`emulatorpin`/`iothreadpin` and `vcpusched`/`iothreadsched`/
    /// `emulatorsched`, by name.
    pub items: Vec<(String, AttrSet)>,
    pub extras: Extras,
}

const CPUTUNE_VALUES: &[&str] = &[
    "shares",
    "period",
    "quota",
    "global_period",
    "global_quota",
    "emulator_period",
    "emulator_quota",
    "iothread_period",
    "iothread_quota",
];

const CPUTUNE_ITEMS: &[(&str, &[&str])] = &[
    ("vcpupin", &["vcpu", "cpuset"]),
    ("emulatorpin", &["cpuset"]),
    ("iothreadpin", &["iothread", "cpuset"]),
    ("vcpusched", &["vcpus", "scheduler", "priority"]),
    ("iothreadsched", &["iothreads", "scheduler", "priority"]),
    ("emulatorsched", &["scheduler", "priority"]),
];

fn num_child<T: std::str::FromStr>(el: &El<'_, '_>, name: &str) -> Result<Option<T>, ParseError> {
    match el.child_text(name)? {
        Some(t) => t
            .parse::<T>()
            .map(Some)
            .map_err(|_| el.err(format!("<{name}> must be a number, not '{t}'"))),
        None => Ok(None),
    }
}

impl Cputune {
    pub fn read(el: El<'_, '_>) -> Result<Cputune, ParseError> {
        let mut t = Cputune::default();
        for (name, known) in CPUTUNE_ITEMS {
            for c in el.children(name) {
                t.items.push(((*name).to_owned(), AttrSet::read(c, known)));
            }
        }
        for name in CPUTUNE_VALUES {
            if let Some(v) = num_child(&el, name)? {
                t.values.push(((*name).to_owned(), v));
            }
        }
        t.extras = el.finish();
        Ok(t)
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("cputune").extras(&self.extras);
        for (k, v) in &self.values {
            w.text_elem(k, &v.to_string());
        }
        for (k, a) in &self.items {
            a.write(w, k);
        }
        w.end();
    }
}

/// `<memtune>`: `hard_limit`, `soft_limit`, `swap_hard_limit`, `min_guarantee`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Memtune {
    /// Limits in KiB by name, in libvirt's order.
    pub limits: Vec<(String, u64)>,
    pub extras: Extras,
}

impl Memtune {
    pub fn read(el: El<'_, '_>) -> Result<Memtune, ParseError> {
        let mut limits = Vec::new();
        for name in [
            "hard_limit",
            "soft_limit",
            "min_guarantee",
            "swap_hard_limit",
        ] {
            if let Some(c) = el.child(name) {
                let unit = c.attr_string("unit");
                let text = c.text().trim().to_owned();
                let err = c.err(format!("invalid <{name}> '{text}'"));
                c.done()?;
                let n: u64 = text.parse().map_err(|_| err.clone())?;
                limits.push((name.to_owned(), to_kib(n, unit.as_deref()).ok_or(err)?));
            }
        }
        Ok(Memtune {
            limits,
            extras: el.finish(),
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("memtune").extras(&self.extras);
        for (k, v) in &self.limits {
            w.start(k).attr("unit", "KiB").text(&v.to_string());
            w.end();
        }
        w.end();
    }
}

/// `<blkiotune>`: a `<weight>` and per-device limits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Blkiotune {
    pub weight: Option<u64>,
    /// `<device>`s: `path` and `weight`/`read_bytes_sec`/... by name.
    pub devices: Vec<Vec<(String, String)>>,
    pub extras: Extras,
}

const BLKIO_DEVICE_KEYS: &[&str] = &[
    "path",
    "weight",
    "read_iops_sec",
    "write_iops_sec",
    "read_bytes_sec",
    "write_bytes_sec",
];

impl Blkiotune {
    pub fn read(el: El<'_, '_>) -> Result<Blkiotune, ParseError> {
        let weight = num_child(&el, "weight")?;
        let mut devices = Vec::new();
        for d in el.children("device") {
            let mut v = Vec::new();
            for k in BLKIO_DEVICE_KEYS {
                if let Some(t) = d.child_text(k)? {
                    v.push(((*k).to_owned(), t));
                }
            }
            d.done()?;
            devices.push(v);
        }
        Ok(Blkiotune {
            weight,
            devices,
            extras: el.finish(),
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("blkiotune").extras(&self.extras);
        if let Some(v) = self.weight {
            w.text_elem("weight", &v.to_string());
        }
        for d in &self.devices {
            w.start("device");
            for (k, v) in d {
                w.text_elem(k, v);
            }
            w.end();
        }
        w.end();
    }
}

/// `<iothreadids>`: the IOThreads by id (`<iothread id= thread_pool_min= thread_pool_max=>`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Iothreadids {
    pub threads: Vec<AttrSet>,
    pub extras: Extras,
}

impl Iothreadids {
    pub fn read(el: El<'_, '_>) -> Result<Iothreadids, ParseError> {
        let mut threads: Vec<AttrSet> = Vec::new();
        for t in el.children("iothread") {
            let a = AttrSet::read(t, &["id", "thread_pool_min", "thread_pool_max"]);
            match a.get("id").and_then(|i| i.parse::<u32>().ok()) {
                Some(id) if id > 0 => {
                    if threads.iter().any(|o| o.get("id") == a.get("id")) {
                        return Err(el.err(format!("two <iothread>s have id {id}")));
                    }
                }
                _ => return Err(el.err("<iothread> needs an 'id' ≥ 1")),
            }
            threads.push(a);
        }
        Ok(Iothreadids {
            threads,
            extras: el.finish(),
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("iothreadids").extras(&self.extras);
        for t in &self.threads {
            t.write(w, "iothread");
        }
        w.end();
    }
}

/// `<idmap>`: user and group id maps (`<uid>`/`<gid start= target= count=>`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Idmap {
    pub maps: Vec<(String, AttrSet)>,
    pub extras: Extras,
}

impl Idmap {
    pub fn read(el: El<'_, '_>) -> Result<Idmap, ParseError> {
        let mut maps = Vec::new();
        for kind in ["uid", "gid"] {
            for m in el.children(kind) {
                maps.push((
                    kind.to_owned(),
                    AttrSet::read(m, &["start", "target", "count"]),
                ));
            }
        }
        Ok(Idmap {
            maps,
            extras: el.finish(),
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("idmap").extras(&self.extras);
        for (k, a) in &self.maps {
            a.write(w, k);
        }
        w.end();
    }
}
