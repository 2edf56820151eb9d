//! Disks: `-blockdev` storage and format nodes plus the `-device` frontend,
//! named the way libvirt names them.

use domain_xml::model::SecLabel;
use domain_xml::model::devices::{ControllerType, Disk, DiskBus, DiskDevice, DiskSource, DiskType};

use super::pci::PciDev;
use super::state::{Expect, Family, Planner};
use crate::json::Obj;
use crate::resources::{Access, ResourceClass, SelinuxRole};
use crate::runtime::{HostFacts, PathKind};

/// Image formats rvirt passes to QEMU.
const FORMATS: &[&str] = &["raw", "qcow2"];

/// The bus of a disk: `<target bus>` or libvirt's default by name prefix.
pub(crate) fn bus_of(d: &Disk) -> Option<DiskBus> {
    d.target.bus.or_else(|| {
        let dev = d.target.dev.as_str();
        if dev.starts_with("vd") {
            Some(DiskBus::Virtio)
        } else if dev.starts_with("sd") {
            Some(DiskBus::Scsi)
        } else if dev.starts_with("hd") {
            Some(DiskBus::Ide)
        } else {
            None
        }
    })
}

/// libvirt's `virDiskNameToIndex`: `vda` → 0, `sdb` → 1, `hdaa` → 26.
pub(crate) fn disk_index(dev: &str) -> Option<u32> {
    let rest = ["xvd", "ubd", "hd", "sd", "vd", "fd"]
        .iter()
        .find_map(|p| dev.strip_prefix(p))?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let mut idx: u32 = 0;
    for b in rest.bytes() {
        idx = idx.checked_mul(26)?.checked_add(u32::from(b - b'a') + 1)?;
    }
    Some(idx - 1)
}

/// One layer of an image chain.
struct Layer<'d> {
    disk_type: DiskType,
    path: String,
    format: String,
    labels: &'d [SecLabel],
    /// The chain ends here for sure (`<backingStore/>`, or the image header
    /// says so).
    terminated: bool,
}

/// Longest backing chain followed through image headers.
const MAX_CHAIN: usize = 16;

/// The image chain of a disk: the layers the XML gives, then (for a qcow2
/// layer the XML leaves open) what the image headers say.
fn chain<'d>(d: &'d Disk, host: &dyn HostFacts) -> Result<Vec<Layer<'d>>, String> {
    let mut out = Vec::new();
    let Some(path) = d.source.as_ref().and_then(|s| s.path.as_deref()) else {
        return Ok(out);
    };
    out.push(Layer {
        disk_type: d.disk_type,
        path: path.to_owned(),
        format: d.format().unwrap_or("raw").to_owned(),
        labels: d
            .source
            .as_ref()
            .map(|s| s.seclabels.as_slice())
            .unwrap_or_default(),
        terminated: false,
    });
    let mut next = d.backing_store.as_ref();
    while let Some(b) = next {
        match b
            .source
            .as_ref()
            .and_then(|s: &DiskSource| s.path.as_deref())
        {
            None => {
                if let Some(last) = out.last_mut() {
                    last.terminated = true;
                }
                return Ok(out);
            }
            Some(path) => out.push(Layer {
                disk_type: b.store_type.unwrap_or(DiskType::File),
                path: path.to_owned(),
                format: b.format.clone().unwrap_or_else(|| "raw".to_owned()),
                labels: b
                    .source
                    .as_ref()
                    .map(|s| s.seclabels.as_slice())
                    .unwrap_or_default(),
                terminated: false,
            }),
        }
        next = b.backing.as_deref();
    }
    // The XML left the chain open: follow the qcow2 headers.
    if host.reads_image_headers() {
        follow_image_headers(&mut out, host)?;
    }
    Ok(out)
}

/// Extends a chain the XML left open with what the qcow2 headers say, up
/// to [`MAX_CHAIN`] layers.
fn follow_image_headers(layers: &mut Vec<Layer<'_>>, host: &dyn HostFacts) -> Result<(), String> {
    loop {
        let Some(last) = layers.last_mut() else {
            return Ok(());
        };
        if last.format != "qcow2" {
            last.terminated = true;
            return Ok(());
        }
        let Some(b) = host.backing_file(&last.path) else {
            last.terminated = true;
            return Ok(());
        };
        let Some(format) = b.format else {
            return Err(format!(
                "the format of backing image '{}' of image '{}' is not recorded in the image; \
                 give it in <backingStore>",
                b.path, last.path
            ));
        };
        if layers.iter().any(|l| l.path == b.path) {
            return Err(format!("the backing chain loops at '{}'", b.path));
        }
        if layers.len() >= MAX_CHAIN {
            return Err(format!(
                "the backing chain is longer than {MAX_CHAIN} images"
            ));
        }
        let disk_type = match host.stat(&b.path) {
            Some(PathKind::BlockDev { .. }) => DiskType::Block,
            _ => DiskType::File,
        };
        layers.push(Layer {
            disk_type,
            path: b.path,
            format,
            labels: &[],
            terminated: false,
        });
    }
}

/// `(direct, no-flush, write-cache)` for a cache mode (libvirt's table).
fn cache_flags(mode: &str) -> Option<(bool, bool, bool)> {
    match mode {
        "none" => Some((true, false, true)),
        "writeback" => Some((false, false, true)),
        "writethrough" => Some((false, false, false)),
        "directsync" => Some((true, false, false)),
        "unsafe" => Some((false, true, true)),
        _ => None,
    }
}

impl Planner<'_> {
    pub(super) fn disks(&mut self) {
        let disks = &self.dom.devices.disks;
        let uses_blockdev = disks.iter().any(|d| d.source_path().is_some())
            || self
                .dom
                .os
                .loader
                .as_ref()
                .is_some_and(|l| l.attrs.get("type") == Some("pflash"));
        if uses_blockdev && !self.caps.has_flag(qemu_caps::flags::BLOCKDEV) {
            self.problem(
                "",
                format!(
                    "{} lacks -blockdev (QEMU 4.2 or later is needed for disks)",
                    self.rt.emulator
                ),
            );
            return;
        }
        // libvirt numbers nodes from the last disk backwards, each chain top
        // to bottom, so the first disk gets the highest numbers.
        let mut indexes: Vec<Vec<u32>> = vec![Vec::new(); disks.len()];
        let mut next = 1;
        for i in (0..disks.len()).rev() {
            // An empty drive still takes a number, as in libvirt.
            let layers = chain(&disks[i], self.rt.host).unwrap_or_default().len();
            for _ in 0..layers.max(1) {
                indexes[i].push(next);
                next += 1;
            }
        }
        for (i, d) in disks.iter().enumerate() {
            self.disk(i, d, &indexes[i]);
        }
    }

    fn disk(&mut self, i: usize, d: &Disk, nodes: &[u32]) {
        let subject = format!("disk '{}'", d.target.dev);
        let before = self.problem_count();
        self.check_disk_settings(d, &subject);
        let Some(bus) = bus_of(d) else {
            self.problem(
                &subject,
                "the bus cannot be derived from the target name; give <target bus=...>",
            );
            return;
        };
        let cdrom = d.device == DiskDevice::Cdrom;
        let readonly = d.readonly || cdrom;
        let Some(idx) = disk_index(&d.target.dev) else {
            self.problem(&subject, "the target name is not a valid disk name");
            return;
        };

        // The frontend, before the nodes, so bus problems are found even for
        // disks whose images are missing.
        self.check_disk_address(d, bus, &subject);
        let (mut props, alias) = match bus {
            DiskBus::Virtio => self.virtio_frontend(i, idx, cdrom, &subject),
            DiskBus::Sata => self.sata_frontend(d, idx, cdrom, &subject),
            DiskBus::Ide => self.ide_frontend(d, idx, cdrom, &subject),
            DiskBus::Scsi => self.scsi_frontend(d, idx, cdrom, &subject),
            other => {
                self.problem(&subject, format!("bus '{other}' is not supported"));
                return;
            }
        };
        let alias = d.info.alias.clone().unwrap_or(alias);

        // Nodes and resources, bottom of the chain first.
        let layers = match chain(d, self.rt.host) {
            Ok(l) => l,
            Err(e) => {
                self.problem(&subject, e);
                return;
            }
        };
        let cache = driver_attr(d, "cache").and_then(cache_flags);
        let single = self
            .caps
            .has_flag(qemu_caps::flags::BLOCKJOB_BACKING_MASK_PROTOCOL);
        // The node each layer is reached by: its format node, or its only node.
        let top_name = |n: usize| {
            let node = nodes.get(n).copied().unwrap_or_default();
            match layers.get(n) {
                Some(l) if single && l.format == "raw" => format!("libvirt-{node}-storage"),
                _ => format!("libvirt-{node}-format"),
            }
        };
        let mut blockdevs = Vec::new();
        for (n, layer) in layers.iter().enumerate().rev() {
            let node = nodes.get(n).copied().unwrap_or_default();
            let access = self.disk_layer_resource(d, n, layer, readonly, &subject);
            let backing = (n + 1 < layers.len()).then(|| top_name(n + 1));
            let cdrom_dev = n == 0
                && cdrom
                && layer.disk_type == DiskType::Block
                && self.rt.host.is_cdrom(&layer.path);
            let spec = LayerSpec {
                node,
                access,
                cache,
                backing,
                single: single && layer.format == "raw",
                host_cdrom: cdrom_dev && layer.format == "raw",
            };
            blockdevs.extend(layer_blockdevs(d, layer, &spec));
        }
        if self.problem_count() > before {
            return;
        }
        for b in blockdevs {
            self.arg2("-blockdev", b.to_json());
        }
        if d.shareable {
            props.set("share-rw", true);
        }
        if !layers.is_empty() {
            props.set("drive", top_name(0));
        }
        props.set("id", alias);
        if let Some(b) = self.disk_boot.get(&i) {
            props.set("bootindex", *b);
        }
        if let Some((_, _, wc)) = cache {
            props.set("write-cache", if wc { "on" } else { "off" });
        }
        if bus == DiskBus::Virtio {
            for (k, prop) in [("ioeventfd", "ioeventfd"), ("event_idx", "event_idx")] {
                if let Some(v) = driver_attr(d, k) {
                    props.set(prop, v == "on");
                }
            }
            for (k, prop) in [("queues", "num-queues"), ("queue_size", "queue-size")] {
                if let Some(n) = driver_attr(d, k).and_then(|v| v.parse::<u64>().ok()) {
                    props.set(prop, n);
                }
            }
            if let Some(t) = driver_attr(d, "iothread") {
                props.set("iothread", format!("iothread{t}"));
            }
        }
        // libvirt's error policies: 'enospace' is QEMU's 'enospc' and applies to
        // writes only; otherwise reads follow the write policy unless given.
        let werror = driver_attr(d, "error_policy");
        if let Some(w) = werror {
            props.set("werror", if w == "enospace" { "enospc" } else { w });
        }
        match (driver_attr(d, "rerror_policy"), werror) {
            (Some(r), _) => {
                props.set("rerror", r);
            }
            (None, Some(w)) if w != "enospace" => {
                props.set("rerror", w);
            }
            _ => {}
        }
        // virtio transport options, as libvirt names them for QEMU.
        for (k, prop) in [
            ("iommu", "iommu_platform"),
            ("ats", "ats"),
            ("packed", "packed"),
            ("page_per_vq", "page-per-vq"),
        ] {
            if bus == DiskBus::Virtio
                && let Some(v) = driver_attr(d, k)
            {
                props.set(prop, v == "on");
            }
        }
        if let Some(w) = &d.wwn {
            let hex = w.trim_start_matches("0x").trim_start_matches("0X");
            match u64::from_str_radix(hex, 16) {
                Ok(n) if matches!(bus, DiskBus::Ide | DiskBus::Sata | DiskBus::Scsi) => {
                    props.set("wwn", n);
                }
                Ok(_) => self.problem(&subject, "<wwn> needs an IDE, SATA or SCSI disk"),
                Err(_) => self.problem(&subject, format!("<wwn> '{w}' is not 16 hex digits")),
            }
        }
        if let Some(s) = &d.serial {
            props.set("serial", s.as_str());
        }
        for (k, v) in [("vendor", &d.vendor), ("product", &d.product)] {
            if let Some(v) = v {
                if bus == DiskBus::Scsi {
                    props.set(k, v.as_str());
                } else {
                    self.problem(&subject, format!("<{k}> needs a SCSI disk"));
                }
            }
        }
        self.device(props);
    }

    /// Disk settings refused before anything is planned for the disk.
    fn check_disk_settings(&mut self, d: &Disk, subject: &str) {
        if !matches!(d.disk_type, DiskType::File | DiskType::Block) {
            self.problem(
                subject,
                format!("type '{}' is not supported yet", d.disk_type),
            );
        }
        if !matches!(d.device, DiskDevice::Disk | DiskDevice::Cdrom) {
            self.problem(
                subject,
                format!("device '{}' is not supported yet", d.device),
            );
        }
        for (k, _) in &d.attrs.attrs {
            self.problem(subject, format!("attribute '{k}' is not supported yet"));
        }
        if let Some(a) = &d.driver {
            for (k, v) in &a.attrs {
                match k.as_str() {
                    "name" if v != "qemu" => {
                        self.problem(subject, format!("driver name '{v}' is not supported"));
                    }
                    "type" if !FORMATS.contains(&v.as_str()) => {
                        self.problem(subject, format!("format '{v}' is not supported yet"));
                    }
                    "cache" if cache_flags(v).is_none() => {
                        self.problem(subject, format!("cache mode '{v}' is not supported"));
                    }
                    "io" if v != "native" && v != "threads" => {
                        self.problem(subject, format!("io mode '{v}' is not supported"));
                    }
                    "discard" if v != "unmap" && v != "ignore" => {
                        self.problem(subject, format!("discard mode '{v}' is not supported"));
                    }
                    "iommu" | "ats" | "packed" | "page_per_vq"
                        if bus_of(d) != Some(DiskBus::Virtio) =>
                    {
                        self.problem(
                            subject,
                            format!("driver attribute '{k}' needs a virtio disk"),
                        );
                    }
                    "ioeventfd" | "event_idx" | "queues" | "queue_size" | "iothread"
                        if bus_of(d) != Some(DiskBus::Virtio) =>
                    {
                        self.problem(
                            subject,
                            format!("driver attribute '{k}' needs a virtio disk"),
                        );
                    }
                    "iothread" if !self.iothread_exists(v) => {
                        self.problem(subject, format!("IOThread '{v}' is not defined"));
                    }
                    "error_policy"
                        if !["stop", "report", "ignore", "enospace"].contains(&v.as_str()) =>
                    {
                        self.problem(subject, format!("error policy '{v}' is unknown"));
                    }
                    "rerror_policy" if !["stop", "report", "ignore"].contains(&v.as_str()) => {
                        self.problem(subject, format!("read error policy '{v}' is unknown"));
                    }
                    "detect_zeroes" if !["off", "on", "unmap"].contains(&v.as_str()) => {
                        self.problem(subject, format!("detect_zeroes '{v}' is unknown"));
                    }
                    "name" | "type" | "cache" | "io" | "discard" | "iommu" | "ats" | "packed"
                    | "page_per_vq" | "ioeventfd" | "event_idx" | "queues" | "queue_size"
                    | "iothread" | "error_policy" | "rerror_policy" | "detect_zeroes" => {}
                    other => {
                        self.problem(
                            subject,
                            format!("driver attribute '{other}' is not supported yet"),
                        );
                    }
                }
            }
        }
        for (k, _) in &d.target.attrs.attrs {
            if !(k == "tray" && d.device == DiskDevice::Cdrom) {
                self.problem(
                    subject,
                    format!("target attribute '{k}' is not supported yet"),
                );
            }
        }
        if d.source
            .as_ref()
            .is_some_and(|s| s.startup_policy.is_some())
        {
            self.problem(subject, "startupPolicy is not supported yet");
        }
        if d.device == DiskDevice::Disk && d.source_path().is_none() {
            self.problem(subject, "a disk needs a source");
        }
        if let Some(s) = &d.source {
            self.check_source_extras(s, subject);
        }
        let mut next = d.backing_store.as_ref();
        while let Some(b) = next {
            if let Some(t) = b
                .store_type
                .filter(|t| !matches!(t, DiskType::File | DiskType::Block))
            {
                self.problem(
                    subject,
                    format!("a backing image of type '{t}' is not supported yet"),
                );
            }
            if let Some(s) = &b.source {
                self.check_source_extras(s, subject);
            }
            if b.format_metadata_cache.is_some() {
                self.problem(subject, "<format><metadata_cache> is not supported yet");
            }
            next = b.backing.as_deref();
        }
        let disk_level = [
            ("<auth>", d.auth.is_some()),
            ("<encryption> (encrypted images)", d.encryption.is_some()),
            ("<iotune> (I/O limits)", d.iotune.is_some()),
            ("<geometry>", d.geometry.is_some()),
            ("<blockio>", d.blockio.is_some()),
            ("<transient>", d.transient.is_some()),
            ("<mirror> (a block job's destination)", d.mirror.is_some()),
            ("<driver><iothreads>", d.driver_iothreads.is_some()),
            (
                "<driver><metadata_cache>",
                d.driver_metadata_cache.is_some(),
            ),
        ];
        for (what, present) in disk_level {
            if present {
                self.problem(subject, format!("{what} is not supported yet"));
            }
        }
    }

    /// What a source may carry that the planner does not use yet: network
    /// hosts, credentials, encryption and the other source details.
    fn check_source_extras(&mut self, s: &domain_xml::model::devices::DiskSource, subject: &str) {
        // `index` only numbers the chain in libvirt's live XML.
        for (k, _) in s.attrs.attrs.iter().filter(|(k, _)| k != "index") {
            self.problem(
                subject,
                format!("source attribute '{k}' is not supported yet"),
            );
        }
        let parts = [
            ("network hosts (<host>)", !s.hosts.is_empty()),
            ("<auth>", s.auth.is_some()),
            ("<encryption> (encrypted images)", s.encryption.is_some()),
            ("<initiator>", s.initiator_iqn.is_some()),
            ("<cookies>", !s.cookies.is_empty()),
            ("<slices>", !s.slices.is_empty()),
            (
                "<reservations> (persistent reservations)",
                s.reservations.is_some(),
            ),
        ];
        for (what, present) in parts {
            if present {
                self.problem(subject, format!("{what} in <source> is not supported yet"));
            }
        }
        for (name, _) in &s.leaves {
            self.problem(subject, format!("<source><{name}> is not supported yet"));
        }
    }

    fn check_disk_address(&mut self, d: &Disk, bus: DiskBus, subject: &str) {
        if let Some(a) = &d.info.address {
            let ok = match bus {
                DiskBus::Virtio => a.addr_type == "pci",
                _ => a.addr_type == "drive",
            };
            if !ok {
                self.problem(
                    subject,
                    format!("address type '{}' does not fit bus '{bus}'", a.addr_type),
                );
            }
        }
    }

    /// The virtio-blk frontend, a PCI device of its own: `(props, alias)`.
    fn virtio_frontend(&mut self, i: usize, idx: u32, cdrom: bool, subject: &str) -> (Obj, String) {
        if cdrom {
            self.problem(subject, "a cdrom on bus 'virtio' is not supported");
        }
        let props = self.pci_props(PciDev::Disk(i), Obj::new().with("driver", "virtio-blk-pci"));
        (props, format!("virtio-disk{idx}"))
    }

    /// The SATA frontend on q35's built-in AHCI controller.
    fn sata_frontend(&mut self, d: &Disk, idx: u32, cdrom: bool, subject: &str) -> (Obj, String) {
        if self.family != Family::Q35 {
            self.problem(
                subject,
                "bus 'sata' needs a q35 machine (its built-in AHCI controller)",
            );
        }
        let ctrl = drive_addr(d, "controller").unwrap_or(idx / 6);
        let unit = drive_addr(d, "unit").unwrap_or(idx % 6);
        if ctrl != 0 || unit > 5 {
            self.problem(
                subject,
                format!("SATA controller {ctrl} unit {unit} is not available (only controller 0, units 0-5)"),
            );
        }
        let alias = format!("sata{ctrl}-0-{unit}");
        let props = Obj::new()
            .with("driver", if cdrom { "ide-cd" } else { "ide-hd" })
            .with("bus", format!("ide.{unit}"));
        (props, alias)
    }

    /// The IDE frontend on the pc machine's built-in controller.
    fn ide_frontend(&mut self, d: &Disk, idx: u32, cdrom: bool, subject: &str) -> (Obj, String) {
        if self.family != Family::I440fx {
            self.problem(subject, "bus 'ide' needs a pc (i440fx) machine");
        }
        let ctrl = drive_addr(d, "controller").unwrap_or(idx / 4);
        let ide_bus = drive_addr(d, "bus").unwrap_or(idx / 2 % 2);
        let unit = drive_addr(d, "unit").unwrap_or(idx % 2);
        if ctrl != 0 || ide_bus > 1 || unit > 1 {
            self.problem(
                subject,
                format!("IDE position {ctrl}:{ide_bus}:{unit} is not available"),
            );
        }
        let alias = format!("ide{ctrl}-{ide_bus}-{unit}");
        let props = Obj::new()
            .with("driver", if cdrom { "ide-cd" } else { "ide-hd" })
            .with("bus", format!("ide.{ide_bus}"))
            .with("unit", unit);
        (props, alias)
    }

    /// The SCSI frontend on a virtio-scsi controller from the XML.
    fn scsi_frontend(&mut self, d: &Disk, idx: u32, cdrom: bool, subject: &str) -> (Obj, String) {
        let ctrl = drive_addr(d, "controller").unwrap_or(idx / 7);
        let target = drive_addr(d, "target").unwrap_or(0);
        let unit = drive_addr(d, "unit").unwrap_or(idx % 7);
        let has_ctrl = self.dom.devices.controllers.iter().any(|c| {
            c.ctype == ControllerType::Scsi
                && c.index.unwrap_or(0) == ctrl
                && c.model.as_deref() == Some("virtio-scsi")
        });
        if !has_ctrl {
            self.problem(
                subject,
                format!(
                    "bus 'scsi' needs <controller type='scsi' index='{ctrl}' model='virtio-scsi'/>"
                ),
            );
        }
        let alias = format!("scsi{ctrl}-0-{target}-{unit}");
        let mut props = Obj::new()
            .with("driver", if cdrom { "scsi-cd" } else { "scsi-hd" })
            .with("bus", format!("scsi{ctrl}.0"))
            .with("channel", 0u32)
            .with("scsi-id", target)
            .with("lun", unit);
        if !cdrom {
            let id = d.serial.clone().unwrap_or_else(|| format!("drive-{alias}"));
            props.set("device_id", id);
        }
        (props, alias)
    }

    /// Records layer `n`'s image as a resource; returns how QEMU opens it.
    fn disk_layer_resource(
        &mut self,
        d: &Disk,
        n: usize,
        layer: &Layer<'_>,
        readonly: bool,
        subject: &str,
    ) -> Access {
        let top = n == 0;
        let access = if top && !readonly {
            Access::ReadWrite
        } else {
            Access::ReadOnly
        };
        let role = if !top || readonly {
            SelinuxRole::ReadOnly
        } else if d.shareable {
            SelinuxRole::Shared
        } else {
            SelinuxRole::Exclusive
        };
        let origin = if top {
            format!("disk {}", d.target.dev)
        } else {
            format!("disk {} backing layer {n}", d.target.dev)
        };
        let expect = match layer.disk_type {
            DiskType::Block => Expect::Block,
            _ => Expect::File,
        };
        let dac = self.dac_for(layer.labels);
        let se = self.selinux_for(layer.labels, role);
        self.existing(
            subject,
            &origin,
            &layer.path,
            expect,
            access,
            ResourceClass::Disk,
            dac,
            se,
        );
        let label = layer
            .labels
            .iter()
            .find(|l| l.is_model("dac") && l.relabel != Some(false))
            .and_then(|l| l.label.clone());
        if let Some(r) = self
            .resources
            .last_mut()
            .filter(|r| r.path == layer.path && label.is_some())
        {
            r.dac_label = label;
        }
        if !FORMATS.contains(&layer.format.as_str()) {
            self.problem(
                subject,
                format!("format '{}' is not supported yet", layer.format),
            );
        }
        access
    }
}

/// How one layer of a chain becomes `-blockdev` nodes.
struct LayerSpec {
    node: u32,
    access: Access,
    cache: Option<(bool, bool, bool)>,
    /// The node of the layer below, if the chain goes on.
    backing: Option<String>,
    /// A raw layer QEMU can use without a format node (libvirt does so where
    /// block jobs take `backing-mask-protocol`): the storage node is the
    /// layer's only node and carries what the format node would.
    single: bool,
    /// A host CD-ROM drive (`host_cdrom`, which follows media changes).
    host_cdrom: bool,
}

/// The `-blockdev` nodes of one layer, bottom first: storage, then format
/// (unless the layer has only its storage node).
fn layer_blockdevs(d: &Disk, layer: &Layer<'_>, spec: &LayerSpec) -> Vec<Obj> {
    let node = spec.node;
    let read_only = spec.access == Access::ReadOnly;
    let cache_obj = spec
        .cache
        .map(|(direct, no_flush, _)| Obj::new().with("direct", direct).with("no-flush", no_flush));
    let driver = match layer.disk_type {
        DiskType::Block if spec.host_cdrom => "host_cdrom",
        DiskType::Block => "host_device",
        _ => "file",
    };
    let mut storage = Obj::new()
        .with("driver", driver)
        .with("filename", layer.path.as_str());
    // libvirt carries io, cache and discard to every layer.
    if let Some(io) = driver_attr(d, "io") {
        storage.set("aio", io);
    }
    storage.set("node-name", format!("libvirt-{node}-storage"));
    if spec.single {
        storage.set("read-only", read_only);
        if let Some(discard) = driver_attr(d, "discard") {
            storage.set("discard", discard);
        }
        if let Some(dz) = detect_zeroes(d) {
            storage.set("detect-zeroes", dz);
        }
        if let Some(c) = cache_obj {
            storage.set("cache", c);
        }
        return vec![storage];
    }
    storage.set("auto-read-only", true);
    storage.set("discard", "unmap");
    if let Some(c) = &cache_obj {
        storage.set("cache", c.clone());
    }
    let mut format = Obj::new()
        .with("node-name", format!("libvirt-{node}-format"))
        .with("read-only", read_only);
    if driver_attr(d, "discard") == Some("unmap") {
        format.set("discard", "unmap");
    }
    if let Some(dz) = detect_zeroes(d) {
        format.set("detect-zeroes", dz);
    }
    if let Some(c) = cache_obj {
        format.set("cache", c);
    }
    format.set("driver", layer.format.as_str());
    format.set("file", format!("libvirt-{node}-storage"));
    if let Some(b) = &spec.backing {
        format.set("backing", b.as_str());
    } else if layer.terminated && layer.format == "qcow2" {
        format.set("backing", crate::json::Json::Null);
    }
    vec![storage, format]
}

/// QEMU's `detect-zeroes` for the disk: 'unmap' only works with discard on,
/// so libvirt asks for plain 'on' otherwise.
fn detect_zeroes(d: &Disk) -> Option<&'static str> {
    match driver_attr(d, "detect_zeroes")? {
        "unmap" if driver_attr(d, "discard") == Some("unmap") => Some("unmap"),
        "unmap" | "on" => Some("on"),
        "off" => Some("off"),
        _ => None,
    }
}

/// A `<driver>` attribute of the disk.
fn driver_attr<'d>(d: &'d Disk, k: &str) -> Option<&'d str> {
    d.driver.as_ref().and_then(|a| a.get(k))
}

/// A numeric field of the disk's `drive` address, if it has one.
fn drive_addr(d: &Disk, k: &str) -> Option<u32> {
    d.info
        .address
        .as_ref()
        .filter(|a| a.addr_type == "drive")
        .and_then(|a| a.get(k))
        .and_then(|v| v.parse::<u32>().ok())
}

#[cfg(test)]
mod tests {
    use super::disk_index;

    #[test]
    fn indexes() {
        assert_eq!(disk_index("vda"), Some(0));
        assert_eq!(disk_index("sdb"), Some(1));
        assert_eq!(disk_index("hdc"), Some(2));
        assert_eq!(disk_index("vdz"), Some(25));
        assert_eq!(disk_index("vdaa"), Some(26));
        assert_eq!(disk_index("xvda"), Some(0));
        assert_eq!(disk_index("vd1"), None);
        assert_eq!(disk_index("nvme0"), None);
    }
}
