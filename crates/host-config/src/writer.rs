//! Turns a [`Config`] tree back into text that [`crate::grammar::parse`]
//! reads as the same tree.
//!
//! The grammar has no escape sequences, so a few values cannot be written
//! at all; the writer refuses those instead of emitting text that would
//! parse differently.

use crate::grammar::{Config, Value};

/// A value or name the grammar has no way to express.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("'{name}' is not a valid key name (a letter, then letters, digits or '_')")]
    InvalidName { name: String },
    #[error(
        "a string in '{name}' cannot be quoted: it needs '\"\"\"' (it spans lines or holds \
         both quote characters) but contains '\"\"\"' or ends with '\"'"
    )]
    UnquotableString { name: String },
    #[error(
        "'{name}' holds signed integer {value}, but only integers written with '-' are \
         signed, so a positive one would read back as unsigned"
    )]
    PositiveSigned { name: String, value: i64 },
}

/// Renders `config` one statement per line, lists on one line as
/// `[ "a", "b" ]`.
pub fn to_string(config: &Config) -> Result<String, WriteError> {
    let mut out = String::new();
    for entry in &config.entries {
        if !is_valid_name(&entry.name) {
            return Err(WriteError::InvalidName {
                name: entry.name.clone(),
            });
        }
        out.push_str(&entry.name);
        out.push_str(" = ");
        write_value(&mut out, &entry.name, &entry.value)?;
        out.push('\n');
    }
    Ok(out)
}

/// Whether `name` can stand on the left of `=`.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn write_value(out: &mut String, name: &str, value: &Value) -> Result<(), WriteError> {
    match value {
        Value::String(s) => {
            let quoted = quote(s).ok_or_else(|| WriteError::UnquotableString {
                name: name.to_owned(),
            })?;
            out.push_str(&quoted);
        }
        Value::Unsigned(n) => out.push_str(&n.to_string()),
        Value::Signed(0) => out.push_str("-0"),
        Value::Signed(n) if *n < 0 => out.push_str(&n.to_string()),
        Value::Signed(n) => {
            return Err(WriteError::PositiveSigned {
                name: name.to_owned(),
                value: *n,
            });
        }
        Value::List(items) if items.is_empty() => out.push_str("[]"),
        Value::List(items) => {
            out.push_str("[ ");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, name, item)?;
            }
            out.push_str(" ]");
        }
    }
    Ok(())
}

/// Picks the first quoting that reads back unchanged, or `None`.
fn quote(s: &str) -> Option<String> {
    // The parser ends one-line strings at CR as well as LF.
    let one_line = !s.contains(['\n', '\r']);
    if one_line && !s.contains('"') {
        Some(format!("\"{s}\""))
    } else if one_line && !s.contains('\'') {
        Some(format!("'{s}'"))
    } else if !s.contains(r#"""""#) && !s.ends_with('"') {
        // A trailing '"' would merge with the closing delimiter and the
        // string would end one character early.
        Some(format!(r#""""{s}""""#))
    } else {
        None
    }
}
