//! A VNC display on a TCP address with `autoport` and a password, started by
//! `rvirtd`: the live XML shows the port chosen, QEMU listens there, and the
//! password (set over QMP, never on the command line) makes QEMU offer VNC
//! authentication only.

mod daemon_support;

use std::io::{Read, Write};
use std::time::Duration;

use daemon_support::{Daemon, name};

#[test]
fn qemu_live_graphics_vnc_autoport_password() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    let mut d = Daemon::start();
    let n = name("gvnc");
    let xml = format!(
        "<domain type='qemu'><name>{n}</name><memory unit='MiB'>64</memory>\
         <os><type arch='x86_64' machine='pc'>hvm</type></os><devices>\
         <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1' passwd='opensesame'>\
         <listen type='address' address='127.0.0.1'/></graphics>\
         <memballoon model='none'/></devices></domain>"
    );
    d.define(&n, &xml);
    d.ok(&["start", &n]);

    let live = d.ok(&["dumpxml", &n]);
    let at = live
        .find("<graphics type='vnc' port='")
        .expect("graphics in live XML")
        + 27;
    let port: u16 = live[at..at + live[at..].find('\'').unwrap()]
        .parse()
        .unwrap_or_else(|_| panic!("no port in {live}"));
    assert!(port >= 5900, "{live}");
    assert!(
        live.contains("<listen type='address' address='127.0.0.1'/>"),
        "{live}"
    );
    assert!(live.contains("<domain type='qemu' id="), "{live}");
    let inactive = d.ok(&["dumpxml", "--inactive", &n]);
    assert!(inactive.contains("port='-1' autoport='yes'"), "{inactive}");
    // Passwords only with --security-info (VIR_DOMAIN_XML_SECURE), as libvirt.
    assert!(
        !live.contains("opensesame") && !inactive.contains("opensesame"),
        "{live}"
    );
    let secure = d.ok(&["dumpxml", "--security-info", "--inactive", &n]);
    assert!(secure.contains("passwd='opensesame'"), "{secure}");

    // The password never appears on QEMU's command line.
    let pid = d.qemu_pid(&n);
    let cmdline = String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap())
        .replace('\0', " ");
    assert!(!cmdline.contains("opensesame"), "{cmdline}");
    assert!(
        cmdline.contains(&format!("-vnc 127.0.0.1:{},password=on", port - 5900)),
        "{cmdline}"
    );

    // RFB handshake: version, then the security types QEMU offers.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("VNC port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut version = [0u8; 12];
    s.read_exact(&mut version).unwrap();
    assert_eq!(&version[..4], b"RFB ", "{version:?}");
    s.write_all(b"RFB 003.008\n").unwrap();
    let mut count = [0u8; 1];
    s.read_exact(&mut count).unwrap();
    let mut types = vec![0u8; count[0] as usize];
    s.read_exact(&mut types).unwrap();
    assert_eq!(
        types,
        [2],
        "only VNC authentication (2) is offered once a password is set"
    );

    assert!(d.ok(&["destroy", &n]).contains("destroyed"));
}
