//! Which domains hold which files chowned for QEMU, with each file's original owner:
//! the daemon's own reference count, so a file two domains use (a shared read-only
//! ISO, a disk on a file system without xattrs) keeps QEMU's owner until its last
//! user stops, and a domain started while another holds the file learns the real
//! original owner instead of QEMU's.
//!
//! It lives in memory and is rebuilt at daemon start from the status files and start
//! journals before any cleanup runs; every change of owners (a start's chowns, a
//! cleanup's restores, a live grant) happens with it locked, so two domains never
//! interleave their decisions about one file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use confine::dac::{DacItem, Owner};

/// One domain's hold on a file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Holder {
    domain: String,
    orig: Option<Owner>,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct OwnerLedger {
    held: Mutex<BTreeMap<PathBuf, Vec<Holder>>>,
}

/// The ledger, locked.
#[derive(Debug)]
pub struct Held<'a>(MutexGuard<'a, BTreeMap<PathBuf, Vec<Holder>>>);

impl OwnerLedger {
    pub fn lock(&self) -> Held<'_> {
        Held(self.held.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Held<'_> {
    /// `domain` holds the files of `items` (once per item).
    pub fn hold(&mut self, domain: &str, items: &[DacItem]) {
        for it in items {
            self.0.entry(it.path.clone()).or_default().push(Holder {
                domain: domain.to_owned(),
                orig: it.orig,
            });
        }
    }

    /// `domain` no longer holds `path` (one hold), e.g. a revoked grant.
    pub fn release_one(&mut self, domain: &str, path: &Path) {
        if let Some(v) = self.0.get_mut(path) {
            if let Some(i) = v.iter().position(|h| h.domain == domain) {
                v.remove(i);
            }
            if v.is_empty() {
                self.0.remove(path);
            }
        }
    }

    /// `domain` holds nothing any more.
    pub fn release(&mut self, domain: &str) {
        self.0.retain(|_, v| {
            v.retain(|h| h.domain != domain);
            !v.is_empty()
        });
    }

    /// Whether a domain other than `domain` holds `path`.
    pub fn shared(&self, domain: &str, path: &Path) -> bool {
        self.0
            .get(path)
            .is_some_and(|v| v.iter().any(|h| h.domain != domain))
    }

    /// The original owner another domain recorded for `path`, if another holds it
    /// (`Some(None)`: held, original unknown).
    pub fn origin_elsewhere(&self, domain: &str, path: &Path) -> Option<Option<Owner>> {
        let v = self.0.get(path)?;
        let others: Vec<&Holder> = v.iter().filter(|h| h.domain != domain).collect();
        if others.is_empty() {
            return None;
        }
        Some(others.iter().find_map(|h| h.orig))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(path: &str, orig: Option<Owner>) -> DacItem {
        DacItem {
            what: "disk".into(),
            path: path.into(),
            uid: 999,
            gid: 994,
            remember: true,
            orig,
        }
    }

    #[test]
    fn holds_and_releases() {
        let l = OwnerLedger::default();
        let mut h = l.lock();
        h.hold(
            "a",
            &[item("/iso", Some((5, 5))), item("/a.img", Some((6, 6)))],
        );
        assert!(!h.shared("a", Path::new("/iso")));
        assert_eq!(
            h.origin_elsewhere("b", Path::new("/iso")),
            Some(Some((5, 5)))
        );
        h.hold("b", &[item("/iso", Some((5, 5)))]);
        assert!(h.shared("a", Path::new("/iso")));
        assert!(h.shared("b", Path::new("/iso")));
        h.release("a");
        assert!(!h.shared("b", Path::new("/iso")));
        assert_eq!(h.origin_elsewhere("b", Path::new("/a.img")), None);
        h.release_one("b", Path::new("/iso"));
        assert_eq!(h.origin_elsewhere("c", Path::new("/iso")), None);
    }
}
