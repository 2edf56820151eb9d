//! The `bpf(2)` loader: the attr structs, the raw syscall, map create / lookup /
//! update / delete / iterate, program load (with the verifier's log on failure),
//! attach / detach / query, and object info. `RLIMIT_MEMLOCK` is raised once when
//! an old kernel charges BPF objects to it.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::program::{BpfInsn, DEVICE_PROG_NAME, device_program};
use crate::cgroup::error::{CgroupError, Result};

const DEVICE_MAP_NAME: &str = "rvirt_devmap";
const LICENSE: &CStr = c"Dual MIT/GPL";

// bpf(2) commands, map/program/attach types and flags (include/uapi/linux/bpf.h).
const BPF_MAP_CREATE: u32 = 0;
const BPF_MAP_LOOKUP_ELEM: u32 = 1;
pub(super) const BPF_MAP_UPDATE_ELEM: u32 = 2;
const BPF_MAP_DELETE_ELEM: u32 = 3;
const BPF_MAP_GET_NEXT_KEY: u32 = 4;
const BPF_PROG_LOAD: u32 = 5;
const BPF_PROG_ATTACH: u32 = 8;
const BPF_PROG_DETACH: u32 = 9;
pub(super) const BPF_PROG_GET_FD_BY_ID: u32 = 13;
pub(super) const BPF_MAP_GET_FD_BY_ID: u32 = 14;
pub(super) const BPF_OBJ_GET_INFO_BY_FD: u32 = 15;
pub(super) const BPF_PROG_QUERY: u32 = 16;
pub(super) const BPF_MAP_TYPE_HASH: u32 = 1;
pub(super) const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
pub(super) const BPF_F_ALLOW_MULTI: u32 = 2;
const BPF_ANY: u64 = 0;

// ---------------------------------------------------------------------------
// bpf(2)

/// Every attr is passed as 256 bytes (zero tail): larger than the kernel's
/// `union bpf_attr` today, so fields the kernel writes back unconditionally (e.g.
/// `query.revision`) always land inside our buffer.
const ATTR_SIZE: usize = 256;

#[repr(C)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
    tail: [u8; ATTR_SIZE - 44],
}

#[repr(C)]
struct MapElemAttr {
    map_fd: u32,
    pad: u32,
    key: u64,
    value_or_next_key: u64,
    flags: u64,
    tail: [u8; ATTR_SIZE - 32],
}

#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    tail: [u8; ATTR_SIZE - 72],
}

#[repr(C)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    tail: [u8; ATTR_SIZE - 20],
}

#[repr(C)]
struct GetIdAttr {
    id: u32,
    next_id: u32,
    open_flags: u32,
    tail: [u8; ATTR_SIZE - 12],
}

#[repr(C)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
    tail: [u8; ATTR_SIZE - 16],
}

#[repr(C)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    pad: u32,
    prog_attach_flags: u64,
    link_ids: u64,
    link_attach_flags: u64,
    revision: u64,
    tail: [u8; ATTR_SIZE - 64],
}

/// The head of `struct bpf_prog_info`.
#[repr(C)]
#[derive(Default)]
pub(super) struct ProgInfo {
    pub(super) prog_type: u32,
    pub(super) id: u32,
    pub(super) tag: [u8; 8],
    pub(super) jited_prog_len: u32,
    pub(super) xlated_prog_len: u32,
    pub(super) jited_prog_insns: u64,
    pub(super) xlated_prog_insns: u64,
    pub(super) load_time: u64,
    pub(super) created_by_uid: u32,
    pub(super) nr_map_ids: u32,
    pub(super) map_ids: u64,
    pub(super) name: [u8; 16],
}

/// The head of `struct bpf_map_info`.
#[repr(C)]
#[derive(Default)]
pub(super) struct MapInfo {
    pub(super) map_type: u32,
    pub(super) id: u32,
    pub(super) key_size: u32,
    pub(super) value_size: u32,
    pub(super) max_entries: u32,
    pub(super) map_flags: u32,
    pub(super) name: [u8; 16],
}

const _: () = {
    assert!(size_of::<MapCreateAttr>() == ATTR_SIZE);
    assert!(size_of::<MapElemAttr>() == ATTR_SIZE);
    assert!(size_of::<ProgLoadAttr>() == ATTR_SIZE);
    assert!(size_of::<AttachAttr>() == ATTR_SIZE);
    assert!(size_of::<GetIdAttr>() == ATTR_SIZE);
    assert!(size_of::<InfoAttr>() == ATTR_SIZE);
    assert!(size_of::<QueryAttr>() == ATTR_SIZE);
    assert!(size_of::<ProgInfo>() == 80);
    assert!(size_of::<MapInfo>() == 40);
    assert!(size_of::<BpfInsn>() == 8);
};

fn obj_name(s: &str) -> [u8; 16] {
    let mut n = [0u8; 16];
    let b = s.as_bytes();
    let len = b.len().min(15);
    n[..len].copy_from_slice(&b[..len]);
    n
}

/// Calls `bpf(cmd, attr, ATTR_SIZE)`.
///
/// # Safety
/// `attr` must be one of the attr structs above, laid out as the kernel expects for
/// `cmd`, and every pointer inside it must be valid for the kernel to read (and, for
/// output buffers, write) for the sizes given in the same attr.
unsafe fn sys_bpf<T>(cmd: u32, attr: &mut T) -> io::Result<libc::c_long> {
    debug_assert_eq!(size_of::<T>(), ATTR_SIZE);
    // SAFETY: `attr` is a live, exclusively borrowed ATTR_SIZE-byte struct, so the
    // kernel may read and write all of it; the caller guarantees the embedded pointers.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            libc::c_long::from(cmd as i32),
            std::ptr::from_mut(attr),
            ATTR_SIZE as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Wraps a new fd returned by `bpf(2)`.
fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful bpf() call that creates a file
    // descriptor; nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

pub(super) fn bpf_err(cmd: &'static str) -> impl FnOnce(io::Error) -> CgroupError {
    move |source| CgroupError::Bpf { cmd, source }
}

fn memlock_limit() -> String {
    let l = rustix::process::getrlimit(rustix::process::Resource::Memlock);
    match l.current {
        Some(v) => format!("{v} bytes"),
        None => "unlimited".to_owned(),
    }
}

static MEMLOCK_RAISED: AtomicBool = AtomicBool::new(false);

/// Lifts RLIMIT_MEMLOCK to its maximum (unlimited for root) once per process; for
/// kernels before 5.11, which charge BPF maps and programs to it. Returns whether
/// anything changed.
fn raise_memlock() -> bool {
    if MEMLOCK_RAISED.swap(true, Ordering::SeqCst) {
        return false;
    }
    let r = rustix::process::Rlimit {
        current: None,
        maximum: None,
    };
    rustix::process::setrlimit(rustix::process::Resource::Memlock, r).is_ok()
}

/// Runs `f`; on EPERM raises RLIMIT_MEMLOCK once and retries; a second EPERM is
/// reported as [`CgroupError::Memlock`].
fn with_memlock_retry<T>(mut f: impl FnMut() -> io::Result<T>) -> Result<T, io::Error> {
    match f() {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) && raise_memlock() => f(),
        r => r,
    }
}

fn memlock_or(what: &'static str, cmd: &'static str, e: io::Error) -> CgroupError {
    if e.raw_os_error() == Some(libc::EPERM) {
        CgroupError::Memlock {
            what,
            limit: memlock_limit(),
            source: e,
        }
    } else {
        CgroupError::Bpf { cmd, source: e }
    }
}

pub(super) fn map_create(max_entries: u32) -> Result<OwnedFd> {
    let make = || {
        let mut a = MapCreateAttr {
            map_type: BPF_MAP_TYPE_HASH,
            key_size: 8,
            value_size: 4,
            max_entries,
            map_flags: 0,
            inner_map_fd: 0,
            numa_node: 0,
            map_name: obj_name(DEVICE_MAP_NAME),
            tail: [0; ATTR_SIZE - 44],
        };
        // SAFETY: MapCreateAttr matches BPF_MAP_CREATE and holds no pointers.
        unsafe { sys_bpf(BPF_MAP_CREATE, &mut a) }
    };
    with_memlock_retry(make)
        .map(owned)
        .map_err(|e| memlock_or("map", "BPF_MAP_CREATE", e))
}

pub(super) fn prog_load(map: &OwnedFd) -> Result<OwnedFd> {
    load_device_prog(&device_program(map.as_raw_fd()))
}

/// Loads `insns` as a cgroup device program; on failure the verifier log is
/// captured (second attempt with logging on) into [`CgroupError::Verifier`].
pub(super) fn load_device_prog(insns: &[BpfInsn]) -> Result<OwnedFd> {
    let load = |log: Option<&mut Vec<u8>>| {
        let (log_level, log_size, log_buf) = match log {
            Some(b) => (1, b.len() as u32, b.as_mut_ptr() as u64),
            None => (0, 0, 0),
        };
        let mut a = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: LICENSE.as_ptr() as u64,
            log_level,
            log_size,
            log_buf,
            kern_version: 0,
            prog_flags: 0,
            prog_name: obj_name(DEVICE_PROG_NAME),
            prog_ifindex: 0,
            expected_attach_type: 0,
            tail: [0; ATTR_SIZE - 72],
        };
        // SAFETY: ProgLoadAttr matches BPF_PROG_LOAD; `insns` (insn_cnt entries),
        // `license` (NUL-terminated) and the log buffer (log_size bytes, writable)
        // outlive the call.
        unsafe { sys_bpf(BPF_PROG_LOAD, &mut a) }
    };
    match with_memlock_retry(|| load(None)) {
        Ok(fd) => Ok(owned(fd)),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            Err(memlock_or("program", "BPF_PROG_LOAD", e))
        }
        Err(e) => {
            // Load again with the verifier log on, to say why.
            let mut buf = vec![0u8; 1 << 16];
            let second = load(Some(&mut buf));
            let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
            let log = String::from_utf8_lossy(&buf[..end]).trim_end().to_owned();
            match second {
                Ok(fd) => Ok(owned(fd)),
                Err(source) => Err(CgroupError::Verifier {
                    source,
                    log: if log.is_empty() {
                        format!("(empty; first attempt: {e})")
                    } else {
                        log
                    },
                }),
            }
        }
    }
}

pub(super) fn map_lookup(map: &OwnedFd, key: u64) -> Result<Option<u32>> {
    let mut value: u32 = 0;
    let mut a = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        pad: 0,
        key: std::ptr::from_ref(&key) as u64,
        value_or_next_key: std::ptr::from_mut(&mut value) as u64,
        flags: 0,
        tail: [0; ATTR_SIZE - 32],
    };
    // SAFETY: MapElemAttr matches BPF_MAP_LOOKUP_ELEM; key (8 bytes) and value (4
    // bytes, the map's value size) are live locals.
    match unsafe { sys_bpf(BPF_MAP_LOOKUP_ELEM, &mut a) } {
        Ok(_) => Ok(Some(value)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(bpf_err("BPF_MAP_LOOKUP_ELEM")(e)),
    }
}

pub(super) fn map_update(map: &OwnedFd, key: u64, value: u32) -> io::Result<()> {
    let mut a = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        pad: 0,
        key: std::ptr::from_ref(&key) as u64,
        value_or_next_key: std::ptr::from_ref(&value) as u64,
        flags: BPF_ANY,
        tail: [0; ATTR_SIZE - 32],
    };
    // SAFETY: MapElemAttr matches BPF_MAP_UPDATE_ELEM; key and value are live locals
    // of the map's key and value sizes.
    unsafe { sys_bpf(BPF_MAP_UPDATE_ELEM, &mut a) }.map(|_| ())
}

pub(super) fn map_delete(map: &OwnedFd, key: u64) -> Result<()> {
    let mut a = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        pad: 0,
        key: std::ptr::from_ref(&key) as u64,
        value_or_next_key: 0,
        flags: 0,
        tail: [0; ATTR_SIZE - 32],
    };
    // SAFETY: MapElemAttr matches BPF_MAP_DELETE_ELEM; key is a live 8-byte local.
    match unsafe { sys_bpf(BPF_MAP_DELETE_ELEM, &mut a) } {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(e) => Err(bpf_err("BPF_MAP_DELETE_ELEM")(e)),
    }
}

/// All (key, value) pairs of the map.
pub(super) fn map_entries(map: &OwnedFd) -> Result<Vec<(u64, u32)>> {
    let mut keys = Vec::new();
    let mut prev: Option<u64> = None;
    loop {
        let mut next: u64 = 0;
        let mut a = MapElemAttr {
            map_fd: map.as_raw_fd() as u32,
            pad: 0,
            key: prev.as_ref().map_or(0, |k| std::ptr::from_ref(k) as u64),
            value_or_next_key: std::ptr::from_mut(&mut next) as u64,
            flags: 0,
            tail: [0; ATTR_SIZE - 32],
        };
        // SAFETY: MapElemAttr matches BPF_MAP_GET_NEXT_KEY; key is null or a live
        // 8-byte local, next_key a live writable 8-byte local.
        match unsafe { sys_bpf(BPF_MAP_GET_NEXT_KEY, &mut a) } {
            Ok(_) => {
                keys.push(next);
                prev = Some(next);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => break,
            Err(e) => return Err(bpf_err("BPF_MAP_GET_NEXT_KEY")(e)),
        }
        if keys.len() > 1 << 20 {
            break;
        }
    }
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        if let Some(v) = map_lookup(map, k)? {
            out.push((k, v));
        }
    }
    Ok(out)
}

fn attach_attr(cgroup: &File, prog: &OwnedFd, flags: u32) -> AttachAttr {
    AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: flags,
        replace_bpf_fd: 0,
        tail: [0; ATTR_SIZE - 20],
    }
}

pub(super) fn prog_attach(cgroup: &File, prog: &OwnedFd) -> Result<()> {
    let mut a = attach_attr(cgroup, prog, BPF_F_ALLOW_MULTI);
    // SAFETY: AttachAttr matches BPF_PROG_ATTACH and holds no pointers.
    unsafe { sys_bpf(BPF_PROG_ATTACH, &mut a) }
        .map(|_| ())
        .map_err(bpf_err("BPF_PROG_ATTACH"))
}

pub(super) fn prog_detach(cgroup: &File, prog: &OwnedFd) -> Result<()> {
    let mut a = attach_attr(cgroup, prog, 0);
    // SAFETY: AttachAttr matches BPF_PROG_DETACH and holds no pointers.
    unsafe { sys_bpf(BPF_PROG_DETACH, &mut a) }
        .map(|_| ())
        .map_err(bpf_err("BPF_PROG_DETACH"))
}

/// Whether the kernel can attach device programs to cgroup v2 directory `dir`
/// (a `BPF_PROG_QUERY` works). `EPERM` counts as supported: the lack of privilege
/// will be reported when the ACL is applied.
pub(crate) fn devices_supported(dir: &Path) -> bool {
    let Ok(cg) = File::open(dir) else {
        return false;
    };
    match prog_query(&cg) {
        Ok(_) => true,
        Err(CgroupError::Bpf { source, .. }) => source.raw_os_error() == Some(libc::EPERM),
        Err(_) => false,
    }
}

/// Ids of the device programs attached directly to the cgroup.
pub(super) fn prog_query(cgroup: &File) -> Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    loop {
        let mut a = QueryAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            query_flags: 0,
            attach_flags: 0,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: ids.len() as u32,
            pad: 0,
            prog_attach_flags: 0,
            link_ids: 0,
            link_attach_flags: 0,
            revision: 0,
            tail: [0; ATTR_SIZE - 64],
        };
        // SAFETY: QueryAttr matches BPF_PROG_QUERY; prog_ids points to prog_cnt
        // writable u32s.
        match unsafe { sys_bpf(BPF_PROG_QUERY, &mut a) } {
            Ok(_) => {
                ids.truncate(a.prog_cnt as usize);
                return Ok(ids);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && ids.len() < 1 << 16 => {
                ids = vec![0; ids.len().max(a.prog_cnt as usize) * 2];
            }
            Err(e) => return Err(bpf_err("BPF_PROG_QUERY")(e)),
        }
    }
}

pub(super) fn fd_by_id(cmd: u32, name: &'static str, id: u32) -> Result<Option<OwnedFd>> {
    let mut a = GetIdAttr {
        id,
        next_id: 0,
        open_flags: 0,
        tail: [0; ATTR_SIZE - 12],
    };
    // SAFETY: GetIdAttr matches BPF_PROG_GET_FD_BY_ID / BPF_MAP_GET_FD_BY_ID and
    // holds no pointers.
    match unsafe { sys_bpf(cmd, &mut a) } {
        Ok(fd) => Ok(Some(owned(fd))),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(bpf_err(name)(e)),
    }
}

/// `BPF_OBJ_GET_INFO_BY_FD` into `info`.
///
/// # Safety
/// `T` must be the head of the info struct for the kind of object `fd` is, and any
/// pointer inside `info` must be valid for what its count field says.
unsafe fn obj_info<T>(fd: &OwnedFd, info: &mut T) -> Result<()> {
    let mut a = InfoAttr {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: size_of::<T>() as u32,
        info: std::ptr::from_mut(info) as u64,
        tail: [0; ATTR_SIZE - 16],
    };
    // SAFETY: InfoAttr matches BPF_OBJ_GET_INFO_BY_FD; `info` is writable for
    // info_len bytes and the kernel writes at most that many; the caller vouches for
    // pointers inside it.
    unsafe { sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut a) }
        .map(|_| ())
        .map_err(bpf_err("BPF_OBJ_GET_INFO_BY_FD"))
}

pub(super) fn prog_info(prog: &OwnedFd) -> Result<(ProgInfo, Vec<u32>)> {
    let mut map_ids = vec![0u32; 8];
    let mut info = ProgInfo {
        nr_map_ids: map_ids.len() as u32,
        map_ids: map_ids.as_mut_ptr() as u64,
        ..ProgInfo::default()
    };
    // SAFETY: `prog` is a program fd and ProgInfo the head of bpf_prog_info; map_ids
    // points to nr_map_ids writable u32s; the other pointers are null with zero
    // lengths.
    unsafe { obj_info(prog, &mut info)? };
    map_ids.truncate((info.nr_map_ids as usize).min(8));
    Ok((info, map_ids))
}

pub(super) fn map_info(map: &OwnedFd) -> Result<MapInfo> {
    let mut info = MapInfo::default();
    // SAFETY: `map` is a map fd and MapInfo the head of bpf_map_info (no pointers).
    unsafe { obj_info(map, &mut info)? };
    Ok(info)
}

pub(super) fn name_of(raw: &[u8; 16]) -> &str {
    let end = raw.iter().position(|b| *b == 0).unwrap_or(16);
    std::str::from_utf8(&raw[..end]).unwrap_or("")
}
