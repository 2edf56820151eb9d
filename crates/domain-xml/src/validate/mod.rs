//! Define-time validation: the rules libvirt applies to a parsed definition before it
//! accepts it (duplicate addresses and targets, controller index/model rules, the PCI
//! topology, memory and vCPU limits, boot order, security labels, firmware…), as far as
//! they need no knowledge of the emulator. Checks that depend on the probed QEMU live in
//! `qemu-plan`.
//!
//! Pure and cheap: one pass over the model, no I/O. Run it after the define-time
//! defaults ([`crate::defaults::apply`]) as libvirt does (post-parse, then validate),
//! though every rule also holds for a definition without them.

mod devices;
mod extras;
mod general;
mod pci;

use std::fmt;

use crate::model::Domain;

/// Which libvirt error code a refusal maps to (`virErrorNumber`), so the daemon can
/// answer as libvirt would without this crate knowing the RPC layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `VIR_ERR_XML_ERROR` ("XML error: …"): the document contradicts itself.
    XmlError,
    /// `VIR_ERR_XML_DETAIL` ("XML error: …" too, but about one value).
    XmlDetail,
    /// `VIR_ERR_CONFIG_UNSUPPORTED` ("unsupported configuration: …").
    ConfigUnsupported,
    /// `VIR_ERR_INVALID_ARG` ("invalid argument: …").
    InvalidArg,
    /// `VIR_ERR_OPERATION_INVALID` ("Requested operation is not valid: …").
    OperationInvalid,
    /// `VIR_ERR_INTERNAL_ERROR` ("internal error: …"): libvirt uses it for a few
    /// plain definition mistakes (duplicate USB ports, bad PCI ids).
    Internal,
}

impl ErrorKind {
    /// The numeric `virErrorNumber`.
    pub fn libvirt_code(self) -> i32 {
        match self {
            ErrorKind::Internal => 1,
            ErrorKind::InvalidArg => 8,
            ErrorKind::XmlError => 27,
            ErrorKind::XmlDetail => 35,
            ErrorKind::OperationInvalid => 55,
            ErrorKind::ConfigUnsupported => 67,
        }
    }

    /// The prefix libvirt prints before the message for this code.
    pub fn prefix(self) -> &'static str {
        match self {
            ErrorKind::Internal => "internal error",
            ErrorKind::InvalidArg => "invalid argument",
            ErrorKind::XmlError | ErrorKind::XmlDetail => "XML error",
            ErrorKind::OperationInvalid => "Requested operation is not valid",
            ErrorKind::ConfigUnsupported => "unsupported configuration",
        }
    }
}

/// One reason a definition is refused. The message names the element (and where it
/// helps the attribute and value) so a user can find it without a position.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ValidationError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ValidationError {
            kind,
            message: message.into(),
        }
    }
}

/// Collects refusals; checks push and carry on so [`validate_all`] can list them all.
#[derive(Debug, Default)]
pub(crate) struct Report {
    errors: Vec<ValidationError>,
}

impl Report {
    pub(crate) fn push(&mut self, kind: ErrorKind, message: impl Into<String>) {
        self.errors.push(ValidationError::new(kind, message));
    }
    pub(crate) fn xml(&mut self, message: impl Into<String>) {
        self.push(ErrorKind::XmlError, message);
    }
    pub(crate) fn detail(&mut self, message: impl Into<String>) {
        self.push(ErrorKind::XmlDetail, message);
    }
    pub(crate) fn unsupported(&mut self, message: impl Into<String>) {
        self.push(ErrorKind::ConfigUnsupported, message);
    }
}

/// Every define-time refusal of `dom`, in the order the checks run (domain-wide
/// settings first, then devices). Empty when the definition is acceptable.
pub fn validate_all(dom: &Domain) -> Vec<ValidationError> {
    let mut r = Report::default();
    general::check(dom, &mut r);
    devices::check(dom, &mut r);
    pci::check(dom, &mut r);
    extras::check(dom, &mut r);
    r.errors
}

/// Validates a definition as libvirt does at define time; the first refusal is the
/// error (libvirt reports one), [`validate_all`] lists them all.
pub fn validate(dom: &Domain) -> Result<(), ValidationError> {
    match validate_all(dom).into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A number as libvirt reads address and port attributes: decimal or `0x` hex.
pub(crate) fn xml_num(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// `<controller type='usb' index='0'>`-style name for messages.
pub(crate) struct Named<'a>(pub &'a str, pub &'a [(&'a str, String)]);

impl fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}", self.0)?;
        for (k, v) in self.1 {
            write!(f, " {k}='{v}'")?;
        }
        f.write_str(">")
    }
}
