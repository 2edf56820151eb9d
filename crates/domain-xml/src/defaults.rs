//! Define-time defaults: what libvirt adds to a definition when it is defined, given
//! facts about the host's QEMU (machine aliases, emulator path). Pure: the daemon
//! supplies the facts from the capability probe. Applying twice changes nothing.
//!
//! What libvirt 9.0 fills for an x86 guest (seen on this project's reference host):
//! the machine alias resolved (`pc` → `pc-i440fx-7.2`), the emulator, a USB controller
//! and the PCI root, PS/2 mouse and keyboard, a console for the first serial port with
//! the serial's target model, `<audio type='none'>` when nothing else plays sound, a
//! virtio balloon, and a `qemu64` custom CPU. PCI addresses are left to QEMU.

use crate::model::Domain;
use crate::model::common::{AttrSet, DeviceInfo};
use crate::model::devices::chardev::CharTarget;
use crate::model::devices::misc::{
    Audio, Controller, ControllerType, Input, InputBus, InputType, Memballoon,
};
use crate::model::devices::{CharKind, CharType, Chardev, Devices};
use crate::model::general::{Cpu, CpuCheck, CpuMatch, CpuMode, CpuModel};

/// Host facts the defaults depend on.
pub struct DefaultsContext<'a> {
    pub emulator: &'a str,
    pub arch: &'a str,
    /// The machine used when `<type machine=>` is absent (QEMU's default, e.g.
    /// `pc-i440fx-7.2`).
    pub default_machine: &'a str,
    /// Resolves an alias (`pc`, `q35`) to the versioned machine type.
    pub resolve_machine: &'a dyn Fn(&str) -> Option<String>,
}

impl std::fmt::Debug for DefaultsContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefaultsContext")
            .field("emulator", &self.emulator)
            .field("arch", &self.arch)
            .field("default_machine", &self.default_machine)
            .finish()
    }
}

fn is_q35(machine: &str) -> bool {
    machine.contains("q35")
}

/// The console/serial twin of `of`: same backend, its own target.
fn paired(kind: CharKind, of: &Chardev, target: CharTarget) -> Chardev {
    Chardev {
        kind,
        char_type: of.char_type,
        tty: of.tty.clone(),
        sources: of.sources.clone(),
        protocol: None,
        log: None,
        target: Some(target),
        info: DeviceInfo::default(),
        extras: Default::default(),
    }
}

/// Fills libvirt's define-time defaults into `d`.
pub fn apply(d: &mut Domain, ctx: &DefaultsContext<'_>) {
    if d.os.arch.is_none() {
        d.os.arch = Some(ctx.arch.to_owned());
    }
    let machine = match d.os.machine.as_deref() {
        Some(m) => (ctx.resolve_machine)(m).unwrap_or_else(|| m.to_owned()),
        None => ctx.default_machine.to_owned(),
    };
    d.os.machine = Some(machine.clone());
    if d.devices.emulator.is_none() {
        d.devices.emulator = Some(ctx.emulator.to_owned());
    }
    add_default_cpu(d);
    crate::defaults_controllers::assign_indexes(&mut d.devices);
    add_default_controllers(&mut d.devices, &machine);
    crate::defaults_controllers::apply(&mut d.devices, is_q35(&machine));
    pair_serials_and_consoles(&mut d.devices);
    add_ps2_inputs(d);
    crate::defaults_devices::apply(&mut d.devices, is_q35(&machine));
    d.devices.tpms.iter_mut().for_each(|t| t.apply_defaults());
    let devs = &mut d.devices;
    if devs.audios.is_empty() {
        devs.audios.push(Audio {
            id: 1,
            audio_type: crate::defaults_devices::default_audio_type(devs).into(),
            attrs: AttrSet::default(),
            input: None,
            output: None,
        });
    }
    if devs.memballoon.is_none() {
        devs.memballoon = Some(Memballoon {
            model: "virtio".into(),
            attrs: AttrSet::default(),
            stats_period: None,
            driver: None,
            info: DeviceInfo::default(),
        });
    }
}

/// A `qemu64` custom CPU when the domain names none; the `check` and
/// `migratable` libvirt records for the host CPU modes.
fn add_default_cpu(d: &mut Domain) {
    if let Some(cpu) = d.cpu.as_mut() {
        match cpu.mode {
            Some(CpuMode::HostPassthrough | CpuMode::Maximum) => {
                cpu.check.get_or_insert(CpuCheck::None);
                cpu.migratable.get_or_insert(true);
            }
            Some(CpuMode::HostModel) => {
                cpu.check.get_or_insert(CpuCheck::Partial);
            }
            _ => {}
        }
    }
    if d.cpu.is_none() {
        d.cpu = Some(Cpu {
            mode: Some(CpuMode::Custom),
            match_: Some(CpuMatch::Exact),
            check: Some(CpuCheck::None),
            model: Some(CpuModel {
                name: "qemu64".into(),
                fallback: Some("forbid".into()),
                vendor_id: None,
            }),
            ..Cpu::default()
        });
    }
}

/// The USB controller and the PCI root of the machine family.
fn add_default_controllers(devs: &mut Devices, machine: &str) {
    let controller = |ctype, model: &str| Controller {
        ctype,
        index: Some(0),
        model: Some(model.to_owned()),
        attrs: AttrSet::default(),
        driver: None,
        model_name: None,
        target: None,
        master_startport: None,
        info: DeviceInfo::default(),
    };
    if !devs
        .controllers
        .iter()
        .any(|c| c.ctype == ControllerType::Usb)
    {
        let model = if is_q35(machine) {
            "qemu-xhci"
        } else {
            "piix3-uhci"
        };
        devs.controllers
            .push(controller(ControllerType::Usb, model));
    }
    if !devs
        .controllers
        .iter()
        .any(|c| c.ctype == ControllerType::Pci && c.index == Some(0))
    {
        let model = if is_q35(machine) {
            "pcie-root"
        } else {
            "pci-root"
        };
        devs.controllers
            .push(controller(ControllerType::Pci, model));
    }
}

/// Serial ports get their target type and model; the first one also backs a
/// console, and a console without a serial port gets one.
fn pair_serials_and_consoles(devs: &mut Devices) {
    for (i, s) in devs.serials.iter_mut().enumerate() {
        let target = s.target.get_or_insert_with(|| CharTarget {
            attrs: AttrSet::default(),
            model: None,
        });
        if target.attrs.get("type").is_none() {
            target.attrs.set("type", "isa-serial");
        }
        if target.attrs.get("port").is_none() {
            target.attrs.set("port", i.to_string());
        }
        if target.model.is_none() && target.attrs.get("type") == Some("isa-serial") {
            target.model = Some("isa-serial".into());
        }
    }
    if devs.consoles.is_empty()
        && let Some(first) = devs.serials.first()
    {
        let mut attrs = AttrSet::default();
        attrs.set("type", "serial");
        attrs.set("port", "0");
        let console = paired(CharKind::Console, first, CharTarget { attrs, model: None });
        devs.consoles.push(console);
    }
    for c in &mut devs.consoles {
        let target = c.target.get_or_insert_with(|| CharTarget {
            attrs: AttrSet::default(),
            model: None,
        });
        if target.attrs.get("type").is_none() {
            target.attrs.set("type", "serial");
        }
        if target.attrs.get("port").is_none() {
            target.attrs.set("port", "0");
        }
    }
    // A console without a serial port behind it gets one, as libvirt does on x86.
    if devs.serials.is_empty()
        && let Some(c) = devs.consoles.first()
        && c.target.as_ref().and_then(|t| t.attrs.get("type")) == Some("serial")
        && c.char_type != CharType::Null
    {
        let mut attrs = AttrSet::default();
        attrs.set("type", "isa-serial");
        attrs.set("port", "0");
        let serial = paired(
            CharKind::Serial,
            c,
            CharTarget {
                attrs,
                model: Some("isa-serial".into()),
            },
        );
        devs.serials.push(serial);
    }
}

/// PS/2 mouse and keyboard, unless the machine's i8042 controller is off.
fn add_ps2_inputs(d: &mut Domain) {
    let ps2_off = d
        .features
        .as_ref()
        .and_then(|f| f.get("ps2"))
        .is_some_and(|f| f.attrs.iter().any(|(k, v)| k == "state" && v == "off"));
    let devs = &mut d.devices;
    let ps2_inputs: &[(InputType, InputBus)] = if ps2_off {
        &[]
    } else {
        &[
            (InputType::Mouse, InputBus::Ps2),
            (InputType::Keyboard, InputBus::Ps2),
        ]
    };
    for &(t, bus) in ps2_inputs {
        if !devs
            .inputs
            .iter()
            .any(|i| i.input_type == t && i.bus == Some(bus))
        {
            devs.inputs.push(Input {
                input_type: t,
                bus: Some(bus),
                attrs: AttrSet::default(),
                source: None,
                info: DeviceInfo::default(),
            });
        }
    }
}
