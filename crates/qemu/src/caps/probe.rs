//! Starting an emulator and asking it what it supports.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::os::fd::AsFd;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use super::{Capabilities, CapsError, CpuModel, KvmState, MachineType, flags};
use crate::qmp::{self, Greeting, QemuVersion, QmpClient, QmpConfig, QmpError};

/// How much of the emulator's stderr is kept for error messages.
const STDERR_LIMIT: usize = 16 * 1024;

/// Something that can produce [`Capabilities`] for an emulator. The cache
/// takes one so tests can count or fake probes.
pub trait Prober {
    /// Probes `emulator`.
    fn probe(
        &self,
        emulator: &Path,
    ) -> impl Future<Output = Result<Capabilities, CapsError>> + Send;
}

/// Probes by running the emulator (`-machine none -S`) and querying QMP.
#[derive(Debug, Clone)]
pub struct QemuProber {
    /// Upper bound for the whole probe, from spawn to the last answer.
    pub timeout: Duration,
    /// Run the probe QEMU with `-accel kvm -accel tcg` (falls back to TCG if
    /// KVM is unusable) rather than TCG only. With KVM, CPU model usability
    /// is reported for KVM, which is what guests will run with.
    pub try_kvm: bool,
}

impl Default for QemuProber {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            try_kvm: true,
        }
    }
}

impl Prober for QemuProber {
    fn probe(
        &self,
        emulator: &Path,
    ) -> impl Future<Output = Result<Capabilities, CapsError>> + Send {
        run_probe(self.clone(), emulator.to_owned())
    }
}

/// The raw answers of one probe, one field per query.
#[derive(Debug, Default)]
pub(crate) struct RawAnswers {
    pub(crate) version: Value,
    pub(crate) target: Value,
    pub(crate) kvm: Value,
    pub(crate) machines: Value,
    pub(crate) accel_types: Value,
    pub(crate) device_types: Value,
    pub(crate) all_types: Value,
    pub(crate) command_line_options: Value,
    pub(crate) commands: Value,
    pub(crate) cpu_definitions: Value,
    pub(crate) schema: Value,
    /// `qom-list-types` of every machine type, abstract ones included.
    pub(crate) machine_types: Value,
    /// `qom-list-properties` of each abstract machine class, by class name
    /// (asked in a second round, once the classes are known).
    pub(crate) machine_class_props: BTreeMap<String, Value>,
    /// Full expansion of `-cpu host` with `hv-passthrough`, asked only when
    /// the probe runs with KVM on x86 (`None` otherwise or if QEMU refuses).
    pub(crate) host_cpu_full: Option<Value>,
}

/// The queries: (field of [`RawAnswers`], command, arguments).
fn queries() -> [(&'static str, &'static str, Option<Value>); 12] {
    [
        ("version", "query-version", None),
        ("target", "query-target", None),
        ("kvm", "query-kvm", None),
        ("machines", "query-machines", None),
        (
            "accel_types",
            "qom-list-types",
            Some(json!({"implements": "accel"})),
        ),
        (
            "device_types",
            "qom-list-types",
            Some(json!({"implements": "device"})),
        ),
        (
            "all_types",
            "qom-list-types",
            Some(json!({"abstract": false})),
        ),
        ("command_line_options", "query-command-line-options", None),
        ("commands", "query-commands", None),
        ("cpu_definitions", "query-cpu-definitions", None),
        ("schema", "query-qmp-schema", None),
        (
            "machine_types",
            "qom-list-types",
            Some(json!({"implements": "machine", "abstract": true})),
        ),
    ]
}

impl RawAnswers {
    fn slot(&mut self, field: &str) -> &mut Value {
        match field {
            "version" => &mut self.version,
            "target" => &mut self.target,
            "kvm" => &mut self.kvm,
            "machines" => &mut self.machines,
            "accel_types" => &mut self.accel_types,
            "device_types" => &mut self.device_types,
            "all_types" => &mut self.all_types,
            "command_line_options" => &mut self.command_line_options,
            "commands" => &mut self.commands,
            "cpu_definitions" => &mut self.cpu_definitions,
            "machine_types" => &mut self.machine_types,
            _ => &mut self.schema,
        }
    }
}

struct ProbeFailure {
    query: String,
    source: QmpError,
}

/// Sends every command at once (QEMU answers in order, replies are matched by
/// id) and collects the answers in the same order, each with the name the
/// failure would carry.
async fn pipeline(
    client: &QmpClient,
    batch: Vec<(String, &'static str, Option<Value>)>,
) -> Result<Vec<(String, Result<Value, QmpError>)>, ProbeFailure> {
    let pending: Vec<_> = batch
        .into_iter()
        .map(|(label, command, args)| {
            let client = client.clone();
            let task = tokio::spawn(async move { client.execute(command, args).await });
            (label, task)
        })
        .collect();
    let mut answers = Vec::with_capacity(pending.len());
    for (label, task) in pending {
        match task.await {
            Ok(result) => answers.push((label, result)),
            Err(join) => {
                return Err(ProbeFailure {
                    query: label,
                    source: QmpError::Disconnected(qmp::DisconnectReason::Io(join.to_string())),
                });
            }
        }
    }
    Ok(answers)
}

async fn ask(client: &QmpClient) -> Result<RawAnswers, ProbeFailure> {
    let batch = queries()
        .into_iter()
        .map(|(_, command, args)| (command.to_owned(), command, args))
        .collect();
    let mut raw = RawAnswers::default();
    for ((command, result), (field, _, _)) in
        pipeline(client, batch).await?.into_iter().zip(queries())
    {
        let value = match result {
            Ok(v) => v,
            // Not every target implements CPU model queries.
            Err(QmpError::Command { ref class, .. })
                if class == "CommandNotFound" && field == "cpu_definitions" =>
            {
                Value::Array(Vec::new())
            }
            Err(source) => {
                return Err(ProbeFailure {
                    query: command,
                    source,
                });
            }
        };
        *raw.slot(field) = value;
    }
    // Second round: the properties of the abstract machine classes, which
    // every concrete machine type inherits.
    let batch = abstract_classes(&raw.machine_types)
        .into_iter()
        .map(|class| {
            let args = json!({ "typename": class });
            (class, "qom-list-properties", Some(args))
        })
        .collect();
    for (class, result) in pipeline(client, batch).await? {
        let value = result.map_err(|source| ProbeFailure {
            query: format!("qom-list-properties {class}"),
            source,
        })?;
        raw.machine_class_props.insert(class, value);
    }
    // Third: what KVM offers of Hyper-V, as libvirt asks it (a full
    // expansion of the host CPU with every enlightenment passed through).
    // A refusal only means the answer is unknown.
    let kvm_on = raw.kvm.get("enabled").and_then(Value::as_bool) == Some(true);
    let x86 = matches!(
        raw.target.get("arch").and_then(Value::as_str),
        Some("x86_64" | "i386")
    );
    if kvm_on && x86 {
        let args = json!({
            "type": "full",
            "model": {"name": "host", "props": {"migratable": false, "hv-passthrough": true}},
        });
        raw.host_cpu_full = client
            .execute("query-cpu-model-expansion", Some(args))
            .await
            .ok();
    }
    Ok(raw)
}

/// `query-cpu-definitions` of a TCG-only QEMU (best effort: `None` if it
/// cannot be asked).
async fn tcg_cpu_definitions(prober: &QemuProber, emulator: &Path) -> Option<Value> {
    let tcg = QemuProber {
        try_kvm: false,
        ..prober.clone()
    };
    let (mut child, stream) = spawn_probe_qemu(&tcg, emulator).ok()?;
    let config = QmpConfig {
        command_timeout: prober.timeout,
        ..QmpConfig::default()
    };
    let session = async {
        let (client, _events) = QmpClient::from_stream(stream, config).await.ok()?;
        let defs = client.execute("query-cpu-definitions", None).await.ok();
        let _ = client
            .execute_timeout("quit", None, Duration::from_secs(5))
            .await;
        defs
    };
    let defs = tokio::time::timeout(prober.timeout, session)
        .await
        .ok()
        .flatten();
    if tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .is_err()
    {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    defs
}

/// The `hv-` properties of a full CPU model expansion that are on: `true`,
/// a number above zero, or any string (libvirt's reading).
fn hyperv_from_expansion(v: &Value) -> BTreeSet<String> {
    v.get("model")
        .and_then(|m| m.get("props"))
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .filter_map(|(k, v)| {
                    let name = k.strip_prefix("hv-")?;
                    let on = match v {
                        Value::Bool(b) => *b,
                        Value::Number(n) => n.as_f64().is_some_and(|f| f > 0.0),
                        Value::String(_) => true,
                        _ => false,
                    };
                    on.then(|| name.to_owned())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Names of the abstract types in a `qom-list-types` answer.
fn abstract_classes(types: &Value) -> Vec<String> {
    types
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t.get("abstract").and_then(Value::as_bool) == Some(true))
        .filter_map(|t| Some(t.get("name")?.as_str()?.to_owned()))
        .collect()
}

async fn collect_stderr(mut stderr: tokio::process::ChildStderr) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = STDERR_LIMIT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// Starts the emulator with a QMP monitor on one end of a socketpair;
/// returns the child and our end.
fn spawn_probe_qemu(
    prober: &QemuProber,
    emulator: &Path,
) -> Result<(tokio::process::Child, tokio::net::UnixStream), CapsError> {
    let spawn_err = |source| CapsError::Spawn {
        path: emulator.to_owned(),
        source,
    };
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(spawn_err)?;
    let mut cmd = std::process::Command::new(emulator);
    cmd.env_clear()
        .env("LC_ALL", "C")
        .args([
            "-S",
            "-no-user-config",
            "-nodefaults",
            "-display",
            "none",
            "-machine",
            "none",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if prober.try_kvm {
        cmd.args(["-accel", "kvm"]);
    }
    cmd.args(["-accel", "tcg"]);
    let fd = qmp::inherit_fd(&mut cmd, theirs.as_fd());
    cmd.arg("-chardev")
        .arg(format!("socket,id=mon,fd={fd}"))
        .args(["-mon", "chardev=mon,mode=control"]);
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    let child = cmd.spawn().map_err(spawn_err)?;
    drop(theirs);
    ours.set_nonblocking(true).map_err(spawn_err)?;
    let stream = tokio::net::UnixStream::from_std(ours).map_err(spawn_err)?;
    Ok((child, stream))
}

/// The QMP session of a probe: the handshake, every query, then `quit`.
async fn ask_and_quit(
    stream: tokio::net::UnixStream,
    config: QmpConfig,
) -> Result<(RawAnswers, Greeting), ProbeFailure> {
    let (client, _events) = QmpClient::from_stream(stream, config)
        .await
        .map_err(|source| ProbeFailure {
            query: "<greeting>".into(),
            source,
        })?;
    let raw = ask(&client).await?;
    let greeting = client.greeting().clone();
    // Best effort: QEMU exits on `quit`; a kill below covers the rest.
    let _ = client
        .execute_timeout("quit", None, Duration::from_secs(5))
        .await;
    Ok((raw, greeting))
}

async fn run_probe(
    prober: QemuProber,
    emulator: std::path::PathBuf,
) -> Result<Capabilities, CapsError> {
    let (mut child, stream) = spawn_probe_qemu(&prober, &emulator)?;
    let stderr = child.stderr.take().map(|s| tokio::spawn(collect_stderr(s)));
    let config = QmpConfig {
        command_timeout: prober.timeout,
        ..QmpConfig::default()
    };
    let outcome = tokio::time::timeout(prober.timeout, ask_and_quit(stream, config)).await;

    let exited = matches!(outcome, Ok(Ok(_)))
        && tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .is_ok();
    if !exited {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    let stderr = async {
        match stderr {
            Some(h) => tokio::time::timeout(Duration::from_secs(2), h)
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default(),
            None => String::new(),
        }
    };
    match outcome {
        Err(_) => Err(CapsError::Timeout {
            path: emulator.clone(),
            timeout: prober.timeout,
            stderr: stderr.await,
        }),
        Ok(Err(ProbeFailure { query, source })) => Err(CapsError::Query {
            path: emulator.clone(),
            query,
            source: Box::new(source),
            stderr: stderr.await,
        }),
        Ok(Ok((raw, greeting))) => {
            let mut caps =
                assemble(&emulator, raw).map_err(|(query, source)| CapsError::Query {
                    path: emulator.clone(),
                    query: query.clone(),
                    source: Box::new(QmpError::Decode {
                        command: query,
                        source,
                    }),
                    stderr: String::new(),
                })?;
            if caps.package.is_empty() {
                caps.package = greeting.package;
            }
            // Under KVM the models' usability is KVM's; domains of type
            // `qemu` need TCG's, which only a TCG-only QEMU can tell.
            if caps.probe_accel == "kvm" && caps.accelerators.contains("tcg") {
                caps.tcg_unavailable = tcg_cpu_definitions(&prober, &emulator)
                    .await
                    .and_then(|v| serde_json::from_value::<Vec<CpuDef>>(v).ok())
                    .map(|defs| {
                        defs.into_iter()
                            .map(|d| (d.name, d.unavailable_features))
                            .collect()
                    });
            }
            Ok(caps)
        }
    }
}

fn decode<T: DeserializeOwned>(query: &str, v: Value) -> Result<T, (String, serde_json::Error)> {
    serde_json::from_value(v).map_err(|e| (query.to_owned(), e))
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

fn names(query: &str, v: Value) -> Result<BTreeSet<String>, (String, serde_json::Error)> {
    let list: Vec<Named> = decode(query, v)?;
    Ok(list.into_iter().map(|n| n.name).collect())
}

/// `query-version`.
#[derive(Deserialize)]
struct Version {
    qemu: QemuVersion,
    #[serde(default)]
    package: String,
}

/// `query-target`.
#[derive(Deserialize)]
struct Target {
    arch: String,
}

/// One entry of `query-machines`.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Machine {
    name: String,
    alias: Option<String>,
    #[serde(default)]
    is_default: bool,
    #[serde(default)]
    cpu_max: u32,
    #[serde(default)]
    deprecated: bool,
    #[serde(default)]
    hotpluggable_cpus: bool,
    #[serde(default)]
    numa_mem_supported: bool,
    default_cpu_type: Option<String>,
    default_ram_id: Option<String>,
    acpi: Option<bool>,
}

impl Machine {
    fn into_machine_type(self, properties: BTreeSet<String>) -> MachineType {
        MachineType {
            properties,
            name: self.name,
            alias: self.alias,
            is_default: self.is_default,
            cpu_max: self.cpu_max,
            deprecated: self.deprecated,
            hotpluggable_cpus: self.hotpluggable_cpus,
            numa_mem_supported: self.numa_mem_supported,
            default_cpu_type: self.default_cpu_type,
            default_ram_id: self.default_ram_id,
            acpi: self.acpi,
        }
    }
}

/// One entry of `qom-list-types` with parents.
#[derive(Deserialize)]
struct QomType {
    name: String,
    parent: Option<String>,
}

/// One entry of `query-cpu-definitions`.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct CpuDef {
    name: String,
    typename: Option<String>,
    alias_of: Option<String>,
    #[serde(default)]
    unavailable_features: Vec<String>,
    #[serde(default, rename = "static")]
    static_: bool,
    #[serde(default)]
    migration_safe: bool,
    #[serde(default)]
    deprecated: bool,
}

impl From<CpuDef> for CpuModel {
    fn from(c: CpuDef) -> Self {
        CpuModel {
            name: c.name,
            typename: c.typename,
            alias_of: c.alias_of,
            unavailable_features: c.unavailable_features,
            static_: c.static_,
            migration_safe: c.migration_safe,
            deprecated: c.deprecated,
        }
    }
}

/// One parameter of a `query-command-line-options` option.
#[derive(Deserialize)]
struct Param {
    name: String,
    #[serde(rename = "type", default)]
    ty: String,
}

/// One option of `query-command-line-options`.
#[derive(Deserialize)]
struct CmdlineOption {
    option: String,
    parameters: Vec<Param>,
}

/// The machine QOM types with their parents, and the class properties of
/// the abstract ones the probe asked about.
struct MachineClasses {
    parents: BTreeMap<String, String>,
    class_props: BTreeMap<String, BTreeSet<String>>,
}

impl MachineClasses {
    fn decode(
        machine_types: Value,
        machine_class_props: BTreeMap<String, Value>,
    ) -> Result<Self, (String, serde_json::Error)> {
        // An emulator without machine classes (or a cache of an older probe)
        // answers nothing here; its machines then have no known properties.
        let machine_types: Vec<QomType> = if machine_types.is_null() {
            Vec::new()
        } else {
            decode("qom-list-types", machine_types)?
        };
        let mut class_props = BTreeMap::new();
        for (class, props) in machine_class_props {
            class_props.insert(class, names("qom-list-properties", props)?);
        }
        let parents = machine_types
            .into_iter()
            .filter_map(|t| Some((t.name, t.parent?)))
            .collect();
        Ok(MachineClasses {
            parents,
            class_props,
        })
    }

    /// The `-machine` properties of a machine type. The nearest abstract
    /// ancestor's class properties include everything inherited; the walk
    /// is bounded in case of a malformed answer.
    fn properties(&self, machine: &str) -> BTreeSet<String> {
        let mut ty = format!("{machine}-machine");
        for _ in 0..16 {
            let Some(parent) = self.parents.get(ty.as_str()) else {
                break;
            };
            if let Some(props) = self.class_props.get(parent) {
                return props.clone();
            }
            ty = parent.clone();
        }
        BTreeSet::new()
    }
}

/// Turns raw answers into [`Capabilities`], deriving the flags.
pub(crate) fn assemble(
    emulator: &Path,
    raw: RawAnswers,
) -> Result<Capabilities, (String, serde_json::Error)> {
    let version: Version = decode("query-version", raw.version)?;
    let target: Target = decode("query-target", raw.target)?;
    let kvm: KvmState = decode("query-kvm", raw.kvm)?;
    let machines: Vec<Machine> = decode("query-machines", raw.machines)?;
    let accelerators: BTreeSet<String> = names("qom-list-types", raw.accel_types)?
        .into_iter()
        .filter_map(|n| n.strip_suffix("-accel").map(str::to_owned))
        .collect();
    let devices = names("qom-list-types", raw.device_types)?;
    let object_types = names("qom-list-types", raw.all_types)?;
    let options: Vec<CmdlineOption> =
        decode("query-command-line-options", raw.command_line_options)?;
    let commands = names("query-commands", raw.commands)?;
    let cpus: Vec<CpuDef> = decode("query-cpu-definitions", raw.cpu_definitions)?;
    let schema: Vec<Value> = decode("query-qmp-schema", raw.schema)?;
    let classes = MachineClasses::decode(raw.machine_types, raw.machine_class_props)?;

    let mut caps = Capabilities {
        emulator: emulator.to_owned(),
        qemu_version: version.qemu,
        package: version.package,
        arch: target.arch,
        probe_accel: if kvm.enabled { "kvm" } else { "tcg" }.to_owned(),
        kvm,
        accelerators,
        machines: machines
            .into_iter()
            .map(|m| {
                let properties = classes.properties(&m.name);
                m.into_machine_type(properties)
            })
            .collect(),
        devices,
        object_types,
        commands,
        command_line_options: options
            .into_iter()
            .map(|o| {
                let params: BTreeMap<String, String> =
                    o.parameters.into_iter().map(|p| (p.name, p.ty)).collect();
                (o.option, params)
            })
            .collect(),
        cpu_models: cpus.into_iter().map(CpuModel::from).collect(),
        flags: BTreeSet::new(),
        hyperv: raw.host_cpu_full.as_ref().map(hyperv_from_expansion),
        tcg_unavailable: None,
    };
    caps.machines.sort_by(|a, b| a.name.cmp(&b.name));
    caps.cpu_models.sort_by(|a, b| a.name.cmp(&b.name));
    caps.flags = derive_flags(&caps, &Schema::new(&schema));
    Ok(caps)
}

fn derive_flags(caps: &Capabilities, schema: &Schema<'_>) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    let mut flag = |on: bool, name: &str| {
        if on {
            set.insert(name.to_owned());
        }
    };
    flag(caps.kvm.present && caps.kvm.enabled, flags::KVM);
    flag(caps.accelerators.contains("tcg"), flags::TCG);
    flag(caps.sandbox_supported(), flags::SECCOMP_SANDBOX);
    flag(
        caps.has_command("blockdev-add")
            && (caps.has_command("blockdev-reopen") || caps.has_command("x-blockdev-reopen")),
        flags::BLOCKDEV,
    );
    flag(
        schema.command_has_feature("device_add", "json-cli-hotplug"),
        flags::DEVICE_JSON,
    );
    flag(
        schema.arg_enum_has("object-add", "qom-type", "secret"),
        flags::OBJECT_JSON,
    );
    flag(
        schema.arg_enum_has("netdev_add", "type", "dgram"),
        flags::NETDEV_JSON,
    );
    flag(
        schema.arg_enum_has("netdev_add", "type", "stream"),
        flags::NETDEV_STREAM,
    );
    flag(schema.any_feature("deprecated"), flags::COMPAT_DEPRECATED);
    set
}

/// Minimal view of `query-qmp-schema` for the few questions we ask of it.
struct Schema<'a> {
    by_name: BTreeMap<&'a str, &'a Value>,
}

impl<'a> Schema<'a> {
    fn new(entries: &'a [Value]) -> Self {
        Self {
            by_name: entries
                .iter()
                .filter_map(|e| Some((e.get("name")?.as_str()?, e)))
                .collect(),
        }
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.by_name.get(name).copied()
    }

    /// Whether any entry (command, type or member) carries `feature`.
    fn any_feature(&self, feature: &str) -> bool {
        let has = |v: &Value| {
            v.get("features")
                .and_then(Value::as_array)
                .is_some_and(|f| f.iter().any(|x| x.as_str() == Some(feature)))
        };
        self.by_name.values().any(|e| {
            has(e)
                || e.get("members")
                    .and_then(Value::as_array)
                    .is_some_and(|ms| ms.iter().any(has))
        })
    }

    fn command_has_feature(&self, command: &str, feature: &str) -> bool {
        self.get(command)
            .and_then(|c| c.get("features")?.as_array())
            .is_some_and(|f| f.iter().any(|x| x.as_str() == Some(feature)))
    }

    /// Whether the command's argument `member` is an enum containing
    /// `value` (also true when `member` is the union tag and `value` one of
    /// its variants).
    fn arg_enum_has(&self, command: &str, member: &str, value: &str) -> bool {
        let Some(args) = self
            .get(command)
            .and_then(|c| c.get("arg-type")?.as_str())
            .and_then(|t| self.get(t))
        else {
            return false;
        };
        let ty = args
            .get("members")
            .and_then(Value::as_array)
            .and_then(|ms| {
                ms.iter()
                    .find(|m| m.get("name").and_then(Value::as_str) == Some(member))
            })
            .and_then(|m| m.get("type")?.as_str())
            .and_then(|t| self.get(t));
        let in_enum = ty
            .and_then(|t| t.get("values")?.as_array())
            .is_some_and(|vs| vs.iter().any(|v| v.as_str() == Some(value)));
        let is_variant = args.get("tag").and_then(Value::as_str) == Some(member)
            && args
                .get("variants")
                .and_then(Value::as_array)
                .is_some_and(|vs| {
                    vs.iter()
                        .any(|v| v.get("case").and_then(Value::as_str) == Some(value))
                });
        in_enum || is_variant
    }
}
