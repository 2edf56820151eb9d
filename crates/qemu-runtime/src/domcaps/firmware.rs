//! What the firmware descriptors ([`crate::firmware`]) offer one machine, as
//! domain capabilities report it: the `firmware` enum (BIOS, UEFI), the loader
//! images, and whether a Secure Boot (SMM) build is among them.

use std::path::PathBuf;

use crate::firmware::{Descriptor, Feature, Interface, Mapping};

/// The loader image libvirt would list (flash executable or ROM).
fn image(d: &Descriptor) -> Option<&PathBuf> {
    match &d.mapping {
        Mapping::Flash { executable, .. } => Some(&executable.filename),
        Mapping::Memory { filename } => Some(filename),
        Mapping::Kernel { .. } => None,
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Offer {
    pub bios: bool,
    pub efi: bool,
    pub secure: bool,
    pub images: Vec<String>,
}

/// libvirt lists only images that exist (`absent` are those that do not),
/// each once, in descriptor order.
pub(super) fn offer(descs: &[Descriptor], absent: &[PathBuf], machine: &str, arch: &str) -> Offer {
    let mut o = Offer::default();
    for d in descs.iter().filter(|d| d.runs_on(arch, machine)) {
        o.bios |= d.interfaces.contains(&Interface::Bios);
        o.efi |= d.interfaces.contains(&Interface::Uefi);
        o.secure |= d.has(&Feature::RequiresSmm);
        if let Some(img) = image(d)
            && !absent.contains(img)
        {
            let s = img.to_string_lossy().into_owned();
            if !o.images.contains(&s) {
                o.images.push(s);
            }
        }
    }
    o
}

/// The images of all descriptors, for the caller to check which exist.
pub fn images(descs: &[Descriptor]) -> Vec<PathBuf> {
    descs.iter().filter_map(image).cloned().collect()
}
