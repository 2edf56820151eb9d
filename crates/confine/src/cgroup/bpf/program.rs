//! The `BPF_PROG_TYPE_CGROUP_DEVICE` program, assembled by hand: it loads the
//! context, then tries the exact key, the major and minor wildcards and the full
//! wildcard in the map, and allows the access when one entry covers it.

use std::os::fd::RawFd;

use super::encoding::WILDCARD;

/// Name given to the program (shown by `bpftool prog`), used to find it again.
pub const DEVICE_PROG_NAME: &str = "rvirt_devacl";
pub(super) const BPF_FUNC_MAP_LOOKUP_ELEM: i32 = 1;
pub(super) const BPF_PSEUDO_MAP_FD: u8 = 1;

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
pub(super) const JMP: u8 = 0x05;
const ALU64: u8 = 0x07;
const W: u8 = 0x00;
const DW: u8 = 0x18;
const IMM: u8 = 0x00;
const MEM: u8 = 0x60;
const K: u8 = 0x00;
const X: u8 = 0x08;
const ADD: u8 = 0x00;
pub(super) const OR: u8 = 0x40;
const AND: u8 = 0x50;
const LSH: u8 = 0x60;
const MOV: u8 = 0xb0;
const JEQ: u8 = 0x10;
const JNE: u8 = 0x50;
pub(super) const CALL: u8 = 0x80;
pub(super) const EXIT: u8 = 0x90;

// Registers.
pub(super) const R0: u8 = 0;
pub(super) const R1: u8 = 1;
pub(super) const R2: u8 = 2;
pub(super) const R3: u8 = 3;
pub(super) const R7: u8 = 7;
pub(super) const R8: u8 = 8;
const R9: u8 = 9;
pub(super) const R10: u8 = 10;

pub(super) const fn mov64_reg(dst: u8, src: u8) -> BpfInsn {
    BpfInsn::new(ALU64 | MOV | X, dst, src, 0, 0)
}
pub(super) const fn mov64_imm(dst: u8, imm: i32) -> BpfInsn {
    BpfInsn::new(ALU64 | MOV | K, dst, 0, 0, imm)
}
/// 32-bit move: zero-extends, so `-1` gives `0x00000000ffffffff`.
pub(super) const fn mov32_imm(dst: u8, imm: i32) -> BpfInsn {
    BpfInsn::new(ALU | MOV | K, dst, 0, 0, imm)
}
pub(super) const fn lsh64_imm(dst: u8, imm: i32) -> BpfInsn {
    BpfInsn::new(ALU64 | LSH | K, dst, 0, 0, imm)
}
const fn or64_reg(dst: u8, src: u8) -> BpfInsn {
    BpfInsn::new(ALU64 | OR | X, dst, src, 0, 0)
}
const fn and64_reg(dst: u8, src: u8) -> BpfInsn {
    BpfInsn::new(ALU64 | AND | X, dst, src, 0, 0)
}
pub(super) const fn add64_imm(dst: u8, imm: i32) -> BpfInsn {
    BpfInsn::new(ALU64 | ADD | K, dst, 0, 0, imm)
}
pub(super) const fn ldx_w(dst: u8, src: u8, off: i16) -> BpfInsn {
    BpfInsn::new(LDX | W | MEM, dst, src, off, 0)
}
pub(super) const fn stx_dw(dst: u8, src: u8, off: i16) -> BpfInsn {
    BpfInsn::new(STX | DW | MEM, dst, src, off, 0)
}
pub(super) const fn jeq_imm(dst: u8, imm: i32, off: i16) -> BpfInsn {
    BpfInsn::new(JMP | JEQ | K, dst, 0, off, imm)
}
pub(super) const fn jne_reg(dst: u8, src: u8, off: i16) -> BpfInsn {
    BpfInsn::new(JMP | JNE | X, dst, src, off, 0)
}
pub(super) const fn call(helper: i32) -> BpfInsn {
    BpfInsn::new(JMP | CALL, 0, 0, 0, helper)
}
pub(super) const fn exit() -> BpfInsn {
    BpfInsn::new(JMP | EXIT, 0, 0, 0, 0)
}
/// `dst = imm64` (two instructions).
pub(super) const fn ld_imm64(dst: u8, src: u8, imm: u64) -> [BpfInsn; 2] {
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
pub(super) const CHECK_LEN: usize = 13;

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
