//! Decoding a procedure's arguments into a [`Request`], one function per
//! [`Family`]. Several wire procedures fold into one request (DEFINE_XML and
//! DEFINE_XML_FLAGS, CREATE and CREATE_WITH_FLAGS...): the old ones get flags 0.

use super::procedure::{Family, Procedure};
use super::request::Request;
use super::wire::{
    Domain, DomainArgs, DomainCapabilitiesArgs, DomainFlagsArgs, IntArgs, ListAllDomainsArgs,
    OpenArgs, OptStringArgs, SetAutostartArgs, StringArgs, StringFlagsArgs, UuidArgs,
    XmlToNativeArgs,
};
use crate::xdr::{Decode, Reader, XdrError, from_bytes};

type Decoded = Result<Option<Request>, XdrError>;

fn args<T: Decode>(body: &[u8]) -> Result<T, XdrError> {
    from_bytes(body)
}

/// A domain plus flags.
fn df(body: &[u8]) -> Result<(Domain, u32), XdrError> {
    args::<DomainFlagsArgs>(body).map(|a| (a.dom, a.flags))
}

/// Just a domain.
fn d(body: &[u8]) -> Result<Domain, XdrError> {
    args::<DomainArgs>(body).map(|a| a.dom)
}

/// No arguments: `req` if the body is empty.
fn void(body: &[u8], req: Request) -> Result<Request, XdrError> {
    Reader::new(body).finish().map(|()| req)
}

impl Request {
    /// Decode the arguments of `proc` into a request. `Ok(None)` for
    /// procedures the server answers itself (or that are server-to-client
    /// messages): those of [`Family::Server`].
    pub fn decode(proc: Procedure, body: &[u8]) -> Result<Option<Self>, XdrError> {
        match proc.family() {
            Family::Server => Ok(None),
            Family::Connect => decode_connect(proc, body),
            Family::Lookup => decode_lookup(proc, body),
            Family::Lifecycle => decode_lifecycle(proc, body),
            Family::Info => decode_info(proc, body),
            Family::DomainOps => super::domain_ops::decode(proc, body),
            Family::Stats => super::stats::decode(proc, body),
            Family::Storage => super::storage::decode(proc, body),
        }
    }
}

fn decode_connect(proc: Procedure, body: &[u8]) -> Decoded {
    use Procedure as P;
    use Request as R;
    Ok(Some(match proc {
        P::ConnectOpen => {
            let a: OpenArgs = args(body)?;
            R::ConnectOpen {
                name: a.name,
                flags: a.flags,
            }
        }
        P::ConnectGetType => void(body, R::ConnectGetType)?,
        P::ConnectGetVersion => void(body, R::ConnectGetVersion)?,
        P::ConnectGetLibVersion => void(body, R::ConnectGetLibVersion)?,
        P::ConnectGetHostname => void(body, R::ConnectGetHostname)?,
        P::ConnectGetUri => void(body, R::ConnectGetUri)?,
        P::ConnectGetCapabilities => void(body, R::ConnectGetCapabilities)?,
        P::ConnectGetMaxVcpus => R::ConnectGetMaxVcpus {
            typ: args::<OptStringArgs>(body)?.value,
        },
        P::NodeGetInfo => void(body, R::NodeGetInfo)?,
        P::NodeGetSecurityModel => void(body, R::NodeGetSecurityModel)?,
        P::NodeGetFreeMemory => void(body, R::NodeGetFreeMemory)?,
        P::ConnectGetDomainCapabilities => {
            let a: DomainCapabilitiesArgs = args(body)?;
            R::ConnectGetDomainCapabilities {
                emulatorbin: a.emulatorbin,
                arch: a.arch,
                machine: a.machine,
                virttype: a.virttype,
                flags: a.flags,
            }
        }
        P::ConnectDomainXmlToNative => {
            let a: XmlToNativeArgs = args(body)?;
            R::ConnectDomainXmlToNative {
                native_format: a.native_format,
                domain_xml: a.domain_xml,
                flags: a.flags,
            }
        }
        _ => return super::hostfacts::decode(proc, body),
    }))
}

fn decode_lookup(proc: Procedure, body: &[u8]) -> Decoded {
    use Procedure as P;
    use Request as R;
    Ok(Some(match proc {
        P::ConnectListAllDomains => R::ConnectListAllDomains {
            flags: args::<ListAllDomainsArgs>(body)?.flags,
        },
        P::DomainLookupByName => R::DomainLookupByName {
            name: args::<StringArgs>(body)?.value,
        },
        P::DomainLookupByUuid => R::DomainLookupByUuid {
            uuid: args::<UuidArgs>(body)?.uuid,
        },
        P::DomainLookupById => R::DomainLookupById {
            id: args::<IntArgs>(body)?.value,
        },
        _ => return Ok(None),
    }))
}

fn decode_lifecycle(proc: Procedure, body: &[u8]) -> Decoded {
    use Procedure as P;
    use Request as R;
    Ok(Some(match proc {
        P::DomainDefineXml => R::DomainDefineXml {
            xml: args::<StringArgs>(body)?.value,
            flags: 0,
        },
        P::DomainDefineXmlFlags => {
            let a: StringFlagsArgs = args(body)?;
            R::DomainDefineXml {
                xml: a.value,
                flags: a.flags,
            }
        }
        P::DomainCreateXml => {
            let a: StringFlagsArgs = args(body)?;
            R::DomainCreateXml {
                xml: a.value,
                flags: a.flags,
            }
        }
        P::DomainCreate => R::DomainCreate {
            dom: d(body)?,
            flags: 0,
        },
        P::DomainDestroy => R::DomainDestroy {
            dom: d(body)?,
            flags: 0,
        },
        P::DomainShutdown => R::DomainShutdown {
            dom: d(body)?,
            flags: 0,
        },
        P::DomainUndefine => R::DomainUndefine {
            dom: d(body)?,
            flags: 0,
        },
        P::DomainSuspend => R::DomainSuspend { dom: d(body)? },
        P::DomainResume => R::DomainResume { dom: d(body)? },
        P::DomainSetAutostart => {
            let a: SetAutostartArgs = args(body)?;
            R::DomainSetAutostart {
                dom: a.dom,
                autostart: a.autostart != 0,
            }
        }
        _ => return decode_lifecycle_flags(proc, body),
    }))
}

/// The lifecycle procedures whose arguments are a domain and flags.
fn decode_lifecycle_flags(proc: Procedure, body: &[u8]) -> Decoded {
    use Procedure as P;
    use Request as R;
    let make: fn(Domain, u32) -> Request = match proc {
        P::DomainCreateWithFlags => |dom, flags| R::DomainCreate { dom, flags },
        P::DomainDestroyFlags => |dom, flags| R::DomainDestroy { dom, flags },
        P::DomainShutdownFlags => |dom, flags| R::DomainShutdown { dom, flags },
        P::DomainReboot => |dom, flags| R::DomainReboot { dom, flags },
        P::DomainReset => |dom, flags| R::DomainReset { dom, flags },
        P::DomainUndefineFlags => |dom, flags| R::DomainUndefine { dom, flags },
        _ => return Ok(None),
    };
    let (dom, flags) = df(body)?;
    Ok(Some(make(dom, flags)))
}

fn decode_info(proc: Procedure, body: &[u8]) -> Decoded {
    use Procedure as P;
    use Request as R;
    let make: fn(Domain, u32) -> Request = match proc {
        P::DomainGetInfo => |dom, _| R::DomainGetInfo { dom },
        P::DomainGetOsType => |dom, _| R::DomainGetOsType { dom },
        P::DomainGetMaxMemory => |dom, _| R::DomainGetMaxMemory { dom },
        P::DomainGetMaxVcpus => |dom, _| R::DomainGetMaxVcpus { dom },
        P::DomainIsActive => |dom, _| R::DomainIsActive { dom },
        P::DomainIsPersistent => |dom, _| R::DomainIsPersistent { dom },
        P::DomainIsUpdated => |dom, _| R::DomainIsUpdated { dom },
        P::DomainGetAutostart => |dom, _| R::DomainGetAutostart { dom },
        P::DomainGetJobInfo => |dom, _| R::DomainGetJobInfo { dom },
        _ => return decode_info_flags(proc, body),
    };
    Ok(Some(make(d(body)?, 0)))
}

/// The info procedures whose arguments are a domain and flags.
fn decode_info_flags(proc: Procedure, body: &[u8]) -> Decoded {
    use Procedure as P;
    use Request as R;
    let make: fn(Domain, u32) -> Request = match proc {
        P::DomainGetXmlDesc => |dom, flags| R::DomainGetXmlDesc { dom, flags },
        P::DomainGetState => |dom, flags| R::DomainGetState { dom, flags },
        P::DomainGetVcpusFlags => |dom, flags| R::DomainGetVcpusFlags { dom, flags },
        P::DomainHasManagedSaveImage => |dom, flags| R::DomainHasManagedSaveImage { dom, flags },
        P::DomainSnapshotNum => |dom, flags| R::DomainSnapshotNum { dom, flags },
        P::DomainGetMessages => |dom, flags| R::DomainGetMessages { dom, flags },
        P::DomainGetControlInfo => |dom, flags| R::DomainGetControlInfo { dom, flags },
        _ => return Ok(None),
    };
    let (dom, flags) = df(body)?;
    Ok(Some(make(dom, flags)))
}
