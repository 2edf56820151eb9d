//! PCI slot assignment on the root bus.
//!
//! Addresses given in the XML are used as given (root bus only). Devices
//! without one get the next free slot, in libvirt's assignment order (primary
//! video, controllers, NICs, virtio disks, balloon, RNG, watchdog). On q35 the devices
//! sit directly on `pcie.0` as integrated endpoints instead of behind the
//! `pcie-root-port`s libvirt would add: the guest sees them fine, but they are
//! not hot-unpluggable. `pcie-root-port` controllers given in the XML are
//! emitted, and devices addressed to their buses are placed there.

use std::collections::BTreeMap;

use domain_xml::model::Address;

/// A device that needs a PCI address, in assignment order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PciDev {
    PrimaryVideo,
    Controller(usize),
    Filesystem(usize),
    Net(usize),
    Sound(usize),
    Disk(usize),
    Balloon,
    Rng(usize),
    Watchdog(usize),
    Video(usize),
    Input(usize),
}

/// A slot and function on the root bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PciAddr {
    /// The controller index of the bus (0 is the root bus).
    pub bus: u32,
    pub slot: u32,
    pub function: u32,
    pub multifunction: bool,
}

impl PciAddr {
    fn root(slot: u32) -> PciAddr {
        PciAddr {
            bus: 0,
            slot,
            function: 0,
            multifunction: false,
        }
    }

    /// libvirt's `addr` property: `0x2`, or `0x1.0x2` with a function.
    pub fn addr_prop(self) -> String {
        if self.function == 0 {
            format!("{:#x}", self.slot)
        } else {
            format!("{:#x}.{:#x}", self.slot, self.function)
        }
    }
}

fn parse_num(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Reads an explicit `<address type='pci'>`; `buses` are the controller
/// indexes that provide a bus besides the root. `Err` explains what is wrong.
pub(crate) fn explicit(addr: &Address, buses: &[u32]) -> Result<PciAddr, String> {
    if addr.addr_type != "pci" {
        return Err(format!(
            "address type '{}' is not usable for a PCI device",
            addr.addr_type
        ));
    }
    let field = |k: &str| match addr.get(k) {
        None => Ok(0),
        Some(v) => parse_num(v).ok_or_else(|| format!("invalid PCI {k} '{v}'")),
    };
    let (domain, bus, slot, function) = (
        field("domain")?,
        field("bus")?,
        field("slot")?,
        field("function")?,
    );
    if domain != 0 || (bus != 0 && !buses.contains(&bus)) {
        return Err(format!(
            "PCI address {domain:04x}:{bus:02x}:{slot:02x}.{function} is on a bus that no \
             supported controller provides"
        ));
    }
    if slot > 31 || function > 7 {
        return Err(format!(
            "PCI slot {slot:#x} function {function} is out of range"
        ));
    }
    Ok(PciAddr {
        bus,
        slot,
        function,
        multifunction: addr.get("multifunction") == Some("on"),
    })
}

/// Assigns slots.
#[derive(Debug)]
pub(crate) struct PciAlloc {
    used: Vec<u32>,
    pub assigned: BTreeMap<PciDev, PciAddr>,
    first_free: u32,
}

impl PciAlloc {
    /// `q35` selects the q35 layout (slot 0x1f is the ICH9 and slot 1 the
    /// primary video); otherwise i440fx (slot 1 is the PIIX3, video at 2).
    pub fn new(q35: bool) -> PciAlloc {
        let used = if q35 { vec![0, 0x1f] } else { vec![0, 1] };
        PciAlloc {
            used,
            assigned: BTreeMap::new(),
            first_free: 1,
        }
    }

    pub fn reserve(&mut self, dev: PciDev, addr: PciAddr) {
        if addr.bus == 0 && !self.used.contains(&addr.slot) {
            self.used.push(addr.slot);
        }
        self.assigned.insert(dev, addr);
    }

    /// Wants a specific slot for `dev` if free (the primary video's).
    pub fn prefer(&mut self, dev: PciDev, slot: u32) -> Result<PciAddr, String> {
        if self.used.contains(&slot) {
            self.next(dev)
        } else {
            let addr = PciAddr::root(slot);
            self.reserve(dev, addr);
            Ok(addr)
        }
    }

    pub fn next(&mut self, dev: PciDev) -> Result<PciAddr, String> {
        let mut slot = self.first_free;
        while self.used.contains(&slot) {
            slot += 1;
        }
        if slot > 31 {
            return Err("no free PCI slot left on the root bus".to_owned());
        }
        self.first_free = slot;
        let addr = PciAddr::root(slot);
        self.reserve(dev, addr);
        Ok(addr)
    }
}
