//! `<iothreadids>` (the IOThreads by id) and the container `<idmap>`.

use super::common::AttrSet;
use crate::xml::{El, Extras, ParseError, XmlWriter};

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
