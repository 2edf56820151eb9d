use super::*;

/// The driver's directories under `root`, without the default pool.
fn dirs(root: &Path) -> StorageDirs {
    StorageDirs {
        default_pool: None,
        ..StorageDirs::beside(
            &root.join("etc/rvirt/qemu"),
            &root.join("run/rvirt/qemu"),
            &root.join("var/lib/rvirt/qemu"),
        )
    }
}

#[test]
fn the_first_start_makes_the_default_pool() {
    let root = tempfile::tempdir().unwrap();
    let d = StorageDirs::beside(
        &root.path().join("etc/rvirt/qemu"),
        &root.path().join("run/rvirt/qemu"),
        &root.path().join("var/lib/rvirt/qemu"),
    );
    let s = Storage::load(d.clone()).unwrap();
    let p = s.by_name("default").unwrap();
    let images = root.path().join("var/lib/rvirt/images");
    assert_eq!(p.def.target, images.display().to_string());
    assert!(p.active && p.persistent && p.autostart);
    s.destroy("default").unwrap();
    s.set_autostart("default", false).unwrap();
    s.undefine("default").unwrap();
    drop(s);
    // Undefined stays undefined.
    let s = Storage::load(d).unwrap();
    assert!(s.all().is_empty());
}

fn pool_xml(name: &str, target: &Path) -> String {
    format!(
        "<pool type='dir'><name>{name}</name><target><path>{}</path></target></pool>",
        target.display()
    )
}

#[test]
fn define_start_restart_autostart() {
    let root = tempfile::tempdir().unwrap();
    let images = root.path().join("images");
    let s = Storage::load(dirs(root.path())).unwrap();
    let p = s.define(&pool_xml("img", &images)).unwrap();
    assert!(p.persistent && !p.active && !p.autostart);
    // No directory yet: start fails naming it; build makes it.
    let e = s.start("img", 0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::System);
    assert!(e.to_string().contains(&images.display().to_string()), "{e}");
    s.build("img").unwrap();
    s.start("img", 0).unwrap();
    assert_eq!(s.start("img", 0).unwrap_err().kind(), ErrorKind::Invalid);
    std::fs::write(images.join("b.img"), [0u8; 512]).unwrap();
    std::fs::write(images.join("a.img"), [0u8; 512]).unwrap();
    std::fs::create_dir(images.join("sub")).unwrap();
    let vols = volumes(&s.active("img").unwrap()).unwrap();
    let names: Vec<_> = vols.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["a.img", "b.img"]);
    let by_path = s
        .vol_by_path(&format!("{}//a.img", images.display()), false)
        .unwrap();
    assert_eq!(by_path.path, format!("{}/a.img", images.display()));
    assert_eq!(
        s.vol_by_path("/nonexistent/a.img", false)
            .unwrap_err()
            .kind(),
        ErrorKind::NoVol
    );
    assert_eq!(
        s.vol_by_path(&format!("{}/sub", images.display()), false)
            .unwrap_err()
            .kind(),
        ErrorKind::NoVol
    );
    s.set_autostart("img", true).unwrap();
    // Another pool on the same directory is refused; so is a name with another UUID.
    let e = s.define(&pool_xml("img2", &images)).unwrap_err();
    assert_eq!(e.to_string(), "Storage source conflict with pool: 'img'");
    assert_eq!(
        s.define(&pool_xml("img", &root.path().join("x")))
            .unwrap_err()
            .kind(),
        ErrorKind::Failed
    );
    let uuid = p.def.uuid;
    drop(s);

    // A restart: still defined, running and autostart.
    let s = Storage::load(dirs(root.path())).unwrap();
    let p = s.by_uuid(uuid).unwrap();
    assert!(p.active && p.persistent && p.autostart);
    assert_eq!(s.undefine("img").unwrap_err().kind(), ErrorKind::Invalid);
    s.destroy("img").unwrap();
    assert_eq!(
        s.vol_by_name("img", "a.img").unwrap_err().kind(),
        ErrorKind::Invalid
    );
    drop(s);

    // Stopped but autostart: the restart starts it.
    let s = Storage::load(dirs(root.path())).unwrap();
    assert!(s.by_name("img").unwrap().active);
    s.destroy("img").unwrap();
    s.set_autostart("img", false).unwrap();
    drop(s);
    let s = Storage::load(dirs(root.path())).unwrap();
    assert!(!s.by_name("img").unwrap().active);
    s.undefine("img").unwrap();
    assert_eq!(s.by_name("img").unwrap_err().kind(), ErrorKind::NoPool);
    drop(s);
    let s = Storage::load(dirs(root.path())).unwrap();
    assert!(s.all().is_empty());
}

#[test]
fn transient_pools_go_away_when_stopped() {
    let root = tempfile::tempdir().unwrap();
    let t = root.path().join("t");
    let s = Storage::load(dirs(root.path())).unwrap();
    let p = s.create_transient(&pool_xml("t", &t), true).unwrap();
    assert!(p.active && !p.persistent);
    assert_eq!(
        s.set_autostart("t", true).unwrap_err().kind(),
        ErrorKind::Invalid
    );
    drop(s);
    let s = Storage::load(dirs(root.path())).unwrap();
    assert!(s.by_name("t").unwrap().active);
    s.destroy("t").unwrap();
    assert!(s.all().is_empty());
    // The directory is left; delete removes it when empty.
    assert!(t.is_dir());
}

#[test]
fn pool_xml_of_a_running_pool_has_sizes() {
    let root = tempfile::tempdir().unwrap();
    let t = root.path().join("p");
    std::fs::create_dir(&t).unwrap();
    let s = Storage::load(dirs(root.path())).unwrap();
    s.define(&pool_xml("p", &t)).unwrap();
    let inactive = s.pool_xml(&s.by_name("p").unwrap(), false);
    assert!(
        inactive.contains("<capacity unit='bytes'>0</capacity>"),
        "{inactive}"
    );
    s.start("p", 0).unwrap();
    let p = s.by_name("p").unwrap();
    assert!(s.sizes(&p).capacity > 0);
    let live = s.pool_xml(&p, false);
    assert!(live.contains("<permissions>"), "{live}");
    assert_eq!(
        s.by_target(&format!("{}/", t.display())).unwrap().def.name,
        "p"
    );
}

#[test]
fn raw_volumes_are_created_and_deleted() {
    let root = tempfile::tempdir().unwrap();
    let t = root.path().join("v");
    let s = Storage::load(dirs(root.path())).unwrap();
    s.define(&pool_xml("v", &t)).unwrap();
    let vol = "<volume><name>r.img</name><capacity unit='MiB'>4</capacity>\
               <allocation unit='KiB'>64</allocation></volume>";
    // Not running: refused before anything is made.
    assert_eq!(
        s.create_vol("v", vol, 0).unwrap_err().kind(),
        ErrorKind::Invalid
    );
    s.start("v", 1).unwrap();
    let v = s.create_vol("v", vol, 0).unwrap();
    assert_eq!(v.path, format!("{}/r.img", t.display()));
    let f = vol_facts(&v).unwrap();
    assert_eq!((f.capacity, f.physical), (4 << 20, 4 << 20));
    assert!(f.allocation >= 64 << 10 && f.allocation < 4 << 20, "{f:?}");
    assert_eq!(f.perms.mode, Some(0o600));
    let e = s.create_vol("v", vol, 0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::VolExists);
    assert_eq!(e.to_string(), "storage volume 'r.img' exists already");
    // A refused definition leaves nothing behind.
    let bad = "<volume><name>b.img</name><capacity>1</capacity>\
               <backingStore><path>/x</path></backingStore></volume>";
    assert_eq!(
        s.create_vol("v", bad, 0).unwrap_err().kind(),
        ErrorKind::Unsupported
    );
    assert!(!t.join("b.img").exists());
    // Resize: grow (reserving), refuse a shrink without SHRINK, shrink with it.
    s.resize_vol("v", "r.img", 8 << 20, 1).unwrap();
    let f = vol_facts(&v).unwrap();
    assert_eq!(f.capacity, 8 << 20);
    assert!(f.allocation >= 4 << 20, "{f:?}");
    let e = s.resize_vol("v", "r.img", 6 << 20, 0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArg);
    assert!(e.to_string().contains("unless shrink flag"), "{e}");
    s.resize_vol("v", "r.img", 1 << 20, 2).unwrap();
    assert_eq!(vol_facts(&v).unwrap().capacity, 9 << 20);
    s.delete_vol("v", "r.img").unwrap();
    assert!(!t.join("r.img").exists());
    assert_eq!(
        s.delete_vol("v", "r.img").unwrap_err().kind(),
        ErrorKind::NoVol
    );
}
