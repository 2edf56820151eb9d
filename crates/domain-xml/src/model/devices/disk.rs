//! `<disk>`: images, block devices and CD-ROMs.

use super::hostdev::{Auth, read_initiator, write_initiator};
use crate::model::common::{AttrSet, DeviceInfo, read_flag, write_flag};
use crate::model::seclabel::SecLabel;
use crate::xml::{El, Extras, ParseError, XmlWriter};
use crate::xml_enum;

xml_enum! {
    pub enum DiskType { File = "file", Block = "block", Dir = "dir", Network = "network", Volume = "volume", Nvme = "nvme", VhostUser = "vhostuser", VhostVdpa = "vhostvdpa" }
}
xml_enum! {
    pub enum DiskDevice { Disk = "disk", Cdrom = "cdrom", Floppy = "floppy", Lun = "lun" }
}
xml_enum! {
    pub enum DiskBus { Ide = "ide", Scsi = "scsi", Virtio = "virtio", Xen = "xen", Usb = "usb", Uml = "uml", Sata = "sata", Sd = "sd", Fdc = "fdc" }
}

/// `<source>` of a disk. `path` is `file=`, `dev=` or `dir=` depending on the disk
/// type; network sources keep protocol and name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskSource {
    pub path: Option<String>,
    pub protocol: Option<String>,
    pub name: Option<String>,
    pub startup_policy: Option<String>,
    /// Other attributes: `query`, `tls`, `tlsHostname`, `pool`, `volume`, `mode`,
    /// `index`, `type`, `managed`, `namespace`, `fdgroup`, `path` (vhost-user).
    pub attrs: AttrSet,
    /// `<host name= port= transport= socket=>` of a network source.
    pub hosts: Vec<AttrSet>,
    pub auth: Option<Auth>,
    pub encryption: Option<Encryption>,
    /// `<initiator><iqn name=>` of an iSCSI source.
    pub initiator_iqn: Option<String>,
    /// `<cookies><cookie name=>value</cookie>` of an HTTP source.
    pub cookies: Vec<(String, String)>,
    /// `<reconnect delay=>`, `<readahead size=>`, `<timeout seconds=>`,
    /// `<ssl verify=>`, `<config file=>`, `<snapshot name=>`, `<knownHosts path=>`,
    /// `<identity ...>`, `<address ...>` (NVMe): leaf children by name.
    pub leaves: Vec<(String, AttrSet)>,
    /// `<slices><slice type= offset= size=>`.
    pub slices: Vec<AttrSet>,
    /// `<reservations managed=>` with its optional `<source type= path= mode=>`.
    pub reservations: Option<(AttrSet, Option<AttrSet>)>,
    pub seclabels: Vec<SecLabel>,
    pub extras: Extras,
}

/// Attributes of `<source>` besides the path, protocol, name and startupPolicy.
const SOURCE_ATTRS: &[&str] = &[
    "query",
    "tls",
    "tlsHostname",
    "pool",
    "volume",
    "mode",
    "index",
    "type",
    "managed",
    "namespace",
    "fdgroup",
    "path",
];

/// Leaf children of `<source>` and their attributes, in libvirt's order.
const SOURCE_LEAVES: &[(&str, &[&str])] = &[
    ("address", &["domain", "bus", "slot", "function"]),
    ("snapshot", &["name"]),
    ("config", &["file"]),
    ("reconnect", &["delay", "enabled", "timeout"]),
    ("readahead", &["size"]),
    ("timeout", &["seconds"]),
    ("ssl", &["verify"]),
    ("knownHosts", &["path"]),
    (
        "identity",
        &["username", "keyfile", "agentsock", "user", "group"],
    ),
];

/// `<metadata_cache><max_size unit=>N</max_size></metadata_cache>` of a
/// `<driver>` or `<format>`: (unit, value).
pub type MetadataCache = (Option<String>, String);

fn read_metadata_cache(el: &El<'_, '_>) -> Result<Option<MetadataCache>, ParseError> {
    let Some(m) = el.child("metadata_cache") else {
        return Ok(None);
    };
    let Some(x) = m.child("max_size") else {
        m.done()?;
        return Err(el.err("<metadata_cache> needs a <max_size>"));
    };
    let unit = x.attr_string("unit");
    let value = x.text().trim().to_owned();
    x.done()?;
    m.done()?;
    Ok(Some((unit, value)))
}

fn write_metadata_cache(w: &mut XmlWriter<'_>, mc: &MetadataCache) {
    w.start("metadata_cache");
    w.start("max_size")
        .attr_opt("unit", mc.0.as_deref())
        .text(&mc.1);
    w.end();
    w.end();
}

/// Reads `<format type=>` with its optional `<metadata_cache>`.
fn read_format(el: &El<'_, '_>) -> Result<Option<(String, Option<MetadataCache>)>, ParseError> {
    match el.child("format") {
        Some(f) => {
            let t = f.req_attr("type")?.to_owned();
            let mc = read_metadata_cache(&f)?;
            f.done()?;
            Ok(Some((t, mc)))
        }
        None => Ok(None),
    }
}

fn write_format(w: &mut XmlWriter<'_>, t: &str, mc: Option<&MetadataCache>) {
    w.start("format").attr("type", t);
    if let Some(m) = mc {
        write_metadata_cache(w, m);
    }
    w.end();
}

/// `<encryption format= engine=>` with its `<secret type= uuid=|usage=>`s.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Encryption {
    pub attrs: AttrSet,
    pub secrets: Vec<AttrSet>,
}

impl Encryption {
    fn read(el: El<'_, '_>) -> Result<Encryption, ParseError> {
        let secrets = el
            .children("secret")
            .into_iter()
            .map(|s| AttrSet::read(s, &["type", "uuid", "usage"]))
            .collect();
        let attrs = AttrSet::read(el, &["format", "engine"]);
        if attrs.get("format").is_none() {
            return Err(ParseError::nowhere("<encryption> needs a 'format'"));
        }
        Ok(Encryption { attrs, secrets })
    }

    fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("encryption");
        self.attrs.write_attrs(w);
        for s in &self.secrets {
            s.write(w, "secret");
        }
        w.end();
    }
}

fn path_attr(t: DiskType) -> Option<&'static str> {
    match t {
        DiskType::File => Some("file"),
        DiskType::Block => Some("dev"),
        DiskType::Dir => Some("dir"),
        DiskType::VhostVdpa => Some("dev"),
        _ => None,
    }
}

impl DiskSource {
    fn read(el: El<'_, '_>, t: DiskType) -> Result<DiskSource, ParseError> {
        let path = match path_attr(t) {
            Some(a) => el.attr_string(a),
            None => None,
        };
        if let Some(p) = &path
            && !p.starts_with('/')
        {
            return Err(el.err(format!("disk source '{p}' must be an absolute path")));
        }
        let (protocol, name) = if t == DiskType::Network {
            (el.attr_string("protocol"), el.attr_string("name"))
        } else {
            (None, None)
        };
        let startup_policy = el.attr_string("startupPolicy");
        let hosts = el
            .children("host")
            .into_iter()
            .map(|h| AttrSet::read(h, &["name", "port", "transport", "socket"]))
            .collect();
        let auth = el.child("auth").map(Auth::read).transpose()?;
        let encryption = el.child("encryption").map(Encryption::read).transpose()?;
        let initiator_iqn = read_initiator(&el)?;
        let mut cookies = Vec::new();
        if let Some(c) = el.child("cookies") {
            for k in c.children("cookie") {
                let name = k.req_attr("name")?.to_owned();
                let value = k.text().trim().to_owned();
                k.done()?;
                cookies.push((name, value));
            }
            c.done()?;
        }
        let mut leaves = Vec::new();
        for (name, known) in SOURCE_LEAVES {
            if let Some(c) = el.child(name) {
                leaves.push(((*name).to_owned(), AttrSet::read(c, known)));
            }
        }
        let mut slices = Vec::new();
        if let Some(sl) = el.child("slices") {
            for x in sl.children("slice") {
                slices.push(AttrSet::read(x, &["type", "offset", "size"]));
            }
            sl.done()?;
        }
        let reservations = el.child("reservations").map(|r| {
            let src = r
                .child("source")
                .map(|x| AttrSet::read(x, &["type", "path", "mode"]));
            (AttrSet::read(r, &["enabled", "managed"]), src)
        });
        let mut seclabels = Vec::new();
        for s in el.children("seclabel") {
            seclabels.push(SecLabel::read(s, false)?);
        }
        let attrs = AttrSet {
            attrs: SOURCE_ATTRS
                .iter()
                .filter(|k| path_attr(t) != Some(**k))
                .filter_map(|k| el.attr(k).map(|v| ((*k).to_owned(), v.to_owned())))
                .collect(),
            extras: Extras::default(),
        };
        let extras = el.finish();
        Ok(DiskSource {
            path,
            protocol,
            name,
            startup_policy,
            attrs,
            hosts,
            auth,
            encryption,
            initiator_iqn,
            cookies,
            leaves,
            slices,
            reservations,
            seclabels,
            extras,
        })
    }

    fn write<'e>(&'e self, w: &mut XmlWriter<'e>, t: DiskType) {
        w.start("source");
        if let Some(a) = path_attr(t) {
            w.attr_opt(a, self.path.as_deref());
        }
        w.attr_opt("protocol", self.protocol.as_deref());
        w.attr_opt("name", self.name.as_deref());
        for (k, v) in &self.attrs.attrs {
            w.attr(k, v);
        }
        w.attr_opt("startupPolicy", self.startup_policy.as_deref());
        w.extras(&self.extras);
        for h in &self.hosts {
            h.write(w, "host");
        }
        if let Some(a) = &self.auth {
            a.write(w);
        }
        if let Some(e) = &self.encryption {
            e.write(w);
        }
        write_initiator(w, self.initiator_iqn.as_deref());
        if !self.cookies.is_empty() {
            w.start("cookies");
            for (n, v) in &self.cookies {
                w.start("cookie").attr("name", n).text(v);
                w.end();
            }
            w.end();
        }
        for (name, a) in &self.leaves {
            a.write(w, name);
        }
        if !self.slices.is_empty() {
            w.start("slices");
            for x in &self.slices {
                x.write(w, "slice");
            }
            w.end();
        }
        if let Some((r, src)) = &self.reservations {
            w.start("reservations");
            r.write_attrs(w);
            if let Some(x) = src {
                x.write(w, "source");
            }
            w.end();
        }
        for s in &self.seclabels {
            s.write(w);
        }
        w.end();
    }
}

/// `<backingStore>`: empty (`<backingStore/>`, "no backing file") or one layer of
/// the chain with its own nested backing store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackingStore {
    pub store_type: Option<DiskType>,
    /// `index=`: the layer's number in libvirt's live XML.
    pub index: Option<String>,
    pub format: Option<String>,
    pub format_metadata_cache: Option<MetadataCache>,
    pub source: Option<DiskSource>,
    pub backing: Option<Box<BackingStore>>,
    pub extras: Extras,
}

impl BackingStore {
    fn read(el: El<'_, '_>) -> Result<BackingStore, ParseError> {
        let store_type = el.attr_enum::<DiskType>("type")?;
        let index = el.attr_string("index");
        let (format, format_metadata_cache) = match read_format(&el)? {
            Some((t, mc)) => (Some(t), mc),
            None => (None, None),
        };
        let source = match el.child("source") {
            Some(s) => Some(DiskSource::read(s, store_type.unwrap_or(DiskType::File))?),
            None => None,
        };
        let backing = el
            .child("backingStore")
            .map(BackingStore::read)
            .transpose()?
            .map(Box::new);
        let extras = el.finish();
        Ok(BackingStore {
            store_type,
            index,
            format,
            format_metadata_cache,
            source,
            backing,
            extras,
        })
    }

    fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("backingStore");
        w.attr_opt("type", self.store_type);
        w.attr_opt("index", self.index.as_deref());
        w.extras(&self.extras);
        if let Some(f) = &self.format {
            write_format(w, f, self.format_metadata_cache.as_ref());
        }
        if let Some(s) = &self.source {
            s.write(w, self.store_type.unwrap_or(DiskType::File));
        }
        if let Some(b) = &self.backing {
            b.write(w);
        }
        w.end();
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskTarget {
    pub dev: String,
    pub bus: Option<DiskBus>,
    pub attrs: AttrSet,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disk {
    pub disk_type: DiskType,
    pub device: DiskDevice,
    pub attrs: AttrSet,
    /// `<driver name= type= cache= io= discard= ...>`; `type` is the image format.
    pub driver: Option<AttrSet>,
    pub source: Option<DiskSource>,
    pub backing_store: Option<BackingStore>,
    pub target: DiskTarget,
    pub readonly: bool,
    pub shareable: bool,
    pub serial: Option<String>,
    pub wwn: Option<String>,
    pub vendor: Option<String>,
    pub product: Option<String>,
    /// `<auth>` given on the disk (libvirt's older place for it).
    pub auth: Option<Auth>,
    /// `<encryption>` given on the disk (libvirt's older place for it).
    pub encryption: Option<Encryption>,
    /// `<iotune>` limits by name (`total_bytes_sec`, ..., `group_name`), in
    /// libvirt's order.
    pub iotune: Option<Vec<(String, String)>>,
    /// `<geometry cyls= heads= secs= trans=>`.
    pub geometry: Option<AttrSet>,
    /// `<blockio logical_block_size= physical_block_size= discard_granularity=>`.
    pub blockio: Option<AttrSet>,
    /// `<transient shareBacking=>`: changes are dropped when the guest stops.
    pub transient: Option<AttrSet>,
    /// `<mirror>` of a running block job (live XML).
    pub mirror: Option<Mirror>,
    /// `<driver><iothreads><iothread id=><queue id=/>...`: queues per IOThread.
    pub driver_iothreads: Option<Vec<(AttrSet, Vec<AttrSet>)>>,
    /// `<driver><metadata_cache>`: the qcow2 metadata cache size.
    pub driver_metadata_cache: Option<MetadataCache>,
    pub info: DeviceInfo,
}

/// `<mirror type= file= format= job= ready=>`: the destination of a block job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    pub attrs: AttrSet,
    pub format: Option<String>,
    pub format_metadata_cache: Option<MetadataCache>,
    pub source: Option<DiskSource>,
    pub backing_store: Option<BackingStore>,
}

impl Mirror {
    fn read(el: El<'_, '_>) -> Result<Mirror, ParseError> {
        let t = el.attr_enum::<DiskType>("type")?.unwrap_or(DiskType::File);
        let (format, format_metadata_cache) = match read_format(&el)? {
            Some((f, mc)) => (Some(f), mc),
            None => (None, None),
        };
        let source = el
            .child("source")
            .map(|s| DiskSource::read(s, t))
            .transpose()?;
        let backing_store = el
            .child("backingStore")
            .map(BackingStore::read)
            .transpose()?;
        let attrs = AttrSet::read(el, &["type", "file", "format", "job", "ready"]);
        Ok(Mirror {
            attrs,
            format,
            format_metadata_cache,
            source,
            backing_store,
        })
    }

    fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("mirror");
        self.attrs.write_attrs(w);
        if let Some(f) = &self.format {
            write_format(w, f, self.format_metadata_cache.as_ref());
        }
        let t = self
            .attrs
            .get("type")
            .and_then(|t| match t {
                "block" => Some(DiskType::Block),
                "file" => Some(DiskType::File),
                _ => None,
            })
            .unwrap_or(DiskType::File);
        if let Some(s) = &self.source {
            s.write(w, t);
        }
        if let Some(b) = &self.backing_store {
            b.write(w);
        }
        w.end();
    }
}

/// `<iotune>` children, in libvirt's order.
pub const IOTUNE_KEYS: &[&str] = &[
    "total_bytes_sec",
    "read_bytes_sec",
    "write_bytes_sec",
    "total_iops_sec",
    "read_iops_sec",
    "write_iops_sec",
    "total_bytes_sec_max",
    "read_bytes_sec_max",
    "write_bytes_sec_max",
    "total_iops_sec_max",
    "read_iops_sec_max",
    "write_iops_sec_max",
    "size_iops_sec",
    "group_name",
    "total_bytes_sec_max_length",
    "read_bytes_sec_max_length",
    "write_bytes_sec_max_length",
    "total_iops_sec_max_length",
    "read_iops_sec_max_length",
    "write_iops_sec_max_length",
];

const DRIVER_ATTRS: &[&str] = &[
    "name",
    "type",
    "cache",
    "error_policy",
    "rerror_policy",
    "io",
    "ioeventfd",
    "event_idx",
    "copy_on_read",
    "discard",
    "iothread",
    "detect_zeroes",
    "queues",
    "queue_size",
    "iommu",
    "ats",
    "packed",
    "page_per_vq",
    "discard_no_unref",
];

/// libvirt's `virDiskNameToIndex`: `vda` → 0, `sdb` → 1, `hdaa` → 26.
fn name_index(dev: &str) -> Option<u64> {
    let rest = ["xvd", "ubd", "hd", "sd", "vd", "fd"]
        .iter()
        .find_map(|p| dev.strip_prefix(p))?;
    let letters = rest.trim_end_matches(|c: char| c.is_ascii_digit());
    if letters.is_empty() || !letters.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let mut idx: u64 = 0;
    for b in letters.bytes() {
        idx = idx.checked_mul(26)?.checked_add(u64::from(b - b'a') + 1)?;
    }
    Some(idx - 1)
}

/// The bus a disk is on: `<target bus>`, or libvirt's default for its name.
fn bus_key(d: &Disk) -> Option<DiskBus> {
    d.target.bus.or_else(|| {
        let dev = d.target.dev.as_str();
        [
            ("hd", DiskBus::Ide),
            ("sd", DiskBus::Scsi),
            ("vd", DiskBus::Virtio),
            ("fd", DiskBus::Fdc),
            ("xvd", DiskBus::Xen),
            ("ubd", DiskBus::Uml),
        ]
        .iter()
        .find(|(p, _)| dev.starts_with(p))
        .map(|(_, b)| *b)
    })
}

/// Adds a disk where libvirt's parser puts it (`virDomainDiskInsert`): after
/// the last disk on the same bus, but before the first same-bus disk whose
/// target sorts after it. The canonical order, the node names and the PCI
/// slots all follow from this order.
pub fn insert_disk(disks: &mut Vec<Disk>, disk: Disk) {
    let bus = bus_key(&disk);
    let me = name_index(&disk.target.dev);
    let mut at: Option<usize> = None;
    for (i, d) in disks.iter().enumerate().rev() {
        if bus_key(d) != bus {
            continue;
        }
        match (name_index(&d.target.dev), me) {
            (Some(theirs), Some(mine)) if theirs > mine => at = Some(i),
            _ if at.is_none() => at = Some(i + 1),
            _ => {}
        }
    }
    disks.insert(at.unwrap_or(disks.len()), disk);
}

impl Disk {
    pub fn read(el: El<'_, '_>) -> Result<Disk, ParseError> {
        let disk_type = el.attr_enum("type")?.unwrap_or(DiskType::File);
        let device = el.attr_enum("device")?.unwrap_or(DiskDevice::Disk);
        let mut driver_iothreads = None;
        let mut driver_metadata_cache = None;
        let driver = match el.child("driver") {
            Some(d) => {
                driver_metadata_cache = read_metadata_cache(&d)?;
                if let Some(io) = d.child("iothreads") {
                    let mut v = Vec::new();
                    for t in io.children("iothread") {
                        let queues = t
                            .children("queue")
                            .into_iter()
                            .map(|q| AttrSet::read(q, &["id"]))
                            .collect();
                        v.push((AttrSet::read(t, &["id"]), queues));
                    }
                    io.done()?;
                    driver_iothreads = Some(v);
                }
                Some(AttrSet::read(d, DRIVER_ATTRS))
            }
            None => None,
        };
        let source = el
            .child("source")
            .map(|s| DiskSource::read(s, disk_type))
            .transpose()?;
        let backing_store = el
            .child("backingStore")
            .map(BackingStore::read)
            .transpose()?;
        let t = el
            .child("target")
            .ok_or_else(|| el.err("<disk> needs a <target dev='...'/>"))?;
        let dev = t.req_attr("dev")?.to_owned();
        let bus = t.attr_enum::<DiskBus>("bus")?;
        let target = DiskTarget {
            dev,
            bus,
            attrs: AttrSet::read(t, &["tray", "removable", "rotation_rate"]),
        };
        let readonly = read_flag(&el, "readonly")?;
        let shareable = read_flag(&el, "shareable")?;
        let serial = el.child_text("serial")?;
        let wwn = el.child_text("wwn")?;
        let vendor = el.child_text("vendor")?;
        let product = el.child_text("product")?;
        let auth = el.child("auth").map(Auth::read).transpose()?;
        let encryption = el.child("encryption").map(Encryption::read).transpose()?;
        let iotune = match el.child("iotune") {
            Some(io) => {
                let mut v = Vec::new();
                for k in IOTUNE_KEYS {
                    if let Some(t) = io.child_text(k)? {
                        if *k != "group_name" && t.parse::<u64>().is_err() {
                            return Err(
                                io.err(format!("<iotune><{k}> must be a number, not '{t}'"))
                            );
                        }
                        v.push(((*k).to_owned(), t));
                    }
                }
                io.done()?;
                Some(v)
            }
            None => None,
        };
        let geometry = el
            .child("geometry")
            .map(|g| AttrSet::read(g, &["cyls", "heads", "secs", "trans"]));
        let blockio = el.child("blockio").map(|b| {
            AttrSet::read(
                b,
                &[
                    "logical_block_size",
                    "physical_block_size",
                    "discard_granularity",
                ],
            )
        });
        let transient = el
            .child("transient")
            .map(|t| AttrSet::read(t, &["shareBacking"]));
        let mirror = el.child("mirror").map(Mirror::read).transpose()?;
        let info = DeviceInfo::read(&el)?;
        let attrs = AttrSet::read(el, &["snapshot", "model", "rawio", "sgio"]);
        Ok(Disk {
            disk_type,
            device,
            attrs,
            driver,
            source,
            backing_store,
            target,
            readonly,
            shareable,
            serial,
            wwn,
            vendor,
            product,
            auth,
            encryption,
            iotune,
            geometry,
            blockio,
            transient,
            mirror,
            driver_iothreads,
            driver_metadata_cache,
            info,
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("disk")
            .attr("type", self.disk_type)
            .attr("device", self.device);
        self.attrs.write_attrs(w);
        if let Some(d) = &self.driver {
            w.start("driver");
            d.write_attrs(w);
            if let Some(io) = &self.driver_iothreads {
                w.start("iothreads");
                for (t, queues) in io {
                    w.start("iothread");
                    t.write_attrs(w);
                    for q in queues {
                        q.write(w, "queue");
                    }
                    w.end();
                }
                w.end();
            }
            if let Some(m) = &self.driver_metadata_cache {
                write_metadata_cache(w, m);
            }
            w.end();
        }
        if let Some(a) = &self.auth {
            a.write(w);
        }
        if let Some(s) = &self.source {
            s.write(w, self.disk_type);
        }
        if let Some(b) = &self.backing_store {
            b.write(w);
        }
        if let Some(m) = &self.mirror {
            m.write(w);
        }
        w.start("target")
            .attr("dev", &self.target.dev)
            .attr_opt("bus", self.target.bus);
        self.target.attrs.write_attrs(w);
        w.end();
        if let Some(io) = &self.iotune {
            w.start("iotune");
            for (k, v) in io {
                w.text_elem(k, v);
            }
            w.end();
        }
        write_flag(w, "readonly", self.readonly);
        write_flag(w, "shareable", self.shareable);
        if let Some(t) = &self.transient {
            t.write(w, "transient");
        }
        w.text_elem_opt("serial", self.serial.as_deref());
        w.text_elem_opt("wwn", self.wwn.as_deref());
        w.text_elem_opt("vendor", self.vendor.as_deref());
        w.text_elem_opt("product", self.product.as_deref());
        if let Some(e) = &self.encryption {
            e.write(w);
        }
        if let Some(g) = &self.geometry {
            g.write(w, "geometry");
        }
        if let Some(b) = &self.blockio {
            b.write(w, "blockio");
        }
        self.info.write(w);
        w.end();
    }

    /// The image format from `<driver type=>`.
    pub fn format(&self) -> Option<&str> {
        self.driver.as_ref().and_then(|d| d.get("type"))
    }

    pub fn source_path(&self) -> Option<&str> {
        self.source.as_ref().and_then(|s| s.path.as_deref())
    }
}
