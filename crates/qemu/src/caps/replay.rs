//! Capabilities from a recorded QMP session instead of a running emulator.
//!
//! libvirt's test suite ships the QMP conversation of its own capability probe
//! (`tests/qemucapabilitiesdata/caps_*.replies`: each command followed by its reply).
//! [`replay_replies`] answers our probe's queries ([`super::probe`]'s list) from such a
//! recording and then runs the same decoding as a live probe (`assemble`), so nothing is
//! converted by hand. libvirt asks a few things differently from us; where a query of
//! ours has no recorded answer, the nearest recorded one stands in and the substitution
//! is reported in [`Replayed::substitutions`] (never silently).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use super::Capabilities;
use super::probe::{RawAnswers, abstract_classes, assemble, queries};

/// Why a recording could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The recording is not a sequence of JSON objects.
    #[error("recording: JSON object {index}: {source}")]
    Json {
        /// Which object (0-based) failed to parse.
        index: usize,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// A query we need has no recorded answer and nothing can stand in for it.
    #[error("recording has no answer to {0}")]
    Missing(String),
    /// A recorded answer failed to decode.
    #[error("recorded answer to {query} does not decode: {source}")]
    Decode {
        /// The query.
        query: String,
        /// The decoder's complaint.
        #[source]
        source: serde_json::Error,
    },
}

/// Capabilities replayed from a recording, and what stood in for queries it lacks.
#[derive(Debug)]
pub struct Replayed {
    pub caps: Capabilities,
    /// One line per query of ours answered from a different recorded query.
    pub substitutions: Vec<String>,
}

/// The recorded answers, keyed by command and arguments (`null` when none).
struct Recording {
    answers: BTreeMap<(String, String), Value>,
}

impl Recording {
    fn parse(text: &str) -> Result<Self, ReplayError> {
        let mut answers = BTreeMap::new();
        let mut pending: Option<(String, String)> = None;
        let stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        for (index, item) in stream.enumerate() {
            let v = item.map_err(|source| ReplayError::Json { index, source })?;
            if let Some(cmd) = v.get("execute").and_then(Value::as_str) {
                let args = v.get("arguments").cloned().unwrap_or(Value::Null);
                pending = Some((cmd.to_owned(), args.to_string()));
            } else if let Some(key) = pending.take() {
                // The first answer wins: libvirt repeats some queries under a second
                // accelerator at the end of a recording (TCG after KVM).
                if let Some(ret) = v.get("return") {
                    answers.entry(key).or_insert_with(|| ret.clone());
                }
            }
        }
        Ok(Recording { answers })
    }

    fn get(&self, command: &str, args: &Option<Value>) -> Option<&Value> {
        let args = args.clone().unwrap_or(Value::Null).to_string();
        self.answers.get(&(command.to_owned(), args))
    }
}

/// Replays a libvirt `.replies` recording through our probe's decoding.
pub fn replay_replies(emulator: &Path, text: &str) -> Result<Replayed, ReplayError> {
    let rec = Recording::parse(text)?;
    let mut raw = RawAnswers::default();
    let mut substitutions = Vec::new();
    // libvirt lists all concrete types once (`qom-list-types` without arguments), with
    // their parents; abstract types are not in it.
    let all_types = rec.get("qom-list-types", &None).cloned();
    for (field, command, args) in queries() {
        if let Some(v) = rec.get(command, &args) {
            *raw.slot(field) = v.clone();
            continue;
        }
        let asked = format!("{command} {}", args.clone().unwrap_or(Value::Null));
        let (value, why) = match field {
            // `abstract: false` is QEMU's default, so the plain listing is the same answer.
            "all_types" => (
                all_types.clone(),
                "the recorded qom-list-types (same answer)",
            ),
            "accel_types" => (
                all_types
                    .as_ref()
                    .map(|t| filter_names(t, |n| n.ends_with("-accel"))),
                "concrete types named *-accel from the recorded qom-list-types",
            ),
            // Without the abstract parents the `device` interface cannot be traced, so
            // every concrete type that is not a machine, accelerator or CPU counts as a
            // device: an over-approximation the planner only ever asks about by the
            // name of a real device.
            "device_types" => (
                all_types.as_ref().map(|t| {
                    filter_names(t, |n| {
                        !n.ends_with("-machine") && !n.ends_with("-accel") && !n.ends_with("-cpu")
                    })
                }),
                "concrete types of the recorded qom-list-types other than machines, accelerators and CPUs",
            ),
            "commands" => (
                rec.get("query-qmp-schema", &None).map(schema_commands),
                "the commands of the recorded query-qmp-schema",
            ),
            // The machine types with their parents, plus the abstract classes libvirt
            // asked qom-list-properties about (so the second round finds them).
            "machine_types" => (
                all_types.as_ref().map(|t| machine_types(t, &rec)),
                "types named *-machine of the recorded qom-list-types, with the abstract classes libvirt listed properties of",
            ),
            _ => (None, ""),
        };
        let Some(value) = value else {
            return Err(ReplayError::Missing(asked));
        };
        substitutions.push(format!("{asked}: {why}"));
        *raw.slot(field) = value;
    }
    for class in abstract_classes(&raw.machine_types) {
        let args = Some(json!({ "typename": class }));
        match rec.get("qom-list-properties", &args) {
            Some(v) => {
                raw.machine_class_props.insert(class, v.clone());
            }
            None => substitutions.push(format!(
                "qom-list-properties {class}: not recorded; its machines have no known properties"
            )),
        }
    }
    let caps =
        assemble(emulator, raw).map_err(|(query, source)| ReplayError::Decode { query, source })?;
    Ok(Replayed {
        caps,
        substitutions,
    })
}

fn filter_names(types: &Value, keep: impl Fn(&str) -> bool) -> Value {
    Value::Array(
        types
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t.get("name").and_then(Value::as_str).is_some_and(&keep))
            .cloned()
            .collect(),
    )
}

fn schema_commands(schema: &Value) -> Value {
    Value::Array(
        schema
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e.get("meta-type").and_then(Value::as_str) == Some("command"))
            .filter_map(|e| Some(json!({ "name": e.get("name")?.as_str()? })))
            .collect(),
    )
}

fn machine_types(types: &Value, rec: &Recording) -> Value {
    let mut list: Vec<Value> = types
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| {
            t.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.ends_with("-machine"))
        })
        .cloned()
        .collect();
    for (command, args) in rec.answers.keys() {
        if command != "qom-list-properties" {
            continue;
        }
        let Ok(Value::Object(a)) = serde_json::from_str::<Value>(args) else {
            continue;
        };
        let Some(name) = a.get("typename").and_then(Value::as_str) else {
            continue;
        };
        let listed = list
            .iter()
            .any(|t| t.get("name").and_then(Value::as_str) == Some(name));
        if name.ends_with("-machine") && !listed {
            list.push(json!({ "name": name, "abstract": true }));
        }
    }
    Value::Array(list)
}
