//! `<filesystem>`: a host directory shared with the guest (9p or virtiofs).

use crate::model::common::{AttrSet, DeviceInfo, read_flag, write_flag};
use crate::xml::{El, Extras, ParseError, XmlWriter};

const FS_ATTRS: &[&str] = &["type", "accessmode", "model", "multidevs", "fmode", "dmode"];
const DRIVER_ATTRS: &[&str] = &[
    "type",
    "format",
    "wrpolicy",
    "queue",
    "iommu",
    "ats",
    "packed",
    "page_per_vq",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filesystem {
    /// `type`, `accessmode`, `model`, `multidevs`, `fmode`, `dmode`.
    pub attrs: AttrSet,
    pub driver: Option<AttrSet>,
    pub binary: Option<FsBinary>,
    /// `<source dir= | file= | socket= | name= ...>`.
    pub source: Option<AttrSet>,
    /// `<target dir=>`: the mount tag.
    pub target: Option<AttrSet>,
    pub readonly: bool,
    /// `<idmap>`'s `<uid>`/`<gid>` maps (`start`, `target`, `count`).
    pub idmap: Option<Vec<(String, AttrSet)>>,
    pub info: DeviceInfo,
    pub extras: Extras,
}

/// `<binary path= xattr=>` of virtiofs with its tuning children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsBinary {
    pub attrs: AttrSet,
    pub cache: Option<AttrSet>,
    pub sandbox: Option<AttrSet>,
    pub lock: Option<AttrSet>,
    pub thread_pool: Option<AttrSet>,
    pub openfiles: Option<AttrSet>,
}

impl Filesystem {
    pub fn read(el: El<'_, '_>) -> Result<Filesystem, ParseError> {
        let driver = el.child("driver").map(|d| AttrSet::read(d, DRIVER_ATTRS));
        let binary = el.child("binary").map(|b| {
            let cache = b.child("cache").map(|c| AttrSet::read(c, &["mode"]));
            let sandbox = b.child("sandbox").map(|c| AttrSet::read(c, &["mode"]));
            let lock = b
                .child("lock")
                .map(|c| AttrSet::read(c, &["posix", "flock"]));
            let thread_pool = b.child("thread_pool").map(|c| AttrSet::read(c, &["size"]));
            let openfiles = b.child("openfiles").map(|c| AttrSet::read(c, &["max"]));
            FsBinary {
                cache,
                sandbox,
                lock,
                thread_pool,
                openfiles,
                attrs: AttrSet::read(b, &["path", "xattr"]),
            }
        });
        let source = el.child("source").map(|s| {
            AttrSet::read(
                s,
                &["type", "dir", "file", "socket", "name", "usage", "units"],
            )
        });
        let target = el.child("target").map(|t| AttrSet::read(t, &["dir"]));
        if target.as_ref().and_then(|t| t.get("dir")).is_none() {
            return Err(el.err("<filesystem> needs <target dir=...>"));
        }
        let readonly = read_flag(&el, "readonly")?;
        let idmap = match el.child("idmap") {
            Some(i) => {
                let mut maps = Vec::new();
                for kind in ["uid", "gid"] {
                    for m in i.children(kind) {
                        maps.push((
                            kind.to_owned(),
                            AttrSet::read(m, &["start", "target", "count"]),
                        ));
                    }
                }
                i.done()?;
                Some(maps)
            }
            None => None,
        };
        let info = DeviceInfo::read(&el)?;
        let attrs = AttrSet {
            attrs: FS_ATTRS
                .iter()
                .filter_map(|k| el.attr(k).map(|v| ((*k).to_owned(), v.to_owned())))
                .collect(),
            extras: Extras::default(),
        };
        Ok(Filesystem {
            attrs,
            driver,
            binary,
            source,
            target,
            readonly,
            idmap,
            info,
            extras: el.finish(),
        })
    }

    /// `type`, default `mount`.
    pub fn fs_type(&self) -> &str {
        self.attrs.get("type").unwrap_or("mount")
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("filesystem");
        for (k, v) in &self.attrs.attrs {
            w.attr(k, v);
        }
        w.extras(&self.extras);
        if let Some(d) = &self.driver {
            d.write(w, "driver");
        }
        if let Some(b) = &self.binary {
            w.start("binary");
            b.attrs.write_attrs(w);
            for (name, c) in [
                ("cache", &b.cache),
                ("sandbox", &b.sandbox),
                ("lock", &b.lock),
                ("thread_pool", &b.thread_pool),
                ("openfiles", &b.openfiles),
            ] {
                if let Some(c) = c {
                    c.write(w, name);
                }
            }
            w.end();
        }
        if let Some(m) = &self.idmap {
            w.start("idmap");
            for (kind, a) in m {
                a.write(w, kind);
            }
            w.end();
        }
        if let Some(s) = &self.source {
            s.write(w, "source");
        }
        if let Some(t) = &self.target {
            t.write(w, "target");
        }
        write_flag(w, "readonly", self.readonly);
        self.info.write(w);
        w.end();
    }
}
