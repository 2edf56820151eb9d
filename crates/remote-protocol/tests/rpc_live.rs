//! Live tests against the real Debian `virsh` and libvirt-python.

mod common;

use common::{DOMAIN_XML, TestServer};

#[test]
fn rpc_live_version() {
    let s = TestServer::start();
    let out = s.virsh_ok(&["version"]);
    println!("{out}");
    assert!(out.contains("Using API: QEMU"), "{out}");
    assert!(out.contains("Running hypervisor: QEMU 7.2.0"), "{out}");
}
