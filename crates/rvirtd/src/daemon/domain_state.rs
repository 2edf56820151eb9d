//! State a definition owns on the host beyond its XML — the UEFI variable store
//! (NVRAM) and the TPM emulator's state — and what `undefine` does with it, by
//! libvirt's flags: `--nvram` removes the variable store, `--keep-nvram` keeps it,
//! and neither refuses while it exists; the TPM state goes unless `--keep-tpm`.

use std::path::{Path, PathBuf};

use domain_xml::Domain;
use remote_protocol::RemoteError;

use crate::paths::Paths;

/// `VIR_DOMAIN_UNDEFINE_NVRAM`.
pub const UNDEFINE_NVRAM: u32 = 1 << 2;
/// `VIR_DOMAIN_UNDEFINE_KEEP_NVRAM`.
pub const UNDEFINE_KEEP_NVRAM: u32 = 1 << 3;
/// `VIR_DOMAIN_UNDEFINE_TPM`.
pub const UNDEFINE_TPM: u32 = 1 << 5;
/// `VIR_DOMAIN_UNDEFINE_KEEP_TPM`.
pub const UNDEFINE_KEEP_TPM: u32 = 1 << 6;

/// What an undefine removes besides the definition.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Removal {
    pub nvram: Option<PathBuf>,
    pub tpm_state: Option<PathBuf>,
}

/// The domain's local variable store, if it has one.
pub fn nvram_file(def: &Domain) -> Option<&str> {
    def.os
        .nvram
        .as_ref()
        .filter(|n| n.attrs.get("type").is_none_or(|t| t == "file"))
        .and_then(|n| n.file())
}

/// The per-domain directory of the TPM emulator's state (libvirt's
/// `/var/lib/libvirt/swtpm/UUID`).
pub fn tpm_state_dir(paths: &Paths, def: &Domain) -> PathBuf {
    paths.swtpm_dir().join(def.uuid.hyphenated().to_string())
}

/// Decides what an undefine with `flags` removes; refuses as libvirt does.
/// `exists` says whether a path exists (the host, or a test's table).
pub fn plan_removal(
    def: &Domain,
    paths: &Paths,
    flags: u32,
    exists: &dyn Fn(&Path) -> bool,
) -> Result<Removal, RemoteError> {
    let mut r = Removal::default();
    if let Some(nvram) = nvram_file(def).map(PathBuf::from)
        && exists(&nvram)
    {
        if flags & UNDEFINE_NVRAM != 0 {
            r.nvram = Some(nvram);
        } else if flags & UNDEFINE_KEEP_NVRAM == 0 {
            return Err(RemoteError::operation_invalid(
                "cannot undefine domain with nvram",
            ));
        }
    }
    let has_emulated_tpm = def.devices.tpms.iter().any(|t| t.is_emulator());
    let state = tpm_state_dir(paths, def);
    if has_emulated_tpm && flags & UNDEFINE_KEEP_TPM == 0 && exists(&state) {
        r.tpm_state = Some(state);
    }
    Ok(r)
}

/// The flag combinations libvirt refuses before anything else.
pub fn check_flags(flags: u32) -> Result<(), RemoteError> {
    if flags & UNDEFINE_NVRAM != 0 && flags & UNDEFINE_KEEP_NVRAM != 0 {
        return Err(RemoteError::operation_invalid(
            "cannot both keep and delete nvram",
        ));
    }
    if flags & UNDEFINE_TPM != 0 && flags & UNDEFINE_KEEP_TPM != 0 {
        return Err(RemoteError::operation_invalid(
            "cannot both keep and delete TPM",
        ));
    }
    Ok(())
}

/// Removes the variable store (before the definition goes, as libvirt does: a
/// failure keeps the domain defined).
pub fn remove_nvram(r: &Removal) -> Result<(), RemoteError> {
    if let Some(p) = &r.nvram {
        std::fs::remove_file(p).map_err(|e| {
            RemoteError::new(
                remote_protocol::ErrorCode::SYSTEM_ERROR,
                remote_protocol::ErrorDomain::QEMU,
                format!("failed to remove nvram: {}: {e}", p.display()),
            )
        })?;
    }
    Ok(())
}

/// Removes the TPM state of a domain that is gone (best effort: the definition is
/// already removed; a failure is logged).
pub fn remove_tpm_state(domain: &str, r: &Removal) {
    if let Some(dir) = &r.tpm_state
        && let Err(e) = std::fs::remove_dir_all(dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(
            "domain '{domain}': cannot remove TPM state {}: {e}",
            dir.display()
        );
    }
}

/// A transient domain (never defined, or undefined while it ran) ends: like
/// libvirt, its TPM state goes with it.
pub fn remove_transient_state(paths: &Paths, def: &Domain) {
    if def.devices.tpms.iter().any(|t| t.is_emulator()) {
        let r = Removal {
            nvram: None,
            tpm_state: Some(tpm_state_dir(paths, def)),
        };
        remove_tpm_state(&def.name, &r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(os: &str, devices: &str) -> Domain {
        let xml = format!(
            "<domain type='qemu'><name>vm</name><uuid>00000000-0000-0000-0000-000000000007</uuid>\
             <memory unit='MiB'>64</memory>{os}<devices>{devices}</devices></domain>"
        );
        domain_xml::parse_domain(&xml).unwrap().value
    }

    const EFI: &str = "<os><type>hvm</type><loader readonly='yes' type='pflash'>/c.fd</loader>\
                       <nvram template='/t.fd'>/r/nvram/vm_VARS.fd</nvram></os>";

    #[test]
    fn nvram_needs_a_flag_while_it_exists() {
        let paths = Paths::rooted(Path::new("/r"));
        let d = def(EFI, "");
        let yes = |_: &Path| true;
        let e = plan_removal(&d, &paths, 0, &yes).unwrap_err();
        assert_eq!(
            e.message(),
            "Requested operation is not valid: cannot undefine domain with nvram"
        );
        let r = plan_removal(&d, &paths, UNDEFINE_NVRAM, &yes).unwrap();
        assert_eq!(r.nvram.as_deref(), Some(Path::new("/r/nvram/vm_VARS.fd")));
        let r = plan_removal(&d, &paths, UNDEFINE_KEEP_NVRAM, &yes).unwrap();
        assert_eq!(r, Removal::default());
        // Not created yet (never started): nothing to refuse.
        let r = plan_removal(&d, &paths, 0, &|_| false).unwrap();
        assert_eq!(r, Removal::default());
        assert!(check_flags(UNDEFINE_NVRAM | UNDEFINE_KEEP_NVRAM).is_err());
        assert!(check_flags(UNDEFINE_TPM | UNDEFINE_KEEP_TPM).is_err());
    }

    #[test]
    fn tpm_state_goes_unless_kept() {
        let paths = Paths::rooted(Path::new("/r"));
        let d = def(
            "<os><type>hvm</type></os>",
            "<tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>",
        );
        let r = plan_removal(&d, &paths, 0, &|_| true).unwrap();
        assert_eq!(
            r.tpm_state.as_deref(),
            Some(Path::new(
                "/r/var/lib/rvirt/swtpm/00000000-0000-0000-0000-000000000007"
            ))
        );
        let r = plan_removal(&d, &paths, UNDEFINE_KEEP_TPM, &|_| true).unwrap();
        assert_eq!(r.tpm_state, None);
    }
}
