use std::collections::HashMap;

use std::os::fd::AsRawFd;

use super::emulator::run;
use super::encoding::*;
use super::program::*;
use super::sys::*;
use crate::cgroup::error::CgroupError;
use crate::cgroup::rule::{DeviceKind, DeviceRule};

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
