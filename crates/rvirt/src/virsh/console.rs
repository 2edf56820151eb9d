//! `rvirt console DOMAIN [--devname NAME] [--force] [--safe]`: the domain's
//! serial console over the daemon's stream, as `virsh console` — the escape
//! character `^]` ends the session, the terminal is raw while it lasts and is
//! put back after. Unlike virsh, standard input need not be a terminal (a pipe
//! works, for scripts); its end ends the session too.

use std::io::{Read, Write};

use remote_protocol::procs::state;

use super::{BY_ALL, R, Session};

/// `^]`.
const ESCAPE: u8 = 0x1d;
/// `VIR_DOMAIN_CONSOLE_FORCE`, `VIR_DOMAIN_CONSOLE_SAFE`.
const FORCE: u32 = 1;
const SAFE: u32 = 2;

/// Standard input in raw mode while this lives, when it is a terminal.
struct RawTerminal(Option<rustix::termios::Termios>);

impl RawTerminal {
    fn enter() -> Self {
        let stdin = std::io::stdin();
        if !rustix::termios::isatty(&stdin) {
            return Self(None);
        }
        let Ok(old) = rustix::termios::tcgetattr(&stdin) else {
            return Self(None);
        };
        let mut raw = old.clone();
        raw.make_raw();
        if rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw).is_err()
        {
            return Self(None);
        }
        Self(Some(old))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(old) = &self.0 {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                old,
            );
        }
    }
}

/// Standard input as chunks, read by a thread (a blocking read cannot be
/// cancelled; the thread ends with the process).
fn stdin_chunks() -> tokio::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut stdin = std::io::stdin();
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

impl Session<'_> {
    /// `console`.
    pub(super) async fn console(
        &mut self,
        domain: &str,
        devname: Option<&str>,
        force: bool,
        safe: bool,
    ) -> R {
        let dom = self.lookup(domain, BY_ALL).await?;
        match self.c.get_state(&dom).await {
            Ok(s) if s.state == state::RUNNING => {}
            Ok(_) => {
                self.out.err("The domain is not running".to_owned());
                return Err(());
            }
            Err(e) => return self.fail1(&e),
        }
        let flags = if force { FORCE } else { 0 } | if safe { SAFE } else { 0 };
        let mut st = match self.c.open_console(&dom, devname, flags).await {
            Ok(s) => s,
            Err(e) => return self.fail1(&e),
        };
        let mut out = std::io::stdout();
        if !self.quiet {
            let _ = write!(
                out,
                "Connected to domain '{}'\nEscape character is ^] (Ctrl + ])\n",
                dom.name
            );
            let _ = out.flush();
        }
        let raw = RawTerminal::enter();
        let mut input = stdin_chunks();
        let mut failed = None;
        loop {
            tokio::select! {
                r = st.recv() => match r {
                    Ok(Some(b)) => {
                        let _ = out.write_all(&b);
                        let _ = out.flush();
                    }
                    Ok(None) => break,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                },
                chunk = input.recv() => {
                    let Some(chunk) = chunk else { break };
                    let (send, end) = match chunk.iter().position(|&b| b == ESCAPE) {
                        Some(i) => (&chunk[..i], true),
                        None => (&chunk[..], false),
                    };
                    if !send.is_empty()
                        && let Err(e) = st.send(send).await
                    {
                        failed = Some(e);
                        break;
                    }
                    if end {
                        break;
                    }
                }
            }
        }
        if failed.is_none() {
            let _ = st.finish().await;
        }
        drop(raw);
        let _ = writeln!(out);
        match failed {
            Some(e) => self.fail1(&e),
            None => Ok(()),
        }
    }
}
