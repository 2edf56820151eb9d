//! For unit tests: a tiny interpreter for the instructions the device program uses,
//! with the map as a `HashMap`, so the real program's decisions can be checked
//! without loading it.

use std::collections::HashMap;

use super::program::{BPF_FUNC_MAP_LOOKUP_ELEM, BpfInsn};

/// A tiny interpreter for the instructions the device program uses, with the
/// map as a HashMap; runs the real program against (type, access, major, minor).
pub(super) fn run(
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
                let off =
                    (r[d].wrapping_add(i.off as i64 as u64)).wrapping_sub(STACK_TOP - 512) as usize;
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
