//! Define-time defaults match what libvirt 9.0 adds, and are idempotent.

use domain_xml::defaults::{DefaultsContext, apply};

fn ctx_resolve(m: &str) -> Option<String> {
    match m {
        "pc" => Some("pc-i440fx-7.2".into()),
        "q35" => Some("pc-q35-7.2".into()),
        _ => None,
    }
}

fn defaulted(xml: &str) -> String {
    let mut d = domain_xml::parse_domain_with(xml, &mut || uuid::Uuid::from_u128(1))
        .unwrap()
        .value;
    let ctx = DefaultsContext {
        emulator: "/usr/bin/qemu-system-x86_64",
        arch: "x86_64",
        default_machine: "pc-i440fx-7.2",
        resolve_machine: &ctx_resolve,
    };
    apply(&mut d, &ctx);
    let once = d.to_xml();
    apply(&mut d, &ctx);
    assert_eq!(d.to_xml(), once, "defaults must be idempotent");
    once
}

#[test]
fn pc_guest_gets_libvirt_defaults() {
    let out = defaulted(
        "<domain type='kvm'><name>anchor</name><memory unit='MiB'>128</memory><os><type>hvm</type></os>\
         <devices><serial type='pty'/></devices></domain>",
    );
    let expected = "<domain type='kvm'>
  <name>anchor</name>
  <uuid>00000000-0000-0000-0000-000000000001</uuid>
  <memory unit='KiB'>131072</memory>
  <currentMemory unit='KiB'>131072</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
    <boot dev='hd'/>
  </os>
  <cpu mode='custom' match='exact' check='none'>
    <model fallback='forbid'>qemu64</model>
  </cpu>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' index='0' model='piix3-uhci'/>
    <controller type='pci' index='0' model='pci-root'/>
    <serial type='pty'>
      <target type='isa-serial' port='0'>
        <model name='isa-serial'/>
      </target>
    </serial>
    <console type='pty'>
      <target type='serial' port='0'/>
    </console>
    <input type='mouse' bus='ps2'/>
    <input type='keyboard' bus='ps2'/>
    <audio id='1' type='none'/>
    <memballoon model='virtio'/>
  </devices>
</domain>
";
    assert_eq!(out, expected);
}

#[test]
fn q35_alias_and_controllers() {
    let out = defaulted(
        "<domain type='qemu'><name>q</name><memory>1024</memory><os><type machine='q35'>hvm</type></os>\
         <cpu mode='host-model'/><devices><console type='pty'/></devices></domain>",
    );
    assert!(
        out.contains("<type arch='x86_64' machine='pc-q35-7.2'>hvm</type>"),
        "{out}"
    );
    assert!(
        out.contains("<controller type='usb' index='0' model='qemu-xhci'/>"),
        "{out}"
    );
    assert!(
        out.contains("<controller type='pci' index='0' model='pcie-root'/>"),
        "{out}"
    );
    assert!(
        out.contains("<cpu mode='host-model' check='partial'/>"),
        "{out}"
    );
    // The console gets the serial port behind it.
    assert!(
        out.contains("<serial type='pty'>\n      <target type='isa-serial' port='0'>"),
        "{out}"
    );
}
