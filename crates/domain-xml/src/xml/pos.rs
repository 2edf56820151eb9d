//! Where in the input document something stands, for messages.

use std::fmt;

/// A 1-based line:column in the input document.
///
/// Positions are metadata for messages: two values compare equal whatever their
/// positions, so a re-parsed document equals the original (`parse(write(d)) == d`).
#[derive(Clone, Copy, Debug, Default, Eq)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl PartialEq for Pos {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}
