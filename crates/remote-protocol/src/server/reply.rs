//! Encoding a backend's [`Response`] as the reply of the procedure called,
//! including the legacy list procedures answered from CONNECT_LIST_ALL_DOMAINS.

use crate::error::{ErrorCode, ErrorDomain, RemoteError};
use crate::procs::{
    DOMAIN_LIST_MAX, DOMAIN_MESSAGES_MAX, Domain, IdsRet, IntArgs, ListAllDomainsArgs,
    ListAllDomainsRet, MessagesRet, NamesRet, Procedure, Request, Response, SECURITY_DOI_MAX,
    SECURITY_MODEL_MAX, SecurityModelRet, list_flags,
};
use crate::xdr::{CharVec, from_bytes};

use super::conn::{decode_error, enc, no_args};

/// How a backend's answer is encoded; the legacy list procedures are
/// answered from CONNECT_LIST_ALL_DOMAINS.
pub(super) enum Post {
    Plain,
    /// 9: CREATE returns void although the backend returns the domain.
    Void,
    /// 273 with `need_results`.
    ListAll {
        need_results: bool,
    },
    NumOf,
    ListIds(usize),
    ListNames(usize),
}

/// The request a backend call asks, and how its answer is sent: the legacy
/// list procedures become CONNECT_LIST_ALL_DOMAINS. `number` is the wire
/// procedure number (for error texts).
pub(super) fn decode_call(
    proc: Procedure,
    number: i32,
    body: &[u8],
) -> Result<(Request, Post), RemoteError> {
    use Procedure as P;
    match proc {
        P::ConnectNumOfDomains | P::ConnectNumOfDefinedDomains => {
            no_args(number, body).map(|()| (list_request(proc), Post::NumOf))
        }
        P::ConnectListDomains | P::ConnectListDefinedDomains => from_bytes::<IntArgs>(body)
            .map_err(|e| decode_error(number, &e))
            .and_then(|a| {
                if a.value < 0 || a.value as u32 > DOMAIN_LIST_MAX {
                    return Err(RemoteError::new(
                        ErrorCode::RPC,
                        ErrorDomain::REMOTE,
                        "maximum number of domains requested is out of range",
                    ));
                }
                let n = a.value as usize;
                let post = if proc == P::ConnectListDomains {
                    Post::ListIds(n)
                } else {
                    Post::ListNames(n)
                };
                Ok((list_request(proc), post))
            }),
        P::ConnectListAllDomains => from_bytes::<ListAllDomainsArgs>(body)
            .map_err(|e| decode_error(number, &e))
            .map(|a| {
                (
                    Request::ConnectListAllDomains { flags: a.flags },
                    Post::ListAll {
                        need_results: a.need_results != 0,
                    },
                )
            }),
        _ => match Request::decode(proc, body) {
            Ok(Some(req)) => {
                let post = if proc == P::DomainCreate {
                    Post::Void
                } else {
                    Post::Plain
                };
                Ok((req, post))
            }
            Ok(None) => Err(RemoteError::unknown_procedure(number)),
            Err(e) => Err(decode_error(number, &e)),
        },
    }
}

fn list_request(proc: Procedure) -> Request {
    let flags = match proc {
        Procedure::ConnectNumOfDomains | Procedure::ConnectListDomains => list_flags::ACTIVE,
        _ => list_flags::INACTIVE,
    };
    Request::ConnectListAllDomains { flags }
}

pub(super) fn shape_error(proc: Procedure, resp: &Response) -> RemoteError {
    RemoteError::internal(&format!(
        "backend returned a {:?} response for procedure {}",
        resp.shape(),
        proc.number()
    ))
}

pub(super) fn too_many(what: &str) -> RemoteError {
    RemoteError::new(
        ErrorCode::RPC,
        ErrorDomain::REMOTE,
        format!("too many {what} for one RPC reply"),
    )
}

pub(super) fn encode_ret(resp: Response, post: Post) -> Result<Vec<u8>, RemoteError> {
    let doms_check = |d: &Vec<Domain>| {
        if d.len() > DOMAIN_LIST_MAX as usize {
            Err(too_many("domains"))
        } else {
            Ok(())
        }
    };
    Ok(match (post, resp) {
        (Post::Void, _) => Vec::new(),
        (Post::ListAll { need_results }, Response::Domains(d)) => {
            doms_check(&d)?;
            let ret = d.len() as u32;
            enc(&ListAllDomainsRet {
                domains: if need_results { d } else { Vec::new() },
                ret,
            })
        }
        (Post::NumOf, Response::Domains(d)) => enc(&(d.len().min(i32::MAX as usize) as i32)),
        (Post::ListIds(max), Response::Domains(d)) => enc(&IdsRet {
            ids: d
                .iter()
                .filter(|d| d.id >= 0)
                .map(|d| d.id)
                .take(max)
                .collect(),
        }),
        (Post::ListNames(max), Response::Domains(d)) => enc(&NamesRet {
            names: d.into_iter().map(|d| d.name).take(max).collect(),
        }),
        (_, Response::Void) => Vec::new(),
        (_, Response::Int(v)) => enc(&v),
        (_, Response::UHyper(v)) => enc(&v),
        (_, Response::String(s)) => enc(&s),
        (_, Response::Domain(d)) => enc(&d),
        (_, Response::Domains(d)) => {
            doms_check(&d)?;
            enc(&d)
        }
        (_, Response::State(s)) => enc(&s),
        (_, Response::DomainInfo(i)) => enc(&i),
        (_, Response::NodeInfo(n)) => enc(&n),
        (_, Response::JobInfo(j)) => enc(&j),
        (_, Response::ControlInfo(c)) => enc(&c),
        (_, Response::Stats(r)) => enc(&r),
        (_, Response::Storage(r)) => {
            r.check().map_err(too_many)?;
            enc(&r)
        }
        (_, Response::SecurityModel { model, doi }) => {
            if model.len() >= SECURITY_MODEL_MAX as usize || doi.len() >= SECURITY_DOI_MAX as usize
            {
                return Err(too_many("security model characters"));
            }
            // libvirtd sends the C string with its NUL; an empty model is sent
            // as an empty array, which makes virsh skip the security output.
            let chars = |s: String| {
                let mut v = s.into_bytes();
                if !v.is_empty() {
                    v.push(0);
                }
                CharVec(v)
            };
            enc(&SecurityModelRet {
                model: chars(model),
                doi: chars(doi),
            })
        }
        (_, Response::DomainOp(r)) => r.encode_body().map_err(too_many)?,
        (_, Response::Strings(s)) => {
            if s.len() > DOMAIN_MESSAGES_MAX as usize {
                return Err(too_many("messages"));
            }
            enc(&MessagesRet { msgs: s })
        }
        // Host facts (procs/hostfacts.rs).
        (_, Response::UHypers(cells)) => {
            if cells.len() > crate::procs::NODE_MAX_CELLS as usize {
                return Err(too_many("cells"));
            }
            enc(&crate::procs::CellsFreeMemoryRet { cells })
        }
        (_, Response::NodeStats(r)) => {
            if r.params.len() > crate::procs::NODE_CPU_STATS_MAX as usize {
                return Err(too_many("stats"));
            }
            enc(&r)
        }
        (_, Response::CpuMap(r)) => {
            if r.cpumap.0.len() > crate::procs::CPUMAP_MAX as usize {
                return Err(too_many("CPUs"));
            }
            enc(&r)
        }
        (_, Response::CpuModelNames(r)) => {
            if r.models.len() > crate::procs::CONNECT_CPU_MODELS_MAX as usize {
                return Err(too_many("CPU models"));
            }
            enc(&r)
        }
    })
}
