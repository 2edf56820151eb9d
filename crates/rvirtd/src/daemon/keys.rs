//! `send-key`: key codes of libvirt's code sets (`virKeycodeSet`) to QEMU's key
//! numbers ("qnum": XT scan code set 1, with extended `E0 xx` keys as
//! `0x80 | xx`), which QMP `send-key` takes as `{"type":"number"}`.
//!
//! Covered: linux (what `virsh send-key KEY_A` sends), xt, atset1, xt_kbd and
//! qnum itself for the whole keyboard, usb for letters, digits and the main
//! editing keys. A code outside these gets libvirt's "cannot translate" error
//! rather than a wrong key.

/// `virKeycodeSet` numbers.
pub mod set {
    pub const LINUX: u32 = 0;
    pub const XT: u32 = 1;
    pub const ATSET1: u32 = 2;
    pub const ATSET2: u32 = 3;
    pub const ATSET3: u32 = 4;
    pub const OSX: u32 = 5;
    pub const XT_KBD: u32 = 6;
    pub const USB: u32 = 7;
    pub const WIN32: u32 = 8;
    pub const QNUM: u32 = 9;
}

/// The code set's name as libvirt spells it (for messages).
pub fn codeset_name(codeset: u32) -> &'static str {
    match codeset {
        set::LINUX => "linux",
        set::XT => "xt",
        set::ATSET1 => "atset1",
        set::ATSET2 => "atset2",
        set::ATSET3 => "atset3",
        set::OSX => "osx",
        set::XT_KBD => "xt_kbd",
        set::USB => "usb",
        set::WIN32 => "win32",
        set::QNUM => "qnum",
        _ => "unknown",
    }
}

/// Linux key codes above the range where they equal set-1 scan codes.
const LINUX_EXTRA: &[(u32, u32)] = &[
    (85, 0x76),  // ZENKAKUHANKAKU
    (86, 0x56),  // 102ND
    (87, 0x57),  // F11
    (88, 0x58),  // F12
    (96, 0x9c),  // KPENTER
    (97, 0x9d),  // RIGHTCTRL
    (98, 0xb5),  // KPSLASH
    (99, 0x54),  // SYSRQ
    (100, 0xb8), // RIGHTALT
    (102, 0xc7), // HOME
    (103, 0xc8), // UP
    (104, 0xc9), // PAGEUP
    (105, 0xcb), // LEFT
    (106, 0xcd), // RIGHT
    (107, 0xcf), // END
    (108, 0xd0), // DOWN
    (109, 0xd1), // PAGEDOWN
    (110, 0xd2), // INSERT
    (111, 0xd3), // DELETE
    (113, 0xa0), // MUTE
    (114, 0xae), // VOLUMEDOWN
    (115, 0xb0), // VOLUMEUP
    (116, 0xde), // POWER
    (117, 0x59), // KPEQUAL
    (119, 0xc6), // PAUSE
    (125, 0xdb), // LEFTMETA
    (126, 0xdc), // RIGHTMETA
    (127, 0xdd), // COMPOSE
    (142, 0xdf), // SLEEP
    (143, 0xe3), // WAKEUP
];

/// USB HID usages 4..=29 (a..z) as Linux key codes.
const USB_LETTERS: [u32; 26] = [
    30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50, 49, 24, 25, 16, 19, 31, 20, 22, 47, 17, 45,
    21, 44,
];

fn linux_to_qnum(k: u32) -> Option<u32> {
    match k {
        1..=83 => Some(k),
        _ => LINUX_EXTRA.iter().find(|(l, _)| *l == k).map(|(_, q)| *q),
    }
}

fn usb_to_linux(k: u32) -> Option<u32> {
    match k {
        4..=29 => Some(USB_LETTERS[(k - 4) as usize]),
        30..=38 => Some(k - 28), // 1..9 → KEY_1 (2)..KEY_9 (10)
        39 => Some(11),          // 0
        40 => Some(28),          // Enter
        41 => Some(1),           // Escape
        42 => Some(14),          // Backspace
        43 => Some(15),          // Tab
        44 => Some(57),          // Space
        _ => None,
    }
}

/// `k` of `codeset` as a QEMU key number, if known.
pub fn to_qnum(codeset: u32, k: u32) -> Option<u32> {
    match codeset {
        set::QNUM => (k > 0 && k < 0x100).then_some(k),
        set::LINUX => linux_to_qnum(k),
        set::XT | set::ATSET1 => match k {
            1..=0x7f => Some(k),
            0xe001..=0xe07f => Some(0x80 | (k & 0x7f)),
            _ => None,
        },
        set::XT_KBD => match k {
            1..=0x7f => Some(k),
            0x101..=0x17f => Some(0x80 | (k & 0x7f)),
            _ => None,
        },
        set::USB => usb_to_linux(k).and_then(linux_to_qnum),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_keys() {
        // virsh send-key DOM KEY_A: linux 30 → 0x1e.
        assert_eq!(to_qnum(set::LINUX, 30), Some(0x1e));
        assert_eq!(to_qnum(set::LINUX, 103), Some(0xc8)); // up
        assert_eq!(to_qnum(set::ATSET1, 0xe048), Some(0xc8)); // up
        assert_eq!(to_qnum(set::USB, 4), Some(0x1e)); // a
        assert_eq!(to_qnum(set::USB, 39), Some(0x0b)); // 0
        assert_eq!(to_qnum(set::LINUX, 0), None);
        assert_eq!(to_qnum(set::OSX, 0), None);
        assert_eq!(codeset_name(set::XT_KBD), "xt_kbd");
    }
}
