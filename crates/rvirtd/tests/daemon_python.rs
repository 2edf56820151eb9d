//! libvirt-python (Debian python3-libvirt, run by /usr/bin/python3) against a real
//! `rvirtd --root`: the calls of issue 5's python acceptance.

mod daemon_support;

use daemon_support::{Daemon, kvm_xml, name};

const SCRIPT: &str = r#"
import os, sys, libvirt
uri, a, t = os.environ["URI"], os.environ["DOM_A"], os.environ["DOM_T"]
xml_a, xml_t = os.environ["XML_A"], os.environ["XML_T"]
c = libvirt.open(uri)
assert c.getType() == "QEMU", c.getType()
d = c.defineXML(xml_a)
assert d.name() == a
assert not d.isActive() and d.isPersistent()
assert d.state() == [libvirt.VIR_DOMAIN_SHUTOFF, 0], d.state()
u = d.UUIDString()
assert c.lookupByUUIDString(u).name() == a
assert c.lookupByName(a).UUIDString() == u
try:
    c.lookupByName("no-such-" + a)
    raise SystemExit("lookup of a missing domain succeeded")
except libvirt.libvirtError as e:
    assert e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN, e.get_error_code()
    assert "no domain with matching name" in str(e), str(e)
assert d.create() == 0
assert d.isActive()
i = d.ID()
assert i > 0
assert c.lookupByID(i).name() == a
st, maxmem, mem, ncpu, cpu = d.info()
assert st == libvirt.VIR_DOMAIN_RUNNING and maxmem == 131072 and ncpu == 1, d.info()
assert d.state() == [libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_BOOTED], d.state()
assert "id='%d'" % i in d.XMLDesc(0)
assert "<name>%s</name>" % a in d.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
names = [x.name() for x in c.listAllDomains(0)]
assert a in names, names
active = [x.name() for x in c.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)]
assert a in active, active
assert d.shutdown() == 0  # SeaBIOS without an OS: the press is just sent
assert d.destroy() == 0
assert d.state() == [libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_DESTROYED], d.state()
assert a in [x.name() for x in c.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_INACTIVE)]
tr = c.createXML(xml_t, 0)
assert tr.isActive() and not tr.isPersistent()
assert tr.ID() > i
tr.destroy()
assert t not in [x.name() for x in c.listAllDomains(0)]
d.undefine()
assert a not in [x.name() for x in c.listAllDomains(0)]
c.close()
print("PYTHON-OK")
"#;

#[test]
fn qemu_live_python_api() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    let mut d = Daemon::start();
    let a = name("pa");
    let t = name("pt");
    d.names.push(a.clone());
    d.names.push(t.clone());
    let mut c = d.client("/usr/bin/python3");
    c.arg("-c")
        .arg(SCRIPT)
        .env("URI", d.uri())
        .env("DOM_A", &a)
        .env("DOM_T", &t)
        .env("XML_A", kvm_xml(&a))
        .env("XML_T", kvm_xml(&t));
    let out = daemon_support::run(c);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("PYTHON-OK"),
        "python failed ({}):\n{stdout}\n{}\ndaemon log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        d.log_tail()
    );
    assert!(d.qemu_pids().is_empty());
    assert!(!d.root().join(format!("etc/rvirt/qemu/{a}.xml")).exists());
}

const EVENTS: &str = r#"
import os, threading, time, libvirt
libvirt.virEventRegisterDefaultImpl()
def loop():
    while True:
        libvirt.virEventRunDefaultImpl()
threading.Thread(target=loop, daemon=True).start()
c = libvirt.open(os.environ["URI"])
seen = []
def cb(conn, dom, event, detail, opaque):
    seen.append((dom.name(), event, detail))
c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, cb, None)
d = c.defineXML(os.environ["XML_A"])
d.create()
d.suspend()
d.resume()
d.destroy()
d.undefine()
deadline = time.monotonic() + 10
want = [(0, 0), (2, 0), (3, 0), (4, 0), (5, 1), (1, 0)]
while time.monotonic() < deadline and len(seen) < len(want):
    time.sleep(0.02)
got = [(e, dt) for (n, e, dt) in seen if n == os.environ["DOM_A"]]
assert got == want, got
print("EVENTS-OK")
"#;

/// Lifecycle events (defined, started, suspended, resumed, stopped/destroyed,
/// undefined) reach a python client that registered for them.
#[test]
fn qemu_live_python_lifecycle_events() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    let mut d = Daemon::start();
    let a = name("pe");
    d.names.push(a.clone());
    let mut c = d.client("/usr/bin/python3");
    c.arg("-c")
        .arg(EVENTS)
        .env("URI", d.uri())
        .env("DOM_A", &a)
        .env("XML_A", kvm_xml(&a));
    let out = daemon_support::run(c);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("EVENTS-OK"),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.log_tail()
    );
}
