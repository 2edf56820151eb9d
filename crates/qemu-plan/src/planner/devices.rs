//! Input, audio, graphics, video, sound, watchdog, balloon and RNG devices.

use domain_xml::model::devices::{ControllerType, GraphicsType, InputBus, InputType};

use super::controllers::default_usb_model;
use super::pci::PciDev;
use super::state::{Expect, Planner};
use crate::json::Obj;
use crate::resources::{Access, ResourceClass, SelinuxRole};

/// The QEMU device of a sound model and whether it is a PCI device.
pub(crate) fn sound_driver(model: &str) -> Option<(&'static str, bool)> {
    match model {
        "ac97" => Some(("AC97", true)),
        "es1370" => Some(("ES1370", true)),
        "ich6" => Some(("intel-hda", true)),
        "ich9" => Some(("ich9-intel-hda", true)),
        _ => None,
    }
}

impl Planner<'_> {
    pub(super) fn inputs(&mut self) {
        let dom = self.dom;
        let has_usb = dom.devices.controllers.iter().any(|c| {
            c.ctype == ControllerType::Usb
                && c.model.as_deref().unwrap_or(default_usb_model(self.family)) != "none"
        });
        let mut port = 0u32;
        for (i, inp) in dom.devices.inputs.iter().enumerate() {
            let alias = inp
                .info
                .alias
                .clone()
                .unwrap_or_else(|| format!("input{i}"));
            let subject = format!("input '{alias}'");
            let bus = inp.bus.unwrap_or(match inp.input_type {
                InputType::Tablet => InputBus::Usb,
                _ => InputBus::Ps2,
            });
            if !inp.attrs.attrs.is_empty() || inp.source.is_some() {
                self.problem(&subject, "model and <source> are not supported yet");
                continue;
            }
            match (inp.input_type, bus) {
                (InputType::Mouse | InputType::Keyboard, InputBus::Ps2) => {}
                (
                    t @ (InputType::Tablet | InputType::Mouse | InputType::Keyboard),
                    InputBus::Usb,
                ) => {
                    if !has_usb {
                        self.problem(&subject, format!("a USB {t} needs a USB controller"));
                        continue;
                    }
                    let driver = match t {
                        InputType::Tablet => "usb-tablet",
                        InputType::Mouse => "usb-mouse",
                        _ => "usb-kbd",
                    };
                    port += 1;
                    let p = inp
                        .info
                        .address
                        .as_ref()
                        .filter(|a| a.addr_type == "usb")
                        .and_then(|a| a.get("port"))
                        .map(str::to_owned)
                        .unwrap_or_else(|| port.to_string());
                    self.device(
                        Obj::new()
                            .with("driver", driver)
                            .with("id", alias)
                            .with("bus", "usb.0")
                            .with("port", p),
                    );
                }
                (
                    t @ (InputType::Tablet | InputType::Mouse | InputType::Keyboard),
                    InputBus::Virtio,
                ) => {
                    let driver = match t {
                        InputType::Tablet => "virtio-tablet-pci",
                        InputType::Mouse => "virtio-mouse-pci",
                        _ => "virtio-keyboard-pci",
                    };
                    let props = self.pci_props(
                        PciDev::Input(i),
                        Obj::new().with("driver", driver).with("id", alias),
                    );
                    self.device(props);
                }
                (t, b) => {
                    self.problem(
                        &subject,
                        format!("type '{t}' on bus '{b}' is not supported yet"),
                    );
                }
            }
        }
    }

    pub(super) fn audio(&mut self) {
        let dom = self.dom;
        let spice = dom
            .devices
            .graphics
            .iter()
            .any(|g| g.gtype == GraphicsType::Spice);
        for a in &dom.devices.audios {
            if a.input.is_some() || a.output.is_some() {
                self.problem(
                    format!("audio {}", a.id),
                    "<input>/<output> stream settings are not supported yet",
                );
            }
            // SPICE's own backend plays to the SPICE client.
            let ok = match a.audio_type.as_str() {
                "none" => true,
                "spice" => spice,
                _ => false,
            };
            if !ok || !a.attrs.attrs.is_empty() {
                self.problem(
                    format!("audio {}", a.id),
                    format!(
                        "type '{}' is not supported yet (only 'none', and 'spice' with SPICE graphics)",
                        a.audio_type
                    ),
                );
                continue;
            }
            self.arg2(
                "-audiodev",
                Obj::new()
                    .with("id", format!("audio{}", a.id))
                    .with("driver", a.audio_type.as_str())
                    .to_json(),
            );
        }
    }

    /// Sound cards playing through an `<audio>` backend; the HDA controllers
    /// get libvirt's default `hda-duplex` codec.
    pub(super) fn sounds(&mut self) {
        let dom = self.dom;
        for (i, snd) in dom.devices.sounds.iter().enumerate() {
            let alias = snd
                .info
                .alias
                .clone()
                .unwrap_or_else(|| format!("sound{i}"));
            let subject = format!("sound '{alias}'");
            let Some((driver, _)) = sound_driver(&snd.model) else {
                self.problem(
                    &subject,
                    format!("model '{}' is not supported yet", snd.model),
                );
                continue;
            };
            let audio = match snd.audio_id {
                Some(id) => dom.devices.audios.iter().find(|a| a.id == id),
                None => dom.devices.audios.first(),
            };
            let Some(audio) = audio else {
                self.problem(&subject, "a sound device needs an <audio> backend");
                continue;
            };
            let audiodev = format!("audio{}", audio.id);
            let hda = driver.ends_with("intel-hda");
            let props = Obj::new().with("driver", driver).with("id", alias.as_str());
            let props = if hda {
                props
            } else {
                props.with("audiodev", audiodev.as_str())
            };
            let props = self.pci_props(PciDev::Sound(i), props);
            self.device(props);
            if hda {
                self.device(
                    Obj::new()
                        .with("driver", "hda-duplex")
                        .with("id", format!("{alias}-codec0"))
                        .with("bus", format!("{alias}.0"))
                        .with("cad", 0u32)
                        .with("audiodev", audiodev),
                );
            }
        }
    }

    /// `i6300esb` (PCI), `ib700` (ISA) and q35's built-in `itco` (a pin
    /// strap, `-global ICH9-LPC.noreboot=off`), then one `-watchdog-action`
    /// for all of them (libvirt requires the same action on each).
    pub(super) fn watchdogs(&mut self) {
        let dom = self.dom;
        let Some(first) = dom.devices.watchdogs.first() else {
            return;
        };
        let action = first.action.as_deref().unwrap_or("reset");
        let mut itco = false;
        for (i, w) in dom.devices.watchdogs.iter().enumerate() {
            let alias = w
                .info
                .alias
                .clone()
                .unwrap_or_else(|| format!("watchdog{i}"));
            let subject = format!("watchdog '{alias}'");
            if w.action.as_deref().unwrap_or("reset") != action {
                self.problem(&subject, "all watchdogs must have the same action");
                continue;
            }
            if !w.extras.is_empty() {
                self.problem(&subject, "only model, action and <address> are supported");
                continue;
            }
            let props = Obj::new()
                .with("driver", w.model.as_str())
                .with("id", alias);
            match w.model.as_str() {
                "i6300esb" => {
                    let props = self.pci_props(PciDev::Watchdog(i), props);
                    self.device(props);
                }
                "ib700" => self.device(props),
                "itco" => {
                    if self.family != super::state::Family::Q35 {
                        self.problem(&subject, "model 'itco' is part of the q35 machine only");
                        continue;
                    }
                    itco = true;
                }
                other => {
                    self.problem(&subject, format!("model '{other}' is not supported yet"));
                    continue;
                }
            }
        }
        if itco {
            self.arg2("-global", "ICH9-LPC.noreboot=off");
        }
        if action == "dump" {
            // libvirt pauses and dumps itself; rvirt has no dump yet.
            self.problem("watchdog", "action 'dump' is not supported yet");
            return;
        }
        self.arg2("-watchdog-action", action);
    }

    pub(super) fn balloon(&mut self) {
        let Some(b) = &self.dom.devices.memballoon else {
            return;
        };
        match b.model.as_str() {
            "none" => {}
            "virtio" => {
                if b.driver.is_some() {
                    self.problem("memballoon", "<driver> is not supported yet");
                    return;
                }
                let alias = b.info.alias.clone().unwrap_or_else(|| "balloon0".into());
                let mut props = Obj::new()
                    .with("driver", "virtio-balloon-pci")
                    .with("id", alias.as_str());
                if b.attrs.get("autodeflate") == Some("on") {
                    props.set("deflate-on-oom", true);
                }
                if b.attrs.get("freePageReporting") == Some("on") {
                    props.set("free-page-reporting", true);
                }
                let props = self.pci_props(PciDev::Balloon, props);
                self.device(props);
                // libvirt sets the statistics period over QMP once QEMU runs.
                if let Some(period) = b.stats_period {
                    self.monitor_commands.push(crate::launch::MonitorCommand {
                        execute: "qom-set".into(),
                        arguments: Obj::new()
                            .with("path", format!("/machine/peripheral/{alias}"))
                            .with("property", "guest-stats-polling-interval")
                            .with("value", period)
                            .to_json(),
                    });
                }
            }
            other => self.problem(
                "memballoon",
                format!("model '{other}' is not supported yet"),
            ),
        }
    }

    pub(super) fn rngs(&mut self) {
        let dom = self.dom;
        for (i, r) in dom.devices.rngs.iter().enumerate() {
            let alias = r.info.alias.clone().unwrap_or_else(|| format!("rng{i}"));
            let subject = format!("rng '{alias}'");
            if r.model != "virtio" {
                self.problem(
                    &subject,
                    format!("model '{}' is not supported yet", r.model),
                );
                continue;
            }
            let obj_id = format!("obj{alias}");
            let obj = match r.backend_model.as_str() {
                "random" => {
                    let path = r
                        .backend_path
                        .clone()
                        .unwrap_or_else(|| "/dev/urandom".to_owned());
                    // /dev/random and /dev/urandom are world-readable; any
                    // other backend (e.g. /dev/hwrng, 0600) is chowned.
                    let world = path == "/dev/random" || path == "/dev/urandom";
                    let dac = !world && self.dac_for(&[]);
                    let found = self.existing(
                        &subject,
                        &format!("{alias} backend"),
                        &path,
                        Expect::Char,
                        Access::ReadOnly,
                        ResourceClass::Device,
                        dac,
                        SelinuxRole::Untouched,
                    );
                    if found.is_none() {
                        continue;
                    }
                    Obj::new()
                        .with("qom-type", "rng-random")
                        .with("id", obj_id.as_str())
                        .with("filename", path)
                }
                "builtin" => Obj::new()
                    .with("qom-type", "rng-builtin")
                    .with("id", obj_id.as_str()),
                other => {
                    self.problem(&subject, format!("backend '{other}' is not supported yet"));
                    continue;
                }
            };
            self.object(obj);
            let mut props = Obj::new()
                .with("driver", "virtio-rng-pci")
                .with("rng", obj_id)
                .with("id", alias);
            if let Some(rate) = &r.rate {
                if let Some(b) = rate.get("bytes").and_then(|v| v.parse::<u64>().ok()) {
                    props.set("max-bytes", b);
                }
                let period = rate
                    .get("period")
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(1000);
                props.set("period", period);
            }
            let props = self.pci_props(PciDev::Rng(i), props);
            self.device(props);
        }
    }
}
