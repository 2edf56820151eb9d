//! libvirt domain XML for rvirt: parse (with `line:col` on every error), validate, hold
//! in a typed model and write back canonically the way libvirt formats it.
//!
//! Nothing the user wrote is dropped: elements and attributes the model does not cover
//! are kept verbatim ([`xml::Extras`]), written back where they stood, reported as
//! warnings, and listed by [`Domain::unsupported`] so a start can refuse them by name.

pub mod defaults;
mod defaults_controllers;
mod defaults_devices;
pub mod model;
pub mod status;
pub mod units;
pub mod validate;
pub mod xml;

pub use model::{Domain, QEMU_NS, VirtType, check_name};
pub use validate::{ErrorKind, ValidationError, validate, validate_all};
pub use xml::{Diagnostic, ParseError, ParseErrorKind, Pos, Severity};

use xml::reader::Diags;

/// Refuse documents larger than this before parsing (a domain XML is a few KiB).
pub const MAX_DOCUMENT_BYTES: usize = 4 << 20;

/// A parsed document with the warnings found on the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed<T> {
    pub value: T,
    pub warnings: Vec<Diagnostic>,
}

pub(crate) fn parse_document<T>(
    text: &str,
    read: impl FnOnce(xml::El<'_, '_>) -> Result<T, ParseError>,
) -> Result<Parsed<T>, ParseError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(ParseError::nowhere(format!(
            "document is {} bytes; the limit is {MAX_DOCUMENT_BYTES}",
            text.len()
        )));
    }
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: 200_000,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, opts).map_err(|e| {
        let p = e.pos();
        ParseError::at(
            Pos {
                line: p.row,
                col: p.col,
            },
            xml_error_message(&e),
        )
    })?;
    let diags = Diags::default();
    let value = read(xml::El::new(doc.root_element(), &diags))?;
    if let Some(e) = diags.take_duplicate() {
        return Err(e);
    }
    Ok(Parsed {
        value,
        warnings: diags.into_vec(),
    })
}

/// roxmltree's messages end with " at L:C"; positions are printed separately.
fn xml_error_message(e: &roxmltree::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at ") {
        Some(i) if s[i + 4..].chars().all(|c| c.is_ascii_digit() || c == ':') => s[..i].to_owned(),
        _ => s,
    }
}

/// Parses a domain document; a missing uuid gets a random one, as libvirt does.
pub fn parse_domain(text: &str) -> Result<Parsed<Domain>, ParseError> {
    parse_domain_with(text, &mut uuid::Uuid::new_v4)
}

/// Like [`parse_domain`] with a caller-chosen uuid source (tests, deterministic tools).
pub fn parse_domain_with(
    text: &str,
    new_uuid: &mut dyn FnMut() -> uuid::Uuid,
) -> Result<Parsed<Domain>, ParseError> {
    parse_document(text, |el| Domain::read(el, new_uuid))
}

impl Domain {
    /// The canonical XML, as `virsh dumpxml` would print it.
    pub fn to_xml(&self) -> String {
        let mut w = xml::XmlWriter::new();
        self.write(&mut w);
        w.finish()
    }

    /// Every piece of the document that is kept but not understood, described with
    /// its position in the canonical XML (`dumpxml`). A domain with any cannot be
    /// started. Re-reading the canonical form finds them all without a visitor over
    /// every model type; it runs once per start, not on a hot path.
    pub fn unsupported(&self) -> Vec<Diagnostic> {
        let uuid = self.uuid;
        match parse_domain_with(&self.to_xml(), &mut || uuid) {
            Ok(p) => p.warnings,
            Err(e) => vec![Diagnostic {
                pos: e.pos.unwrap_or_default(),
                severity: Severity::Error,
                message: e.message,
            }],
        }
    }
}
