//! QMP client against a real QEMU (run serially: names start `qemu_live_`).

mod common;

use std::os::fd::AsFd;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use common::{spawn_with_listener, spawn_with_socketpair, wait_event};
use qemu::qmp::{DisconnectReason, QmpClient, QmpConfig, QmpError};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(20);

fn config() -> QmpConfig {
    QmpConfig {
        command_timeout: T,
        ..QmpConfig::default()
    }
}

async fn status(client: &QmpClient) -> Result<(String, bool)> {
    let v = client.execute("query-status", None).await?;
    Ok((
        v["status"].as_str().context("status")?.to_owned(),
        v["running"].as_bool().context("running")?,
    ))
}

#[tokio::test]
async fn qemu_live_machine_none_lifecycle_over_inherited_listener() -> Result<()> {
    let mut qemu = spawn_with_listener(&["-machine", "none"])?;
    let path = qemu.socket.clone().context("socket path")?;

    let (client, mut events) = QmpClient::connect(&path, config()).await?;
    let v = client.greeting().version;
    ensure!(v.major >= 7, "unexpected version {v}");

    assert_eq!(status(&client).await?, ("prelaunch".into(), false));
    client.execute("cont", None).await?;
    wait_event(&mut events, "RESUME", T).await?;
    assert_eq!(status(&client).await?, ("running".into(), true));
    client.execute("stop", None).await?;
    wait_event(&mut events, "STOP", T).await?;
    assert_eq!(status(&client).await?, ("paused".into(), false));

    // A daemon restart: the old connection goes away, a new one connects to
    // the same path and QEMU greets it again.
    drop(client);
    drop(events);
    let (client, mut events) = QmpClient::connect(&path, config()).await?;
    assert_eq!(status(&client).await?, ("paused".into(), false));

    // Unknown commands are typed errors.
    let err = client
        .execute("no-such-command", None)
        .await
        .expect_err("unknown command");
    assert_eq!(err.class(), Some("CommandNotFound"), "{err}");

    client.execute("quit", None).await?;
    // QEMU closes the socket as it exits: the events end and we learn why.
    let shutdown = wait_event(&mut events, "SHUTDOWN", T).await?;
    assert_eq!(shutdown.data["reason"], "host-qmp-quit");
    assert!(events.recv().await.is_none(), "event stream ends on EOF");
    assert_eq!(client.closed().await, DisconnectReason::Eof);
    let err = client
        .execute("query-status", None)
        .await
        .expect_err("gone");
    assert!(err.is_eof(), "{err}");
    let st = qemu.wait_exit(T).await?;
    ensure!(st.success(), "QEMU exit status {st}");
    Ok(())
}

#[tokio::test]
async fn qemu_live_socketpair_monitor_and_concurrency() -> Result<()> {
    let (mut qemu, stream) = spawn_with_socketpair(&["-machine", "none"])?;
    let (client, _events) = QmpClient::from_stream(stream, config()).await?;
    // Many concurrent commands from several tasks, each matched to its reply.
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let c = client.clone();
            tokio::spawn(async move {
                let cmd = if i % 2 == 0 {
                    "query-status"
                } else {
                    "query-version"
                };
                (i, c.execute(cmd, None).await)
            })
        })
        .collect();
    for t in tasks {
        let (i, res) = t.await?;
        let v = res?;
        if i % 2 == 0 {
            ensure!(v.get("status").is_some(), "status reply expected: {v}");
        } else {
            ensure!(v.get("qemu").is_some(), "version reply expected: {v}");
        }
    }
    client.execute("quit", None).await?;
    assert_eq!(client.closed().await, DisconnectReason::Eof);
    qemu.wait_exit(T).await?;
    Ok(())
}

#[tokio::test]
async fn qemu_live_fd_passing_getfd_and_add_fd() -> Result<()> {
    let (mut qemu, stream) = spawn_with_socketpair(&["-machine", "none"])?;
    let (client, _events) = QmpClient::from_stream(stream, config()).await?;
    let file = tempfile::tempfile()?;

    // getfd + closefd by name.
    client
        .execute_with_fds(
            "getfd",
            Some(json!({"fdname": "rvirt-test"})),
            &[file.as_fd()],
        )
        .await?;
    client
        .execute("closefd", Some(json!({"fdname": "rvirt-test"})))
        .await?;
    let err = client
        .execute("closefd", Some(json!({"fdname": "rvirt-test"})))
        .await
        .expect_err("already closed");
    assert!(
        matches!(&err, QmpError::Command { class, .. } if class == "GenericError"),
        "{err}"
    );

    // getfd without a descriptor attached fails: proves the fd really rode
    // along above.
    let err = client
        .execute("getfd", Some(json!({"fdname": "none"})))
        .await
        .expect_err("no fd");
    assert_eq!(err.class(), Some("GenericError"), "{err}");

    // add-fd into an fd set, visible in query-fdsets.
    let r = client
        .execute_with_fds(
            "add-fd",
            Some(json!({"fdset-id": 7, "opaque": "rvirt"})),
            &[file.as_fd()],
        )
        .await?;
    assert_eq!(r["fdset-id"], 7);
    let sets = client.execute("query-fdsets", None).await?;
    let set = sets
        .as_array()
        .and_then(|a| a.iter().find(|s| s["fdset-id"] == 7))
        .with_context(|| format!("fdset 7 missing: {sets}"))?;
    let fds = set["fds"].as_array().context("fds")?;
    assert_eq!(fds.len(), 1);
    assert_eq!(fds[0]["opaque"], "rvirt");
    assert_eq!(fds[0]["fd"], r["fd"]);

    client.execute("quit", None).await?;
    qemu.wait_exit(T).await?;
    Ok(())
}

#[tokio::test]
async fn qemu_live_seabios_guest_powerdown() -> Result<()> {
    let mut qemu = spawn_with_listener(&["-machine", "pc,accel=tcg", "-m", "64"])?;
    let path = qemu.socket.clone().context("socket path")?;
    let (client, mut events) = QmpClient::connect(&path, config()).await?;

    assert_eq!(status(&client).await?, ("prelaunch".into(), false));
    client.execute("cont", None).await?;
    wait_event(&mut events, "RESUME", T).await?;
    assert_eq!(status(&client).await?, ("running".into(), true));
    // Let SeaBIOS run for a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    client.execute("stop", None).await?;
    wait_event(&mut events, "STOP", T).await?;
    assert_eq!(status(&client).await?, ("paused".into(), false));
    client.execute("cont", None).await?;
    wait_event(&mut events, "RESUME", T).await?;

    client.execute("system_powerdown", None).await?;
    let e = wait_event(&mut events, "POWERDOWN", T).await?;
    assert_eq!(e.data, Value::Object(Default::default()));
    assert!(e.timestamp.is_some());
    // SeaBIOS has no ACPI power button handler: the guest keeps running.
    assert_eq!(status(&client).await?, ("running".into(), true));

    client.execute("quit", None).await?;
    assert_eq!(client.closed().await, DisconnectReason::Eof);
    let st = qemu.wait_exit(T).await?;
    ensure!(st.success(), "QEMU exit status {st}");
    Ok(())
}

#[tokio::test]
async fn qemu_live_killed_qemu_is_eof() -> Result<()> {
    let (mut qemu, stream) = spawn_with_socketpair(&["-machine", "none"])?;
    let (client, mut events) = QmpClient::from_stream(stream, config()).await?;
    status(&client).await?;
    // SIGKILL: no SHUTDOWN event, just a closed socket.
    qemu.kill();
    assert!(events.recv().await.is_none());
    assert_eq!(client.closed().await, DisconnectReason::Eof);
    let err = client
        .execute("query-status", None)
        .await
        .expect_err("gone");
    assert!(err.is_disconnected(), "{err}");
    Ok(())
}
