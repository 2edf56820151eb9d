//! cgroup v2 device ACL: a `BPF_PROG_TYPE_CGROUP_DEVICE` program that looks the
//! device up in a `BPF_MAP_TYPE_HASH` map, in the layout libvirt uses:
//!
//! * key (u64): `(major << 32) | minor`, `0xffffffff` for "any" in either half;
//! * value (u32): `(access << 16) | type`, access = `BPF_DEVCG_ACC_*` bits, type =
//!   `BPF_DEVCG_DEV_*` bits (both for `a`).
//!
//! The program tries the exact key, then major-wildcard, minor-wildcard and the full
//! wildcard, and allows the access when `(requested & value) == requested` for one of
//! them (`requested` is the context's `access_type`, encoded like a value). The
//! program is assembled here by hand; `bpf(2)` is called through `libc::syscall`.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::{CgroupError, DeviceKind, DeviceRule, Result, io_err};

pub const BPF_DEVCG_ACC_MKNOD: u32 = 1;
pub const BPF_DEVCG_ACC_READ: u32 = 2;
pub const BPF_DEVCG_ACC_WRITE: u32 = 4;
pub const BPF_DEVCG_DEV_BLOCK: u32 = 1;
pub const BPF_DEVCG_DEV_CHAR: u32 = 2;
/// "Any major" / "any minor" in a map key half.
pub const WILDCARD: u32 = 0xffff_ffff;
/// Size of a new map; it doubles when full.
pub const DEVICE_MAP_INITIAL_ENTRIES: u32 = 64;
/// Name given to the program (shown by `bpftool prog`), used to find it again.
pub const DEVICE_PROG_NAME: &str = "rvirt_devacl";
const DEVICE_MAP_NAME: &str = "rvirt_devmap";
const LICENSE: &CStr = c"Dual MIT/GPL";

// bpf(2) commands, map/program/attach types and flags (include/uapi/linux/bpf.h).
const BPF_MAP_CREATE: u32 = 0;
const BPF_MAP_LOOKUP_ELEM: u32 = 1;
const BPF_MAP_UPDATE_ELEM: u32 = 2;
const BPF_MAP_DELETE_ELEM: u32 = 3;
const BPF_MAP_GET_NEXT_KEY: u32 = 4;
const BPF_PROG_LOAD: u32 = 5;
const BPF_PROG_ATTACH: u32 = 8;
const BPF_PROG_DETACH: u32 = 9;
const BPF_PROG_GET_FD_BY_ID: u32 = 13;
const BPF_MAP_GET_FD_BY_ID: u32 = 14;
const BPF_OBJ_GET_INFO_BY_FD: u32 = 15;
const BPF_PROG_QUERY: u32 = 16;
const BPF_MAP_TYPE_HASH: u32 = 1;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;
const BPF_ANY: u64 = 0;
const BPF_FUNC_MAP_LOOKUP_ELEM: i32 = 1;
const BPF_PSEUDO_MAP_FD: u8 = 1;

// ---------------------------------------------------------------------------
// Map encoding

/// The map key of a (major, minor) pair; `None` is the wildcard.
pub fn map_key(major: Option<u32>, minor: Option<u32>) -> u64 {
    (u64::from(major.unwrap_or(WILDCARD)) << 32) | u64::from(minor.unwrap_or(WILDCARD))
}

fn type_bits(kind: DeviceKind) -> u32 {
    match kind {
        DeviceKind::Char => BPF_DEVCG_DEV_CHAR,
        DeviceKind::Block => BPF_DEVCG_DEV_BLOCK,
        DeviceKind::All => BPF_DEVCG_DEV_CHAR | BPF_DEVCG_DEV_BLOCK,
    }
}

fn access_bits(r: &DeviceRule) -> u32 {
    let mut a = 0;
    if r.mknod {
        a |= BPF_DEVCG_ACC_MKNOD;
    }
    if r.read {
        a |= BPF_DEVCG_ACC_READ;
    }
    if r.write {
        a |= BPF_DEVCG_ACC_WRITE;
    }
    a
}

/// The map value of a rule: `(access << 16) | type`.
pub fn map_value(r: &DeviceRule) -> u32 {
    (access_bits(r) << 16) | type_bits(r.kind)
}

/// The rule a map entry stands for (`None` when the value has no type bits).
pub fn decode_map_entry(key: u64, value: u32) -> Option<DeviceRule> {
    let half = |v: u32| (v != WILDCARD).then_some(v);
    let kind = match value & 0xffff & (BPF_DEVCG_DEV_CHAR | BPF_DEVCG_DEV_BLOCK) {
        BPF_DEVCG_DEV_CHAR => DeviceKind::Char,
        BPF_DEVCG_DEV_BLOCK => DeviceKind::Block,
        0 => return None,
        _ => DeviceKind::All,
    };
    let acc = value >> 16;
    Some(DeviceRule {
        kind,
        major: half((key >> 32) as u32),
        minor: half(key as u32),
        read: acc & BPF_DEVCG_ACC_READ != 0,
        write: acc & BPF_DEVCG_ACC_WRITE != 0,
        mknod: acc & BPF_DEVCG_ACC_MKNOD != 0,
    })
}

// ---------------------------------------------------------------------------
// Instructions

/// One eBPF instruction (`struct bpf_insn`): opcode, dst (low nibble) and src (high
/// nibble) registers, offset, immediate.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BpfInsn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

impl BpfInsn {
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        BpfInsn {
            code,
            regs: (src << 4) | (dst & 0x0f),
            off,
            imm,
        }
    }

    pub const fn dst(self) -> u8 {
        self.regs & 0x0f
    }

    pub const fn src(self) -> u8 {
        self.regs >> 4
    }

    /// The 8 bytes the kernel reads (little-endian host assumed for the fields, as
    /// the kernel uses native byte order).
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = self.regs;
        b[2..4].copy_from_slice(&self.off.to_ne_bytes());
        b[4..8].copy_from_slice(&self.imm.to_ne_bytes());
        b
    }
}

// Opcode pieces.
const LD: u8 = 0x00;
const LDX: u8 = 0x01;
const STX: u8 = 0x03;
const ALU: u8 = 0x04;
const JMP: u8 = 0x05;
const ALU64: u8 = 0x07;
const W: u8 = 0x00;
const DW: u8 = 0x18;
const IMM: u8 = 0x00;
const MEM: u8 = 0x60;
const K: u8 = 0x00;
const X: u8 = 0x08;
const ADD: u8 = 0x00;
const OR: u8 = 0x40;
const AND: u8 = 0x50;
const LSH: u8 = 0x60;
const MOV: u8 = 0xb0;
const JEQ: u8 = 0x10;
const JNE: u8 = 0x50;
const CALL: u8 = 0x80;
const EXIT: u8 = 0x90;

// Registers.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R7: u8 = 7;
const R8: u8 = 8;
const R9: u8 = 9;
const R10: u8 = 10;

const fn mov64_reg(dst: u8, src: u8) -> BpfInsn {
    BpfInsn::new(ALU64 | MOV | X, dst, src, 0, 0)
}
const fn mov64_imm(dst: u8, imm: i32) -> BpfInsn {
    BpfInsn::new(ALU64 | MOV | K, dst, 0, 0, imm)
}
/// 32-bit move: zero-extends, so `-1` gives `0x00000000ffffffff`.
const fn mov32_imm(dst: u8, imm: i32) -> BpfInsn {
    BpfInsn::new(ALU | MOV | K, dst, 0, 0, imm)
}
const fn lsh64_imm(dst: u8, imm: i32) -> BpfInsn {
    BpfInsn::new(ALU64 | LSH | K, dst, 0, 0, imm)
}
const fn or64_reg(dst: u8, src: u8) -> BpfInsn {
    BpfInsn::new(ALU64 | OR | X, dst, src, 0, 0)
}
const fn and64_reg(dst: u8, src: u8) -> BpfInsn {
    BpfInsn::new(ALU64 | AND | X, dst, src, 0, 0)
}
const fn add64_imm(dst: u8, imm: i32) -> BpfInsn {
    BpfInsn::new(ALU64 | ADD | K, dst, 0, 0, imm)
}
const fn ldx_w(dst: u8, src: u8, off: i16) -> BpfInsn {
    BpfInsn::new(LDX | W | MEM, dst, src, off, 0)
}
const fn stx_dw(dst: u8, src: u8, off: i16) -> BpfInsn {
    BpfInsn::new(STX | DW | MEM, dst, src, off, 0)
}
const fn jeq_imm(dst: u8, imm: i32, off: i16) -> BpfInsn {
    BpfInsn::new(JMP | JEQ | K, dst, 0, off, imm)
}
const fn jne_reg(dst: u8, src: u8, off: i16) -> BpfInsn {
    BpfInsn::new(JMP | JNE | X, dst, src, off, 0)
}
const fn call(helper: i32) -> BpfInsn {
    BpfInsn::new(JMP | CALL, 0, 0, 0, helper)
}
const fn exit() -> BpfInsn {
    BpfInsn::new(JMP | EXIT, 0, 0, 0, 0)
}
/// `dst = imm64` (two instructions).
const fn ld_imm64(dst: u8, src: u8, imm: u64) -> [BpfInsn; 2] {
    [
        BpfInsn::new(LD | DW | IMM, dst, src, 0, imm as u32 as i32),
        BpfInsn::new(0, 0, 0, 0, (imm >> 32) as u32 as i32),
    ]
}

/// Loads the context: r7 = access_type, r8 = major, r9 = minor
/// (`struct bpf_cgroup_dev_ctx { u32 access_type, major, minor; }`).
const PROLOGUE: [BpfInsn; 3] = [ldx_w(R7, R1, 0), ldx_w(R8, R1, 4), ldx_w(R9, R1, 8)];

/// r2 = exact key `(major << 32) | minor`.
const KEY_EXACT: [BpfInsn; 3] = [mov64_reg(R2, R8), lsh64_imm(R2, 32), or64_reg(R2, R9)];
/// r2 = `(WILDCARD << 32) | minor`.
const KEY_ANY_MAJOR: [BpfInsn; 3] = {
    let l = ld_imm64(R2, 0, (WILDCARD as u64) << 32);
    [l[0], l[1], or64_reg(R2, R9)]
};
/// r2 = `(major << 32) | WILDCARD`.
const KEY_ANY_MINOR: [BpfInsn; 4] = [
    mov64_reg(R2, R8),
    lsh64_imm(R2, 32),
    mov32_imm(R3, -1),
    or64_reg(R2, R3),
];
/// r2 = all ones.
const KEY_ANY: [BpfInsn; 1] = [mov64_imm(R2, -1)];

/// Number of instructions in [`check_block`].
const CHECK_LEN: usize = 13;

/// Stores r2 as the key, looks it up, and returns 1 when the value covers the
/// requested access (r7); falls through to the next block otherwise.
fn check_block(map_fd: RawFd) -> [BpfInsn; CHECK_LEN] {
    let m = ld_imm64(R1, BPF_PSEUDO_MAP_FD, map_fd as u32 as u64);
    [
        stx_dw(R10, R2, -8),
        m[0],
        m[1],
        mov64_reg(R2, R10),
        add64_imm(R2, -8),
        call(BPF_FUNC_MAP_LOOKUP_ELEM),
        jeq_imm(R0, 0, 6), // no entry: next block
        ldx_w(R1, R0, 0),
        mov64_reg(R2, R7),
        and64_reg(R2, R1),
        jne_reg(R2, R7, 2), // not all requested bits: next block
        mov64_imm(R0, 1),
        exit(),
    ]
}

/// The device program for the map with file descriptor `map_fd`.
pub fn device_program(map_fd: RawFd) -> Vec<BpfInsn> {
    let check = check_block(map_fd);
    let mut p = PROLOGUE.to_vec();
    for key in [
        &KEY_EXACT[..],
        &KEY_ANY_MAJOR[..],
        &KEY_ANY_MINOR[..],
        &KEY_ANY[..],
    ] {
        p.extend_from_slice(key);
        p.extend_from_slice(&check);
    }
    p.push(mov64_imm(R0, 0));
    p.push(exit());
    p
}

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
struct ProgInfo {
    prog_type: u32,
    id: u32,
    tag: [u8; 8],
    jited_prog_len: u32,
    xlated_prog_len: u32,
    jited_prog_insns: u64,
    xlated_prog_insns: u64,
    load_time: u64,
    created_by_uid: u32,
    nr_map_ids: u32,
    map_ids: u64,
    name: [u8; 16],
}

/// The head of `struct bpf_map_info`.
#[repr(C)]
#[derive(Default)]
struct MapInfo {
    map_type: u32,
    id: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    name: [u8; 16],
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

fn bpf_err(cmd: &'static str) -> impl FnOnce(io::Error) -> CgroupError {
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

fn map_create(max_entries: u32) -> Result<OwnedFd> {
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

fn prog_load(map: &OwnedFd) -> Result<OwnedFd> {
    load_device_prog(&device_program(map.as_raw_fd()))
}

/// Loads `insns` as a cgroup device program; on failure the verifier log is
/// captured (second attempt with logging on) into [`CgroupError::Verifier`].
fn load_device_prog(insns: &[BpfInsn]) -> Result<OwnedFd> {
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

fn map_lookup(map: &OwnedFd, key: u64) -> Result<Option<u32>> {
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

fn map_update(map: &OwnedFd, key: u64, value: u32) -> io::Result<()> {
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

fn map_delete(map: &OwnedFd, key: u64) -> Result<()> {
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
fn map_entries(map: &OwnedFd) -> Result<Vec<(u64, u32)>> {
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

fn prog_attach(cgroup: &File, prog: &OwnedFd) -> Result<()> {
    let mut a = attach_attr(cgroup, prog, BPF_F_ALLOW_MULTI);
    // SAFETY: AttachAttr matches BPF_PROG_ATTACH and holds no pointers.
    unsafe { sys_bpf(BPF_PROG_ATTACH, &mut a) }
        .map(|_| ())
        .map_err(bpf_err("BPF_PROG_ATTACH"))
}

fn prog_detach(cgroup: &File, prog: &OwnedFd) -> Result<()> {
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
fn prog_query(cgroup: &File) -> Result<Vec<u32>> {
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

fn fd_by_id(cmd: u32, name: &'static str, id: u32) -> Result<Option<OwnedFd>> {
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

fn prog_info(prog: &OwnedFd) -> Result<(ProgInfo, Vec<u32>)> {
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

fn map_info(map: &OwnedFd) -> Result<MapInfo> {
    let mut info = MapInfo::default();
    // SAFETY: `map` is a map fd and MapInfo the head of bpf_map_info (no pointers).
    unsafe { obj_info(map, &mut info)? };
    Ok(info)
}

fn name_of(raw: &[u8; 16]) -> &str {
    let end = raw.iter().position(|b| *b == 0).unwrap_or(16);
    std::str::from_utf8(&raw[..end]).unwrap_or("")
}

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

/// The map value once `rule` is denied from `old` (`None`: delete the entry). If
/// the rule takes away every access the entry grants, the rule's type bits go;
/// otherwise its access bits go for both types (the map cannot hold per-type access).
pub(crate) fn value_after_deny(old: u32, rule: &DeviceRule) -> Option<u32> {
    let (old_acc, old_types) = (old >> 16, old & 0xffff);
    let deny_acc = access_bits(rule);
    if old_acc & !deny_acc == 0 {
        let types = old_types & !type_bits(rule.kind);
        (types != 0).then_some((old_acc << 16) | types)
    } else {
        Some(((old_acc & !deny_acc) << 16) | old_types)
    }
}

/// Rules merged per map key (several rules for the same numbers OR together).
fn merged(rules: &[DeviceRule]) -> Vec<(u64, u32)> {
    let mut out: Vec<(u64, u32)> = Vec::new();
    for r in rules.iter().filter(|r| !r.is_empty()) {
        let k = map_key(r.major, r.minor);
        match out.iter_mut().find(|(ok, _)| *ok == k) {
            Some((_, v)) => *v |= map_value(r),
            None => out.push((k, map_value(r))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn key_encoding() {
        assert_eq!(map_key(Some(1), Some(3)), 0x0000_0001_0000_0003);
        assert_eq!(map_key(Some(136), None), 0x0000_0088_ffff_ffff);
        assert_eq!(map_key(None, Some(5)), 0xffff_ffff_0000_0005);
        assert_eq!(map_key(None, None), u64::MAX);
    }

    #[test]
    fn value_encoding_and_decoding() {
        let r = DeviceRule::char_rw(1, 3);
        assert_eq!(
            map_value(&r),
            ((BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE) << 16) | BPF_DEVCG_DEV_CHAR
        );
        assert_eq!(map_value(&r), 0x0006_0002);
        let b = DeviceRule {
            kind: DeviceKind::Block,
            major: Some(8),
            minor: None,
            read: true,
            write: false,
            mknod: true,
        };
        assert_eq!(map_value(&b), 0x0003_0001);
        let a = DeviceRule::rw(DeviceKind::All, None, None);
        assert_eq!(map_value(&a), 0x0006_0003);
        for r in [r, b, a, DeviceRule::rw(DeviceKind::Char, Some(136), None)] {
            assert_eq!(
                decode_map_entry(map_key(r.major, r.minor), map_value(&r)),
                Some(r)
            );
        }
        assert_eq!(decode_map_entry(0, 0x0006_0000), None);
    }

    #[test]
    fn merged_ors_same_numbers() {
        let m = merged(&[
            DeviceRule::char_rw(1, 3),
            DeviceRule {
                kind: DeviceKind::Block,
                major: Some(1),
                minor: Some(3),
                read: false,
                write: false,
                mknod: true,
            },
            DeviceRule::char_rw(1, 5),
        ]);
        assert_eq!(
            m,
            vec![
                (map_key(Some(1), Some(3)), 0x0007_0003),
                (map_key(Some(1), Some(5)), 0x0006_0002)
            ]
        );
    }

    #[test]
    fn deny_arithmetic() {
        let c13 = DeviceRule::char_rw(1, 3);
        let b13 = DeviceRule::rw(DeviceKind::Block, Some(1), Some(3));
        let only_w = DeviceRule { read: false, ..c13 };
        assert_eq!(value_after_deny(map_value(&c13), &c13), None);
        // Both types present: denying the char one keeps the block one.
        let both = map_value(&c13) | map_value(&b13);
        assert_eq!(value_after_deny(both, &c13), Some(map_value(&b13)));
        // Partial access: write goes for both types.
        assert_eq!(value_after_deny(both, &only_w), Some(0x0002_0003));
        // Denying more than granted still removes the entry.
        let rwm = DeviceRule { mknod: true, ..c13 };
        assert_eq!(value_after_deny(map_value(&c13), &rwm), None);
    }

    #[test]
    fn instruction_encoding() {
        assert_eq!(exit().to_bytes(), [0x95, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(mov64_imm(R0, 1).to_bytes(), [0xb7, 0x00, 0, 0, 1, 0, 0, 0]);
        assert_eq!(
            mov64_reg(R2, R10).to_bytes(),
            [0xbf, 0xa2, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(ldx_w(R8, R1, 4).to_bytes(), [0x61, 0x18, 4, 0, 0, 0, 0, 0]);
        assert_eq!(
            stx_dw(R10, R2, -8).to_bytes(),
            [0x7b, 0x2a, 0xf8, 0xff, 0, 0, 0, 0]
        );
        assert_eq!(
            add64_imm(R2, -8).to_bytes(),
            [0x07, 0x02, 0, 0, 0xf8, 0xff, 0xff, 0xff]
        );
        assert_eq!(call(1).to_bytes(), [0x85, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(jeq_imm(R0, 0, 6).to_bytes(), [0x15, 0, 6, 0, 0, 0, 0, 0]);
        assert_eq!(
            jne_reg(R2, R7, 2).to_bytes(),
            [0x5d, 0x72, 2, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            lsh64_imm(R2, 32).to_bytes(),
            [0x67, 0x02, 0, 0, 32, 0, 0, 0]
        );
        assert_eq!(
            mov32_imm(R3, -1).to_bytes(),
            [0xb4, 0x03, 0, 0, 0xff, 0xff, 0xff, 0xff]
        );
        let m = ld_imm64(R1, BPF_PSEUDO_MAP_FD, 7);
        assert_eq!(m[0].to_bytes(), [0x18, 0x11, 0, 0, 7, 0, 0, 0]);
        assert_eq!(m[1].to_bytes(), [0; 8]);
        let w = ld_imm64(R2, 0, 0xffff_ffff_0000_0000);
        assert_eq!(w[0].imm, 0);
        assert_eq!(w[1].imm, -1);
        assert_eq!((m[0].dst(), m[0].src()), (1, 1));
    }

    #[test]
    fn program_shape() {
        let p = device_program(9);
        assert_eq!(p.len(), 3 + 3 + 3 + 4 + 1 + 4 * CHECK_LEN + 2);
        // Every map reference carries the fd as a pseudo map fd.
        let maps: Vec<_> = p
            .iter()
            .filter(|i| i.code == 0x18 && i.src() == BPF_PSEUDO_MAP_FD)
            .collect();
        assert_eq!(maps.len(), 4);
        assert!(maps.iter().all(|i| i.imm == 9));
        assert_eq!(p.last().copied(), Some(exit()));
        // Jumps stay inside the program.
        for (pc, i) in p.iter().enumerate() {
            if i.code & 0x07 == JMP && i.code != (JMP | CALL) && i.code != (JMP | EXIT) {
                let target = pc as i64 + 1 + i64::from(i.off);
                assert!(target > 0 && (target as usize) < p.len(), "jump at {pc}");
            }
        }
    }

    /// A tiny interpreter for the instructions the device program uses, with the
    /// map as a HashMap; runs the real program against (type, access, major, minor).
    fn run(
        prog: &[BpfInsn],
        map: &HashMap<u64, u32>,
        access_type: u32,
        major: u32,
        minor: u32,
    ) -> u64 {
        const CTX: u64 = 0x1000;
        const STACK_TOP: u64 = 0x2000;
        const VALUE: u64 = 0x3000;
        let mut r = [0u64; 11];
        let mut stack = [0u8; 512];
        let mut found = 0u32;
        r[1] = CTX;
        r[10] = STACK_TOP;
        let mut pc = 0usize;
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < 10_000, "runaway program");
            let i = prog[pc];
            let (d, s) = (i.dst() as usize, i.src() as usize);
            pc += 1;
            match i.code {
                0xbf => r[d] = r[s],
                0xb7 => r[d] = i.imm as i64 as u64,
                0xb4 => r[d] = u64::from(i.imm as u32),
                0x67 => r[d] <<= i.imm,
                0x4f => r[d] |= r[s],
                0x5f => r[d] &= r[s],
                0x07 => r[d] = r[d].wrapping_add(i.imm as i64 as u64),
                0x18 => {
                    let hi = prog[pc].imm as u32;
                    pc += 1;
                    r[d] = (u64::from(hi) << 32) | u64::from(i.imm as u32);
                }
                0x61 => {
                    let addr = r[s].wrapping_add(i.off as i64 as u64);
                    r[d] = match addr {
                        a if a == CTX => u64::from(access_type),
                        a if a == CTX + 4 => u64::from(major),
                        a if a == CTX + 8 => u64::from(minor),
                        a if a == VALUE => u64::from(found),
                        a => panic!("bad load at {a:#x}"),
                    };
                }
                0x7b => {
                    let off = (r[d].wrapping_add(i.off as i64 as u64)).wrapping_sub(STACK_TOP - 512)
                        as usize;
                    stack[off..off + 8].copy_from_slice(&r[s].to_ne_bytes());
                }
                0x85 => {
                    assert_eq!(i.imm, BPF_FUNC_MAP_LOOKUP_ELEM);
                    let off = r[2].wrapping_sub(STACK_TOP - 512) as usize;
                    let key = u64::from_ne_bytes(stack[off..off + 8].try_into().unwrap());
                    r[0] = match map.get(&key) {
                        Some(v) => {
                            found = *v;
                            VALUE
                        }
                        None => 0,
                    };
                }
                0x15 => {
                    if r[d] == i.imm as i64 as u64 {
                        pc = (pc as i64 + i64::from(i.off)) as usize;
                    }
                }
                0x5d => {
                    if r[d] != r[s] {
                        pc = (pc as i64 + i64::from(i.off)) as usize;
                    }
                }
                0x95 => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    /// Needs root like the other live tests; fails (never skips) without it.
    #[test]
    fn cgroup_live_verifier_log_in_error() {
        assert!(
            rustix::process::geteuid().is_root(),
            "cgroup_live_* tests need root (BPF program loading)"
        );
        // The real program loads.
        let map = map_create(DEVICE_MAP_INITIAL_ENTRIES).unwrap();
        load_device_prog(&device_program(map.as_raw_fd())).unwrap();
        // Exit without setting r0: the verifier refuses and says why.
        let e = load_device_prog(&[exit()]).unwrap_err();
        let CgroupError::Verifier { log, .. } = &e else {
            panic!("expected a verifier error, got {e}");
        };
        assert!(log.contains("R0"), "verifier log should name R0: {log}");
        assert!(e.to_string().contains("verifier log"), "{e}");
    }

    fn req(kind: u32, acc: u32) -> u32 {
        (acc << 16) | kind
    }

    #[test]
    fn program_semantics_in_interpreter() {
        let rules = [
            DeviceRule::char_rw(1, 3),
            DeviceRule::rw(DeviceKind::Char, Some(136), None),
            DeviceRule {
                kind: DeviceKind::Block,
                major: None,
                minor: Some(7),
                read: true,
                write: false,
                mknod: false,
            },
        ];
        let map: HashMap<u64, u32> = merged(&rules).into_iter().collect();
        let p = device_program(3);
        let (c, b) = (BPF_DEVCG_DEV_CHAR, BPF_DEVCG_DEV_BLOCK);
        let (rd, wr, mk) = (BPF_DEVCG_ACC_READ, BPF_DEVCG_ACC_WRITE, BPF_DEVCG_ACC_MKNOD);
        assert_eq!(run(&p, &map, req(c, rd), 1, 3), 1);
        assert_eq!(run(&p, &map, req(c, rd | wr), 1, 3), 1);
        assert_eq!(run(&p, &map, req(c, mk), 1, 3), 0, "no mknod");
        assert_eq!(run(&p, &map, req(b, rd), 1, 3), 0, "block 1:3 not allowed");
        assert_eq!(run(&p, &map, req(c, rd), 1, 5), 0, "/dev/zero not allowed");
        assert_eq!(run(&p, &map, req(c, rd | wr), 136, 42), 1, "minor wildcard");
        assert_eq!(run(&p, &map, req(b, rd), 253, 7), 1, "major wildcard");
        assert_eq!(run(&p, &map, req(b, wr), 253, 7), 0);
        assert_eq!(run(&p, &map, req(c, rd), 253, 7), 0);

        let mut all = map.clone();
        all.insert(
            u64::MAX,
            map_value(&DeviceRule::rw(DeviceKind::All, None, None)),
        );
        assert_eq!(run(&p, &all, req(b, rd | wr), 8, 0), 1, "full wildcard");
        assert_eq!(run(&p, &all, req(b, mk), 8, 0), 0);
        assert_eq!(
            run(&p, &HashMap::new(), req(c, rd), 1, 3),
            0,
            "empty map denies"
        );
    }
}
