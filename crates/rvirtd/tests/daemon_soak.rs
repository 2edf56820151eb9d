//! Soak (issue 12): one `rvirtd --root TMPDIR`, 8 writer threads defining, starting,
//! destroying and undefining their own KVM domains (in a random order, so that the
//! "not running" / "already running" / "transient" answers come too, and a share of
//! their operations on two domains all writers share) while 8 reader threads list
//! every domain, look them up (by name, uuid, id) and ask for their XML, state and
//! info, for a FIXED number of operations, over libvirt's remote protocol (the Rust
//! client of `remote-protocol`; readers 4..8 share one connection).
//!
//! Every answer is checked by the code a libvirt client receives (error domain
//! `VIR_FROM_QEMU` 10 or `VIR_FROM_DOMAIN` 20), as libvirt 11.3 would answer:
//!
//! | operation | acceptable errors |
//! |---|---|
//! | reader: lookup by name/uuid/id, dumpxml, getstate, getinfo, isactive, ispersistent of a domain undefined (or, by id, stopped) concurrently | `NO_DOMAIN` (42) |
//! | reader: list all (any flags), list ids, list defined, count | none |
//! | writer, own domain: define (any state) | none |
//! | writer, own domain: start of a running domain | `OPERATION_INVALID` (55) "domain is already running" |
//! | writer, own domain: destroy of a domain not running | `OPERATION_INVALID` (55) "domain is not running" |
//! | writer, own domain: undefine of a running transient domain | `OPERATION_INVALID` (55) "cannot undefine transient domain" |
//! | writer, own domain: lookup/start/destroy/undefine of an undefined domain (by name, or by the stale handle) | `NO_DOMAIN` (42) |
//! | writer, shared domain: define (fixed uuid) | none |
//! | writer, shared domain: start, destroy, undefine | `NO_DOMAIN`, `OPERATION_INVALID`; for start also `OPERATION_FAILED` from the monitor of a QEMU a concurrent destroy killed (libvirt: "domain is no longer running"), counted as tolerated |
//!
//! A writer knows the state of its own domains, so each of those operations has
//! one exact expected answer, checked again by getstate/ispersistent and by the
//! definition file on disk after each operation. `INTERNAL_ERROR` (1) and
//! `OPERATION_FAILED` (9) are never acceptable otherwise.
//!
//! The daemon's VmRSS is read at start, after a warm-up round and at the end (each
//! after a quiet 2 s, so its malloc_trim has run): end ≤ warm-up + 8 MiB. Afterwards
//! no domain, no QEMU, no cgroup directory and no per-domain file is left. The
//! summary table (operations by kind; errors by operation, code and domain with a
//! message sample; everything unexpected) is printed in every run.
//!
//! Size: `RVIRT_SOAK_OPS` operations per writer (default 200), `RVIRT_SOAK_READS`
//! per reader (default 20 × ops), `RVIRT_SOAK_START_PCT` the share of writer
//! operations that are starts (default 15), `RVIRT_SOAK_SHARED_PCT` the share on
//! the shared domains (default 25), `RVIRT_SOAK_READ_PAUSE_US` a pause
//! between two reads (default 1000, so that the readers last as long as the writers), `RVIRT_SOAK_SEED` to replay the operation
//! sequences (the interleaving is the scheduler's). `make soak` runs a larger size.

mod daemon_support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use daemon_support::{Daemon, wait_until};
use remote_protocol::procs::list_flags;
use remote_protocol::{Client, ClientError, Domain, ErrorCode, ErrorDomain};

const WRITERS: usize = 8;
const READERS: usize = 8;
/// Domains per writer.
const SLOTS: usize = 2;
/// Domains all writers work on at once.
const SHARED: usize = 2;
/// Memory of every soak domain (KiB), as getinfo must report it.
const MEM_KIB: u64 = 128 * 1024;
/// A call that takes longer than this is a hang: the thread stops and the test fails.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
const RSS_SLACK_KIB: u64 = 8 * 1024;

const VIR_DOMAIN_RUNNING: i32 = 1;
const VIR_DOMAIN_SHUTOFF: i32 = 5;
const XML_INACTIVE: u32 = 2;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env_num(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS for rvirtd pid {pid}"))
}

fn uuid_str(u: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*u).to_string()
}

fn xml(name: &str, uuid: Option<&[u8; 16]>) -> String {
    let uuid = uuid
        .map(|u| format!("<uuid>{}</uuid>", uuid_str(u)))
        .unwrap_or_default();
    format!(
        "<domain type='kvm'><name>{name}</name>{uuid}<memory unit='KiB'>{MEM_KIB}</memory>\
         <os><type arch='x86_64' machine='pc'>hvm</type></os></domain>"
    )
}

/// What an operation may answer.
#[derive(Clone, Copy, Debug)]
enum Want {
    Ok,
    Err(ErrorCode),
    /// Success, or this error (a reader racing a writer).
    OkOr(ErrorCode),
}

/// One thread's record: operations by kind, errors by (operation, code, domain)
/// with a message sample, and everything that was not acceptable.
#[derive(Default)]
struct Stats {
    ops: BTreeMap<&'static str, u64>,
    errors: BTreeMap<(&'static str, i32, i32), (u64, String)>,
    unexpected: BTreeMap<(&'static str, String), (u64, String)>,
    /// The thread stopped early (a call hung or the connection broke).
    stopped: Option<String>,
    /// OPERATION_FAILED answers that libvirt gives in the same race.
    tolerated: BTreeMap<&'static str, u64>,
}

impl Stats {
    fn merge(&mut self, o: Stats) {
        for (k, v) in o.ops {
            *self.ops.entry(k).or_default() += v;
        }
        for (k, (n, s)) in o.errors {
            self.errors.entry(k).or_insert((0, s)).0 += n;
        }
        for (k, (n, s)) in o.unexpected {
            self.unexpected.entry(k).or_insert((0, s)).0 += n;
        }
        for (k, n) in o.tolerated {
            *self.tolerated.entry(k).or_default() += n;
        }
        if let Some(s) = o.stopped {
            self.unexpected
                .entry(("thread", "stopped early".into()))
                .or_insert((0, s))
                .0 += 1;
        }
    }

    fn bad(&mut self, op: &'static str, what: String, sample: String) {
        self.unexpected.entry((op, what)).or_insert((0, sample)).0 += 1;
    }

    fn unexpected_total(&self) -> u64 {
        self.unexpected.values().map(|(n, _)| n).sum()
    }

    /// Counts `r` under `op` and checks it against `want`; the value on success.
    /// `Err(())` when the thread must stop (hang, broken connection).
    fn check<T>(
        &mut self,
        op: &'static str,
        r: Result<Result<T, ClientError>, tokio::time::error::Elapsed>,
        want: Want,
        ctx: &str,
    ) -> Result<Option<T>, ()> {
        *self.ops.entry(op).or_default() += 1;
        let r = match r {
            Ok(r) => r,
            Err(_) => {
                let m = format!("{op} on {ctx}: no answer within {CALL_TIMEOUT:?}");
                self.bad(op, "timeout".into(), m.clone());
                self.stopped = Some(m);
                return Err(());
            }
        };
        match (r, want) {
            (Ok(v), Want::Ok | Want::OkOr(_)) => Ok(Some(v)),
            (Ok(_), Want::Err(code)) => {
                self.bad(
                    op,
                    format!("success where code {} was expected", code.0),
                    ctx.to_owned(),
                );
                Ok(None)
            }
            (Err(ClientError::Remote(e)), want) => {
                let msg = e.message().to_owned();
                self.errors
                    .entry((op, e.code.0, e.domain.0))
                    .or_insert((0, msg.clone()))
                    .0 += 1;
                let code_ok = match want {
                    Want::Ok => false,
                    Want::Err(c) | Want::OkOr(c) => c == e.code,
                };
                let domain_ok = e.domain == ErrorDomain::QEMU || e.domain == ErrorDomain::DOMAIN;
                if !code_ok || !domain_ok {
                    self.bad(
                        op,
                        format!("code {} domain {} (wanted {want:?})", e.code.0, e.domain.0),
                        format!("{ctx}: {msg}"),
                    );
                }
                Ok(None)
            }
            (Err(e), _) => {
                let m = format!("{op} on {ctx}: {e}");
                self.bad(op, "client error".into(), m.clone());
                self.stopped = Some(m);
                Err(())
            }
        }
    }
}

/// What an operation on a domain other writers work on may answer: success, the
/// domain gone (NO_DOMAIN), or not valid in its current state (OPERATION_INVALID);
/// and for a start that a concurrent destroy killed, OPERATION_FAILED from the
/// monitor (libvirt 11.3 answers "operation failed: domain is no longer running"
/// there too): counted as tolerated.
fn shared_want(op: &str, e: &remote_protocol::RemoteError) -> bool {
    e.code == ErrorCode::NO_DOMAIN
        || e.code == ErrorCode::OPERATION_INVALID
        || (op == "s.start"
            && e.code == ErrorCode::OPERATION_FAILED
            && e.message().contains("QEMU monitor"))
}

impl Stats {
    fn check_any<T>(
        &mut self,
        op: &'static str,
        r: Result<Result<T, ClientError>, tokio::time::error::Elapsed>,
        ctx: &str,
    ) -> Result<Option<T>, ()> {
        let want = match &r {
            Ok(Err(ClientError::Remote(e))) if shared_want(op, e) => {
                if e.code == ErrorCode::OPERATION_FAILED {
                    *self.tolerated.entry(op).or_default() += 1;
                }
                Want::Err(e.code)
            }
            Ok(Err(_)) => Want::Ok,
            _ => Want::OkOr(ErrorCode::NO_DOMAIN),
        };
        self.check(op, r, want, ctx)
    }
}

async fn timed<T>(f: impl Future<Output = T>) -> Result<T, tokio::time::error::Elapsed> {
    tokio::time::timeout(CALL_TIMEOUT, f).await
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    /// Not defined (the handle, if any, is stale).
    Absent,
    /// Defined, not running.
    Defined,
    /// Defined and running.
    Running,
    /// Running, undefined (transient).
    Transient,
}

struct Slot {
    name: String,
    st: St,
    /// The current handle, or the last one (stale) when absent.
    handle: Option<Domain>,
}

struct Writer<'a> {
    c: &'a Client,
    slots: Vec<Slot>,
    stats: Stats,
    rng: Rng,
    start_pct: u64,
    qemu_starts: u64,
    /// The daemon's definition directory: a definition file exists exactly while
    /// the domain is persistent.
    conf_dir: PathBuf,
    /// Domains every writer works on (fixed uuids), `shared_pct` of the operations.
    shared: &'a [(String, [u8; 16])],
    shared_pct: u64,
}

impl Writer<'_> {
    async fn define(&mut self, i: usize) -> Result<(), ()> {
        let s = &self.slots[i];
        let keep = (s.st != St::Absent)
            .then(|| s.handle.as_ref().map(|h| h.uuid))
            .flatten();
        let (name, st) = (s.name.clone(), s.st);
        let r = timed(self.c.define_xml(&xml(&name, keep.as_ref()), 0)).await;
        if let Some(dom) = self.stats.check("w.define", r, Want::Ok, &name)? {
            if dom.name != name || keep.is_some_and(|u| u != dom.uuid) {
                self.stats.bad(
                    "w.define",
                    "returned another domain".into(),
                    format!("{name}: {dom:?}"),
                );
            }
            let s = &mut self.slots[i];
            s.handle = Some(dom);
            s.st = match st {
                St::Absent | St::Defined => St::Defined,
                St::Running | St::Transient => St::Running,
            };
        }
        Ok(())
    }

    /// start / destroy / undefine of slot `i`, by the name's current handle, or on
    /// an absent domain by name and by the stale handle (both NO_DOMAIN).
    async fn act(&mut self, i: usize, op: &'static str) -> Result<(), ()> {
        let name = self.slots[i].name.clone();
        let st = self.slots[i].st;
        if st == St::Absent {
            let r = timed(self.c.lookup_by_name(&name)).await;
            self.stats
                .check("w.lookup", r, Want::Err(ErrorCode::NO_DOMAIN), &name)?;
            if let Some(h) = self.slots[i].handle.clone() {
                let r = match op {
                    "w.start" => timed(self.c.create(&h, 0)).await.map(|r| r.map(drop)),
                    "w.destroy" => timed(self.c.destroy(&h, 0)).await,
                    _ => timed(self.c.undefine(&h, 0)).await,
                };
                self.stats.check(
                    op,
                    r,
                    Want::Err(ErrorCode::NO_DOMAIN),
                    &format!("{name} (stale handle)"),
                )?;
            }
            return Ok(());
        }
        let r = timed(self.c.lookup_by_name(&name)).await;
        let Some(dom) = self.stats.check("w.lookup", r, Want::Ok, &name)? else {
            return Ok(());
        };
        if self.slots[i].handle.as_ref().map(|h| h.uuid) != Some(dom.uuid) {
            self.stats.bad(
                "w.lookup",
                "uuid changed".into(),
                format!("{name}: {dom:?}"),
            );
        }
        let (want, next) = match (op, st) {
            ("w.start", St::Defined) => (Want::Ok, St::Running),
            ("w.start", s) => (Want::Err(ErrorCode::OPERATION_INVALID), s),
            ("w.destroy", St::Running) => (Want::Ok, St::Defined),
            ("w.destroy", St::Transient) => (Want::Ok, St::Absent),
            ("w.destroy", s) => (Want::Err(ErrorCode::OPERATION_INVALID), s),
            (_, St::Defined) => (Want::Ok, St::Absent),
            (_, St::Running) => (Want::Ok, St::Transient),
            (_, s) => (Want::Err(ErrorCode::OPERATION_INVALID), s),
        };
        let ok = match op {
            "w.start" => {
                let r = timed(self.c.create(&dom, 0)).await;
                let started = self.stats.check(op, r, want, &name)?;
                if let Some(d) = &started {
                    self.qemu_starts += 1;
                    if d.id <= 0 {
                        self.stats
                            .bad(op, "no id after start".into(), format!("{d:?}"));
                    }
                }
                started.is_some()
            }
            "w.destroy" => {
                let r = timed(self.c.destroy(&dom, 0)).await;
                self.stats.check(op, r, want, &name)?.is_some()
            }
            _ => {
                let r = timed(self.c.undefine(&dom, 0)).await;
                self.stats.check(op, r, want, &name)?.is_some()
            }
        };
        if ok || !matches!(want, Want::Ok) {
            self.slots[i].st = next;
        } else {
            // A failed operation that should have worked: find out where we are.
            self.resync(i).await?;
        }
        self.verify(i).await
    }

    /// Reads the state back and compares it with what the writer expects.
    async fn verify(&mut self, i: usize) -> Result<(), ()> {
        let (name, st) = (self.slots[i].name.clone(), self.slots[i].st);
        let r = timed(self.c.lookup_by_name(&name)).await;
        let want = if st == St::Absent {
            Want::Err(ErrorCode::NO_DOMAIN)
        } else {
            Want::Ok
        };
        if st == St::Absent && self.conf_dir.join(format!("{name}.xml")).exists() {
            self.stats.bad(
                "w.verify",
                "definition file of an undefined domain".into(),
                name.clone(),
            );
        }
        let Some(dom) = self.stats.check("w.verify", r, want, &name)? else {
            return Ok(());
        };
        let r = timed(self.c.get_state(&dom)).await;
        let Some(s) = self.stats.check("w.verify", r, Want::Ok, &name)? else {
            return Ok(());
        };
        let r = timed(self.c.is_persistent(&dom)).await;
        let Some(p) = self.stats.check("w.verify", r, Want::Ok, &name)? else {
            return Ok(());
        };
        let expect = match st {
            St::Running => (VIR_DOMAIN_RUNNING, true),
            St::Transient => (VIR_DOMAIN_RUNNING, false),
            _ => (VIR_DOMAIN_SHUTOFF, true),
        };
        let file = self.conf_dir.join(format!("{name}.xml")).exists();
        if file != p {
            self.stats.bad(
                "w.verify",
                format!("definition file exists={file} but persistent={p}"),
                name.clone(),
            );
        }
        if (s.state, p) != expect {
            self.stats.bad(
                "w.verify",
                format!(
                    "state/persistent {:?} where {expect:?} expected",
                    (s.state, p)
                ),
                format!("{name} believed {st:?}"),
            );
            self.resync(i).await?;
        }
        Ok(())
    }

    /// Takes the daemon's word for the slot's state (after a reported mismatch).
    async fn resync(&mut self, i: usize) -> Result<(), ()> {
        let name = self.slots[i].name.clone();
        let Ok(Ok(dom)) = timed(self.c.lookup_by_name(&name)).await else {
            self.slots[i].st = St::Absent;
            return Ok(());
        };
        let active = matches!(timed(self.c.is_active(&dom)).await, Ok(Ok(true)));
        let persistent = matches!(timed(self.c.is_persistent(&dom)).await, Ok(Ok(true)));
        self.slots[i].st = match (active, persistent) {
            (true, true) => St::Running,
            (true, false) => St::Transient,
            _ => St::Defined,
        };
        self.slots[i].handle = Some(dom);
        Ok(())
    }

    async fn run(&mut self, ops: u64) -> Result<(), ()> {
        for _ in 0..ops {
            if self.rng.below(100) < self.shared_pct {
                self.shared_op().await?;
                continue;
            }
            let i = self.rng.below(SLOTS as u64) as usize;
            let r = self.rng.below(100);
            let define_pct = 30;
            let rest = 100 - self.start_pct - define_pct;
            if r < define_pct {
                self.define(i).await?;
            } else if r < define_pct + self.start_pct {
                self.act(i, "w.start").await?;
            } else if r < define_pct + self.start_pct + rest / 2 {
                self.act(i, "w.destroy").await?;
            } else {
                self.act(i, "w.undefine").await?;
            }
        }
        Ok(())
    }

    /// One operation on a shared domain: racing the other writers, so several
    /// answers are right (see [`shared_want`]).
    async fn shared_op(&mut self) -> Result<(), ()> {
        let (name, uuid) = self.shared[self.rng.below(self.shared.len() as u64) as usize].clone();
        let pick = self.rng.below(100);
        if pick < 30 {
            let r = timed(self.c.define_xml(&xml(&name, Some(&uuid)), 0)).await;
            self.stats.check("s.define", r, Want::Ok, &name)?;
            return Ok(());
        }
        let r = timed(self.c.lookup_by_name(&name)).await;
        let Some(dom) = self
            .stats
            .check("s.lookup", r, Want::OkOr(ErrorCode::NO_DOMAIN), &name)?
        else {
            return Ok(());
        };
        if pick < 30 + self.start_pct {
            let r = timed(self.c.create(&dom, 0)).await;
            if self.stats.check_any("s.start", r, &name)?.is_some() {
                self.qemu_starts += 1;
            }
        } else if pick < 65 + self.start_pct / 2 {
            let r = timed(self.c.destroy(&dom, 0)).await;
            self.stats.check_any("s.destroy", r, &name)?;
        } else {
            let r = timed(self.c.undefine(&dom, 0)).await;
            self.stats.check_any("s.undefine", r, &name)?;
        }
        Ok(())
    }

    /// Destroys and undefines every domain of this writer (checked like the rest).
    async fn drain(&mut self) -> Result<(), ()> {
        for i in 0..SLOTS {
            if matches!(self.slots[i].st, St::Running | St::Transient) {
                self.act(i, "w.destroy").await?;
            }
            if self.slots[i].st == St::Defined {
                self.act(i, "w.undefine").await?;
            }
            if self.slots[i].st != St::Absent {
                let m = format!(
                    "{} still {:?} after drain",
                    self.slots[i].name, self.slots[i].st
                );
                self.stats.bad("w.drain", "not drained".into(), m);
            }
        }
        Ok(())
    }
}

async fn reader(c: &Client, ops: u64, seed: u64, prefix: &str, pause: Duration) -> Stats {
    let mut st = Stats::default();
    let mut rng = Rng(seed);
    let mut known: Vec<Domain> = Vec::new();
    let _ = read_loop(c, ops, &mut rng, &mut known, &mut st, prefix, pause).await;
    st
}

async fn read_loop(
    c: &Client,
    ops: u64,
    rng: &mut Rng,
    known: &mut Vec<Domain>,
    st: &mut Stats,
    prefix: &str,
    pause: Duration,
) -> Result<(), ()> {
    const NO: ErrorCode = ErrorCode::NO_DOMAIN;
    let mut n = 0;
    while n < ops {
        n += 1;
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        let pick = rng.below(100);
        if pick < 15 || known.is_empty() {
            let flags = match rng.below(3) {
                0 => 0,
                1 => list_flags::ACTIVE,
                _ => list_flags::INACTIVE,
            };
            let r = timed(c.list_all_domains(flags)).await;
            if let Some(list) = st.check("r.list_all", r, Want::Ok, "list")? {
                for d in &list {
                    if !d.name.starts_with(prefix) {
                        st.bad("r.list_all", "foreign domain".into(), d.name.clone());
                    }
                    let active = d.id > 0;
                    if (flags == list_flags::ACTIVE && !active)
                        || (flags == list_flags::INACTIVE && active)
                    {
                        st.bad(
                            "r.list_all",
                            format!("flags {flags} listed id {}", d.id),
                            d.name.clone(),
                        );
                    }
                }
                // Keep some stale handles around: they must answer NO_DOMAIN.
                known.truncate(8);
                known.extend(list);
                let len = known.len();
                if len > 40 {
                    known.drain(..len - 40);
                }
            }
            continue;
        }
        if pick < 20 {
            match rng.below(3) {
                0 => {
                    let r = timed(c.num_of_domains()).await;
                    st.check("r.num_of", r, Want::Ok, "count")?;
                }
                1 => {
                    let r = timed(c.list_domains(1024)).await;
                    st.check("r.list_ids", r, Want::Ok, "ids")?;
                }
                _ => {
                    let r = timed(c.list_defined_domains(1024)).await;
                    st.check("r.list_defined", r, Want::Ok, "names")?;
                }
            }
            continue;
        }
        let d = known[rng.below(known.len() as u64) as usize].clone();
        let ctx = d.name.as_str();
        match rng.below(9) {
            0 => {
                let r = timed(c.lookup_by_name(&d.name)).await;
                if let Some(x) = st.check("r.lookup_name", r, Want::OkOr(NO), ctx)?
                    && x.name != d.name
                {
                    st.bad("r.lookup_name", "other name".into(), format!("{x:?}"));
                }
            }
            1 => {
                let r = timed(c.lookup_by_uuid(d.uuid)).await;
                if let Some(x) = st.check("r.lookup_uuid", r, Want::OkOr(NO), ctx)?
                    && (x.uuid != d.uuid || x.name != d.name)
                {
                    st.bad("r.lookup_uuid", "other domain".into(), format!("{x:?}"));
                }
            }
            2 => {
                if d.id > 0 {
                    let r = timed(c.lookup_by_id(d.id)).await;
                    if let Some(x) = st.check("r.lookup_id", r, Want::OkOr(NO), ctx)?
                        && x.id != d.id
                    {
                        st.bad("r.lookup_id", "other id".into(), format!("{x:?}"));
                    }
                } else {
                    let r = timed(c.is_active(&d)).await;
                    st.check("r.is_active", r, Want::OkOr(NO), ctx)?;
                }
            }
            3 | 4 => {
                let flags = if rng.below(2) == 0 { 0 } else { XML_INACTIVE };
                let r = timed(c.get_xml_desc(&d, flags)).await;
                if let Some(x) = st.check("r.dumpxml", r, Want::OkOr(NO), ctx)?
                    && (!x.contains(&format!("<name>{}</name>", d.name))
                        || !x.contains(&uuid_str(&d.uuid)))
                {
                    st.bad("r.dumpxml", "other domain's XML".into(), x);
                }
            }
            5 | 6 => {
                let r = timed(c.get_state(&d)).await;
                if let Some(s) = st.check("r.getstate", r, Want::OkOr(NO), ctx)?
                    && !(0..=7).contains(&s.state)
                {
                    st.bad("r.getstate", format!("state {}", s.state), ctx.to_owned());
                }
            }
            7 => {
                let r = timed(c.get_info(&d)).await;
                if let Some(i) = st.check("r.getinfo", r, Want::OkOr(NO), ctx)?
                    && (i.max_mem != MEM_KIB || i.nr_virt_cpu != 1 || i.state > 7)
                {
                    st.bad(
                        "r.getinfo",
                        "info without the definition's figures".into(),
                        format!("{ctx}: {i:?}"),
                    );
                }
            }
            _ => {
                let r = timed(c.is_persistent(&d)).await;
                st.check("r.is_persistent", r, Want::OkOr(NO), ctx)?;
            }
        }
    }
    Ok(())
}

struct PhaseTimes {
    writers: Duration,
    readers: Duration,
    qemu_starts: u64,
}

/// One round: 8 writers and 8 readers at once, each for its fixed count, then every
/// writer drains its domains.
/// The size and shape of a round.
#[derive(Clone)]
struct Plan {
    uri: String,
    prefix: String,
    conf_dir: PathBuf,
    names: Vec<Vec<String>>,
    shared: Arc<Vec<(String, [u8; 16])>>,
    writer_ops: u64,
    reader_ops: u64,
    start_pct: u64,
    shared_pct: u64,
    read_pause: Duration,
}

fn phase(rt: &tokio::runtime::Handle, plan: &Plan, seed: u64, stats: &mut Stats) -> PhaseTimes {
    let uri = plan.uri.as_str();
    let barrier = Arc::new(Barrier::new(WRITERS + READERS));
    let shared = Arc::new(
        rt.block_on(Client::connect_uri(uri, false))
            .expect("connect the shared reader client"),
    );
    let mut writers = Vec::new();
    for (w, slot_names) in plan.names.iter().enumerate() {
        let (rt, plan, b) = (rt.clone(), plan.clone(), barrier.clone());
        let uri = plan.uri.clone();
        let slot_names = slot_names.clone();
        writers.push(std::thread::spawn(move || {
            let c = rt
                .block_on(Client::connect_uri(&uri, false))
                .expect("connect a writer client");
            b.wait();
            let t = Instant::now();
            let mut wr = Writer {
                c: &c,
                slots: slot_names
                    .into_iter()
                    .map(|name| Slot {
                        name,
                        st: St::Absent,
                        handle: None,
                    })
                    .collect(),
                stats: Stats::default(),
                rng: Rng(seed ^ (0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(w as u64 + 1)) | 1),
                start_pct: plan.start_pct,
                qemu_starts: 0,
                conf_dir: plan.conf_dir.clone(),
                shared: &plan.shared,
                shared_pct: plan.shared_pct,
            };
            let _ = rt.block_on(async {
                wr.run(plan.writer_ops).await?;
                wr.drain().await
            });
            (wr.stats, t.elapsed(), wr.qemu_starts)
        }));
    }
    let mut readers = Vec::new();
    for r in 0..READERS {
        let (rt, uri, b) = (rt.clone(), uri.to_owned(), barrier.clone());
        let shared = shared.clone();
        let prefix = plan.prefix.clone();
        let (reader_ops, read_pause) = (plan.reader_ops, plan.read_pause);
        readers.push(std::thread::spawn(move || {
            let own = (r < READERS / 2).then(|| {
                rt.block_on(Client::connect_uri(&uri, true))
                    .expect("connect a reader client")
            });
            let c = own.as_ref().unwrap_or(&shared);
            b.wait();
            let t = Instant::now();
            let st = rt.block_on(reader(
                c,
                reader_ops,
                seed.rotate_left(17 + r as u32) | 1,
                &prefix,
                read_pause,
            ));
            (st, t.elapsed())
        }));
    }
    let mut times = PhaseTimes {
        writers: Duration::ZERO,
        readers: Duration::ZERO,
        qemu_starts: 0,
    };
    for h in writers {
        let (st, t, q) = h.join().expect("writer thread panicked");
        stats.merge(st);
        times.writers = times.writers.max(t);
        times.qemu_starts += q;
    }
    for h in readers {
        let (st, t) = h.join().expect("reader thread panicked");
        stats.merge(st);
        times.readers = times.readers.max(t);
    }
    // The shared domains go too (destroy, then undefine), each answer checked.
    rt.block_on(async {
        let c = &*shared;
        for (name, _) in plan.shared.iter() {
            let Ok(Ok(dom)) = timed(c.lookup_by_name(name)).await else {
                continue;
            };
            if matches!(timed(c.is_active(&dom)).await, Ok(Ok(true))) {
                let r = timed(c.destroy(&dom, 0)).await;
                let _ = stats.check("s.drain", r, Want::Ok, name);
            }
            if let Ok(Ok(dom)) = timed(c.lookup_by_name(name)).await {
                let r = timed(c.undefine(&dom, 0)).await;
                let _ = stats.check("s.drain", r, Want::Ok, name);
            }
        }
    });
    times
}

fn summary(stats: &Stats) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\n{:<18} {:>9} {:>8}", "operation", "count", "errors");
    for (op, n) in &stats.ops {
        let e: u64 = stats
            .errors
            .iter()
            .filter(|((o, _, _), _)| o == op)
            .map(|(_, (n, _))| n)
            .sum();
        let _ = writeln!(s, "{op:<18} {n:>9} {e:>8}");
    }
    let total: u64 = stats.ops.values().sum();
    let _ = writeln!(s, "{:<18} {total:>9}", "total");
    let _ = writeln!(
        s,
        "\n{:<18} {:>5} {:>4} {:>7}  sample message",
        "errors: operation", "code", "dom", "count"
    );
    for ((op, code, dom), (n, msg)) in &stats.errors {
        let _ = writeln!(s, "{op:<18} {code:>5} {dom:>4} {n:>7}  {msg}");
    }
    for (op, n) in &stats.tolerated {
        let _ = writeln!(
            s,
            "\ntolerated: {op} OPERATION_FAILED x{n} (a start killed by a concurrent destroy)"
        );
    }
    if !stats.unexpected.is_empty() {
        let _ = writeln!(s, "\nUNEXPECTED (operation, what, count, sample):");
        for ((op, what), (n, sample)) in &stats.unexpected {
            let _ = writeln!(s, "  {op:<16} {what}  x{n}\n      {sample}");
        }
    }
    s
}

/// Per-domain files of `names` left in the daemon's run and lib directories.
fn leftovers(root: &Path, prefix: &str) -> Vec<String> {
    let mut v = Vec::new();
    for dir in ["run/rvirt/qemu", "var/lib/rvirt/qemu", "etc/rvirt/qemu"] {
        if let Ok(rd) = std::fs::read_dir(root.join(dir)) {
            for e in rd.filter_map(Result::ok) {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.contains(prefix) {
                    v.push(format!("{dir}/{n}"));
                }
            }
        }
    }
    v
}

#[test]
fn qemu_live_soak_writers_and_readers() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    assert!(
        Path::new("/dev/kvm").exists(),
        "/dev/kvm is missing: the soak starts KVM domains (load kvm_intel/kvm_amd)"
    );
    let ops = env_num("RVIRT_SOAK_OPS", 200).max(10);
    let reads = env_num("RVIRT_SOAK_READS", ops * 20).max(10);
    let start_pct = env_num("RVIRT_SOAK_START_PCT", 15).min(40);
    let shared_pct = env_num("RVIRT_SOAK_SHARED_PCT", 25).min(100);
    let seed = env_num(
        "RVIRT_SOAK_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    ) | 1;
    println!(
        "RVIRT_SOAK_SEED={seed} RVIRT_SOAK_OPS={ops} RVIRT_SOAK_READS={reads} \
         RVIRT_SOAK_START_PCT={start_pct} RVIRT_SOAK_SHARED_PCT={shared_pct}: \
         {WRITERS} writers x {SLOTS} own domains + {SHARED} shared, {READERS} readers"
    );
    let t0 = Instant::now();
    let mut d = Daemon::start();
    let prefix = format!("soak{}-", std::process::id());
    let names: Vec<Vec<String>> = (0..WRITERS)
        .map(|w| (0..SLOTS).map(|s| format!("{prefix}w{w}-{s}")).collect())
        .collect();
    let shared: Vec<(String, [u8; 16])> = (0..SHARED)
        .map(|i| {
            (
                format!("{prefix}shared{i}"),
                *uuid::Uuid::new_v4().as_bytes(),
            )
        })
        .collect();
    d.names.extend(names.iter().flatten().cloned());
    d.names.extend(shared.iter().map(|(n, _)| n.clone()));
    let all_names: Vec<String> = d.names.clone();
    let pid = d.child.as_ref().unwrap().id();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let uri = d.uri();
    let mut stats = Stats::default();

    // Start: an idle daemon that has answered a connection.
    rt.block_on(async {
        let c = Client::connect_uri(&uri, true).await.expect("connect");
        assert!(c.list_all_domains(0).await.expect("list").is_empty());
    });
    std::thread::sleep(Duration::from_secs(2));
    let rss_start = rss_kib(pid);

    let warm_ops = (ops / 5).max(10);
    let warm_reads = (reads / 5).max(10);
    let mut plan = Plan {
        uri: uri.clone(),
        prefix: prefix.clone(),
        conf_dir: d.root().join("etc/rvirt/qemu"),
        names,
        shared: Arc::new(shared),
        writer_ops: warm_ops,
        reader_ops: warm_reads,
        start_pct,
        shared_pct,
        read_pause: Duration::from_micros(env_num("RVIRT_SOAK_READ_PAUSE_US", 1000)),
    };
    let warm = phase(rt.handle(), &plan, seed, &mut stats);
    std::thread::sleep(Duration::from_secs(2));
    let rss_warm = rss_kib(pid);

    plan.writer_ops = ops;
    plan.reader_ops = reads;
    let main = phase(rt.handle(), &plan, seed.rotate_left(32) | 1, &mut stats);
    std::thread::sleep(Duration::from_secs(2));
    let rss_end = rss_kib(pid);

    // Nothing left: no domain, no QEMU, no cgroup, no per-domain file.
    let listed = rt
        .block_on(async {
            let c = Client::connect_uri(&uri, true).await?;
            c.list_all_domains(0).await
        })
        .expect("final list");
    let qemus = wait_until(Duration::from_secs(10), || {
        d.qemu_pids().is_empty().then_some(())
    });
    let cgroups_gone = wait_until(Duration::from_secs(15), || {
        all_names
            .iter()
            .all(|n| daemon_support::cgroup_dirs(n).is_empty())
            .then_some(())
    });
    let cgroups: Vec<_> = all_names
        .iter()
        .flat_map(|n| daemon_support::cgroup_dirs(n))
        .collect();
    let files = leftovers(d.root(), &prefix);
    let alive = d.child.as_mut().unwrap().try_wait().unwrap().is_none();

    let table = summary(&stats);
    println!("{table}");
    println!(
        "warm-up: {warm_ops} ops/writer in {:?}, {warm_reads} reads/reader in {:?}, {} QEMU starts",
        warm.writers, warm.readers, warm.qemu_starts
    );
    println!(
        "main:    {ops} ops/writer in {:?}, {reads} reads/reader in {:?}, {} QEMU starts",
        main.writers, main.readers, main.qemu_starts
    );
    println!(
        "rvirtd VmRSS: start {rss_start} KiB, after warm-up {rss_warm} KiB, end {rss_end} KiB \
         (end - warm-up = {} KiB; bound {RSS_SLACK_KIB} KiB)",
        rss_end as i64 - rss_warm as i64
    );
    println!("total {:?}", t0.elapsed());

    let mut failures = Vec::new();
    let count = |code: ErrorCode| -> u64 {
        stats
            .errors
            .iter()
            .filter(|((_, c, _), _)| *c == code.0)
            .map(|(_, (n, _))| n)
            .sum()
    };
    let internal = count(ErrorCode::INTERNAL_ERROR);
    if internal > 0 {
        failures.push(format!("{internal} INTERNAL_ERROR (1) answers"));
    }
    let tolerated: u64 = stats.tolerated.values().sum();
    let failed = count(ErrorCode::OPERATION_FAILED) - tolerated;
    if failed > 0 {
        failures.push(format!("{failed} OPERATION_FAILED (9) answers"));
    }
    let n = stats.unexpected_total();
    if n > 0 {
        failures.push(format!("{n} unexpected answers (see UNEXPECTED above)"));
    }
    if rss_end > rss_warm + RSS_SLACK_KIB {
        failures.push(format!(
            "rvirtd RSS grew from {rss_warm} KiB after warm-up to {rss_end} KiB"
        ));
    }
    if !listed.is_empty() {
        failures.push(format!("domains left: {listed:?}"));
    }
    if qemus.is_none() {
        failures.push(format!("QEMU left running: {:?}", d.qemu_pids()));
    }
    if cgroups_gone.is_none() {
        failures.push(format!("cgroup directories left: {cgroups:?}"));
    }
    if !files.is_empty() {
        failures.push(format!("per-domain files left: {files:?}"));
    }
    if !alive {
        failures.push("rvirtd exited during the soak".into());
    }
    assert!(
        failures.is_empty(),
        "soak failed (RVIRT_SOAK_SEED={seed}):\n  {}\ndaemon log tail:\n{}",
        failures.join("\n  "),
        d.log_tail()
    );
}
