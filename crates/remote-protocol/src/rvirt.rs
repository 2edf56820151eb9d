//! rvirt's own RPC program, served beside libvirt's REMOTE program on the same
//! socket and connection: what libvirt's protocol has no call for. A libvirt
//! client never sends it; `rvirt` does, after the usual AUTH_LIST + CONNECT_OPEN.
//! Same framing, same error replies (`remote_error`), same read-only rule.
//!
//! | proc | name          | args                                   | ret  |
//! |-----:|---------------|----------------------------------------|------|
//! | 1    | DOMAIN_GRANT  | dom, path, access (0 ro, 1 rw), flags | void |
//! | 2    | DOMAIN_REVOKE | dom, path, flags                       | void |
//!
//! `flags` are libvirt's modification impact: 0 current, 1 live, 2 config.

use crate::procs::Domain;
use crate::xdr::{self, XdrError};
use crate::xdr_struct;

/// The program number: "RVIR".
pub const PROGRAM_RVIRT: u32 = 0x5256_4952;
/// Its only version.
pub const RVIRT_VERSION: u32 = 1;
/// Longest path accepted (PATH_MAX).
pub const PATH_MAX: u32 = 4096;

/// `VIR_DOMAIN_AFFECT_*`.
pub mod impact {
    pub const CURRENT: u32 = 0;
    pub const LIVE: u32 = 1;
    pub const CONFIG: u32 = 2;
}

/// Procedure numbers of [`PROGRAM_RVIRT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RvirtProcedure {
    DomainGrant = 1,
    DomainRevoke = 2,
}

impl RvirtProcedure {
    pub fn from_number(n: i32) -> Option<Self> {
        match n {
            1 => Some(Self::DomainGrant),
            2 => Some(Self::DomainRevoke),
            _ => None,
        }
    }

    pub fn number(self) -> i32 {
        self as i32
    }

    /// The API name used in read-only refusals.
    pub fn api(self) -> &'static str {
        match self {
            Self::DomainGrant => "rvirtDomainGrant",
            Self::DomainRevoke => "rvirtDomainRevoke",
        }
    }
}

xdr_struct! {
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct DomainGrantArgs {
        pub dom: Domain,
        pub path: String => max PATH_MAX,
        /// 0 read-only, 1 read-write.
        pub access: i32,
        pub flags: u32,
    }
}

xdr_struct! {
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct DomainRevokeArgs {
        pub dom: Domain,
        pub path: String => max PATH_MAX,
        pub flags: u32,
    }
}

/// A decoded call of [`PROGRAM_RVIRT`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RvirtRequest {
    DomainGrant {
        dom: Domain,
        path: String,
        read_write: bool,
        flags: u32,
    },
    DomainRevoke {
        dom: Domain,
        path: String,
        flags: u32,
    },
}

impl RvirtRequest {
    /// Decodes the arguments of `proc`.
    pub fn decode(proc: RvirtProcedure, body: &[u8]) -> Result<Self, XdrError> {
        Ok(match proc {
            RvirtProcedure::DomainGrant => {
                let a: DomainGrantArgs = xdr::from_bytes(body)?;
                let read_write = match a.access {
                    0 => false,
                    1 => true,
                    value => {
                        return Err(XdrError::BadDiscriminant {
                            what: "grant access",
                            value,
                        });
                    }
                };
                Self::DomainGrant {
                    dom: a.dom,
                    path: a.path,
                    read_write,
                    flags: a.flags,
                }
            }
            RvirtProcedure::DomainRevoke => {
                let a: DomainRevokeArgs = xdr::from_bytes(body)?;
                Self::DomainRevoke {
                    dom: a.dom,
                    path: a.path,
                    flags: a.flags,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dom() -> Domain {
        Domain {
            name: "vm".into(),
            uuid: [7; 16],
            id: 3,
        }
    }

    #[test]
    fn grant_round_trip() {
        let args = DomainGrantArgs {
            dom: dom(),
            path: "/dev/sdb".into(),
            access: 1,
            flags: impact::LIVE,
        };
        let body = xdr::to_bytes(&args);
        assert_eq!(
            RvirtRequest::decode(RvirtProcedure::DomainGrant, &body).unwrap(),
            RvirtRequest::DomainGrant {
                dom: dom(),
                path: "/dev/sdb".into(),
                read_write: true,
                flags: 1
            }
        );
    }

    #[test]
    fn bad_access_and_long_paths_are_refused() {
        let mut args = DomainGrantArgs {
            dom: dom(),
            path: "/x".into(),
            access: 2,
            flags: 0,
        };
        assert!(RvirtRequest::decode(RvirtProcedure::DomainGrant, &xdr::to_bytes(&args)).is_err());
        args.access = 0;
        args.path = format!("/{}", "a".repeat(PATH_MAX as usize));
        assert!(RvirtRequest::decode(RvirtProcedure::DomainGrant, &xdr::to_bytes(&args)).is_err());
        let revoke = DomainRevokeArgs {
            dom: dom(),
            path: "/x".into(),
            flags: 2,
        };
        let mut body = xdr::to_bytes(&revoke);
        body.push(0);
        assert!(RvirtRequest::decode(RvirtProcedure::DomainRevoke, &body).is_err());
    }

    #[test]
    fn procedure_numbers() {
        assert_eq!(
            RvirtProcedure::from_number(1),
            Some(RvirtProcedure::DomainGrant)
        );
        assert_eq!(
            RvirtProcedure::from_number(2),
            Some(RvirtProcedure::DomainRevoke)
        );
        assert_eq!(RvirtProcedure::from_number(3), None);
        assert_eq!(RvirtProcedure::DomainRevoke.number(), 2);
    }
}
