//! `remote_error`: the payload of every failed reply, with libvirt's error
//! numbers (`virErrorNumber`) and domains (`virErrorDomain`).

use crate::xdr::{Decode, Encode, Reader, Writer, XdrError};

/// A `virErrorNumber` value. Unknown numbers are kept as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub i32);

impl ErrorCode {
    /// `VIR_ERR_OK`.
    pub const OK: Self = Self(0);
    /// `VIR_ERR_INTERNAL_ERROR`.
    pub const INTERNAL_ERROR: Self = Self(1);
    /// `VIR_ERR_NO_MEMORY`.
    pub const NO_MEMORY: Self = Self(2);
    /// `VIR_ERR_NO_SUPPORT`: the client library turns an "unknown procedure"
    /// RPC error into this code.
    pub const NO_SUPPORT: Self = Self(3);
    /// `VIR_ERR_NO_CONNECT`.
    pub const NO_CONNECT: Self = Self(5);
    /// `VIR_ERR_INVALID_CONN`.
    pub const INVALID_CONN: Self = Self(6);
    /// `VIR_ERR_INVALID_DOMAIN`.
    pub const INVALID_DOMAIN: Self = Self(7);
    /// `VIR_ERR_INVALID_ARG`.
    pub const INVALID_ARG: Self = Self(8);
    /// `VIR_ERR_OPERATION_FAILED`.
    pub const OPERATION_FAILED: Self = Self(9);
    /// `VIR_ERR_NO_NAME`: missing domain name.
    pub const NO_NAME: Self = Self(21);
    /// `VIR_ERR_XML_ERROR`.
    pub const XML_ERROR: Self = Self(27);
    /// `VIR_ERR_DOM_EXIST`.
    pub const DOM_EXIST: Self = Self(28);
    /// `VIR_ERR_OPERATION_DENIED`: operation forbidden on a read-only connection.
    pub const OPERATION_DENIED: Self = Self(29);
    /// `VIR_ERR_XML_DETAIL`: one value of the XML is wrong.
    pub const XML_DETAIL: Self = Self(35);
    /// `VIR_ERR_SYSTEM_ERROR`.
    pub const SYSTEM_ERROR: Self = Self(38);
    /// `VIR_ERR_RPC`.
    pub const RPC: Self = Self(39);
    /// `VIR_ERR_NO_DOMAIN`: virt-install relies on exactly this for free names.
    pub const NO_DOMAIN: Self = Self(42);
    /// `VIR_ERR_NO_NETWORK`.
    pub const NO_NETWORK: Self = Self(43);
    /// `VIR_ERR_AUTH_FAILED`.
    pub const AUTH_FAILED: Self = Self(45);
    /// `VIR_ERR_NO_STORAGE_POOL`.
    pub const NO_STORAGE_POOL: Self = Self(49);
    /// `VIR_ERR_NO_STORAGE_VOL`.
    pub const NO_STORAGE_VOL: Self = Self(50);
    /// `VIR_ERR_OPERATION_INVALID`: not applicable at this time.
    pub const OPERATION_INVALID: Self = Self(55);
    /// `VIR_ERR_CONFIG_UNSUPPORTED`.
    pub const CONFIG_UNSUPPORTED: Self = Self(67);
    /// `VIR_ERR_OPERATION_TIMEOUT`.
    pub const OPERATION_TIMEOUT: Self = Self(68);
    /// `VIR_ERR_ARGUMENT_UNSUPPORTED`.
    pub const ARGUMENT_UNSUPPORTED: Self = Self(74);
    /// `VIR_ERR_OPERATION_ABORTED`.
    pub const OPERATION_ABORTED: Self = Self(78);
    /// `VIR_ERR_AUTH_CANCELLED`.
    pub const AUTH_CANCELLED: Self = Self(79);
    /// `VIR_ERR_OPERATION_UNSUPPORTED`.
    pub const OPERATION_UNSUPPORTED: Self = Self(84);
    /// `VIR_ERR_RESOURCE_BUSY`.
    pub const RESOURCE_BUSY: Self = Self(87);
    /// `VIR_ERR_ACCESS_DENIED`.
    pub const ACCESS_DENIED: Self = Self(88);
    /// `VIR_ERR_STORAGE_VOL_EXIST`.
    pub const STORAGE_VOL_EXIST: Self = Self(90);
    /// `VIR_ERR_AUTH_UNAVAILABLE`.
    pub const AUTH_UNAVAILABLE: Self = Self(94);
}

/// A `virErrorDomain` value (which subsystem raised the error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorDomain(pub i32);

impl ErrorDomain {
    /// `VIR_FROM_NONE`.
    pub const NONE: Self = Self(0);
    /// `VIR_FROM_DOM`.
    pub const DOM: Self = Self(6);
    /// `VIR_FROM_RPC`.
    pub const RPC: Self = Self(7);
    /// `VIR_FROM_QEMU`.
    pub const QEMU: Self = Self(10);
    /// `VIR_FROM_REMOTE`.
    pub const REMOTE: Self = Self(13);
    /// `VIR_FROM_STORAGE`.
    pub const STORAGE: Self = Self(18);
    /// `VIR_FROM_NETWORK`.
    pub const NETWORK: Self = Self(19);
    /// `VIR_FROM_DOMAIN`.
    pub const DOMAIN: Self = Self(20);
}

/// `virErrorLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorLevel(pub i32);

impl ErrorLevel {
    /// `VIR_ERR_NONE`.
    pub const NONE: Self = Self(0);
    /// `VIR_ERR_WARNING`.
    pub const WARNING: Self = Self(1);
    /// `VIR_ERR_ERROR`.
    pub const ERROR: Self = Self(2);
}

/// `remote_error` (same layout as `virNetMessageError`).
///
/// The `dom` and `net` members are always NULL on the wire; clients only use
/// `code`, `domain`, `message` and `level`. Put the whole human text (with
/// libvirt's "Domain not found: " style prefix) in `message`: virsh prints it
/// after its own `error:` line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} (code {}, domain {})", .message.as_deref().unwrap_or("unknown error"), .code.0, .domain.0)]
pub struct RemoteError {
    /// Error number.
    pub code: ErrorCode,
    /// Error domain.
    pub domain: ErrorDomain,
    /// Full human-readable message.
    pub message: Option<String>,
    /// Severity.
    pub level: ErrorLevel,
    /// Extra string 1 (libvirt puts the message format here).
    pub str1: Option<String>,
    /// Extra string 2.
    pub str2: Option<String>,
    /// Extra string 3.
    pub str3: Option<String>,
    /// Extra number 1.
    pub int1: i32,
    /// Extra number 2.
    pub int2: i32,
}

impl RemoteError {
    /// An error with `message`, level ERROR, no extras.
    pub fn new(code: ErrorCode, domain: ErrorDomain, message: impl Into<String>) -> Self {
        Self {
            code,
            domain,
            message: Some(message.into()),
            level: ErrorLevel::ERROR,
            str1: None,
            str2: None,
            str3: None,
            int1: -1,
            int2: -1,
        }
    }

    /// The message text, or "" if none.
    pub fn message(&self) -> &str {
        self.message.as_deref().unwrap_or("")
    }

    /// `VIR_ERR_NO_DOMAIN` for a lookup by UUID, worded like the QEMU driver.
    pub fn no_domain_uuid(uuid: &[u8; 16], name: &str) -> Self {
        let u = uuid::Uuid::from_bytes(*uuid);
        Self::new(
            ErrorCode::NO_DOMAIN,
            ErrorDomain::QEMU,
            format!("Domain not found: no domain with matching uuid '{u}' ({name})"),
        )
    }

    /// `VIR_ERR_NO_DOMAIN` for a lookup by name.
    pub fn no_domain_name(name: &str) -> Self {
        Self::new(
            ErrorCode::NO_DOMAIN,
            ErrorDomain::QEMU,
            format!("Domain not found: no domain with matching name '{name}'"),
        )
    }

    /// `VIR_ERR_NO_DOMAIN` for a lookup by id.
    pub fn no_domain_id(id: i32) -> Self {
        Self::new(
            ErrorCode::NO_DOMAIN,
            ErrorDomain::QEMU,
            format!("Domain not found: no domain with matching id {id}"),
        )
    }

    /// `VIR_ERR_OPERATION_DENIED` on a read-only connection; `api` is the
    /// libvirt API name (e.g. `virDomainDefineXML`).
    pub fn read_only(api: &str) -> Self {
        Self::new(
            ErrorCode::OPERATION_DENIED,
            ErrorDomain::REMOTE,
            format!("operation forbidden: read only access prevents {api}"),
        )
    }

    /// `VIR_ERR_OPERATION_INVALID`, e.g. "domain is not running".
    pub fn operation_invalid(what: &str) -> Self {
        Self::new(
            ErrorCode::OPERATION_INVALID,
            ErrorDomain::QEMU,
            format!("Requested operation is not valid: {what}"),
        )
    }

    /// `VIR_ERR_OPERATION_FAILED`.
    pub fn operation_failed(what: &str) -> Self {
        Self::new(
            ErrorCode::OPERATION_FAILED,
            ErrorDomain::QEMU,
            format!("operation failed: {what}"),
        )
    }

    /// `VIR_ERR_INVALID_ARG`.
    pub fn invalid_arg(what: &str) -> Self {
        Self::new(
            ErrorCode::INVALID_ARG,
            ErrorDomain::QEMU,
            format!("invalid argument: {what}"),
        )
    }

    /// `VIR_ERR_INTERNAL_ERROR`.
    pub fn internal(what: &str) -> Self {
        Self::new(
            ErrorCode::INTERNAL_ERROR,
            ErrorDomain::QEMU,
            format!("internal error: {what}"),
        )
    }

    /// `VIR_ERR_XML_ERROR`.
    pub fn xml_error(what: &str) -> Self {
        Self::new(
            ErrorCode::XML_ERROR,
            ErrorDomain::DOMAIN,
            format!("XML error: {what}"),
        )
    }

    /// `VIR_ERR_NO_SUPPORT`: "this function is not supported by the connection driver".
    pub fn no_support(api: &str) -> Self {
        Self::new(
            ErrorCode::NO_SUPPORT,
            ErrorDomain::QEMU,
            format!("this function is not supported by the connection driver: {api}"),
        )
    }

    /// The RPC error for a procedure the server does not implement. The client
    /// library rewrites it to `VIR_ERR_NO_SUPPORT`, which triggers the
    /// fallbacks in virsh, python and virt-install.
    pub fn unknown_procedure(procedure: i32) -> Self {
        Self::new(
            ErrorCode::RPC,
            ErrorDomain::RPC,
            format!("unknown procedure: {procedure}"),
        )
    }

    /// The RPC error for a call to an unknown program or version.
    pub fn unknown_program(program: u32, version: u32) -> Self {
        Self::new(
            ErrorCode::RPC,
            ErrorDomain::RPC,
            format!("Cannot find program {program} version {version}"),
        )
    }

    /// Whether this is the NO_SUPPORT-equivalent "unknown procedure" answer.
    pub fn is_unsupported(&self) -> bool {
        self.code == ErrorCode::NO_SUPPORT
            || (self.code == ErrorCode::RPC && self.message().starts_with("unknown procedure"))
    }
}

impl Encode for RemoteError {
    fn encode(&self, w: &mut Writer) {
        w.put_i32(self.code.0);
        w.put_i32(self.domain.0);
        self.message.encode(w);
        w.put_i32(self.level.0);
        w.put_u32(0); // dom: remote_domain, always NULL
        self.str1.encode(w);
        self.str2.encode(w);
        self.str3.encode(w);
        w.put_i32(self.int1);
        w.put_i32(self.int2);
        w.put_u32(0); // net: remote_network, always NULL
    }
}

impl Decode for RemoteError {
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        let code = ErrorCode(r.get_i32()?);
        let domain = ErrorDomain(r.get_i32()?);
        let message = Option::<String>::decode(r)?;
        let level = ErrorLevel(r.get_i32()?);
        // dom: optional remote_nonnull_domain (name, uuid, id): skipped.
        let _dom = Option::<crate::procs::Domain>::decode(r)?;
        let str1 = Option::<String>::decode(r)?;
        let str2 = Option::<String>::decode(r)?;
        let str3 = Option::<String>::decode(r)?;
        let int1 = r.get_i32()?;
        let int2 = r.get_i32()?;
        // net: optional remote_nonnull_network (name, uuid): skipped.
        if r.get_bool()? {
            let _name = String::decode(r)?;
            let _uuid = <[u8; 16]>::decode(r)?;
        }
        Ok(Self {
            code,
            domain,
            message,
            level,
            str1,
            str2,
            str3,
            int1,
            int2,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xdr::{from_bytes, to_bytes};

    #[test]
    fn round_trip_and_layout() {
        let e = RemoteError::no_domain_name("nosuch-xyz");
        let b = to_bytes(&e);
        // code, domain, message(1 + len + text padded), level, dom, 3 x NULL, int1, int2, net
        let msg = "Domain not found: no domain with matching name 'nosuch-xyz'";
        let padded = msg.len().div_ceil(4) * 4;
        assert_eq!(
            b.len(),
            4 + 4 + (4 + 4 + padded) + 4 + 4 + 3 * 4 + 4 + 4 + 4
        );
        assert_eq!(&b[..8], &[0, 0, 0, 42, 0, 0, 0, 10]);
        let d: RemoteError = from_bytes(&b).unwrap();
        assert_eq!(d, e);
        assert_eq!(d.message(), msg);
    }

    #[test]
    fn decodes_non_null_dom_and_net() {
        let mut w = Writer::new();
        w.put_i32(42);
        w.put_i32(10);
        w.put_u32(0);
        w.put_i32(2);
        w.put_u32(1);
        w.put_string("vm");
        w.put_opaque_fixed(&[1; 16]);
        w.put_i32(-1);
        w.put_u32(0);
        w.put_u32(0);
        w.put_u32(0);
        w.put_i32(0);
        w.put_i32(0);
        w.put_u32(1);
        w.put_string("net");
        w.put_opaque_fixed(&[2; 16]);
        let e: RemoteError = from_bytes(&w.into_bytes()).unwrap();
        assert_eq!(e.code, ErrorCode::NO_DOMAIN);
        assert_eq!(e.message, None);
    }

    #[test]
    fn well_known_numbers() {
        assert_eq!(ErrorCode::NO_DOMAIN.0, 42);
        assert_eq!(ErrorCode::OPERATION_DENIED.0, 29);
        assert_eq!(ErrorCode::OPERATION_INVALID.0, 55);
        assert_eq!(ErrorCode::RPC.0, 39);
        assert_eq!(ErrorDomain::RPC.0, 7);
        assert_eq!(ErrorDomain::REMOTE.0, 13);
        assert_eq!(ErrorDomain::QEMU.0, 10);
        let u = RemoteError::unknown_procedure(426);
        assert!(u.is_unsupported());
        assert_eq!(u.message(), "unknown procedure: 426");
        assert!(
            RemoteError::read_only("virDomainDefineXML")
                .message()
                .starts_with("operation forbidden: read only access prevents")
        );
    }
}
