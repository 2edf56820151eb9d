//! Creating, resizing and deleting volumes of a running `dir` pool: raw
//! files made here (sparse, with the allocation asked for reserved by
//! `fallocate`), qcow2 files made and resized by `qemu-img`; mode 0600 unless
//! the XML gives one (libvirt's default), owner and group as given.

use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use super::xml::VolFormat;
use super::{Result, Storage, StorageError, Vol, io, probe, vol_of, volxml};

/// `VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA`.
const PREALLOC_METADATA: u32 = 1;
/// libvirt's default mode of a new volume.
const DEFAULT_MODE: u32 = 0o600;

impl Storage {
    /// Creates the volume `xml` describes in the running pool `pool`.
    pub fn create_vol(&self, pool: &str, xml: &str, flags: u32) -> Result<Vol> {
        let p = self.active(pool)?;
        let def = volxml::parse_vol(xml)?;
        let path = Path::new(&p.def.target).join(&def.name);
        let perms = def.perms.clone().unwrap_or_default();
        let mode = perms.mode.unwrap_or(DEFAULT_MODE);
        // Reserves the name: two creates of one volume never both succeed.
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => StorageError::VolExists(def.name.clone()),
                _ => io("create", &path)(e),
            })?;
        let made = match def.format {
            VolFormat::Qcow2 => {
                drop(file);
                qemu_img_create(&path, &def, flags)
            }
            VolFormat::Raw | VolFormat::Iso => raw(&file, &path, &def),
        }
        .and_then(|()| {
            // The mode again: `open` applied the umask.
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .map_err(io("set mode of", &path))?;
            chown(&path, &perms)
        });
        if let Err(e) = made {
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        Ok(vol_of(&p, &def.name))
    }

    /// Creates the volume `xml` describes in the running pool `pool` as a
    /// copy of `from` (`qemu-img convert`, which keeps holes; the format may
    /// change), at least as large as the original.
    pub fn clone_vol(&self, pool: &str, xml: &str, from: &Vol) -> Result<Vol> {
        let p = self.active(pool)?;
        let src = self.vol_by_name(&from.pool, &from.name)?;
        let src_facts = super::vol_facts(&src)?;
        let def = volxml::parse_clone(xml)?;
        if def.backing.is_some() {
            return Err(StorageError::RawBacking(def.name.clone()));
        }
        let path = Path::new(&p.def.target).join(&def.name);
        let perms = def.perms.clone().unwrap_or_default();
        let mode = perms.mode.unwrap_or(DEFAULT_MODE);
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => StorageError::VolExists(def.name.clone()),
                _ => io("create", &path)(e),
            })?;
        let made = (|| {
            let mut c = Command::new("qemu-img");
            c.args(["convert", "-q", "-f", src_facts.format.as_str(), "-O"])
                .arg(def.format.as_str())
                .arg(&src.path)
                .arg(&path);
            run_qemu_img(c, &path)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .map_err(io("set mode of", &path))?;
            chown(&path, &perms)?;
            let vol = vol_of(&p, &def.name);
            if let Some(cap) = def.capacity.filter(|c| *c > src_facts.capacity) {
                self.resize_vol(pool, &def.name, cap, 0)?;
            }
            Ok(vol)
        })();
        if made.is_err() {
            let _ = fs::remove_file(&path);
        }
        made
    }

    /// Resizes a volume (`virStorageVolResize`): `flags` ALLOCATE (1)
    /// reserves the new bytes of a raw file, DELTA (2) makes `capacity` a
    /// change, SHRINK (4) allows making it smaller.
    pub fn resize_vol(&self, pool: &str, name: &str, capacity: u64, flags: u32) -> Result<()> {
        const ALLOCATE: u32 = 1;
        const DELTA: u32 = 2;
        const SHRINK: u32 = 4;
        let p = self.active(pool)?;
        let v = self.vol_by_name(pool, name)?;
        let f = super::vol_facts(&v)?;
        let target = match (flags & DELTA != 0, flags & SHRINK != 0) {
            (true, true) => f.capacity - capacity.min(f.capacity),
            (true, false) => f.capacity.saturating_add(capacity),
            (false, _) => capacity,
        };
        if target < f.allocation {
            return Err(StorageError::BadResize(
                "can't shrink capacity below existing allocation",
            ));
        }
        if target < f.capacity && flags & SHRINK == 0 {
            return Err(StorageError::BadResize(
                "Can't shrink capacity below current capacity unless shrink flag explicitly specified",
            ));
        }
        if flags & ALLOCATE != 0 && target - f.allocation > self.sizes(&p).available {
            return Err(StorageError::NoSpace);
        }
        let path = Path::new(&v.path);
        match f.format {
            VolFormat::Qcow2 => {
                if flags & ALLOCATE != 0 {
                    return Err(StorageError::AllocateQcow2);
                }
                let mut c = Command::new("qemu-img");
                c.args(["resize", "-q", "-f", "qcow2"]);
                if target < f.capacity {
                    c.arg("--shrink");
                }
                c.arg(path).arg(target.to_string());
                run_qemu_img(c, path)
            }
            VolFormat::Raw | VolFormat::Iso => {
                let file = fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(io("open", path))?;
                if flags & ALLOCATE != 0 && target > f.capacity {
                    rustix::fs::fallocate(
                        &file,
                        rustix::fs::FallocateFlags::empty(),
                        f.capacity,
                        target - f.capacity,
                    )
                    .map_err(|e| io("allocate", path)(e.into()))?;
                }
                file.set_len(target).map_err(io("resize", path))
            }
        }
    }

    /// Deletes a volume (its file) of a running pool.
    pub fn delete_vol(&self, pool: &str, name: &str) -> Result<()> {
        let v = self.vol_by_name(pool, name)?;
        let path = Path::new(&v.path);
        fs::remove_file(path).map_err(io("remove", path))
    }
}

/// The owner and group the XML gives (unset or -1: left as made).
fn chown(path: &Path, perms: &super::xml::Perms) -> Result<()> {
    let id = |v: Option<i64>| v.filter(|v| *v >= 0).and_then(|v| u32::try_from(v).ok());
    let (uid, gid) = (id(perms.owner), id(perms.group));
    if uid.is_some() || gid.is_some() {
        rustix::fs::chown(
            path,
            uid.map(rustix::fs::Uid::from_raw),
            gid.map(rustix::fs::Gid::from_raw),
        )
        .map_err(|e| io("change owner of", path)(e.into()))?;
    }
    Ok(())
}

/// A raw file: `capacity` bytes, sparse except for `allocation` reserved.
fn raw(file: &fs::File, path: &Path, def: &volxml::VolDef) -> Result<()> {
    if def.backing.is_some() {
        return Err(StorageError::RawBacking(def.name.clone()));
    }
    let capacity = def.capacity.unwrap_or(0);
    file.set_len(capacity).map_err(io("resize", path))?;
    let alloc = def.allocation.unwrap_or(0).min(capacity);
    if alloc > 0 {
        rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, alloc)
            .map_err(|e| io("allocate", path)(e.into()))?;
    }
    Ok(())
}

/// `qemu-img create -f qcow2 [-o preallocation=metadata] [-b B -F FMT] PATH [SIZE]`.
fn qemu_img_create(path: &Path, def: &volxml::VolDef, flags: u32) -> Result<()> {
    let mut c = Command::new("qemu-img");
    c.args(["create", "-q", "-f", "qcow2"]);
    if flags & PREALLOC_METADATA != 0 {
        c.args(["-o", "preallocation=metadata"]);
    }
    if let Some((backing, fmt)) = &def.backing {
        let fmt = match fmt {
            Some(f) => f.clone(),
            None => probe::probe(Path::new(backing), "")
                .ok()
                .flatten()
                .map_or("raw", |f| f.format.as_str())
                .to_owned(),
        };
        c.arg("-b").arg(backing).arg("-F").arg(fmt);
    }
    c.arg(path);
    if let Some(cap) = def.capacity {
        c.arg(cap.to_string());
    }
    run_qemu_img(c, path)
}

fn run_qemu_img(mut c: Command, path: &Path) -> Result<()> {
    let err = |message: String| StorageError::QemuImg {
        path: path.display().to_string(),
        message,
    };
    let out = c.output().map_err(|e| err(e.to_string()))?;
    if !out.status.success() {
        return Err(err(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
    }
    Ok(())
}
