//! A small ordered JSON value for `-device`/`-object`/`-blockdev` arguments.
//!
//! libvirt prints object members in the order it adds them, and golden files
//! compare text, so member order matters. `serde_json`'s map is sorted unless
//! the workspace-wide `preserve_order` feature is on, which would change the
//! output of other crates; this type keeps insertion order locally and uses
//! `serde_json` only to escape strings.

/// One JSON value with object members in insertion order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Str(String),
    Obj(Obj),
    Arr(Vec<Json>),
}

/// A JSON object whose members keep the order they were set in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Obj(pub Vec<(String, Json)>);

impl Obj {
    pub fn new() -> Obj {
        Obj(Vec::new())
    }

    /// Sets `key`, replacing an existing member in place or appending.
    pub fn set(&mut self, key: &str, value: impl Into<Json>) -> &mut Obj {
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key.to_owned(), value)),
        }
        self
    }

    /// Builder form of [`Obj::set`].
    pub fn with(mut self, key: &str, value: impl Into<Json>) -> Obj {
        self.set(key, value);
        self
    }

    /// Builder form that skips `None`.
    pub fn with_opt<V: Into<Json>>(mut self, key: &str, value: Option<V>) -> Obj {
        if let Some(v) = value {
            self.set(key, v);
        }
        self
    }

    pub fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }

    pub fn get(&self, key: &str) -> Option<&Json> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Compact JSON text, as libvirt prints it (`{"a":1,"b":"x"}`).
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        write_obj(self, &mut out);
        out
    }

    /// QemuOpts text (`driver,key=value,...`) for emulators without JSON
    /// `-device`/`-object`: `first` is printed bare (the driver or qom-type).
    pub fn to_opts(&self, first: &str) -> String {
        let mut parts = Vec::new();
        if let Some(v) = self.get(first) {
            parts.push(opts_value(v));
        }
        for (k, v) in &self.0 {
            if k == first {
                continue;
            }
            parts.push(format!("{k}={}", opts_value(v)));
        }
        parts.join(",")
    }
}

fn opts_value(v: &Json) -> String {
    match v {
        Json::Null => String::new(),
        Json::Bool(b) => if *b { "on" } else { "off" }.to_owned(),
        Json::Int(i) => i.to_string(),
        Json::UInt(u) => u.to_string(),
        Json::Str(s) => s.replace(',', ",,"),
        Json::Obj(o) => o.to_json(),
        // Lists exist only in JSON (-object of QEMUs with QAPI'd objects); the
        // JSON text is the nearest QemuOpts spelling.
        Json::Arr(a) => {
            let mut out = String::new();
            write_value(&Json::Arr(a.clone()), &mut out);
            out
        }
    }
}

fn write_obj(o: &Obj, out: &mut String) {
    out.push('{');
    for (i, (k, v)) in o.0.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(k, out);
        out.push(':');
        write_value(v, out);
    }
    out.push('}');
}

fn write_str(s: &str, out: &mut String) {
    out.push_str(&serde_json::Value::String(s.to_owned()).to_string());
}

fn write_value(v: &Json, out: &mut String) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Int(i) => out.push_str(&i.to_string()),
        Json::UInt(u) => out.push_str(&u.to_string()),
        Json::Str(s) => write_str(s, out),
        Json::Obj(o) => write_obj(o, out),
        Json::Arr(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(v, out);
            }
            out.push(']');
        }
    }
}

impl From<bool> for Json {
    fn from(b: bool) -> Json {
        Json::Bool(b)
    }
}
impl From<i64> for Json {
    fn from(i: i64) -> Json {
        Json::Int(i)
    }
}
impl From<u64> for Json {
    fn from(u: u64) -> Json {
        Json::UInt(u)
    }
}
impl From<u32> for Json {
    fn from(u: u32) -> Json {
        Json::UInt(u64::from(u))
    }
}
impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json::Str(s.to_owned())
    }
}
impl From<String> for Json {
    fn from(s: String) -> Json {
        Json::Str(s)
    }
}
impl From<&String> for Json {
    fn from(s: &String) -> Json {
        Json::Str(s.clone())
    }
}
impl From<Obj> for Json {
    fn from(o: Obj) -> Json {
        Json::Obj(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_escapes() {
        let mut o = Obj::new()
            .with("driver", "isa-serial")
            .with("id", "a\"b")
            .with("index", 0u32)
            .with("on", true);
        o.set("driver", "x");
        assert_eq!(
            o.to_json(),
            r#"{"driver":"x","id":"a\"b","index":0,"on":true}"#
        );
        assert_eq!(o.to_opts("driver"), "x,id=a\"b,index=0,on=on");
        o.remove("id");
        assert_eq!(o.to_json(), r#"{"driver":"x","index":0,"on":true}"#);
    }

    #[test]
    fn opts_double_commas() {
        let o = Obj::new().with("qom-type", "secret").with("file", "/a,b");
        assert_eq!(o.to_opts("qom-type"), "secret,file=/a,,b");
    }
}
