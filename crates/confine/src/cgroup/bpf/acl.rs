//! The controller: [`BpfDeviceAcl`], a device program and its map attached to one
//! v2 cgroup, installed, found again after a restart, changed and grown.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use super::encoding::{
    DEVICE_MAP_INITIAL_ENTRIES, decode_map_entry, map_key, map_value, merged, value_after_deny,
};
use super::program::DEVICE_PROG_NAME;
use super::sys::{
    BPF_MAP_GET_FD_BY_ID, BPF_MAP_TYPE_HASH, BPF_PROG_GET_FD_BY_ID, BPF_PROG_TYPE_CGROUP_DEVICE,
    bpf_err, fd_by_id, map_create, map_delete, map_entries, map_info, map_lookup, map_update,
    name_of, prog_attach, prog_detach, prog_info, prog_load, prog_query,
};
use crate::cgroup::error::{CgroupError, Result, io_err};
use crate::cgroup::rule::DeviceRule;

// ---------------------------------------------------------------------------
// The ACL handle

/// A device program and its map attached to one v2 cgroup. Holds both as fds; the
/// program stays attached when they are closed (until the cgroup is removed).
#[derive(Debug)]
pub struct BpfDeviceAcl {
    cgroup_dir: PathBuf,
    prog: OwnedFd,
    map: OwnedFd,
    prog_id: u32,
    map_id: u32,
    max_entries: u32,
}

fn open_cgroup(dir: &Path) -> Result<File> {
    File::open(dir).map_err(io_err("open", dir))
}

impl BpfDeviceAcl {
    /// Creates a map holding `rules`, loads the program and attaches it to the
    /// cgroup directory `cgroup_dir` (`BPF_F_ALLOW_MULTI`). When a program of ours is
    /// already attached (a leftover group), its map is reset to `rules` instead.
    pub fn install(cgroup_dir: &Path, rules: &[DeviceRule]) -> Result<Self> {
        if let Some(mut acl) = Self::find(cgroup_dir)? {
            acl.replace_rules(rules)?;
            return Ok(acl);
        }
        let cg = open_cgroup(cgroup_dir)?;
        let entries = merged(rules);
        let mut size = DEVICE_MAP_INITIAL_ENTRIES;
        while (size as usize) < entries.len() {
            size *= 2;
        }
        let map = map_create(size)?;
        for (k, v) in &entries {
            map_update(&map, *k, *v).map_err(bpf_err("BPF_MAP_UPDATE_ELEM"))?;
        }
        let prog = prog_load(&map)?;
        prog_attach(&cg, &prog)?;
        let (info, _) = prog_info(&prog)?;
        let minfo = map_info(&map)?;
        Ok(BpfDeviceAcl {
            cgroup_dir: cgroup_dir.to_path_buf(),
            prog,
            map,
            prog_id: info.id,
            map_id: minfo.id,
            max_entries: size,
        })
    }

    /// Finds the program (and its map) attached to `cgroup_dir` after a restart:
    /// `BPF_PROG_QUERY` → `BPF_PROG_GET_FD_BY_ID` → map ids from
    /// `BPF_OBJ_GET_INFO_BY_FD` → `BPF_MAP_GET_FD_BY_ID`. Prefers a program named
    /// [`DEVICE_PROG_NAME`]; otherwise adopts any device program with a single
    /// hash map of libvirt's layout (u64 key, u32 value). `Ok(None)` when there is
    /// none.
    pub fn find(cgroup_dir: &Path) -> Result<Option<Self>> {
        let cg = open_cgroup(cgroup_dir)?;
        let mut fallback = None;
        for id in prog_query(&cg)? {
            let Some(prog) = fd_by_id(BPF_PROG_GET_FD_BY_ID, "BPF_PROG_GET_FD_BY_ID", id)? else {
                continue;
            };
            let (info, map_ids) = prog_info(&prog)?;
            let ours = name_of(&info.name) == DEVICE_PROG_NAME;
            if info.prog_type != BPF_PROG_TYPE_CGROUP_DEVICE {
                continue;
            }
            let foreign = |reason: String| CgroupError::ForeignProgram {
                prog_id: id,
                path: cgroup_dir.to_path_buf(),
                reason,
            };
            let usable = (|| {
                let [map_id] = map_ids[..] else {
                    return Err(foreign(format!("{} maps", map_ids.len())));
                };
                let map = fd_by_id(BPF_MAP_GET_FD_BY_ID, "BPF_MAP_GET_FD_BY_ID", map_id)?
                    .ok_or_else(|| foreign(format!("map {map_id} vanished")))?;
                let mi = map_info(&map)?;
                if mi.map_type != BPF_MAP_TYPE_HASH || mi.key_size != 8 || mi.value_size != 4 {
                    return Err(foreign(format!(
                        "map {map_id}: type {} key {} value {}",
                        mi.map_type, mi.key_size, mi.value_size
                    )));
                }
                Ok(BpfDeviceAcl {
                    cgroup_dir: cgroup_dir.to_path_buf(),
                    prog,
                    map,
                    prog_id: id,
                    map_id,
                    max_entries: mi.max_entries,
                })
            })();
            match usable {
                Ok(acl) if ours => return Ok(Some(acl)),
                Ok(acl) => {
                    fallback.get_or_insert(acl);
                }
                Err(e) if ours => return Err(e),
                Err(_) => {}
            }
        }
        Ok(fallback)
    }

    /// Adds `rule` (merged with an existing entry for the same numbers). Grows the
    /// map (new map and program, swapped in) when it is full.
    pub fn allow(&mut self, rule: &DeviceRule) -> Result<()> {
        if rule.is_empty() {
            return Ok(());
        }
        let key = map_key(rule.major, rule.minor);
        let value = map_lookup(&self.map, key)?.unwrap_or(0) | map_value(rule);
        match map_update(&self.map, key, value) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::E2BIG) => {
                self.grow()?;
                map_update(&self.map, key, value).map_err(bpf_err("BPF_MAP_UPDATE_ELEM"))
            }
            Err(e) => Err(bpf_err("BPF_MAP_UPDATE_ELEM")(e)),
        }
    }

    /// Removes access. The map has one entry per (major, minor) for both types, so:
    /// if `rule` takes away every access the entry grants, its type bits are cleared
    /// (the entry goes when no type is left); otherwise the given access bits are
    /// cleared for both types (stricter than asked, never looser). Only the entry
    /// with exactly these numbers is changed: a wildcard entry still applies.
    pub fn deny(&mut self, rule: &DeviceRule) -> Result<()> {
        let key = map_key(rule.major, rule.minor);
        let Some(old) = map_lookup(&self.map, key)? else {
            return Ok(());
        };
        let new = value_after_deny(old, rule);
        match new {
            Some(v) => map_update(&self.map, key, v).map_err(bpf_err("BPF_MAP_UPDATE_ELEM")),
            None => map_delete(&self.map, key),
        }
    }

    /// Replaces the whole map contents with `rules`.
    pub fn replace_rules(&mut self, rules: &[DeviceRule]) -> Result<()> {
        let want = merged(rules);
        for (k, _) in map_entries(&self.map)? {
            if !want.iter().any(|(wk, _)| *wk == k) {
                map_delete(&self.map, k)?;
            }
        }
        for (k, v) in want {
            match map_update(&self.map, k, v) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::E2BIG) => {
                    self.grow()?;
                    map_update(&self.map, k, v).map_err(bpf_err("BPF_MAP_UPDATE_ELEM"))?;
                }
                Err(e) => return Err(bpf_err("BPF_MAP_UPDATE_ELEM")(e)),
            }
        }
        Ok(())
    }

    /// The map's contents as rules, sorted.
    pub fn rules(&self) -> Result<Vec<DeviceRule>> {
        let mut v: Vec<DeviceRule> = map_entries(&self.map)?
            .into_iter()
            .filter_map(|(k, v)| decode_map_entry(k, v))
            .collect();
        v.sort();
        Ok(v)
    }

    /// Doubles the map: a new map with the same entries and a new program are
    /// attached first, then the old program is detached (while both are attached
    /// both must allow, so there is no window with looser rules).
    fn grow(&mut self) -> Result<()> {
        let cg = open_cgroup(&self.cgroup_dir)?;
        let size = self.max_entries.saturating_mul(2);
        let map = map_create(size)?;
        for (k, v) in map_entries(&self.map)? {
            map_update(&map, k, v).map_err(bpf_err("BPF_MAP_UPDATE_ELEM"))?;
        }
        let prog = prog_load(&map)?;
        prog_attach(&cg, &prog)?;
        prog_detach(&cg, &self.prog)?;
        self.prog_id = prog_info(&prog)?.0.id;
        self.map_id = map_info(&map)?.id;
        self.prog = prog;
        self.map = map;
        self.max_entries = size;
        Ok(())
    }

    /// Detaches the program from the cgroup (removing the cgroup does that too).
    pub fn detach(self) -> Result<()> {
        let cg = open_cgroup(&self.cgroup_dir)?;
        prog_detach(&cg, &self.prog)
    }

    pub fn prog_id(&self) -> u32 {
        self.prog_id
    }

    pub fn map_id(&self) -> u32 {
        self.map_id
    }

    pub fn max_entries(&self) -> u32 {
        self.max_entries
    }

    pub fn cgroup_dir(&self) -> &Path {
        &self.cgroup_dir
    }
}
