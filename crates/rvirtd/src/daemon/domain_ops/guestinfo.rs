//! `virsh guestinfo`: DOMAIN_GET_GUEST_INFO from the guest agent, as libvirt's
//! typed parameters (`user.*`, `os.*`, `timezone.*`, `hostname`, `fs.*`). A kind
//! the guest's agent does not know (CommandNotFound) is left out, as libvirt
//! leaves it out; any other agent failure fails the call.

use remote_protocol::procs::{TypedParam, TypedParamValue};
use remote_protocol::{ErrorCode, RemoteError};
use serde_json::{Value, json};

use crate::daemon::agent::Agent;

/// `virDomainGuestInfoTypes`.
pub mod kind {
    pub const USERS: u32 = 1;
    pub const OS: u32 = 2;
    pub const TIMEZONE: u32 = 4;
    pub const HOSTNAME: u32 = 8;
    pub const FILESYSTEM: u32 = 16;
}

/// The kinds answered here (others asked for explicitly are refused).
const KNOWN: u32 = kind::USERS | kind::OS | kind::TIMEZONE | kind::HOSTNAME | kind::FILESYSTEM;

fn s(field: String, v: &str) -> TypedParam {
    TypedParam {
        field,
        value: TypedParamValue::String(v.to_owned()),
    }
}

fn u(field: String, v: u32) -> TypedParam {
    TypedParam {
        field,
        value: TypedParamValue::UInt(v),
    }
}

fn ull(field: String, v: u64) -> TypedParam {
    TypedParam {
        field,
        value: TypedParamValue::ULLong(v),
    }
}

/// The parameters of one kind from the agent's answer to its command.
pub(super) fn params(kind: u32, v: &Value) -> Vec<TypedParam> {
    let mut out = Vec::new();
    match kind {
        kind::USERS => {
            let users: Vec<&Value> = v.as_array().into_iter().flatten().collect();
            out.push(u("user.count".into(), users.len() as u32));
            for (i, user) in users.iter().enumerate() {
                if let Some(n) = user["user"].as_str() {
                    out.push(s(format!("user.{i}.name"), n));
                }
                if let Some(d) = user["domain"].as_str() {
                    out.push(s(format!("user.{i}.domain"), d));
                }
                if let Some(t) = user["login-time"].as_f64() {
                    // Seconds from the agent, milliseconds in libvirt.
                    out.push(ull(format!("user.{i}.login-time"), (t * 1000.0) as u64));
                }
            }
        }
        kind::OS => {
            for k in [
                "id",
                "name",
                "pretty-name",
                "version",
                "version-id",
                "kernel-release",
                "kernel-version",
                "machine",
                "variant",
                "variant-id",
            ] {
                if let Some(x) = v[k].as_str() {
                    out.push(s(format!("os.{k}"), x));
                }
            }
        }
        kind::TIMEZONE => {
            if let Some(z) = v["zone"].as_str() {
                out.push(s("timezone.name".into(), z));
            }
            if let Some(o) = v["offset"].as_i64() {
                out.push(TypedParam {
                    field: "timezone.offset".into(),
                    value: TypedParamValue::Int(o as i32),
                });
            }
        }
        kind::HOSTNAME => {
            if let Some(h) = v["host-name"].as_str() {
                out.push(s("hostname".into(), h));
            }
        }
        kind::FILESYSTEM => {
            let fss: Vec<&Value> = v.as_array().into_iter().flatten().collect();
            out.push(u("fs.count".into(), fss.len() as u32));
            for (i, f) in fss.iter().enumerate() {
                for (k, name) in [
                    ("mountpoint", "mountpoint"),
                    ("name", "name"),
                    ("type", "fstype"),
                ] {
                    if let Some(x) = f[k].as_str() {
                        out.push(s(format!("fs.{i}.{name}"), x));
                    }
                }
                for k in ["total-bytes", "used-bytes"] {
                    if let Some(x) = f[k].as_u64() {
                        out.push(ull(format!("fs.{i}.{k}"), x));
                    }
                }
                let disks: Vec<&str> = f["disk"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d["dev"].as_str())
                    .collect();
                out.push(u(format!("fs.{i}.disk.count"), disks.len() as u32));
                for (j, d) in disks.iter().enumerate() {
                    out.push(s(format!("fs.{i}.disk.{j}.device"), d));
                }
            }
        }
        _ => {}
    }
    out
}

fn command_of(kind: u32) -> &'static str {
    match kind {
        kind::USERS => "guest-get-users",
        kind::OS => "guest-get-osinfo",
        kind::TIMEZONE => "guest-get-timezone",
        kind::HOSTNAME => "guest-get-host-name",
        _ => "guest-get-fsinfo",
    }
}

/// DOMAIN_GET_GUEST_INFO with the agent connected.
pub(super) async fn get(agent: &Agent, types: u32) -> Result<Vec<TypedParam>, RemoteError> {
    if types & !KNOWN != 0 {
        return Err(RemoteError::new(
            ErrorCode::OPERATION_UNSUPPORTED,
            remote_protocol::ErrorDomain::QEMU,
            format!(
                "Operation not supported: guest info types 0x{:x} are not implemented",
                types & !KNOWN
            ),
        ));
    }
    let types = if types == 0 { KNOWN } else { types };
    let mut out = Vec::new();
    for k in [
        kind::USERS,
        kind::OS,
        kind::TIMEZONE,
        kind::HOSTNAME,
        kind::FILESYSTEM,
    ] {
        if types & k == 0 {
            continue;
        }
        let cmd = json!({ "execute": command_of(k) });
        match agent.run(&cmd, super::agent::DEFAULT_TIMEOUT).await {
            Ok(v) => out.extend(params(k, &v)),
            Err(e)
                if e.message().contains("CommandNotFound")
                    || e.message().contains("has not been found") => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_answers_as_libvirt_parameters() {
        let p = params(kind::USERS, &json!([{"user": "root", "login-time": 1.5}]));
        assert_eq!(p[0], u("user.count".into(), 1));
        assert_eq!(p[1], s("user.0.name".into(), "root"));
        assert_eq!(p[2], ull("user.0.login-time".into(), 1500));
        let p = params(kind::TIMEZONE, &json!({"zone": "CET", "offset": 3600}));
        assert_eq!(p[1].value, TypedParamValue::Int(3600));
        let p = params(
            kind::FILESYSTEM,
            &json!([{"name": "vda1", "mountpoint": "/", "type": "ext4",
            "total-bytes": 100, "used-bytes": 50, "disk": [{"dev": "/dev/vda"}]}]),
        );
        let names: Vec<&str> = p.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(
            names,
            [
                "fs.count",
                "fs.0.mountpoint",
                "fs.0.name",
                "fs.0.fstype",
                "fs.0.total-bytes",
                "fs.0.used-bytes",
                "fs.0.disk.count",
                "fs.0.disk.0.device"
            ]
        );
        assert_eq!(
            params(kind::HOSTNAME, &json!({"host-name": "g"})),
            vec![s("hostname".into(), "g")]
        );
    }
}
