//! XML plumbing shared by every model type: a reader that remembers what it consumed
//! (so nothing unmodelled is ever dropped), a writer in libvirt's canonical style, and a
//! verbatim element tree for content we keep but do not model.

pub mod pos;
pub mod raw;
pub mod reader;
pub mod writer;

pub use pos::Pos;
pub use raw::{ExtraChild, Extras, RawAttr, RawElement, RawNode};
pub use reader::{Diagnostic, El, ParseError, ParseErrorKind, Severity};
pub use writer::XmlWriter;

/// Escapes text for an attribute value or element content the way libvirt's formatter
/// does: both quote kinds are escaped so single-quoted attributes are always safe.
pub fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}
