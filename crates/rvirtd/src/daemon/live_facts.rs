//! What only the running QEMU knows, written into the live XML after a start and
//! again after a reconnect: the pty paths of serial ports and consoles
//! ([`super::console`]) and where the VNC display listens, which `virsh
//! domdisplay`/`vncdisplay` read from the live XML (libvirt's live XML has them
//! the same way).

use std::path::Path;

use domain_xml::model::AttrSet;
use domain_xml::model::devices::GraphicsType;

use super::Daemon;
use super::vm::Vm;
use crate::registry::DomainObj;

/// Records every fact of this file in the live definition and the status file.
pub async fn record(d: &Daemon, obj: &DomainObj, vm: &Vm) {
    super::console::record_ptys(d, obj, vm).await;
    record_vnc(d, obj, vm).await;
}

/// Fills the VNC listener of `def` from QEMU's `query-vnc` answer (`vnc`) and
/// the domain's private directory: the UNIX socket the planner gives a display
/// without a listen address, or the port QEMU picked for an automatic one.
/// `true` when something changed.
pub fn apply_vnc(
    def: &mut domain_xml::Domain,
    vnc: &serde_json::Value,
    lib_dir: Option<&Path>,
) -> bool {
    let Some(g) = def
        .devices
        .graphics
        .iter_mut()
        .find(|g| g.gtype == GraphicsType::Vnc)
    else {
        return false;
    };
    if vnc["enabled"].as_bool() != Some(true) {
        return false;
    }
    let ltype = g
        .listens
        .first()
        .and_then(|l| l.get("type"))
        .map(str::to_owned);
    match ltype.as_deref() {
        None | Some("socket") => {
            let has_path = g.listens.first().and_then(|l| l.get("socket")).is_some();
            if has_path {
                return false;
            }
            let Some(lib) = lib_dir else { return false };
            let mut l = AttrSet::default();
            l.set("type", "socket");
            l.set("socket", lib.join("vnc.sock").to_string_lossy());
            g.listens = vec![l];
            true
        }
        Some("address") if g.port.is_none_or(|p| p < 0) => {
            let Some(port) = vnc["service"].as_str().and_then(|s| s.parse::<i32>().ok()) else {
                return false;
            };
            g.port = Some(port);
            true
        }
        _ => false,
    }
}

async fn record_vnc(d: &Daemon, obj: &DomainObj, vm: &Vm) {
    let st = vm.status();
    if !st
        .domain
        .devices
        .graphics
        .iter()
        .any(|g| g.gtype == GraphicsType::Vnc)
    {
        return;
    }
    let Some(q) = vm.qmp() else { return };
    let vnc = match q.execute("query-vnc", None).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!("domain '{}': query-vnc: {e}", vm.name);
            return;
        }
    };
    let mut def = st.domain;
    if !apply_vnc(&mut def, &vnc, st.lib_dir.as_deref()) {
        return;
    }
    let live = std::sync::Arc::new(def.clone());
    vm.update_status(d, |s| s.domain = def);
    obj.update(|s| {
        if s.live.is_some() {
            s.live = Some(live);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(graphics: &str) -> domain_xml::Domain {
        domain_xml::parse_domain(&format!(
            "<domain type='kvm'><name>v</name><memory>131072</memory><os><type>hvm</type></os>\
             <devices>{graphics}</devices></domain>"
        ))
        .unwrap()
        .value
    }

    #[test]
    fn socket_display_gets_its_path() {
        let mut d = def("<graphics type='vnc'/>");
        let on = json!({"enabled": true, "family": "unix"});
        assert!(apply_vnc(&mut d, &on, Some(Path::new("/run/x/domain-1-v"))));
        let xml = d.to_xml();
        assert!(
            xml.contains("<listen type='socket' socket='/run/x/domain-1-v/vnc.sock'/>"),
            "{xml}"
        );
        assert!(!apply_vnc(
            &mut d,
            &on,
            Some(Path::new("/run/x/domain-1-v"))
        ));
        let mut d = def(
            "<graphics type='vnc' autoport='yes'><listen type='address' address='127.0.0.1'/></graphics>",
        );
        assert!(apply_vnc(
            &mut d,
            &json!({"enabled": true, "service": "5901"}),
            None
        ));
        assert_eq!(d.devices.graphics[0].port, Some(5901));
        let mut d = def("");
        assert!(!apply_vnc(&mut d, &on, None));
    }
}
