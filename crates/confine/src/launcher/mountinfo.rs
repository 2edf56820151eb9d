//! `/proc/<pid>/mountinfo` parsing and the choice of the `/dev` submounts to keep.

use std::path::{Path, PathBuf};

/// One line of `mountinfo` (see proc(5)). Optional fields are kept verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfo {
    pub id: u32,
    pub parent: u32,
    /// `major:minor` of the filesystem.
    pub dev: String,
    pub root: PathBuf,
    pub mount_point: PathBuf,
    pub mount_options: String,
    pub optional: Vec<String>,
    pub fs_type: String,
    pub source: String,
    pub super_options: String,
}

/// Undo the octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` backslash)
/// the kernel applies to paths in mountinfo.
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') as u32 * 64
                + (bytes[i + 2] - b'0') as u32 * 8
                + (bytes[i + 3] - b'0') as u32;
            if let Ok(b) = u8::try_from(v) {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse a whole mountinfo file. Returns the 1-based line number of the first
/// malformed line as the error.
pub fn parse_mountinfo(text: &str) -> Result<Vec<MountInfo>, usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| parse_line(l).ok_or(n + 1))
        .collect()
}

fn parse_line(line: &str) -> Option<MountInfo> {
    let mut fields = line.split(' ');
    let id = fields.next()?.parse().ok()?;
    let parent = fields.next()?.parse().ok()?;
    let dev = fields.next()?.to_owned();
    let root = PathBuf::from(unescape(fields.next()?));
    let mount_point = PathBuf::from(unescape(fields.next()?));
    let mount_options = fields.next()?.to_owned();
    let mut optional = Vec::new();
    loop {
        let f = fields.next()?;
        if f == "-" {
            break;
        }
        optional.push(f.to_owned());
    }
    let fs_type = fields.next()?.to_owned();
    let source = unescape(fields.next()?);
    let super_options = fields.next().unwrap_or("").to_owned();
    Some(MountInfo {
        id,
        parent,
        dev,
        root,
        mount_point,
        mount_options,
        optional,
        fs_type,
        source,
        super_options,
    })
}

/// The mounts under `dev` (normally `/dev`) that must survive the swap to the new
/// tmpfs: mount points strictly below `dev`, reachable from the topmost `dev` mount
/// (mounts hidden under a stacked `/dev` are ignored), deduplicated (stacked mounts on
/// one path count once: moving the path moves the visible one) and with nested ones
/// pruned (moving `/dev/hugepages` carries `/dev/hugepages/x` along). Sorted.
pub fn dev_submounts(mounts: &[MountInfo], dev: &Path) -> Vec<PathBuf> {
    // The visible `dev` mount: a `dev` entry no other `dev` entry is stacked on.
    let dev_entries: Vec<&MountInfo> = mounts.iter().filter(|m| m.mount_point == dev).collect();
    let top = dev_entries
        .iter()
        .find(|m| !dev_entries.iter().any(|o| o.parent == m.id && o.id != m.id))
        .map(|m| m.id);

    let descends_from_top = |m: &MountInfo| -> bool {
        let Some(top) = top else { return true };
        let mut cur = m.parent;
        // Bounded walk: a malformed table must not loop forever.
        for _ in 0..mounts.len() + 1 {
            if cur == top {
                return true;
            }
            match mounts.iter().find(|p| p.id == cur) {
                Some(p) if p.parent != p.id => cur = p.parent,
                _ => return false,
            }
        }
        false
    };

    let mut paths: Vec<PathBuf> = mounts
        .iter()
        .filter(|m| m.mount_point != dev && m.mount_point.starts_with(dev))
        .filter(|m| descends_from_top(m))
        .map(|m| m.mount_point.clone())
        .collect();
    paths.sort();
    paths.dedup();
    let all = paths.clone();
    paths.retain(|p| !all.iter().any(|a| a != p && p.starts_with(a)));
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host table of the CI machine: stacked /dev/shm and /dev/pts.
    const HOST: &str = "\
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334492k,nr_inodes=3083623,mode=755
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684092k
26 24 0:24 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
29 26 0:26 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
30 25 0:27 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684092k
";

    #[test]
    fn parses_fields_and_optional_tags() {
        let line = "36 35 98:0 /mnt1 /mnt/a\\040b rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue";
        let m = &parse_mountinfo(line).unwrap()[0];
        assert_eq!(m.id, 36);
        assert_eq!(m.parent, 35);
        assert_eq!(m.dev, "98:0");
        assert_eq!(m.root, Path::new("/mnt1"));
        assert_eq!(m.mount_point, Path::new("/mnt/a b"));
        assert_eq!(m.mount_options, "rw,noatime");
        assert_eq!(m.optional, vec!["master:1", "shared:7"]);
        assert_eq!(m.fs_type, "ext3");
        assert_eq!(m.source, "/dev/root");
        assert_eq!(m.super_options, "rw,errors=continue");
    }

    #[test]
    fn malformed_lines_are_reported_by_number() {
        assert_eq!(
            parse_mountinfo("24 27 0:6 / /dev rw - devtmpfs x rw\nbogus"),
            Err(2)
        );
        assert_eq!(parse_mountinfo("24 27 0:6 / /dev rw no-separator"), Err(1));
    }

    #[test]
    fn unescapes_octal_sequences_only() {
        assert_eq!(unescape(r"a\040b\011c\012d\134e"), "a b\tc\nd\\e");
        assert_eq!(unescape(r"no\escape\09"), r"no\escape\09");
        assert_eq!(unescape(r"tail\04"), r"tail\04");
    }

    #[test]
    fn host_table_keeps_pts_and_shm_once() {
        let mounts = parse_mountinfo(HOST).unwrap();
        assert_eq!(
            dev_submounts(&mounts, Path::new("/dev")),
            vec![PathBuf::from("/dev/pts"), PathBuf::from("/dev/shm")]
        );
    }

    #[test]
    fn nested_mounts_are_pruned_and_prefix_lookalikes_ignored() {
        let text = "\
1 0 0:1 / / rw - ext4 /dev/vda rw
2 1 0:2 / /dev rw - devtmpfs udev rw
3 2 0:3 / /dev/hugepages rw - hugetlbfs hugetlbfs rw
4 3 0:4 / /dev/hugepages/inner rw - tmpfs tmpfs rw
5 2 0:5 / /dev/mqueue rw - mqueue mqueue rw
6 1 0:6 / /devices rw - tmpfs tmpfs rw
7 2 0:7 / /dev/hugepages1G rw - hugetlbfs hugetlbfs rw,pagesize=1024M
8 2 0:8 / /dev/net/tun rw - tmpfs tmpfs rw
";
        let mounts = parse_mountinfo(text).unwrap();
        assert_eq!(
            dev_submounts(&mounts, Path::new("/dev")),
            vec![
                PathBuf::from("/dev/hugepages"),
                PathBuf::from("/dev/hugepages1G"),
                PathBuf::from("/dev/mqueue"),
                PathBuf::from("/dev/net/tun"),
            ]
        );
    }

    #[test]
    fn mounts_hidden_under_a_stacked_dev_are_ignored() {
        let text = "\
1 0 0:1 / / rw - ext4 /dev/vda rw
2 1 0:2 / /dev rw - devtmpfs udev rw
3 2 0:3 / /dev/old rw - tmpfs tmpfs rw
4 2 0:4 / /dev rw - tmpfs devfs rw
5 4 0:5 / /dev/pts rw - devpts devpts rw
";
        let mounts = parse_mountinfo(text).unwrap();
        assert_eq!(
            dev_submounts(&mounts, Path::new("/dev")),
            vec![PathBuf::from("/dev/pts")]
        );
    }

    #[test]
    fn without_a_dev_mount_paths_alone_decide() {
        let text = "\
1 0 0:1 / / rw - ext4 /dev/vda rw
5 1 0:5 / /dev/pts rw - devpts devpts rw
";
        let mounts = parse_mountinfo(text).unwrap();
        assert_eq!(
            dev_submounts(&mounts, Path::new("/dev")),
            vec![PathBuf::from("/dev/pts")]
        );
    }
}
