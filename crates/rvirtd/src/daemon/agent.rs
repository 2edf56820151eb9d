//! The QEMU guest agent, for the commands that ask the guest (`domtime`,
//! `domhostname`, `domfsinfo`, `domifaddr --source agent`, `qemu-agent-command`,
//! `setvcpus --guest`).
//!
//! The agent channel is a `<channel type='unix'>` with target name
//! `org.qemu.guest_agent.0`; QEMU listens on its socket (the daemon created it),
//! and the daemon connects per command. Like libvirt, the agent counts as
//! connected only while the guest has the port open (`query-chardev`'s
//! `frontend-open`); otherwise the error is libvirt's "QEMU guest agent is not
//! connected", and without the channel "... is not configured". Every
//! conversation starts with `guest-sync` and a random id, so a reply left over
//! from an earlier, timed-out command is never taken for this one's.

use std::path::PathBuf;
use std::time::Duration;

use domain_xml::model::devices::{CharType, Chardev};
use remote_protocol::procs::domain_ops::ERR_AGENT_UNRESPONSIVE;
use remote_protocol::{ErrorCode, ErrorDomain, RemoteError};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::vm::Vm;
use crate::states::DomainState;

/// The target name of the guest agent's channel.
pub const AGENT_CHANNEL: &str = "org.qemu.guest_agent.0";
/// How long a command may take when the caller does not say (libvirt's default
/// "block" is forever; a daemon should not wait forever on a guest).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `guest-sync` may take.
const SYNC_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest reply line accepted.
const MAX_REPLY: usize = 16 * 1024 * 1024;

/// `VIR_ERR_AGENT_UNRESPONSIVE`, with libvirt's prefix.
fn unresponsive(what: &str) -> RemoteError {
    RemoteError::new(
        ERR_AGENT_UNRESPONSIVE,
        ErrorDomain::QEMU,
        format!("Guest agent is not responding: {what}"),
    )
}

fn agent_channel(def: &domain_xml::Domain) -> Option<(usize, &Chardev)> {
    def.devices.channels.iter().enumerate().find(|(_, c)| {
        c.char_type == CharType::Unix
            && c.target
                .as_ref()
                .and_then(|t| t.attrs.get("name"))
                .is_some_and(|n| n == AGENT_CHANNEL)
    })
}

/// The agent of a running domain: its socket, once the guest has the port open.
#[derive(Debug)]
pub struct Agent {
    socket: PathBuf,
}

/// Checks what libvirt checks before an agent command, in its order: the domain
/// runs, the channel exists, the guest has it open.
pub async fn available(vm: &Vm, state: DomainState) -> Result<Agent, RemoteError> {
    if !matches!(state, DomainState::Running(_)) {
        return Err(RemoteError::operation_invalid("domain is not running"));
    }
    let def = vm.status().domain;
    let Some((i, ch)) = agent_channel(&def) else {
        return Err(RemoteError::new(
            ErrorCode::ARGUMENT_UNSUPPORTED,
            ErrorDomain::QEMU,
            "argument unsupported: QEMU guest agent is not configured",
        ));
    };
    let alias = ch
        .info
        .alias
        .clone()
        .unwrap_or_else(|| format!("channel{i}"));
    let socket = match ch.sources.first().and_then(|s| s.get("path")) {
        Some(p) => PathBuf::from(p),
        // The planner's default: the channel directory of the domain's lib dir.
        None => vm
            .status()
            .lib_dir
            .map(|d| d.join("channel").join(AGENT_CHANNEL))
            .ok_or_else(|| unresponsive("QEMU guest agent is not connected"))?,
    };
    let q = vm
        .qmp()
        .ok_or_else(|| unresponsive("QEMU guest agent is not connected"))?;
    let chardevs = q
        .execute("query-chardev", None)
        .await
        .map_err(|e| RemoteError::operation_failed(&format!("QEMU monitor: {e}")))?;
    let open = chardevs.as_array().into_iter().flatten().any(|c| {
        c["label"].as_str() == Some(&format!("char{alias}"))
            && c["frontend-open"].as_bool() == Some(true)
    });
    if !open {
        return Err(unresponsive("QEMU guest agent is not connected"));
    }
    Ok(Agent { socket })
}

impl Agent {
    /// Runs one agent command (`{"execute": ..}` JSON) and returns its `return`
    /// value; the agent's own error comes back as libvirt words it.
    pub async fn run(&self, cmd: &Value, timeout: Duration) -> Result<Value, RemoteError> {
        let stream = UnixStream::connect(&self.socket).await.map_err(|e| {
            unresponsive(&format!("cannot connect to {}: {e}", self.socket.display()))
        })?;
        let (rd, mut wr) = stream.into_split();
        let mut rd = BufReader::new(rd);
        let id: u32 = rand_id();
        // 0xFF first: the agent drops any partial input it holds (its protocol's
        // resynchronisation byte).
        let mut sync = vec![0xffu8];
        sync.extend_from_slice(
            format!(
                "{}\n",
                json!({"execute": "guest-sync", "arguments": {"id": id}})
            )
            .as_bytes(),
        );
        wr.write_all(&sync).await.map_err(io_err)?;
        let synced = tokio::time::timeout(SYNC_TIMEOUT, async {
            loop {
                let v = read_reply(&mut rd).await?;
                if v["return"].as_u64() == Some(u64::from(id)) {
                    return Ok::<(), RemoteError>(());
                }
            }
        })
        .await;
        match synced {
            Ok(r) => r?,
            Err(_) => {
                return Err(unresponsive("Guest agent not available for now"));
            }
        }
        wr.write_all(format!("{cmd}\n").as_bytes())
            .await
            .map_err(io_err)?;
        let v = tokio::time::timeout(timeout, read_reply(&mut rd))
            .await
            .map_err(|_| {
                RemoteError::new(
                    ErrorCode(112), // VIR_ERR_AGENT_COMMAND_TIMEOUT
                    ErrorDomain::QEMU,
                    "guest agent command timed out: the agent did not answer in time",
                )
            })??;
        if let Some(e) = v.get("error") {
            return Err(RemoteError::new(
                ErrorCode(113), // VIR_ERR_AGENT_COMMAND_FAILED
                ErrorDomain::QEMU,
                format!(
                    "guest agent command failed: unable to execute QEMU agent command '{}': {}",
                    cmd["execute"].as_str().unwrap_or("?"),
                    e["desc"].as_str().unwrap_or("unknown error")
                ),
            ));
        }
        Ok(v.get("return").cloned().unwrap_or(Value::Null))
    }

    /// `qemu-agent-command`: the command as the caller wrote it, the reply as text.
    pub async fn passthrough(&self, cmd: &str, timeout: Duration) -> Result<String, RemoteError> {
        let v: Value = serde_json::from_str(cmd).map_err(|e| {
            RemoteError::invalid_arg(&format!("the agent command is not JSON: {e}"))
        })?;
        let r = self.run(&v, timeout).await?;
        Ok(json!({ "return": r }).to_string())
    }
}

async fn read_reply(
    rd: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
) -> Result<Value, RemoteError> {
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = rd.read_until(b'\n', &mut line).await.map_err(io_err)?;
        if n == 0 {
            return Err(unresponsive("the agent closed the connection"));
        }
        if line.len() > MAX_REPLY {
            return Err(RemoteError::internal("guest agent reply too large"));
        }
        // The agent may echo the resync byte or send blank lines.
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_matches(|c: char| c.is_whitespace() || c == '\u{fffd}');
        if text.is_empty() {
            continue;
        }
        if let Ok(v) = serde_json::from_str::<Value>(text) {
            return Ok(v);
        }
    }
}

#[allow(clippy::needless_pass_by_value)] // map_err(io_err)
fn io_err(e: std::io::Error) -> RemoteError {
    unresponsive(&e.to_string())
}

fn rand_id() -> u32 {
    let mut b = [0u8; 4];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(1);
        return t | 1;
    }
    u32::from_ne_bytes(b) | 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    /// A guest agent on a socket: a stale reply first (left from an earlier
    /// command), then answers to guest-sync, guest-get-time and errors.
    async fn fake_agent(l: UnixListener) {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            tokio::spawn(async move {
                let (rd, mut wr) = s.into_split();
                let mut rd = BufReader::new(rd);
                let _ = wr.write_all(b"{\"return\": 12345}\n").await;
                let mut line = Vec::new();
                while rd.read_until(b'\n', &mut line).await.unwrap_or(0) > 0 {
                    let text = String::from_utf8_lossy(&line).replace('\u{fffd}', "");
                    let v: Value = serde_json::from_str(text.trim()).unwrap_or(Value::Null);
                    let reply = match v["execute"].as_str() {
                        Some("guest-sync") => json!({"return": v["arguments"]["id"]}),
                        Some("guest-get-time") => json!({"return": 1_700_000_000_123_456_789u64}),
                        Some("guest-ping") => json!({"return": {}}),
                        Some(other) => json!({"error": {"class": "CommandNotFound",
                            "desc": format!("The command {other} has not been found")}}),
                        None => json!({"error": {"class": "GenericError", "desc": "bad"}}),
                    };
                    let _ = wr.write_all(format!("{reply}\n").as_bytes()).await;
                    line.clear();
                }
            });
        }
    }

    #[tokio::test]
    async fn sync_then_command() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let l = UnixListener::bind(&socket).unwrap();
        tokio::spawn(fake_agent(l));
        let a = Agent { socket };
        let t = Duration::from_secs(5);
        let v = a
            .run(&json!({"execute": "guest-get-time"}), t)
            .await
            .unwrap();
        assert_eq!(v.as_u64(), Some(1_700_000_000_123_456_789));
        assert_eq!(
            a.passthrough(r#"{"execute":"guest-ping"}"#, t)
                .await
                .unwrap(),
            r#"{"return":{}}"#
        );
        let e = a
            .run(&json!({"execute": "guest-nope"}), t)
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode(113));
        assert!(
            e.message()
                .contains("The command guest-nope has not been found"),
            "{e:?}"
        );
        assert!(a.passthrough("not json", t).await.is_err());
        // Nobody listening: libvirt's unresponsive agent.
        let gone = Agent {
            socket: dir.path().join("none.sock"),
        };
        let e = gone
            .run(&json!({"execute": "guest-ping"}), t)
            .await
            .unwrap_err();
        assert_eq!(e.code, ERR_AGENT_UNRESPONSIVE);
    }
}
