//! PCI slot assignment.
//!
//! Addresses given in the XML are used as given (on the root bus or on a bus a
//! controller of the XML provides). Devices without one get an address in
//! libvirt's assignment order (primary video, PCI controllers, NICs, sound,
//! other controllers, virtio disks, balloon, RNG, watchdog, videos, inputs).
//! On q35, `pcie-root-port`s without an address are packed eight to a
//! multifunction slot, and each PCIe endpoint (virtio devices, XHCI, the
//! pcie-to-pci bridge) takes slot 0 of the next free root port, as libvirt does
//! with virt-install's and virt-manager's fourteen ports; conventional PCI
//! devices go to a pcie-to-pci bridge when the domain has one. When no port is
//! left, the device sits directly on `pcie.0` as an integrated endpoint instead
//! of behind a root port libvirt would add: the guest sees it fine, but it is not
//! hot-unpluggable.

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
    Panic(usize),
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
    /// (bus, slot, function) taken on buses other than the root.
    used_other: Vec<(u32, u32, u32)>,
    pub assigned: BTreeMap<PciDev, PciAddr>,
    first_free: u32,
    /// Root-bus slots whose functions several devices share (ICH9 USB).
    shared_slots: Vec<u32>,
    /// The root-bus slot being filled with functions (root ports), and its
    /// next free function.
    multi: Option<(u32, u32)>,
}

impl PciAlloc {
    /// `q35` selects the q35 layout (slot 0x1f is the ICH9 and slot 1 the
    /// primary video); otherwise i440fx (slot 1 is the PIIX3, video at 2).
    pub fn new(q35: bool) -> PciAlloc {
        let used = if q35 { vec![0, 0x1f] } else { vec![0, 1] };
        PciAlloc {
            used,
            used_other: Vec::new(),
            assigned: BTreeMap::new(),
            first_free: 1,
            shared_slots: Vec::new(),
            multi: None,
        }
    }

    pub fn reserve(&mut self, dev: PciDev, addr: PciAddr) {
        if addr.bus == 0 {
            if !self.used.contains(&addr.slot) {
                self.used.push(addr.slot);
            }
        } else {
            self.used_other.push((addr.bus, addr.slot, addr.function));
        }
        self.assigned.insert(dev, addr);
    }

    /// Whether anything sits on `bus` (other than the root).
    pub fn bus_in_use(&self, bus: u32) -> bool {
        self.used_other.iter().any(|(b, _, _)| *b == bus)
    }

    /// Slot 0 of a root port's bus (a root port has one slot).
    pub fn on_port(&mut self, dev: PciDev, bus: u32) -> PciAddr {
        let addr = PciAddr {
            bus,
            slot: 0,
            function: 0,
            multifunction: false,
        };
        self.reserve(dev, addr);
        addr
    }

    /// The next free slot (1..=31) of a bridge's bus.
    pub fn on_bridge(&mut self, dev: PciDev, bus: u32) -> Option<PciAddr> {
        let slot = (1..=31).find(|s| {
            !self
                .used_other
                .iter()
                .any(|(b, sl, _)| *b == bus && sl == s)
        })?;
        let addr = PciAddr {
            bus,
            slot,
            function: 0,
            multifunction: false,
        };
        self.reserve(dev, addr);
        Some(addr)
    }

    /// The next function of the root-bus slot being packed; function 0 of a
    /// new slot says `multifunction`.
    pub fn next_function(&mut self, dev: PciDev) -> Result<PciAddr, String> {
        let addr = match self.multi {
            Some((slot, f)) if f < 8 => PciAddr {
                bus: 0,
                slot,
                function: f,
                multifunction: false,
            },
            _ => {
                let mut slot = self.first_free;
                while self.used.contains(&slot) {
                    slot += 1;
                }
                if slot > 31 {
                    return Err("no free PCI slot left on the root bus".to_owned());
                }
                PciAddr {
                    bus: 0,
                    slot,
                    function: 0,
                    multifunction: true,
                }
            }
        };
        self.multi = Some((addr.slot, addr.function + 1));
        self.reserve(dev, addr);
        Ok(addr)
    }

    /// The next free root-bus slot, not yet taken.
    pub fn free_slot(&self) -> u32 {
        let mut slot = self.first_free;
        while self.used.contains(&slot) {
            slot += 1;
        }
        slot
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

    /// A fixed root-bus slot and function if free (q35's ICH9 functions:
    /// HDA at 0x1b, USB at 0x1d), else the next free slot.
    pub fn prefer_function(
        &mut self,
        dev: PciDev,
        slot: u32,
        function: u32,
        multifunction: bool,
    ) -> Result<PciAddr, String> {
        let taken_by_other = self
            .assigned
            .iter()
            .any(|(_, a)| a.bus == 0 && a.slot == slot && a.function == function);
        let slot_free_or_shared = !self.used.contains(&slot) || self.shared_slots.contains(&slot);
        if taken_by_other || !slot_free_or_shared {
            return self.next(dev);
        }
        if !self.shared_slots.contains(&slot) {
            self.shared_slots.push(slot);
        }
        let addr = PciAddr {
            bus: 0,
            slot,
            function,
            multifunction,
        };
        self.reserve(dev, addr);
        Ok(addr)
    }
}
