//! `<panic>`: the ISA `pvpanic` device (at its `iobase`), the PCI
//! `pvpanic-pci`, and Hyper-V's crash MSRs (`hv-crash`, a `-cpu` property
//! added in cpu_features.rs). libvirt puts the devices after `-sandbox`.

use super::pci::PciDev;
use super::state::Planner;
use crate::json::Obj;

fn parse_num(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

impl Planner<'_> {
    pub(super) fn panics(&mut self) {
        let dom = self.dom;
        for (i, p) in dom.devices.panics.iter().enumerate() {
            let model = p.model.as_deref().unwrap_or("isa");
            let subject = format!("panic model '{model}'");
            if !p.extras.is_empty() {
                self.problem(&subject, "only model and <address> are supported");
                continue;
            }
            match model {
                "hyperv" => {}
                "isa" => {
                    let mut props = Obj::new().with("driver", "pvpanic");
                    match &p.info.address {
                        Some(a) if a.addr_type == "isa" => {
                            if let Some(port) = a.get("iobase").and_then(parse_num) {
                                props.set("ioport", port);
                            }
                        }
                        Some(a) => {
                            self.problem(
                                &subject,
                                format!("address type '{}' is not an ISA address", a.addr_type),
                            );
                            continue;
                        }
                        None => {}
                    }
                    self.need_panic_device(&subject, "pvpanic");
                    self.device(props);
                }
                "pvpanic" => {
                    self.need_panic_device(&subject, "pvpanic-pci");
                    let props =
                        self.pci_props(PciDev::Panic(i), Obj::new().with("driver", "pvpanic-pci"));
                    self.device(props);
                }
                other => self.problem(&subject, format!("model '{other}' is not for x86")),
            }
        }
    }

    fn need_panic_device(&mut self, subject: &str, driver: &str) {
        if !self.caps.has_device(driver) {
            self.problem(
                subject,
                format!("needs device '{driver}', which {} lacks", self.rt.emulator),
            );
        }
    }
}
