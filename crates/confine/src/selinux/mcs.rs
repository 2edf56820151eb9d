//! MCS: the daemon's category range and the allocation of unique `s0:cX,cY` levels
//! for dynamic labels.

use std::collections::BTreeSet;

use super::context::Context;
use super::error::SelinuxError;

/// Where dynamic categories come from: the daemon's lower sensitivity and its category
/// span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McsRange {
    pub sens: String,
    pub lo: u32,
    pub hi: u32,
}

/// Parse the daemon's own range as libvirt does: `sN[-sM][:cA.cB]`; no categories →
/// `c0.c1023`; no range → `s0`.
pub fn parse_process_range(range: Option<&str>) -> Result<McsRange, SelinuxError> {
    let range = range.unwrap_or("s0");
    let (sens_part, cat) = match range.split_once(':') {
        Some((s, c)) => (s, Some(c)),
        None => (range, None),
    };
    let sens = sens_part.split('-').next().unwrap_or(sens_part).to_owned();
    let Some(cat) = cat else {
        return Ok(McsRange {
            sens,
            lo: 0,
            hi: 1023,
        });
    };
    let bad = || SelinuxError::BadCategory(cat.to_owned());
    let rest = cat.strip_prefix('c').ok_or_else(bad)?;
    let (lo, hi) = match rest.split_once('.') {
        Some((lo, hi)) => (lo, hi.strip_prefix('c').ok_or_else(bad)?),
        None => {
            return if rest.parse::<u32>().is_ok() {
                Err(SelinuxError::NoCategoryRange(cat.to_owned()))
            } else {
                Err(bad())
            };
        }
    };
    Ok(McsRange {
        sens,
        lo: lo.parse().map_err(|_| bad())?,
        hi: hi.parse().map_err(|_| bad())?,
    })
}

/// MCS levels in use by running domains.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct McsTable {
    reserved: BTreeSet<String>,
}

/// Random `u32` below `bound` from `/dev/urandom`.
pub(super) fn urandom_below(bound: u32) -> u32 {
    use std::io::Read;
    let mut b = [0u8; 8];
    let got = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    let v = match got {
        Ok(()) => u64::from_ne_bytes(b),
        // Fall back to std's randomly keyed hasher.
        Err(_) => {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(0);
            h.finish()
        }
    };
    u32::try_from(v % u64::from(bound.max(1))).unwrap_or(0)
}

impl McsTable {
    pub const fn new() -> Self {
        McsTable {
            reserved: BTreeSet::new(),
        }
    }

    pub fn contains(&self, level: &str) -> bool {
        self.reserved.contains(level)
    }

    pub fn len(&self) -> usize {
        self.reserved.len()
    }

    pub fn is_empty(&self) -> bool {
        self.reserved.is_empty()
    }

    /// Put a level in use (reconnect). Already in use is an error.
    pub fn reserve(&mut self, level: &str) -> Result<(), SelinuxError> {
        if self.reserved.insert(level.to_owned()) {
            Ok(())
        } else {
            Err(SelinuxError::AlreadyReserved(level.to_owned()))
        }
    }

    /// Reserve the range of a running domain's process label (from its
    /// `/proc/<pid>/attr/current`).
    pub fn reserve_label(&mut self, label: &str) -> Result<(), SelinuxError> {
        let ctx: Context = label.parse()?;
        let range = ctx
            .range
            .ok_or_else(|| SelinuxError::NoRange(label.to_owned()))?;
        self.reserve(&range)
            .map_err(|_| SelinuxError::AlreadyReserved(label.to_owned()))
    }

    /// Free a level (domain stopped).
    pub fn release(&mut self, level: &str) -> bool {
        self.reserved.remove(level)
    }

    /// Allocate a fresh level with random categories.
    pub fn allocate(&mut self, range: &McsRange) -> Result<String, SelinuxError> {
        self.allocate_with(range, &mut urandom_below)
    }

    /// Allocate with a supplied random source (`rand(n)` returns `0..n`). After many
    /// unlucky draws the free pairs are searched in order, so a free pair is always
    /// found when one exists.
    pub fn allocate_with(
        &mut self,
        range: &McsRange,
        rand: &mut dyn FnMut(u32) -> u32,
    ) -> Result<String, SelinuxError> {
        if range.hi < range.lo || range.hi - range.lo + 1 < 8 {
            return Err(SelinuxError::RangeTooSmall(range.lo, range.hi));
        }
        let span = range.hi - range.lo + 1;
        let level = |a: u32, b: u32| format!("{}:c{},c{}", range.sens, range.lo + a, range.lo + b);
        for _ in 0..10_000 {
            let (c1, c2) = (rand(span) % span, rand(span) % span);
            if c1 == c2 {
                continue;
            }
            let l = level(c1.min(c2), c1.max(c2));
            if self.reserved.insert(l.clone()) {
                return Ok(l);
            }
        }
        for a in 0..span {
            for b in a + 1..span {
                let l = level(a, b);
                if self.reserved.insert(l.clone()) {
                    return Ok(l);
                }
            }
        }
        Err(SelinuxError::Exhausted(format!(
            "{}:c{}.c{}",
            range.sens, range.lo, range.hi
        )))
    }
}
