//! Who a disk image should be owned by: `dynamic_ownership`, the domain's and the
//! disk's `<seclabel model='dac'>`, and the qemu.conf account.

use super::accounts::PasswdDb;
use super::error::DacError;

/// A `<seclabel model='dac'>` as the XML layer parsed it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DacSeclabel {
    /// `type='none'`.
    pub none: bool,
    /// `relabel` (default yes).
    pub relabel: bool,
    pub label: Option<String>,
    pub imagelabel: Option<String>,
}

/// Who a disk image should be owned by, or `None` when it must not be touched.
///
/// * `dynamic_ownership = 0`, a domain label with `type='none'` or `relabel='no'`, or a
///   disk `<seclabel model='dac' relabel='no'/>`: `None`;
/// * a disk `<label>` wins, then the domain `<imagelabel>`, then the domain `<label>`,
///   then the qemu.conf account;
/// * `remember` is true only for the top of a chain that is neither read-only nor
///   shared (libvirt never restores shared resources).
#[allow(clippy::too_many_arguments)]
pub fn image_owner(
    db: &PasswdDb,
    dynamic_ownership: bool,
    domain: Option<&DacSeclabel>,
    disk: Option<&DacSeclabel>,
    account: (u32, u32),
    chain_top: bool,
    readonly: bool,
    shared: bool,
) -> Result<Option<(u32, u32, bool)>, DacError> {
    if !dynamic_ownership {
        return Ok(None);
    }
    if let Some(d) = domain
        && (d.none || !d.relabel)
    {
        return Ok(None);
    }
    let remember = chain_top && !readonly && !shared;
    if let Some(s) = disk {
        if !s.relabel {
            return Ok(None);
        }
        if let Some(l) = &s.label {
            let (u, g) = db.parse_ownership(l)?;
            return Ok(Some((u, g, remember)));
        }
    }
    let (u, g) = match domain.and_then(|d| d.imagelabel.as_ref().or(d.label.as_ref())) {
        Some(l) => db.parse_ownership(l)?,
        None => account,
    };
    Ok(Some((u, g, remember)))
}
