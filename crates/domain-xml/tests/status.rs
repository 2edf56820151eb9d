//! The status file round-trips, keeping daemon-private records verbatim.

use domain_xml::status::DomainStatus;

const STATUS: &str = "<domstatus state='running' reason='booted' pid='4242'>
  <taint flag='custom-argv'/>
  <taint flag='high-privileges'/>
  <monitor path='/var/lib/rvirt/qemu/domain-3-vm/monitor.sock' type='unix'/>
  <namespaces>
    <mount/>
  </namespaces>
  <libDir path='/var/lib/rvirt/qemu/domain-3-vm'/>
  <rvirt:process xmlns:rvirt='urn:rvirt:status:1' starttime='123456'/>
  <domain type='qemu' id='3' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
    <name>vm</name>
    <uuid>0d0d0d0d-2222-3333-4444-555555555555</uuid>
    <memory unit='KiB'>131072</memory>
    <currentMemory unit='KiB'>131072</currentMemory>
    <vcpu placement='static'>1</vcpu>
    <os>
      <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
      <boot dev='hd'/>
    </os>
    <clock offset='utc'/>
    <on_poweroff>destroy</on_poweroff>
    <on_reboot>restart</on_reboot>
    <on_crash>destroy</on_crash>
    <devices/>
    <seclabel type='dynamic' model='dac' relabel='yes'>
      <label>+64055:+64055</label>
      <imagelabel>+64055:+64055</imagelabel>
    </seclabel>
    <qemu:commandline>
      <qemu:arg value='-S'/>
    </qemu:commandline>
  </domain>
</domstatus>
";

#[test]
fn status_round_trips_byte_for_byte() {
    let s = DomainStatus::parse(STATUS).unwrap();
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let s = s.value;
    assert_eq!(s.pid, 4242);
    assert_eq!(s.state, "running");
    assert_eq!(s.taints, ["custom-argv", "high-privileges"]);
    assert!(s.mount_namespace);
    assert_eq!(s.domain.id, Some(3));
    assert_eq!(s.domain.qemu.args, ["-S"]);
    assert_eq!(s.private.len(), 1);
    assert_eq!(s.to_xml(), STATUS);
}

#[test]
fn status_errors_name_the_problem() {
    let e = DomainStatus::parse("<domstatus state='running'/>").unwrap_err();
    assert_eq!(e.to_string(), "1:1: <domstatus> needs a 'pid'");
    let e =
        DomainStatus::parse("<domstatus state='running' pid='1'><monitor path='/x'/></domstatus>")
            .unwrap_err();
    assert_eq!(e.to_string(), "1:1: <domstatus> needs the live <domain>");
}
