//! The DAC pre-flight access check: walks every directory on the way to a file as
//! the QEMU identity would (mode bits and POSIX ACLs) and names the component that
//! blocks, with the fix, before QEMU hits the denial.

use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};

use super::error::errno_text;
use crate::hostops::{FileKind, FileStat, HostOps};
use crate::spec::Identity;

/// What is missing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessProblem {
    /// A directory on the way cannot be searched (no `x`).
    Search,
    /// The file cannot be read.
    Read,
    /// The file cannot be written.
    Write,
    /// The component does not exist.
    Missing,
    /// A component on the way is not a directory.
    NotDir,
    /// Something else (stat failed, symlink loop): the errno text.
    Other(String),
}

/// Why the QEMU identity could not open a file, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessDenial {
    /// The file QEMU needs.
    pub path: PathBuf,
    /// The component that blocks (the file itself or a parent directory).
    pub blocking: PathBuf,
    pub problem: AccessProblem,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// Owner uid, gid and permission bits of `blocking`, when it exists.
    pub owner: Option<(u32, u32, u32)>,
}

impl AccessDenial {
    /// The layer that denies: `DAC` (mode bits / ACLs) or `path` (missing, not a dir).
    pub fn layer(&self) -> &'static str {
        if matches!(self.problem, AccessProblem::Missing | AccessProblem::NotDir) {
            "path"
        } else {
            "DAC"
        }
    }

    /// What the administrator can do about it.
    pub fn fix(&self) -> String {
        fix_for(&self.problem, &self.blocking, self.uid, self.gid)
    }
}

impl fmt::Display for AccessDenial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let groups: Vec<String> = self.groups.iter().map(u32::to_string).collect();
        let who = format!(
            "uid {} gid {} (groups {})",
            self.uid,
            self.gid,
            if groups.is_empty() {
                "none".into()
            } else {
                groups.join(",")
            }
        );
        let b = self.blocking.display();
        let what = match &self.problem {
            AccessProblem::Search => format!("cannot search directory '{b}'"),
            AccessProblem::Read => format!("cannot read '{b}'"),
            AccessProblem::Write => format!("cannot write '{b}'"),
            AccessProblem::Missing => format!("'{b}' does not exist"),
            AccessProblem::NotDir => format!("'{b}' is not a directory"),
            AccessProblem::Other(e) => format!("cannot check '{b}': {e}"),
        };
        write!(f, "{}: QEMU as {who} {what}", self.layer())?;
        if let Some((u, g, m)) = self.owner {
            write!(f, " (owner {u}:{g}, mode {m:04o})")?;
        }
        if self.blocking != self.path {
            write!(f, " on the way to '{}'", self.path.display())?;
        }
        write!(f, "; fix: {}", self.fix())
    }
}

impl std::error::Error for AccessDenial {}

/// A POSIX ACL entry (from `system.posix_acl_access`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AclEntry {
    pub tag: u16,
    pub perm: u16,
    pub id: u32,
}

const ACL_USER_OBJ: u16 = 0x01;
const ACL_USER: u16 = 0x02;
const ACL_GROUP_OBJ: u16 = 0x04;
const ACL_GROUP: u16 = 0x08;
const ACL_MASK: u16 = 0x10;
const ACL_OTHER: u16 = 0x20;

/// Parse the kernel's xattr form of an access ACL (version 2, 8-byte entries).
pub fn parse_posix_acl(data: &[u8]) -> Option<Vec<AclEntry>> {
    let (head, rest) = data.split_at_checked(4)?;
    if u32::from_le_bytes(head.try_into().ok()?) != 2 || rest.len() % 8 != 0 {
        return None;
    }
    Some(
        rest.chunks_exact(8)
            .map(|c| AclEntry {
                tag: u16::from_le_bytes([c[0], c[1]]),
                perm: u16::from_le_bytes([c[2], c[3]]),
                id: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    )
}

/// Whether `want` (bits: 4 read, 2 write, 1 execute/search) is granted by mode bits or
/// an ACL. uid 0 is always granted (CAP_DAC_OVERRIDE).
pub fn permits(
    st: &FileStat,
    acl: Option<&[AclEntry]>,
    uid: u32,
    gid: u32,
    groups: &[u32],
    want: u32,
) -> bool {
    if uid == 0 {
        return true;
    }
    let in_group = |g: u32| g == gid || groups.contains(&g);
    let ok = |bits: u32| bits & want == want;
    let Some(acl) = acl.filter(|a| !a.is_empty()) else {
        let bits = if uid == st.uid {
            st.mode >> 6
        } else if in_group(st.gid) {
            st.mode >> 3
        } else {
            st.mode
        };
        return ok(bits & 7);
    };
    let perm = |tag: u16| acl.iter().find(|e| e.tag == tag).map(|e| u32::from(e.perm));
    let mask = perm(ACL_MASK).unwrap_or(7);
    if uid == st.uid {
        return ok(perm(ACL_USER_OBJ).unwrap_or(st.mode >> 6) & 7);
    }
    if let Some(e) = acl.iter().find(|e| e.tag == ACL_USER && e.id == uid) {
        return ok(u32::from(e.perm) & mask);
    }
    let mut matched = false;
    for e in acl {
        let hit = match e.tag {
            ACL_GROUP_OBJ => in_group(st.gid),
            ACL_GROUP => in_group(e.id),
            _ => false,
        };
        if hit {
            matched = true;
            if ok(u32::from(e.perm) & mask) {
                return true;
            }
        }
    }
    if matched {
        return false;
    }
    ok(perm(ACL_OTHER).unwrap_or(st.mode) & 7)
}

fn fix_for(problem: &AccessProblem, blocking: &Path, uid: u32, gid: u32) -> String {
    let b = blocking.display();
    let account = "or run QEMU as an account that can reach it (qemu.conf user/group, or \
                   <seclabel type='static' model='dac'><label>USER:GROUP</label></seclabel>)";
    match problem {
        AccessProblem::Search => format!(
            "let uid {uid}/gid {gid} search '{b}' (e.g. chmod o+x '{b}', or a group or ACL \
             entry with x), move the file to a directory QEMU can reach (e.g. \
             /var/lib/libvirt/images), {account}"
        ),
        AccessProblem::Read | AccessProblem::Write => format!(
            "let rvirt relabel the file (qemu.conf dynamic_ownership = 1 and no \
             <seclabel model='dac' relabel='no'/> on the disk), chown/chmod '{b}' yourself, \
             {account}"
        ),
        AccessProblem::Missing => format!("create '{b}' or correct the path in the domain XML"),
        AccessProblem::NotDir => format!("'{b}' must be a directory; correct the path"),
        AccessProblem::Other(_) => format!("check '{b}' on the host"),
    }
}

/// Pre-flight: can `uid`/`gid`/`groups` open `path` for reading (and writing when
/// `want_write`)? Every directory from `/` down needs search permission; symlinks are
/// followed (their targets' directories are checked too); the file needs `r` (and `w`).
/// Mode bits and POSIX access ACLs are evaluated; uid 0 always passes. `path` is
/// made absolute lexically (relative to `/`).
///
/// Call it after relabelling (the file's owner is then the one QEMU will see).
pub fn check_access(
    ops: &dyn HostOps,
    path: &Path,
    uid: u32,
    gid: u32,
    groups: &[u32],
    want_write: bool,
) -> Result<(), AccessDenial> {
    let walk = Walk {
        ops,
        path,
        uid,
        gid,
        groups,
    };
    // Pending components, front first.
    let mut pending: Vec<PathBuf> = Vec::new();
    push_front(&mut pending, path);
    let mut cur = PathBuf::from("/");
    let mut links = 0;
    loop {
        // `cur` is a directory we are about to look into (or the final file).
        let st = ops
            .stat(&cur)
            .map_err(|e| walk.deny(&cur, io_problem(&e), None))?;
        let Some(next) = pending.pop() else {
            return walk.final_object(&cur, &st, want_write);
        };
        walk.search(&cur, &st)?;
        if next.as_os_str() == ".." {
            cur.pop();
            continue;
        }
        let candidate = cur.join(&next);
        match walk.symlink_target(&candidate, &mut links)? {
            Some(target) => {
                push_front(&mut pending, &target);
                if target.is_absolute() {
                    cur = PathBuf::from("/");
                }
            }
            None => cur = candidate,
        }
    }
}

/// One [`check_access`] walk: who asks, for which path, through which [`HostOps`].
struct Walk<'a> {
    ops: &'a dyn HostOps,
    path: &'a Path,
    uid: u32,
    gid: u32,
    groups: &'a [u32],
}

impl Walk<'_> {
    /// The denial naming `blocking` as the component that stops the walk.
    fn deny(&self, blocking: &Path, problem: AccessProblem, st: Option<&FileStat>) -> AccessDenial {
        AccessDenial {
            path: self.path.to_path_buf(),
            blocking: blocking.to_path_buf(),
            problem,
            uid: self.uid,
            gid: self.gid,
            groups: self.groups.to_vec(),
            owner: st.map(|s| (s.uid, s.gid, s.mode)),
        }
    }

    /// The POSIX access ACL of `p`, when it has a readable one.
    fn acl_of(&self, p: &Path) -> Option<Vec<AclEntry>> {
        match self.ops.get_xattr(p, "system.posix_acl_access") {
            Ok(Some(v)) => parse_posix_acl(&v),
            _ => None,
        }
    }

    /// The final object needs `r`, and `w` when `want_write`.
    fn final_object(
        &self,
        cur: &Path,
        st: &FileStat,
        want_write: bool,
    ) -> Result<(), AccessDenial> {
        let mut want = 4;
        if want_write {
            want |= 2;
        }
        let acl = self.acl_of(cur);
        let (uid, gid, groups) = (self.uid, self.gid, self.groups);
        if !permits(st, acl.as_deref(), uid, gid, groups, 4) {
            return Err(self.deny(cur, AccessProblem::Read, Some(st)));
        }
        if !permits(st, acl.as_deref(), uid, gid, groups, want) {
            return Err(self.deny(cur, AccessProblem::Write, Some(st)));
        }
        Ok(())
    }

    /// A directory on the way must be a directory and searchable.
    fn search(&self, cur: &Path, st: &FileStat) -> Result<(), AccessDenial> {
        if st.kind != FileKind::Dir {
            return Err(self.deny(cur, AccessProblem::NotDir, Some(st)));
        }
        let acl = self.acl_of(cur);
        if !permits(st, acl.as_deref(), self.uid, self.gid, self.groups, 1) {
            return Err(self.deny(cur, AccessProblem::Search, Some(st)));
        }
        Ok(())
    }

    /// The target of `candidate` when it is a symlink (counted in `links`, at most
    /// 40), `None` otherwise.
    fn symlink_target(
        &self,
        candidate: &Path,
        links: &mut u32,
    ) -> Result<Option<PathBuf>, AccessDenial> {
        let lst = self
            .ops
            .lstat(candidate)
            .map_err(|e| self.deny(candidate, io_problem(&e), None))?;
        if lst.kind != FileKind::Symlink {
            return Ok(None);
        }
        *links += 1;
        if *links > 40 {
            return Err(self.deny(
                candidate,
                AccessProblem::Other("too many levels of symbolic links".into()),
                None,
            ));
        }
        self.ops
            .read_link(candidate)
            .map(Some)
            .map_err(|e| self.deny(candidate, io_problem(&e), None))
    }
}

/// What an I/O error on a path component means for the caller.
fn io_problem(e: &io::Error) -> AccessProblem {
    match e.raw_os_error() {
        Some(libc::ENOENT) => AccessProblem::Missing,
        Some(libc::ENOTDIR) => AccessProblem::NotDir,
        _ => AccessProblem::Other(errno_text(e)),
    }
}

/// Queues the components of `p` (normal ones and `..`) in front of `pending`.
fn push_front(pending: &mut Vec<PathBuf>, p: &Path) {
    let comps: Vec<PathBuf> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(PathBuf::from(n)),
            Component::ParentDir => Some(PathBuf::from("..")),
            _ => None,
        })
        .collect();
    for c in comps.into_iter().rev() {
        pending.push(c);
    }
}

/// [`check_access`] for an [`Identity`].
pub fn check_identity_access(
    ops: &dyn HostOps,
    path: &Path,
    who: &Identity,
    want_write: bool,
) -> Result<(), AccessDenial> {
    check_access(ops, path, who.uid, who.gid, &who.groups, want_write)
}
