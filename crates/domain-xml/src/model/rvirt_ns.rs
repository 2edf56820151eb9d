//! rvirt's own namespace (`urn:rvirt:schemas:domain:1.0`): per-VM grants for what a
//! `<qemu:commandline>` passthrough needs. libvirt has no way to tell its confinement
//! layers about paths passthrough arguments open; a grant does: every layer (private
//! `/dev`, cgroup device ACL, DAC, SELinux, Landlock) allows exactly the granted path.
//!
//! ```xml
//! <domain type='kvm' xmlns:rvirt='urn:rvirt:schemas:domain:1.0'>
//!   ...
//!   <rvirt:grant path='/dev/sdb' access='rw'/>
//!   <rvirt:grant path='/srv/fw/blob.bin' access='ro'/>
//! </domain>
//! ```
//! Written back canonically like the qemu namespace: `xmlns:rvirt` on `<domain>`, the
//! grants last. Checks that need the host (the path exists, does not lead into
//! `/proc` or `/sys`, no rw directory at `/`) happen when the domain is planned.

use crate::xml::{El, ParseError, XmlWriter};
use crate::xml_enum;

pub const RVIRT_NS: &str = "urn:rvirt:schemas:domain:1.0";

xml_enum! {
    pub enum GrantAccess { ReadOnly = "ro", ReadWrite = "rw" }
}

/// One path QEMU may use beyond what the modelled XML implies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub path: String,
    pub access: GrantAccess,
}

/// The syntax rule of a grant path (also for grants added to a running domain): a
/// plain absolute path, so what is granted is exactly what is named.
pub fn check_grant_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("grant path '{path}' must be absolute"));
    }
    if path.split('/').any(|c| c == ".." || c == ".")
        || path.contains("//")
        || (path.len() > 1 && path.ends_with('/'))
    {
        return Err(format!(
            "grant path '{path}' must be a plain absolute path (no '.', '..', '//' or trailing '/')"
        ));
    }
    Ok(())
}

/// Reads the grants of `<domain>` (namespace matched by URI, any prefix).
pub fn read_grants(domain: &El<'_, '_>) -> Result<Vec<Grant>, ParseError> {
    let mut grants: Vec<Grant> = Vec::new();
    for g in domain.children_ns(RVIRT_NS, "grant") {
        let path = g.req_attr("path")?.to_owned();
        check_grant_path(&path).map_err(|m| g.attr_err("path", m))?;
        let access = g
            .attr_enum::<GrantAccess>("access")?
            .unwrap_or(GrantAccess::ReadWrite);
        if grants.iter().any(|x| x.path == path) {
            return Err(g.attr_err("path", format!("'{path}' is granted twice")));
        }
        g.done()?;
        grants.push(Grant { path, access });
    }
    Ok(grants)
}

pub fn write_grants(grants: &[Grant], w: &mut XmlWriter<'_>) {
    for g in grants {
        w.start("rvirt:grant")
            .attr("path", &g.path)
            .attr("access", g.access);
        w.end();
    }
}
