//! `<redirdev bus='usb' type='spicevmc'>`: `-chardev spicevmc,name=usbredir`
//! and a `usb-redir` device on the USB bus, at the port after the USB inputs
//! (libvirt's order), unless the XML gives one.

use domain_xml::model::devices::{GraphicsType, InputBus, InputType};

use super::state::Planner;
use crate::json::Obj;

impl Planner<'_> {
    pub(super) fn redirdevs(&mut self) {
        let dom = self.dom;
        let usb_inputs = dom
            .devices
            .inputs
            .iter()
            .filter(|i| {
                i.bus.unwrap_or(match i.input_type {
                    InputType::Tablet => InputBus::Usb,
                    _ => InputBus::Ps2,
                }) == InputBus::Usb
            })
            .count() as u32;
        let spice = dom
            .devices
            .graphics
            .iter()
            .any(|g| g.gtype == GraphicsType::Spice);
        let mut port = usb_inputs;
        for (i, r) in dom.devices.redirdevs.iter().enumerate() {
            let alias = r.info.alias.clone().unwrap_or_else(|| format!("redir{i}"));
            let subject = format!("redirdev '{alias}'");
            if r.redir_type != "spicevmc"
                || r.source.is_some()
                || r.protocol.is_some()
                || !r.extras.is_empty()
            {
                self.problem(
                    &subject,
                    format!(
                        "<redirdev type='{}'> (USB redirection) is not supported yet (only 'spicevmc')",
                        r.redir_type
                    ),
                );
                continue;
            }
            if !spice {
                self.problem(&subject, "type 'spicevmc' needs <graphics type='spice'>");
                continue;
            }
            if !self.caps.has_device("usb-redir") {
                self.problem(
                    &subject,
                    format!("needs device 'usb-redir', which {} lacks", self.rt.emulator),
                );
                continue;
            }
            port += 1;
            let p = r
                .info
                .address
                .as_ref()
                .filter(|a| a.addr_type == "usb")
                .and_then(|a| a.get("port"))
                .map(str::to_owned)
                .unwrap_or_else(|| port.to_string());
            let chr = format!("char{alias}");
            self.arg2("-chardev", format!("spicevmc,id={chr},name=usbredir"));
            self.device(
                Obj::new()
                    .with("driver", "usb-redir")
                    .with("chardev", chr)
                    .with("id", alias)
                    .with("bus", "usb.0")
                    .with("port", p),
            );
        }
    }
}
