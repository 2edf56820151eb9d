//! Input, audio, graphics, video, sound, watchdog, balloon and RNG devices.

use domain_xml::model::devices::{ControllerType, GraphicsType, InputBus, InputType};

use super::chardevs::opt_escape;
use super::controllers::default_usb_model;
use super::pci::PciDev;
use super::state::{Expect, Planner};
use crate::json::Obj;
use crate::resources::{Access, Provision, Resource, ResourceClass, ResourceKind, SelinuxRole};

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
        for a in &dom.devices.audios {
            if a.input.is_some() || a.output.is_some() {
                self.problem(
                    format!("audio {}", a.id),
                    "<input>/<output> stream settings are not supported yet",
                );
            }
            if a.audio_type != "none" || !a.attrs.attrs.is_empty() {
                self.problem(
                    format!("audio {}", a.id),
                    format!("type '{}' is not supported yet (only 'none')", a.audio_type),
                );
                continue;
            }
            self.arg2(
                "-audiodev",
                Obj::new()
                    .with("id", format!("audio{}", a.id))
                    .with("driver", "none")
                    .to_json(),
            );
        }
    }

    /// VNC only. Without a listen address the display is a UNIX socket in
    /// the private directory (`<lib dir>/vnc.sock`).
    pub(super) fn graphics(&mut self) {
        let dom = self.dom;
        let audio = dom.devices.audios.first().map(|a| format!("audio{}", a.id));
        for (i, g) in dom.devices.graphics.iter().enumerate() {
            let subject = format!("graphics '{}'", g.gtype);
            if g.gtype != GraphicsType::Vnc {
                self.problem(&subject, "only type 'vnc' is supported yet");
                continue;
            }
            if i > 0 {
                self.problem(&subject, "only one <graphics> is supported");
                continue;
            }
            if !g.attrs.attrs.is_empty() {
                let names: Vec<&str> = g.attrs.attrs.iter().map(|(k, _)| k.as_str()).collect();
                self.problem(
                    &subject,
                    format!("attributes {} are not supported yet", names.join(", ")),
                );
                continue;
            }
            let listen = g.listens.first();
            let ltype = listen.and_then(|l| l.get("type"));
            let mut arg = match (ltype, g.port, g.autoport) {
                (None | Some("socket"), None | Some(-1), None | Some(true)) => {
                    let path = listen
                        .and_then(|l| l.get("socket"))
                        .map(str::to_owned)
                        .unwrap_or_else(|| {
                            format!("{}/vnc.sock", self.rt.lib_dir.trim_end_matches('/'))
                        });
                    self.push_resource(Resource {
                        path: path.clone(),
                        kind: ResourceKind::Socket,
                        access: Access::ReadWrite,
                        origin: "graphics vnc".into(),
                        class: ResourceClass::Device,
                        provision: Provision::QemuCreates,
                        dac_relabel: false,
                        dac_label: None,
                        selinux: SelinuxRole::Untouched,
                    });
                    format!("vnc=unix:{}", opt_escape(&path))
                }
                (Some("none"), None | Some(-1), _) => "none".to_owned(),
                (Some("address"), Some(port), Some(false) | None) if port >= 5900 => {
                    let addr = listen.and_then(|l| l.get("address")).unwrap_or("127.0.0.1");
                    let addr = if addr.contains(':') {
                        format!("[{addr}]")
                    } else {
                        addr.to_owned()
                    };
                    format!("{addr}:{}", port - 5900)
                }
                _ => {
                    self.problem(
                        &subject,
                        "only a UNIX socket listener or an address with a fixed port ≥ 5900 is supported yet (no autoport)",
                    );
                    continue;
                }
            };
            if let Some(a) = &audio {
                arg.push_str(&format!(",audiodev={a}"));
            }
            self.arg2("-vnc", arg);
        }
    }

    pub(super) fn videos(&mut self) {
        let dom = self.dom;
        let mut primary = true;
        for (i, v) in dom.devices.videos.iter().enumerate() {
            let alias = v.info.alias.clone().unwrap_or_else(|| format!("video{i}"));
            let subject = format!("video '{alias}'");
            let model = v.model_type().unwrap_or("vga");
            if model == "none" {
                continue;
            }
            let dev = if primary {
                PciDev::PrimaryVideo
            } else {
                PciDev::Video(i)
            };
            primary = false;
            let extra: Vec<&str> = v
                .model
                .iter()
                .flat_map(|m| m.attrs.iter())
                .map(|(k, _)| k.as_str())
                .filter(|k| !["type", "vram", "heads", "primary"].contains(k))
                .collect();
            if !extra.is_empty() || v.driver.is_some() {
                self.problem(
                    &subject,
                    format!(
                        "model attributes {} are not supported yet",
                        extra.join(", ")
                    ),
                );
                continue;
            }
            let props = match model {
                "vga" => {
                    let kib = v
                        .model
                        .as_ref()
                        .and_then(|m| m.get("vram"))
                        .and_then(|s| s.parse::<u32>().ok())
                        .unwrap_or(16384);
                    Obj::new()
                        .with("driver", "VGA")
                        .with("id", alias)
                        .with("vgamem_mb", kib / 1024)
                }
                "cirrus" => Obj::new().with("driver", "cirrus-vga").with("id", alias),
                "virtio" => Obj::new()
                    .with("driver", "virtio-vga")
                    .with("id", alias)
                    .with("max_outputs", 1u32),
                other => {
                    self.problem(&subject, format!("model '{other}' is not supported yet"));
                    continue;
                }
            };
            let props = self.pci_props(dev, props);
            self.device(props);
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

    /// `i6300esb` (PCI) and `ib700` (ISA) with `-watchdog-action`.
    pub(super) fn watchdogs(&mut self) {
        let dom = self.dom;
        for (i, w) in dom.devices.watchdogs.iter().enumerate() {
            let alias = w
                .info
                .alias
                .clone()
                .unwrap_or_else(|| format!("watchdog{i}"));
            let subject = format!("watchdog '{alias}'");
            let action = w.action.as_deref().unwrap_or("reset");
            if action == "dump" {
                self.problem(&subject, "action 'dump' is not supported yet");
                continue;
            }
            if i > 0 {
                self.problem(&subject, "only one watchdog is supported");
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
                other => {
                    self.problem(&subject, format!("model '{other}' is not supported yet"));
                    continue;
                }
            }
            self.arg2("-watchdog-action", action);
        }
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
                    .with("id", alias);
                if b.attrs.get("autodeflate") == Some("on") {
                    props.set("deflate-on-oom", true);
                }
                if b.attrs.get("freePageReporting") == Some("on") {
                    props.set("free-page-reporting", true);
                }
                let props = self.pci_props(PciDev::Balloon, props);
                self.device(props);
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
