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

/// Display width of a table cell (one column per character; virsh uses
/// `wcswidth`, which agrees for everything but wide CJK characters).
fn width(s: &str) -> usize {
    s.chars().count()
}

/// virsh's `vshTable` output: a leading space before each cell, cells padded
/// to the column's width plus two spaces (the last one not padded), a dashed
/// rule of `width + 3` per column under the header.
pub fn table(header: &[&str], rows: &[Vec<String>], with_header: bool) -> String {
    let ncols = header.len();
    let mut widths: Vec<usize> = header
        .iter()
        .map(|h| if with_header { width(h) } else { 0 })
        .collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(ncols) {
            widths[i] = widths[i].max(width(c));
        }
    }
    let mut out = String::new();
    let row = |cells: &[&str], out: &mut String| {
        for (i, c) in cells.iter().enumerate() {
            out.push(' ');
            out.push_str(c);
            if i + 1 < cells.len() {
                for _ in 0..widths[i] - width(c) + 2 {
                    out.push(' ');
                }
            }
        }
        out.push('\n');
    };
    if with_header {
        row(header, &mut out);
        for w in &widths {
            for _ in 0..w + 3 {
                out.push('-');
            }
        }
        out.push('\n');
    }
    for r in rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        row(&cells, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_table_shapes() {
        assert_eq!(
            table(&["Id", "Name", "State"], &[], true),
            " Id   Name   State\n--------------------\n"
        );
        let rows = vec![
            vec!["1".to_string(), "vm1".to_string(), "running".to_string()],
            vec!["-".to_string(), "web".to_string(), "shut off".to_string()],
        ];
        assert_eq!(
            table(&["Id", "Name", "State"], &rows, true),
            " Id   Name   State\n-----------------------\n 1    vm1    running\n -    web    shut off\n"
        );
        assert_eq!(
            table(&["Id", "Name", "State"], &rows, false),
            " 1   vm1   running\n -   web   shut off\n"
        );
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
