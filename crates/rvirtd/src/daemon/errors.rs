//! The daemon's typed errors as libvirt's error codes, in one place: clients branch on
//! the code (python's `get_error_code()`, Nova, terraform), so each case answers with
//! the code and error domain libvirt's QEMU driver uses for it, chosen by the error's
//! type, never by its wording.

use domain_xml::{ErrorKind, ParseError, ParseErrorKind, ValidationError};
use remote_protocol::{ErrorCode, ErrorDomain, RemoteError};

use crate::launch::StartError;
use crate::registry::RegistryError;
use crate::store::StoreError;

/// A domain XML that does not parse (libvirt: `VIR_ERR_XML_ERROR`, or
/// `VIR_ERR_NO_NAME` without a `<name>`, from the domain-config code).
pub fn parse(e: &ParseError) -> RemoteError {
    match e.kind {
        ParseErrorKind::MissingName => RemoteError::new(
            ErrorCode::NO_NAME,
            ErrorDomain::DOMAIN,
            "missing name information in domain",
        ),
        ParseErrorKind::Invalid => RemoteError::xml_error(&e.to_string()),
    }
}

/// A definition libvirt refuses at define time.
pub fn validation(e: &ValidationError) -> RemoteError {
    let code = match e.kind {
        ErrorKind::Internal => ErrorCode::INTERNAL_ERROR,
        ErrorKind::InvalidArg => ErrorCode::INVALID_ARG,
        ErrorKind::XmlError => ErrorCode::XML_ERROR,
        ErrorKind::XmlDetail => ErrorCode::XML_DETAIL,
        ErrorKind::OperationInvalid => ErrorCode::OPERATION_INVALID,
        ErrorKind::ConfigUnsupported => ErrorCode::CONFIG_UNSUPPORTED,
    };
    RemoteError::new(
        code,
        ErrorDomain::DOMAIN,
        format!("{}: {}", e.kind.prefix(), e.message),
    )
}

impl From<RegistryError> for RemoteError {
    fn from(e: RegistryError) -> Self {
        match e {
            // virDomainObjListAdd's answers.
            RegistryError::AlreadyActive { .. } => RemoteError::operation_invalid(&e.to_string()),
            RegistryError::NameTaken { .. } | RegistryError::UuidTaken { .. } => {
                RemoteError::operation_failed(&e.to_string())
            }
        }
    }
}

/// A start that failed before or while QEMU came up: a configuration the planner
/// cannot carry out is `VIR_ERR_CONFIG_UNSUPPORTED`; a host step or QEMU itself
/// failing is `VIR_ERR_OPERATION_FAILED`.
pub fn start(e: &StartError) -> RemoteError {
    match e {
        StartError::Plan(p) => RemoteError::new(
            ErrorCode::CONFIG_UNSUPPORTED,
            ErrorDomain::QEMU,
            format!("unsupported configuration: {p}"),
        ),
        StartError::Step { .. } | StartError::Qemu { .. } => {
            RemoteError::operation_failed(&e.to_string())
        }
    }
}

/// Firmware autoselection at define time: no descriptor fits
/// (`VIR_ERR_OPERATION_FAILED`), or an image format QEMU's pflash cannot use
/// (`VIR_ERR_CONFIG_UNSUPPORTED`).
pub fn firmware(e: &qemu_runtime::firmware_fill::FillError) -> RemoteError {
    use qemu_runtime::firmware_fill::FillError;
    match e {
        FillError::NoMatch(_) => RemoteError::operation_failed(&e.to_string()),
        FillError::UnsupportedFormat { .. } => RemoteError::new(
            ErrorCode::CONFIG_UNSUPPORTED,
            ErrorDomain::QEMU,
            format!("unsupported configuration: {e}"),
        ),
    }
}

/// A definition or link that could not be written or removed (libvirt:
/// `VIR_ERR_SYSTEM_ERROR` with the errno text).
pub fn store(e: &StoreError) -> RemoteError {
    RemoteError::new(ErrorCode::SYSTEM_ERROR, ErrorDomain::QEMU, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_come_from_the_type() {
        let e =
            domain_xml::parse_domain("<domain type='kvm'><memory>1</memory></domain>").unwrap_err();
        assert_eq!(parse(&e).code, ErrorCode::NO_NAME);
        let e = domain_xml::parse_domain("<domain").unwrap_err();
        assert_eq!(parse(&e).code, ErrorCode::XML_ERROR);
        let v = ValidationError {
            kind: ErrorKind::XmlDetail,
            message: "x".into(),
        };
        let r = validation(&v);
        assert_eq!(
            (r.code, r.domain),
            (ErrorCode::XML_DETAIL, ErrorDomain::DOMAIN)
        );
        assert_eq!(r.message(), "XML error: x");
        let r: RemoteError = RegistryError::AlreadyActive { name: "a".into() }.into();
        assert_eq!(r.code, ErrorCode::OPERATION_INVALID);
    }
}
