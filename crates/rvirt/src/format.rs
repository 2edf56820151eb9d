//! Output shapes of virsh 9.0: state and reason words, the `list` table, UUID
//! text. Pure functions, so they are unit-tested without a daemon.

use std::cmp::Ordering;

/// virsh's word for a `virDomainState` (`virshDomainStateToString`).
pub fn state_str(state: i32) -> &'static str {
    match state {
        1 => "running",
        2 => "idle",
        3 => "paused",
        4 => "in shutdown",
        5 => "shut off",
        6 => "crashed",
        7 => "pmsuspended",
        _ => "no state",
    }
}

/// virsh's word for a state's reason (`virshDomainStateReasonToString`).
pub fn reason_str(state: i32, reason: i32) -> &'static str {
    let s = match (state, reason) {
        // running
        (1, 1) => "booted",
        (1, 2) => "migrated",
        (1, 3) => "restored",
        (1, 4) => "from snapshot",
        (1, 5) => "unpaused",
        (1, 6) => "migration canceled",
        (1, 7) => "save canceled",
        (1, 8) => "event wakeup",
        (1, 9) => "crashed",
        (1, 10) => "post-copy",
        (1, 11) => "post-copy failed",
        // paused
        (3, 1) => "user",
        (3, 2) => "migrating",
        (3, 3) => "saving",
        (3, 4) => "dumping",
        (3, 5) => "I/O error",
        (3, 6) => "watchdog",
        (3, 7) => "from snapshot",
        (3, 8) => "shutting down",
        (3, 9) => "creating snapshot",
        (3, 10) => "crashed",
        (3, 11) => "starting up",
        (3, 12) => "post-copy",
        (3, 13) => "post-copy failed",
        (3, 14) => "api error",
        // in shutdown
        (4, 1) => "user",
        // shut off
        (5, 1) => "shutdown",
        (5, 2) => "destroyed",
        (5, 3) => "crashed",
        (5, 4) => "migrated",
        (5, 5) => "saved",
        (5, 6) => "failed",
        (5, 7) => "from snapshot",
        (5, 8) => "daemon",
        // crashed
        (6, 1) => "panicked",
        // pmsuspended: only "unknown"
        _ => "",
    };
    if s.is_empty() { "unknown" } else { s }
}

/// A UUID as 8-4-4-4-12 lowercase hex.
pub fn uuid_string(u: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// libvirt's `virUUIDParse`: leading blanks, 32 hex digits with `-` or ` `
/// anywhere between byte pairs, trailing blanks.
pub fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    let mut out = [0u8; 16];
    let mut n = 0;
    while n < 16 {
        let c = *b.get(i)?;
        if c == b'-' || c == b' ' {
            i += 1;
            continue;
        }
        let hi = (c as char).to_digit(16)?;
        let lo = (*b.get(i + 1)? as char).to_digit(16)?;
        out[n] = (hi * 16 + lo) as u8;
        n += 1;
        i += 2;
    }
    if b[i..].iter().all(u8::is_ascii_whitespace) {
        Some(out)
    } else {
        None
    }
}

/// `virStrToLong_i(s, NULL, 10, &id) == 0 && id >= 0`: the whole string (after
/// leading blanks) is a decimal int.
pub fn parse_id(text: &str) -> Option<i32> {
    let t = text.trim_start_matches(|c: char| c.is_ascii_whitespace());
    t.parse::<i32>().ok().filter(|id| *id >= 0)
}

/// `g_ascii_strcasecmp`.
pub fn ascii_casecmp(a: &str, b: &str) -> Ordering {
    let a = a.bytes().map(|c| c.to_ascii_lowercase());
    let b = b.bytes().map(|c| c.to_ascii_lowercase());
    a.cmp(b)
}

/// virsh's list order: running domains by id, then inactive ones by name
/// (ASCII case-insensitive).
pub fn list_order(a: (i32, &str), b: (i32, &str)) -> Ordering {
    match (a.0 < 0, b.0 < 0) {
        (true, true) => ascii_casecmp(a.1, b.1),
        (false, false) => a.0.cmp(&b.0),
        (false, true) => Ordering::Less,
        (true, false) => Ordering::Greater,
    }
}

/// Whether virsh would run with a UTF-8 `LC_CTYPE`: `LC_ALL`, else
/// `LC_CTYPE`, else `LANG` names a UTF-8 locale that is installed (C.UTF-8
/// always is). Otherwise virsh runs in the C locale.
pub fn utf8_locale() -> bool {
    let name = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty())
        .unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    let Some((lang, codeset)) = lower.split_once('.') else {
        return false;
    };
    let codeset = codeset.split('@').next().unwrap_or("");
    if codeset != "utf-8" && codeset != "utf8" {
        return false;
    }
    if lang == "c" {
        return true;
    }
    let base = name.split('.').next().unwrap_or("");
    let dir = std::path::Path::new("/usr/lib/locale");
    dir.join(format!("{base}.utf8")).is_dir()
        || dir.join(format!("{base}.UTF-8")).is_dir()
        || dir.join("locale-archive").is_file()
}

/// `wcwidth` for a printable character: 0 for combining marks, 2 for East
/// Asian wide and fullwidth ranges, else 1.
fn wcwidth(c: char) -> usize {
    let u = c as u32;
    let zero = [
        (0x0300, 0x036F),
        (0x0483, 0x0489),
        (0x0591, 0x05BD),
        (0x200B, 0x200F),
    ];
    if zero.iter().any(|&(a, b)| (a..=b).contains(&u)) {
        return 0;
    }
    let wide = [
        (0x1100, 0x115F),
        (0x2E80, 0x303E),
        (0x3041, 0x33FF),
        (0x3400, 0x4DBF),
        (0x4E00, 0x9FFF),
        (0xA000, 0xA4CF),
        (0xAC00, 0xD7A3),
        (0xF900, 0xFAFF),
        (0xFE30, 0xFE4F),
        (0xFF00, 0xFF60),
        (0xFFE0, 0xFFE6),
        (0x1F300, 0x1F64F),
        (0x1F900, 0x1F9FF),
        (0x20000, 0x2FFFD),
        (0x30000, 0x3FFFD),
    ];
    if wide.iter().any(|&(a, b)| (a..=b).contains(&u)) {
        2
    } else {
        1
    }
}

/// virsh's `vshTableSafeEncode`: printable characters as they are (width
/// from `wcwidth`), anything else byte by byte as `\xNN`, 4 columns each.
/// virsh formats bytes ≥ 0x80 as a sign-extended char cut to 4 characters,
/// so they all read `\xff`; in the C locale every non-ASCII byte is one.
pub fn safe_encode(s: &str, utf8: bool) -> (String, usize) {
    let mut out = String::with_capacity(s.len());
    let mut width = 0;
    let escape = |b: u8, out: &mut String| {
        if b >= 0x80 {
            out.push_str("\\xff");
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    };
    for c in s.chars() {
        let printable = if utf8 {
            !c.is_control()
        } else {
            c.is_ascii() && !c.is_ascii_control()
        };
        if printable {
            out.push(c);
            width += if utf8 { wcwidth(c) } else { 1 };
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                escape(b, &mut out);
                width += 4;
            }
        }
    }
    (out, width)
}

/// virsh's `vshTable` output: a leading space before each cell, cells padded
/// to the column's width plus two spaces (the last one not padded), a dashed
/// rule of `width + 3` per column under the header. Cells are made safe as
/// virsh does for the locale it would run in.
pub fn table(header: &[&str], rows: &[Vec<String>], with_header: bool) -> String {
    table_in(header, rows, with_header, utf8_locale())
}

/// [`table`] for a given locale kind.
pub fn table_in(header: &[&str], rows: &[Vec<String>], with_header: bool, utf8: bool) -> String {
    let ncols = header.len();
    let enc = |cells: &[String]| -> Vec<(String, usize)> {
        cells.iter().map(|c| safe_encode(c, utf8)).collect()
    };
    let header: Vec<(String, usize)> =
        enc(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    let rows: Vec<Vec<(String, usize)>> = rows.iter().map(|r| enc(r)).collect();
    let mut widths: Vec<usize> = header
        .iter()
        .map(|h| if with_header { h.1 } else { 0 })
        .collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate().take(ncols) {
            widths[i] = widths[i].max(c.1);
        }
    }
    let mut out = String::new();
    let row = |cells: &[(String, usize)], out: &mut String| {
        for (i, (c, w)) in cells.iter().enumerate() {
            out.push(' ');
            out.push_str(c);
            if i + 1 < cells.len() {
                for _ in 0..widths[i] - w + 2 {
                    out.push(' ');
                }
            }
        }
        out.push('\n');
    };
    if with_header {
        row(&header, &mut out);
        for w in &widths {
            for _ in 0..w + 3 {
                out.push('-');
            }
        }
        out.push('\n');
    }
    for r in &rows {
        row(r, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_table_shapes() {
        assert_eq!(
            table_in(&["Id", "Name", "State"], &[], true, true),
            " Id   Name   State\n--------------------\n"
        );
        let rows = vec![
            vec!["1".to_string(), "vm1".to_string(), "running".to_string()],
            vec!["-".to_string(), "web".to_string(), "shut off".to_string()],
        ];
        assert_eq!(
            table_in(&["Id", "Name", "State"], &rows, true, false),
            " Id   Name   State\n-----------------------\n 1    vm1    running\n -    web    shut off\n"
        );
        assert_eq!(
            table_in(&["Id", "Name", "State"], &rows, false, true),
            " 1   vm1   running\n -   web   shut off\n"
        );
    }

    #[test]
    fn cells_are_made_safe_like_virsh() {
        assert_eq!(safe_encode("vm-ü中", true), ("vm-ü中".to_string(), 6));
        assert_eq!(
            safe_encode("vm-ü中", false),
            ("vm-\\xff\\xff\\xff\\xff\\xff".to_string(), 23)
        );
        assert_eq!(safe_encode("a\tb", true), ("a\\x09b".to_string(), 6));
    }

    #[test]
    fn uuids_and_ids() {
        let u = parse_uuid("6b3c1f2e-7d44-4b5a-9a0e-3f1d2c4b5a69").unwrap();
        assert_eq!(uuid_string(&u), "6b3c1f2e-7d44-4b5a-9a0e-3f1d2c4b5a69");
        assert_eq!(parse_uuid("6b3c1f2e7d444b5a9a0e3f1d2c4b5a69  "), Some(u));
        assert_eq!(parse_uuid("6b3c1f2e-7d44-4b5a-9a0e-3f1d2c4b5a6"), None);
        assert_eq!(parse_uuid("zz3c1f2e-7d44-4b5a-9a0e-3f1d2c4b5a69"), None);
        assert_eq!(parse_id("12"), Some(12));
        assert_eq!(parse_id(" 3"), Some(3));
        assert_eq!(parse_id("-1"), None);
        assert_eq!(parse_id("vm1"), None);
        assert_eq!(parse_id("1x"), None);
    }

    #[test]
    fn order_and_words() {
        let mut v = vec![(-1, "b"), (3, "z"), (-1, "A"), (1, "y")];
        v.sort_by(|a, b| list_order(*a, *b));
        assert_eq!(v, vec![(1, "y"), (3, "z"), (-1, "A"), (-1, "b")]);
        assert_eq!(reason_str(1, 1), "booted");
        assert_eq!(reason_str(5, 0), "unknown");
        assert_eq!(reason_str(7, 0), "unknown");
        assert_eq!(state_str(5), "shut off");
        assert_eq!(state_str(42), "no state");
    }
}
