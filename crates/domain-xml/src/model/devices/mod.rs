//! `<devices>`, written in libvirt's device order whatever the input order.

pub mod audio;
pub mod chardev;
pub mod disk;
pub mod filesystem;
pub mod graphics;
pub mod hostdev;
pub mod iommu;
pub mod memory;
pub mod misc;
pub mod net;
pub mod panic;
pub mod smartcard;
pub mod tpm;
pub mod usb_redir;
pub mod vsock;

pub use chardev::{CharKind, CharType, Chardev};
pub use disk::{BackingStore, Disk, DiskBus, DiskDevice, DiskSource, DiskType};
pub use filesystem::Filesystem;
pub use graphics::{Graphics, GraphicsType};
pub use hostdev::{Hostdev, HostdevMode, HostdevType};
pub use iommu::{Iommu, IommuModel};
pub use memory::{MemoryDevice, MemoryModel};
pub use misc::{
    Audio, Controller, ControllerType, Input, InputBus, InputType, Memballoon, Rng, Sound, Video,
    Watchdog,
};
pub use net::{Interface, InterfaceType};
pub use panic::Panic;
pub use smartcard::{Smartcard, SmartcardMode};
pub use tpm::Tpm;
pub use usb_redir::{Hub, Redirdev, Redirfilter};
pub use vsock::Vsock;

use crate::xml::{El, Extras, ParseError, XmlWriter};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Devices {
    pub emulator: Option<String>,
    pub disks: Vec<Disk>,
    pub controllers: Vec<Controller>,
    pub interfaces: Vec<Interface>,
    pub serials: Vec<Chardev>,
    pub parallels: Vec<Chardev>,
    pub consoles: Vec<Chardev>,
    pub channels: Vec<Chardev>,
    pub inputs: Vec<Input>,
    pub tpms: Vec<Tpm>,
    pub graphics: Vec<Graphics>,
    pub sounds: Vec<Sound>,
    pub audios: Vec<Audio>,
    pub videos: Vec<Video>,
    pub watchdogs: Vec<Watchdog>,
    pub memballoon: Option<Memballoon>,
    pub rngs: Vec<Rng>,
    pub panics: Vec<Panic>,
    pub filesystems: Vec<Filesystem>,
    pub smartcards: Vec<Smartcard>,
    pub hostdevs: Vec<Hostdev>,
    pub redirdevs: Vec<Redirdev>,
    pub redirfilter: Option<Redirfilter>,
    pub hubs: Vec<Hub>,
    pub memories: Vec<MemoryDevice>,
    pub iommu: Option<Iommu>,
    pub vsock: Option<Vsock>,
    pub extras: Extras,
}

impl Devices {
    pub fn read(el: El<'_, '_>) -> Result<Devices, ParseError> {
        let mut d = Devices {
            emulator: el.child_text("emulator")?,
            ..Devices::default()
        };
        for c in el.children("disk") {
            disk::insert_disk(&mut d.disks, Disk::read(c)?);
        }
        for c in el.children("controller") {
            d.controllers.push(Controller::read(c)?);
        }
        for c in el.children("interface") {
            d.interfaces.push(Interface::read(c)?);
        }
        for (name, kind) in [
            ("serial", CharKind::Serial),
            ("parallel", CharKind::Parallel),
            ("console", CharKind::Console),
            ("channel", CharKind::Channel),
        ] {
            for c in el.children(name) {
                let dev = Chardev::read(c, kind)?;
                match kind {
                    CharKind::Serial => d.serials.push(dev),
                    CharKind::Parallel => d.parallels.push(dev),
                    CharKind::Console => d.consoles.push(dev),
                    CharKind::Channel => d.channels.push(dev),
                }
            }
        }
        for c in el.children("input") {
            d.inputs.push(Input::read(c)?);
        }
        for c in el.children("tpm") {
            d.tpms.push(Tpm::read(c)?);
        }
        for c in el.children("graphics") {
            d.graphics.push(Graphics::read(c)?);
        }
        for c in el.children("sound") {
            d.sounds.push(Sound::read(c)?);
        }
        for c in el.children("audio") {
            d.audios.push(Audio::read(c)?);
        }
        for c in el.children("video") {
            d.videos.push(Video::read(c)?);
        }
        for c in el.children("watchdog") {
            d.watchdogs.push(Watchdog::read(c)?);
        }
        if let Some(c) = el.child("memballoon") {
            d.memballoon = Some(Memballoon::read(c)?);
        }
        for c in el.children("rng") {
            d.rngs.push(Rng::read(c)?);
        }
        for c in el.children("panic") {
            d.panics.push(Panic::read(c)?);
        }
        for c in el.children("filesystem") {
            d.filesystems.push(Filesystem::read(c)?);
        }
        for c in el.children("smartcard") {
            d.smartcards.push(Smartcard::read(c)?);
        }
        for c in el.children("hostdev") {
            d.hostdevs.push(Hostdev::read(c)?);
        }
        for c in el.children("redirdev") {
            d.redirdevs.push(Redirdev::read(c)?);
        }
        if let Some(c) = el.child("redirfilter") {
            d.redirfilter = Some(Redirfilter::read(c)?);
        }
        for c in el.children("hub") {
            d.hubs.push(Hub::read(c)?);
        }
        for c in el.children("memory") {
            d.memories.push(MemoryDevice::read(c)?);
        }
        if let Some(c) = el.child("iommu") {
            d.iommu = Some(Iommu::read(c)?);
        }
        if let Some(c) = el.child("vsock") {
            d.vsock = Some(Vsock::read(c)?);
        }
        d.check_unique_targets(&el)?;
        d.extras = el.finish();
        Ok(d)
    }

    fn check_unique_targets(&self, el: &El<'_, '_>) -> Result<(), ParseError> {
        for (i, a) in self.disks.iter().enumerate() {
            if self.disks[..i].iter().any(|b| b.target.dev == a.target.dev) {
                return Err(el.err(format!("two disks use the target '{}'", a.target.dev)));
            }
        }
        for (i, a) in self.audios.iter().enumerate() {
            if self.audios[..i].iter().any(|b| b.id == a.id) {
                return Err(el.err(format!("two <audio> backends use id {}", a.id)));
            }
        }
        Ok(())
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>) {
        w.start("devices").extras(&self.extras);
        w.text_elem_opt("emulator", self.emulator.as_deref());
        self.disks.iter().for_each(|x| x.write(w));
        self.controllers.iter().for_each(|x| x.write(w));
        self.filesystems.iter().for_each(|x| x.write(w));
        self.interfaces.iter().for_each(|x| x.write(w));
        self.smartcards.iter().for_each(|x| x.write(w));
        self.serials.iter().for_each(|x| x.write(w));
        self.parallels.iter().for_each(|x| x.write(w));
        self.consoles.iter().for_each(|x| x.write(w));
        self.channels.iter().for_each(|x| x.write(w));
        self.inputs.iter().for_each(|x| x.write(w));
        self.tpms.iter().for_each(|x| x.write(w));
        self.graphics.iter().for_each(|x| x.write(w));
        self.sounds.iter().for_each(|x| x.write(w));
        self.audios.iter().for_each(|x| x.write(w));
        self.videos.iter().for_each(|x| x.write(w));
        self.hostdevs.iter().for_each(|x| x.write(w));
        self.redirdevs.iter().for_each(|x| x.write(w));
        if let Some(r) = &self.redirfilter {
            r.write(w);
        }
        self.hubs.iter().for_each(|x| x.write(w));
        self.watchdogs.iter().for_each(|x| x.write(w));
        if let Some(m) = &self.memballoon {
            m.write(w);
        }
        self.rngs.iter().for_each(|x| x.write(w));
        self.panics.iter().for_each(|x| x.write(w));
        self.memories.iter().for_each(|x| x.write(w));
        if let Some(i) = &self.iommu {
            i.write(w);
        }
        if let Some(v) = &self.vsock {
            v.write(w);
        }
        w.end();
    }
}
