//! `virDomainQemuMonitorCommand`: a QMP (or HMP) command passed through to a
//! running QEMU, as `virsh qemu-monitor-command` sends it. Like libvirt, the first
//! use taints the domain (`custom-monitor`), and QEMU's reply is handed back as
//! text, error replies included: the caller asked QEMU, not the daemon.

use std::io::Write as _;
use std::sync::Arc;

use remote_protocol::RemoteError;
use remote_protocol::qemu_program::MONITOR_COMMAND_HMP;
use serde_json::{Value, json};

use super::Daemon;
use super::ops;
use crate::registry::DomainObj;

const TAINT: &str = "custom-monitor";

/// The `execute` name and `arguments` of a QMP command given as JSON text.
pub fn parse_qmp(cmd: &str) -> Result<(String, Option<Value>), String> {
    let v: Value =
        serde_json::from_str(cmd).map_err(|e| format!("the monitor command is not JSON: {e}"))?;
    let Value::Object(mut m) = v else {
        return Err("the monitor command must be a JSON object with \"execute\"".into());
    };
    let Some(Value::String(name)) = m.remove("execute") else {
        return Err("the monitor command has no \"execute\" string".into());
    };
    let args = match m.remove("arguments") {
        None => None,
        Some(a @ Value::Object(_)) => Some(a),
        Some(other) => return Err(format!("\"arguments\" must be an object, not {other}")),
    };
    m.remove("id");
    if let Some(k) = m.keys().next() {
        return Err(format!("unexpected member \"{k}\" in the monitor command"));
    }
    Ok((name, args))
}

/// A QMP reply as QEMU writes it: `return` or `error` first, then the `id`.
fn reply_text(result: Result<Value, qemu::QmpError>, id: u64) -> Result<String, RemoteError> {
    let (key, value) = match result {
        Ok(v) => ("return", v),
        Err(qemu::QmpError::Command { class, desc, .. }) => {
            ("error", json!({"class": class, "desc": desc}))
        }
        Err(e) => return Err(RemoteError::operation_failed(&format!("QEMU monitor: {e}"))),
    };
    Ok(format!("{{\"{key}\":{value},\"id\":\"rvirt-{id}\"}}"))
}

/// QEMU_PROC_DOMAIN_MONITOR_COMMAND.
pub async fn command(
    d: &Arc<Daemon>,
    obj: &Arc<DomainObj>,
    cmd: &str,
    flags: u32,
) -> Result<String, RemoteError> {
    if flags & !MONITOR_COMMAND_HMP != 0 {
        return Err(RemoteError::invalid_arg(&format!(
            "unsupported flags (0x{:x})",
            flags & !MONITOR_COMMAND_HMP
        )));
    }
    let _job = obj.job.lock().await;
    let vm = d.vm(&obj.uuid).ok_or_else(ops::not_running)?;
    let q = vm.qmp().ok_or_else(|| {
        RemoteError::operation_failed(&format!(
            "the monitor of domain '{}' is not connected (reconnect is being retried)",
            vm.name
        ))
    })?;
    let (name, args) = if flags & MONITOR_COMMAND_HMP != 0 {
        (
            "human-monitor-command".to_owned(),
            Some(json!({ "command-line": cmd })),
        )
    } else {
        parse_qmp(cmd).map_err(|m| RemoteError::invalid_arg(&m))?
    };
    if !vm.status().taints.iter().any(|t| t == TAINT) {
        tracing::warn!(
            "Domain id={} name='{}' uuid={} is tainted: {TAINT}",
            vm.id,
            vm.name,
            vm.uuid
        );
        if let Ok(mut log) = std::fs::OpenOptions::new()
            .append(true)
            .open(d.paths.log_file(&vm.name))
        {
            let _ = writeln!(log, "Domain id={} is tainted: {TAINT}", vm.id);
        }
        vm.update_status(d, |s| s.taints.push(TAINT.to_owned()));
    }
    let id = next_reply_id();
    let result = q.execute(&name, args).await;
    if let Err(qemu::QmpError::Command { desc, .. }) = &result
        && let Some(denial) = crate::diagnose::qmp_denial(desc)
    {
        // The caller gets QEMU's own words; the domain log names the layer.
        if let Ok(mut log) = std::fs::OpenOptions::new()
            .append(true)
            .open(d.paths.log_file(&vm.name))
        {
            let _ = writeln!(
                log,
                "{name}: {desc}: {}: {}",
                denial.layer.name(),
                denial.fix
            );
        }
    }
    if flags & MONITOR_COMMAND_HMP != 0 {
        return match result {
            Ok(Value::String(s)) => Ok(s),
            Ok(other) => Ok(other.to_string()),
            Err(e) => Err(RemoteError::operation_failed(&format!("QEMU monitor: {e}"))),
        };
    }
    reply_text(result, id)
}

/// A number for the reply's `id` (QEMU's own ids are the client's business).
fn next_reply_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qmp_text() {
        assert_eq!(
            parse_qmp(r#"{"execute":"query-status"}"#).unwrap(),
            ("query-status".into(), None)
        );
        assert_eq!(
            parse_qmp(r#"{"execute":"x","arguments":{"a":1},"id":"mine"}"#).unwrap(),
            ("x".into(), Some(json!({"a":1})))
        );
        for bad in [
            "info status",
            "[1]",
            r#"{"arguments":{}}"#,
            r#"{"execute":"x","arguments":[1]}"#,
            r#"{"execute":"x","extra":1}"#,
        ] {
            assert!(parse_qmp(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn replies_look_like_qemu_s() {
        assert_eq!(
            reply_text(Ok(json!({"running": true})), 3).unwrap(),
            r#"{"return":{"running":true},"id":"rvirt-3"}"#
        );
        let e = qemu::QmpError::Command {
            command: "x".into(),
            class: "CommandNotFound".into(),
            desc: "The command x has not been found".into(),
        };
        assert_eq!(
            reply_text(Err(e), 4).unwrap(),
            r#"{"error":{"class":"CommandNotFound","desc":"The command x has not been found"},"id":"rvirt-4"}"#
        );
    }
}
