//! Define-time device defaults libvirt 11.3 fills for x86 QEMU guests besides
//! controllers: q35's built-in iTCO watchdog, a video card for a domain with
//! graphics but none, each video model's memory sizes, heads and primary flag,
//! and the audio backend SPICE graphics play through.

use crate::model::common::{AttrSet, DeviceInfo};
use crate::model::devices::misc::{Video, Watchdog};
use crate::model::devices::{Devices, GraphicsType};

pub(crate) fn apply(devs: &mut Devices, q35: bool) {
    if q35 && !devs.watchdogs.iter().any(|w| w.model == "itco") {
        // The pin strap follows the action of a watchdog the domain has.
        let action = devs
            .watchdogs
            .first()
            .and_then(|w| w.action.clone())
            .unwrap_or_else(|| "reset".to_owned());
        devs.watchdogs.push(Watchdog {
            model: "itco".into(),
            action: Some(action),
            info: DeviceInfo::default(),
            extras: Default::default(),
        });
    }
    let graphics = devs
        .graphics
        .iter()
        .any(|g| !matches!(g.gtype, GraphicsType::EglHeadless));
    if graphics && devs.videos.is_empty() {
        devs.videos.push(Video {
            model: None,
            driver: None,
            info: DeviceInfo::default(),
            extras: Default::default(),
        });
    }
    video_models(devs);
}

/// `type` (VGA when absent), the RAM sizes in KiB, `heads='1'` and
/// `primary='yes'` on the first, as libvirt writes them back.
fn video_models(devs: &mut Devices) {
    for (i, v) in devs.videos.iter_mut().enumerate() {
        let model = v.model.get_or_insert_with(AttrSet::default);
        if model.get("type").is_none() {
            model.set("type", "vga");
        }
        let t = model.get("type").unwrap_or_default().to_owned();
        let sizes: &[(&str, &str)] = match t.as_str() {
            "vga" | "cirrus" | "bochs" => &[("vram", "16384")],
            "qxl" => &[("ram", "65536"), ("vram", "65536"), ("vgamem", "16384")],
            _ => &[],
        };
        for (k, default) in sizes {
            if model.get(k).is_none() {
                model.set(k, *default);
            }
        }
        if t == "none" {
            continue;
        }
        if model.get("heads").is_none() {
            model.set("heads", "1");
        }
        if i == 0 && model.get("primary").is_none() {
            model.set("primary", "yes");
        }
        // Keep the canonical attribute order whatever order they were added in.
        const ORDER: &[&str] = &[
            "type", "ram", "vram", "vram64", "vgamem", "heads", "primary", "blob",
        ];
        model
            .attrs
            .sort_by_key(|(k, _)| ORDER.iter().position(|o| o == k).unwrap_or(ORDER.len()));
    }
}

/// The audio backend libvirt gives a domain without `<audio>`: SPICE's own
/// when it has SPICE graphics, else none.
pub(crate) fn default_audio_type(devs: &Devices) -> &'static str {
    if devs.graphics.iter().any(|g| g.gtype == GraphicsType::Spice) {
        "spice"
    } else {
        "none"
    }
}
