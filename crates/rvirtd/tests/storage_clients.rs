//! The `dir` storage driver with the real clients against `rvirtd --root`:
//! virsh's pool-*/vol-* commands (define, build, start, autostart, list, info,
//! dumpxml, volumes, a daemon restart, destroy, delete, undefine) and
//! libvirt-python's storage API, with libvirt's error codes.

mod daemon_support;

use std::process::Command;

use daemon_support::{Daemon, name};

/// A small qcow2 (64 MiB virtual, a few hundred KiB on disk) made by qemu-img.
fn qcow2(path: &std::path::Path) {
    let out = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(path)
        .arg("64M")
        .output()
        .expect("qemu-img (install qemu-utils)");
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn qemu_live_storage_virsh_dir_pool() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    let mut d = Daemon::start();
    let caps = d.ok(&["pool-capabilities"]);
    assert!(caps.contains("<pool type='dir' supported='yes'>"), "{caps}");
    assert!(
        caps.contains("<pool type='logical' supported='no'>"),
        "{caps}"
    );
    let pool = name("stpool");
    let dir = d.root().join("images");
    let dir_s = dir.display().to_string();

    assert!(
        d.ok(&["pool-define-as", &pool, "dir", "--target", &dir_s])
            .contains(&format!("Pool {pool} defined"))
    );
    // Not built yet: starting names the missing directory.
    let e = d.fails(&["pool-start", &pool]);
    assert!(e.contains(&dir_s), "{e}");
    assert!(d.ok(&["pool-build", &pool]).contains("built"));
    assert!(dir.is_dir());
    assert!(d.ok(&["pool-start", &pool]).contains("started"));
    assert!(
        d.ok(&["pool-autostart", &pool])
            .contains("marked as autostarted")
    );
    std::fs::write(dir.join("a.img"), vec![0u8; 1 << 20]).unwrap();
    qcow2(&dir.join("b.qcow2"));
    std::fs::create_dir(dir.join("not-a-volume")).unwrap();
    d.ok(&["pool-refresh", &pool]);

    let list = d.ok(&["pool-list", "--all"]);
    let line = list
        .lines()
        .find(|l| l.split_whitespace().next() == Some(pool.as_str()))
        .unwrap_or_else(|| panic!("{pool} not in {list}"));
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>(),
        [pool.as_str(), "active", "yes"]
    );
    let info = d.ok(&["pool-info", &pool]);
    assert!(info.contains("State:          running"), "{info}");
    assert!(info.contains("Persistent:     yes"), "{info}");
    assert!(info.contains("Autostart:      yes"), "{info}");
    assert!(info.contains("Capacity:"), "{info}");
    let uuid = d.ok(&["pool-uuid", &pool]).trim().to_owned();
    assert!(d.ok(&["pool-info", &uuid]).contains(&pool));
    let xml = d.ok(&["pool-dumpxml", &pool]);
    assert!(xml.contains(&format!("<path>{dir_s}</path>")), "{xml}");
    assert!(xml.contains(&format!("<uuid>{uuid}</uuid>")), "{xml}");

    let vols = d.ok(&["vol-list", &pool]);
    let rows: Vec<Vec<&str>> = vols
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().collect())
        .filter(|r: &Vec<&str>| !r.is_empty())
        .collect();
    let (a, b) = (format!("{dir_s}/a.img"), format!("{dir_s}/b.qcow2"));
    assert_eq!(
        rows,
        [["a.img", a.as_str()], ["b.qcow2", b.as_str()]],
        "{vols}"
    );
    let vinfo = d.ok(&["vol-info", "--pool", &pool, "b.qcow2"]);
    assert!(vinfo.contains("Type:           file"), "{vinfo}");
    assert!(vinfo.contains("Capacity:       64.00 MiB"), "{vinfo}");
    let vinfo = d.ok(&["vol-info", &format!("{dir_s}/a.img")]);
    assert!(vinfo.contains("Capacity:       1.00 MiB"), "{vinfo}");
    assert_eq!(
        d.ok(&["vol-path", "--pool", &pool, "a.img"]).trim(),
        format!("{dir_s}/a.img")
    );
    assert_eq!(
        d.ok(&["vol-pool", &format!("{dir_s}/b.qcow2")]).trim(),
        pool
    );
    let vxml = d.ok(&["vol-dumpxml", "--pool", &pool, "b.qcow2"]);
    assert!(vxml.contains("<format type='qcow2'/>"), "{vxml}");
    assert!(
        vxml.contains("<capacity unit='bytes'>67108864</capacity>"),
        "{vxml}"
    );
    let e = d.fails(&["vol-info", "--pool", &pool, "nosuch.img"]);
    assert!(e.contains("Storage volume not found"), "{e}");
    let e = d.fails(&["pool-info", "no-such-pool"]);
    assert!(e.contains("Storage pool not found"), "{e}");

    // Volumes made and deleted through the pool: qcow2 by qemu-img, raw sparse.
    assert!(
        d.ok(&[
            "vol-create-as",
            &pool,
            "new.qcow2",
            "32M",
            "--format",
            "qcow2"
        ])
        .contains("Vol new.qcow2 created")
    );
    let vinfo = d.ok(&["vol-info", "--pool", &pool, "new.qcow2"]);
    assert!(vinfo.contains("Capacity:       32.00 MiB"), "{vinfo}");
    assert!(
        d.ok(&["vol-create-as", &pool, "new.raw", "2M"])
            .contains("created")
    );
    let vxml = d.ok(&["vol-dumpxml", "--pool", &pool, "new.raw"]);
    assert!(vxml.contains("<format type='raw'/>"), "{vxml}");
    assert!(vxml.contains("<mode>0600</mode>"), "{vxml}");
    let e = d.fails(&["vol-create-as", &pool, "new.raw", "2M"]);
    assert!(e.contains("exists already"), "{e}");
    // A clone (STORAGE_VOL_CREATE_XML_FROM) of the qemu-img-made qcow2.
    let out = d.ok(&["vol-clone", "--pool", &pool, "b.qcow2", "c.qcow2"]);
    assert!(out.contains("Vol c.qcow2 cloned from b.qcow2"), "{out}");
    let vinfo = d.ok(&["vol-info", "--pool", &pool, "c.qcow2"]);
    assert!(vinfo.contains("Capacity:       64.00 MiB"), "{vinfo}");
    d.ok(&["vol-delete", "--pool", &pool, "c.qcow2"]);
    assert!(
        d.ok(&["vol-delete", "--pool", &pool, "new.qcow2"])
            .contains("Vol new.qcow2 deleted")
    );
    assert!(
        d.ok(&["vol-delete", &format!("{dir_s}/new.raw")])
            .contains("deleted")
    );
    assert!(!dir.join("new.qcow2").exists() && !dir.join("new.raw").exists());

    // A daemon restart keeps the pool defined, running and autostart.
    d.stop();
    d.spawn();
    let info = d.ok(&["pool-info", &pool]);
    assert!(info.contains("State:          running"), "{info}");
    assert!(info.contains("Autostart:      yes"), "{info}");
    assert!(d.ok(&["vol-list", &pool]).contains("b.qcow2"));

    assert!(d.ok(&["pool-destroy", &pool]).contains("destroyed"));
    let e = d.fails(&["vol-list", &pool]);
    assert!(e.contains("is not active"), "{e}");
    assert!(
        d.ok(&["pool-list", "--inactive"]).contains(&pool),
        "inactive pool not listed"
    );
    // Delete removes the directory only once it is empty.
    assert!(d.fails(&["pool-delete", &pool]).contains(&dir_s));
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::create_dir(&dir).unwrap();
    assert!(d.ok(&["pool-delete", &pool]).contains("deleted"));
    assert!(!dir.exists());
    assert!(d.ok(&["pool-undefine", &pool]).contains("undefined"));
    assert!(!d.ok(&["pool-list", "--all"]).contains(&pool));
    assert!(
        !d.root()
            .join(format!("etc/rvirt/storage/{pool}.xml"))
            .exists()
    );
}

const PY: &str = r#"
import os, libvirt
uri, ro, name, target = os.environ["URI"], os.environ["RO_URI"], os.environ["POOL"], os.environ["TARGET"]
c = libvirt.open(uri)
# The daemon's first start made the pool `default` (in the root's var/lib/rvirt/images).
names = lambda f=0: [x.name() for x in c.listAllStoragePools(f)]
assert names() == ["default"], names()
dp = c.storagePoolLookupByName("default")
assert dp.isActive() and dp.autostart() == 1
xml = "<pool type='dir'><name>%s</name><target><path>%s</path></target></pool>" % (name, target)
p = c.storagePoolDefineXML(xml, 0)
assert p.name() == name and not p.isActive() and p.isPersistent()
assert c.listDefinedStoragePools() == [name] and c.numOfDefinedStoragePools() == 1
p.create(libvirt.VIR_STORAGE_POOL_CREATE_WITH_BUILD)
p.setAutostart(1)
assert p.isActive() and p.autostart() == 1
assert c.listStoragePools() == ["default", name] and c.numOfStoragePools() == 2
state, cap, alloc, avail = p.info()
assert state == libvirt.VIR_STORAGE_POOL_RUNNING and cap > 0 and avail <= cap, p.info()
u = p.UUIDString()
assert c.storagePoolLookupByUUIDString(u).name() == name
assert c.storagePoolLookupByName(name).UUIDString() == u
assert c.storagePoolLookupByTargetPath(target + "/").name() == name
for fn, arg in ((c.storagePoolLookupByName, "nope"), (c.storagePoolLookupByUUIDString, "00000000-0000-0000-0000-000000000001")):
    try:
        fn(arg)
        raise SystemExit("found a missing pool")
    except libvirt.libvirtError as e:
        assert e.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL, e.get_error_code()
        assert e.get_error_domain() == libvirt.VIR_FROM_STORAGE, e.get_error_domain()
with open(os.path.join(target, "disk.raw"), "wb") as f:
    f.truncate(8 << 20)
p.refresh(0)
assert p.listVolumes() == ["disk.raw"] and p.numOfVolumes() == 1
vols = p.listAllVolumes(0)
assert [v.name() for v in vols] == ["disk.raw"]
path = os.path.join(target, "disk.raw")
v = c.storageVolLookupByPath(path)
assert v.path() == path and v.key() == path and v.name() == "disk.raw"
t, vcap, valloc = v.info()
assert t == libvirt.VIR_STORAGE_VOL_FILE and vcap == 8 << 20 and valloc < vcap, v.info()
assert v.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2] == 8 << 20
assert "<format type='raw'/>" in v.XMLDesc(0)
assert v.storagePoolLookupByVolume().name() == name
assert p.storageVolLookupByName("disk.raw").key() == path
assert c.storageVolLookupByKey(path).name() == "disk.raw"
nv = p.createXML("<volume><name>n.qcow2</name><capacity unit='M'>16</capacity><target><format type='qcow2'/></target></volume>", 0)
assert nv.info()[1] == 16 << 20 and "<format type='qcow2'/>" in nv.XMLDesc(0)
try:
    p.createXML("<volume><name>n.qcow2</name><capacity>1</capacity></volume>", 0)
    raise SystemExit("created a volume twice")
except libvirt.libvirtError as e:
    assert e.get_error_code() == libvirt.VIR_ERR_STORAGE_VOL_EXIST, e.get_error_code()
nv.delete(0)
cl = p.createXMLFrom("<volume><name>c.qcow2</name><target><format type='qcow2'/></target></volume>", v, 0)
assert cl.info()[1] == 8 << 20 and "<format type='qcow2'/>" in cl.XMLDesc(0), cl.XMLDesc(0)
cl.delete(0)
assert p.listVolumes() == ["disk.raw"]
try:
    c.storageVolLookupByPath(os.path.join(target, "missing.img"))
    raise SystemExit("found a missing volume")
except libvirt.libvirtError as e:
    assert e.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL, e.get_error_code()
    assert "no storage vol with matching path" in str(e), str(e)
assert "<path>%s</path>" % target in p.XMLDesc(0)
assert "<capacity unit='bytes'>0</capacity>" in p.XMLDesc(libvirt.VIR_STORAGE_XML_INACTIVE)
# A second pool on the same directory is refused.
try:
    c.storagePoolDefineXML(xml.replace(name, name + "-2"), 0)
    raise SystemExit("second pool on one directory defined")
except libvirt.libvirtError as e:
    assert e.get_error_code() == libvirt.VIR_ERR_OPERATION_FAILED, e.get_error_code()
# Read-only connections may look, not change.
r = libvirt.openReadOnly(ro)
assert [x.name() for x in r.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE)] == ["default", name]
try:
    r.storagePoolLookupByName(name).destroy()
    raise SystemExit("read-only destroy succeeded")
except libvirt.libvirtError as e:
    assert e.get_error_code() == libvirt.VIR_ERR_OPERATION_DENIED, e.get_error_code()
r.close()
try:
    p.undefine()
    raise SystemExit("undefined an active pool")
except libvirt.libvirtError as e:
    assert e.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID, e.get_error_code()
p.destroy()
assert not p.isActive()
assert c.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_INACTIVE)[0].name() == name
p.setAutostart(0)
p.undefine()
assert names() == ["default"], names()
# A transient pool: started at once, gone when stopped.
tp = c.storagePoolCreateXML(xml.replace(name, name + "-t"), 0)
assert tp.isActive() and not tp.isPersistent()
tp.destroy()
assert names() == ["default"], names()
c.close()
print("STORAGE-PY-OK")
"#;

#[test]
fn qemu_live_storage_python_api() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    let d = Daemon::start();
    let target = d.root().join("py-images");
    let mut c = d.client("/usr/bin/python3");
    c.arg("-c")
        .arg(PY)
        .env("URI", d.uri())
        .env("RO_URI", d.ro_uri())
        .env("POOL", name("pypool"))
        .env("TARGET", &target);
    let out = daemon_support::run(c);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("STORAGE-PY-OK"),
        "python failed ({}):\n{stdout}\n{}\ndaemon log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        d.log_tail()
    );
}

/// `<disk type='volume'>`: a volume of the pool `default` (made by the
/// daemon's first start) is the disk QEMU opens; the definition keeps naming
/// the pool and volume; a stopped pool refuses the start.
#[test]
fn qemu_live_storage_volume_disk() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    let mut d = Daemon::start();
    let n = name("stvol");
    assert!(
        d.ok(&["vol-create-as", "default", "vd.img", "1M"])
            .contains("created")
    );
    let path = d.root().join("var/lib/rvirt/images/vd.img");
    let xml = format!(
        "<domain type='kvm'><name>{n}</name><memory unit='MiB'>128</memory>\
         <os><type arch='x86_64' machine='pc'>hvm</type></os><devices>\
         <disk type='volume' device='disk'><driver name='qemu' type='raw'/>\
         <source pool='default' volume='vd.img'/><target dev='vda' bus='virtio'/></disk>\
         </devices></domain>"
    );
    d.define(&n, &xml);
    d.ok(&["pool-destroy", "default"]);
    let e = d.fails(&["start", &n]);
    assert!(e.contains("storage pool 'default' is not active"), "{e}");
    d.ok(&["pool-start", "default"]);
    d.ok(&["start", &n]);
    let pid = d.qemu_pid(&n);
    let cmdline = String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap())
        .replace('\0', " ");
    assert!(cmdline.contains(&path.display().to_string()), "{cmdline}");
    let inactive = d.ok(&["dumpxml", "--inactive", &n]);
    assert!(
        inactive.contains("<disk type='volume' device='disk'>"),
        "{inactive}"
    );
    assert!(
        inactive.contains("<source pool='default' volume='vd.img'/>"),
        "{inactive}"
    );
    d.ok(&["destroy", &n]);
    d.ok(&["undefine", &n]);
}
