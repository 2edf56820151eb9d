//! `<disk>`: images, block devices and CD-ROMs.

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
    pub seclabels: Vec<SecLabel>,
    pub extras: Extras,
}

fn path_attr(t: DiskType) -> Option<&'static str> {
    match t {
        DiskType::File => Some("file"),
        DiskType::Block => Some("dev"),
        DiskType::Dir => Some("dir"),
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
        let mut seclabels = Vec::new();
        for s in el.children("seclabel") {
            seclabels.push(SecLabel::read(s, false)?);
        }
        let extras = el.finish();
        Ok(DiskSource {
            path,
            protocol,
            name,
            startup_policy,
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
        w.attr_opt("startupPolicy", self.startup_policy.as_deref());
        w.extras(&self.extras);
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
    pub format: Option<String>,
    pub source: Option<DiskSource>,
    pub backing: Option<Box<BackingStore>>,
    pub extras: Extras,
}

impl BackingStore {
    fn read(el: El<'_, '_>) -> Result<BackingStore, ParseError> {
        let store_type = el.attr_enum::<DiskType>("type")?;
        let format = match el.child("format") {
            Some(f) => {
                let t = f.req_attr("type")?.to_owned();
                f.done()?;
                Some(t)
            }
            None => None,
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
            format,
            source,
            backing,
            extras,
        })
    }

    fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("backingStore");
        w.attr_opt("type", self.store_type);
        w.extras(&self.extras);
        if let Some(f) = &self.format {
            w.start("format").attr("type", f);
            w.end();
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
    pub info: DeviceInfo,
}

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
];

impl Disk {
    pub fn read(el: El<'_, '_>) -> Result<Disk, ParseError> {
        let disk_type = el.attr_enum("type")?.unwrap_or(DiskType::File);
        let device = el.attr_enum("device")?.unwrap_or(DiskDevice::Disk);
        let driver = el.child("driver").map(|d| AttrSet::read(d, DRIVER_ATTRS));
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
            info,
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("disk")
            .attr("type", self.disk_type)
            .attr("device", self.device);
        self.attrs.write_attrs(w);
        if let Some(d) = &self.driver {
            d.write(w, "driver");
        }
        if let Some(s) = &self.source {
            s.write(w, self.disk_type);
        }
        if let Some(b) = &self.backing_store {
            b.write(w);
        }
        w.start("target")
            .attr("dev", &self.target.dev)
            .attr_opt("bus", self.target.bus);
        self.target.attrs.write_attrs(w);
        w.end();
        write_flag(w, "readonly", self.readonly);
        write_flag(w, "shareable", self.shareable);
        w.text_elem_opt("serial", self.serial.as_deref());
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
