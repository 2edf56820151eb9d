//! `<video>`: VGA, cirrus, bochs, QXL (with its memory sizes), virtio and
//! ramfb, as libvirt 11.3 writes them for QEMU 10.0. The primary video gets
//! the VGA-compatible device (`qxl-vga`, `virtio-vga`), the others the plain
//! one (`qxl`, `virtio-gpu-pci`). Sizes in the XML are KiB.

use domain_xml::model::devices::Video;

use super::pci::PciDev;
use super::state::Planner;
use crate::json::Obj;

/// Model attributes each model understands (`type` aside).
fn known_attrs(model: &str) -> &'static [&'static str] {
    match model {
        "qxl" => &["ram", "vram", "vram64", "vgamem", "heads", "primary"],
        "vga" | "cirrus" | "bochs" => &["vram", "heads", "primary"],
        "virtio" | "ramfb" => &["heads", "primary"],
        _ => &["primary"],
    }
}

fn kib(v: &Video, key: &str) -> Option<u64> {
    v.model
        .as_ref()
        .and_then(|m| m.get(key))
        .and_then(|s| s.parse::<u64>().ok())
}

impl Planner<'_> {
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
            // ramfb is no PCI device: the next video is the primary one (as
            // the PCI assignment in addresses.rs counts).
            let is_primary = primary && model != "ramfb";
            if model != "ramfb" {
                primary = false;
            }
            let known = known_attrs(model);
            let extra: Vec<&str> = v
                .model
                .iter()
                .flat_map(|m| m.attrs.iter())
                .map(|(k, _)| k.as_str())
                .filter(|k| *k != "type" && !known.contains(k))
                .collect();
            if !extra.is_empty() || v.driver.is_some() || !v.extras.is_empty() {
                let mut what = extra.join(", ");
                if v.driver.is_some() {
                    what.push_str(" <driver>");
                }
                self.problem(
                    &subject,
                    format!("model '{model}' with {} is not supported yet", what.trim()),
                );
                continue;
            }
            let heads = kib(v, "heads").unwrap_or(1);
            let (driver, props) = match model {
                "vga" => (
                    "VGA",
                    Obj::new()
                        .with("driver", "VGA")
                        .with("id", alias.as_str())
                        .with("vgamem_mb", kib(v, "vram").unwrap_or(16384) / 1024),
                ),
                "cirrus" => (
                    "cirrus-vga",
                    Obj::new()
                        .with("driver", "cirrus-vga")
                        .with("id", alias.as_str()),
                ),
                "bochs" => (
                    "bochs-display",
                    Obj::new()
                        .with("driver", "bochs-display")
                        .with("id", alias.as_str())
                        .with("vgamem", kib(v, "vram").unwrap_or(16384) * 1024),
                ),
                "qxl" => {
                    let driver = if is_primary { "qxl-vga" } else { "qxl" };
                    (
                        driver,
                        Obj::new()
                            .with("driver", driver)
                            .with("id", alias.as_str())
                            .with("max_outputs", heads)
                            .with("ram_size", kib(v, "ram").unwrap_or(65536) * 1024)
                            .with("vram_size", kib(v, "vram").unwrap_or(65536) * 1024)
                            .with("vram64_size_mb", kib(v, "vram64").unwrap_or(0) / 1024)
                            .with("vgamem_mb", kib(v, "vgamem").unwrap_or(16384) / 1024),
                    )
                }
                "virtio" => {
                    let driver = if is_primary && self.caps.has_device("virtio-vga") {
                        "virtio-vga"
                    } else {
                        "virtio-gpu-pci"
                    };
                    (
                        driver,
                        Obj::new()
                            .with("driver", driver)
                            .with("id", alias.as_str())
                            .with("max_outputs", heads),
                    )
                }
                "ramfb" => {
                    self.need_video_device(&subject, model, "ramfb");
                    self.device(Obj::new().with("driver", "ramfb").with("id", alias));
                    continue;
                }
                other => {
                    self.problem(&subject, format!("model '{other}' is not supported yet"));
                    continue;
                }
            };
            self.need_video_device(&subject, model, driver);
            let dev = if is_primary {
                PciDev::PrimaryVideo
            } else {
                PciDev::Video(i)
            };
            let props = self.pci_props(dev, props);
            self.device(props);
        }
    }

    fn need_video_device(&mut self, subject: &str, model: &str, driver: &str) {
        if !self.caps.has_device(driver) {
            self.problem(
                subject,
                format!(
                    "model '{model}' needs device '{driver}', which {} lacks",
                    self.rt.emulator
                ),
            );
        }
    }
}
