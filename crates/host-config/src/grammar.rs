//! The generic `name = value` grammar of libvirt's daemon configuration
//! files, parsed into an untyped [`Config`] tree.
//!
//! This layer knows nothing about which keys exist; [`crate::keys`] gives
//! the tree its meaning. Keeping the two apart lets the writer and the
//! round-trip property test work on the grammar alone.

use std::collections::HashMap;
use std::fmt;

use crate::warning::{Warning, WarningKind};

/// Lists may nest in the grammar, but nothing needs deep nesting; the cap
/// keeps a hostile or corrupt file from exhausting the parser's stack.
pub const MAX_LIST_DEPTH: usize = 32;

/// One value on the right-hand side of `name = value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A quoted string (`"…"`, `'…'` or `"""…"""`), without its quotes.
    String(String),
    /// An integer written without a leading `-` (a `+` is allowed).
    Unsigned(u64),
    /// An integer written with a leading `-`. Parsed values are always
    /// `<= 0`, since the sign is what makes an integer signed (`-0` too).
    Signed(i64),
    /// `[ v, v, … ]`.
    List(Vec<Value>),
}

/// One `name = value` statement and the line it started on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub value: Value,
    /// 1-based line of the name; 0 for entries built in code.
    pub line: u32,
}

/// A parsed file: its statements in file order.
///
/// [`parse`] keeps only the first statement for each name (libvirt's
/// lookups return the first match, so later ones never take effect).
/// Entries built by hand may repeat names; [`Config::get`] still returns
/// the first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub entries: Vec<Entry>,
}

impl Config {
    /// The first entry called `name`.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Names and values in order, without line numbers: what a config
    /// *means*, which is what a round trip through text must preserve.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|e| (e.name.as_str(), &e.value))
    }
}

/// What the parser saw where it expected something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Char(char),
    EndOfLine,
    EndOfFile,
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Escape only what would be invisible or garble the message.
            Found::Char(c) if c.is_control() => write!(f, "'{}'", c.escape_debug()),
            Found::Char(c) => write!(f, "'{c}'"),
            Found::EndOfLine => f.write_str("the end of the line"),
            Found::EndOfFile => f.write_str("the end of the file"),
        }
    }
}

/// Why a file failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxErrorKind {
    #[error("expected a key name (a letter, then letters, digits or '_'), found {found}")]
    ExpectedName { found: Found },
    #[error("expected '=' after '{name}'")]
    ExpectedEquals { name: String },
    #[error(
        "expected a value for '{name}' (a quoted string, an integer or a list; \
         flags are written 0 or 1), found {found}"
    )]
    ExpectedValue { name: String, found: Found },
    #[error("expected ';' or a new line after the value of '{name}', found {found}")]
    ExpectedSeparator { name: String, found: Found },
    #[error("expected ',' or ']' in the list for '{name}', found {found}")]
    ExpectedListSeparator { name: String, found: Found },
    #[error("unterminated string for '{name}': the closing {quote} is missing")]
    UnterminatedString { name: String, quote: &'static str },
    #[error("unterminated list for '{name}': the closing ']' is missing")]
    UnterminatedList { name: String },
    #[error("lists for '{name}' are nested more than {MAX_LIST_DEPTH} deep")]
    ListTooDeep { name: String },
    #[error("'{text}' in '{name}' is not an integer (only decimal whole numbers are allowed)")]
    InvalidInteger { name: String, text: String },
    #[error("integer '{text}' in '{name}' is out of range")]
    IntegerOutOfRange { name: String, text: String },
}

/// A syntax error with the file, line and column it was found at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {kind}")]
pub struct SyntaxError {
    /// The source name given to [`parse`], usually the file's path.
    pub file: String,
    /// 1-based.
    pub line: u32,
    /// 1-based, counted in characters.
    pub column: u32,
    pub kind: SyntaxErrorKind,
}

/// Parses `text`; `file` names the source in errors and warnings.
///
/// Duplicate names produce a [`WarningKind::DuplicateKey`] warning and the
/// first occurrence is kept.
pub fn parse(text: &str, file: &str) -> Result<(Config, Vec<Warning>), SyntaxError> {
    Parser {
        text,
        file,
        pos: 0,
        line: 1,
        column: 1,
    }
    .file()
}

struct Parser<'a> {
    text: &'a str,
    file: &'a str,
    pos: usize,
    line: u32,
    column: u32,
}

/// `\r` counts as blank so CRLF files parse; only `\n` ends a line.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r')
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn found(&self) -> Found {
        match self.peek() {
            None => Found::EndOfFile,
            Some('\n') => Found::EndOfLine,
            Some(c) => Found::Char(c),
        }
    }

    fn error_at(&self, line: u32, column: u32, kind: SyntaxErrorKind) -> SyntaxError {
        SyntaxError {
            file: self.file.to_owned(),
            line,
            column,
            kind,
        }
    }

    fn error_here(&self, kind: SyntaxErrorKind) -> SyntaxError {
        self.error_at(self.line, self.column, kind)
    }

    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(is_blank) {
            self.bump();
        }
    }

    /// Leaves the `\n` in place so the caller still sees the line end.
    fn skip_comment(&mut self) {
        while self.peek().is_some_and(|c| c != '\n') {
            self.bump();
        }
    }

    /// Inside a list, line breaks and comments are just spacing.
    fn skip_list_spacing(&mut self) {
        loop {
            match self.peek() {
                Some(c) if is_blank(c) || c == '\n' => {
                    self.bump();
                }
                Some('#') => self.skip_comment(),
                _ => return,
            }
        }
    }

    fn file(mut self) -> Result<(Config, Vec<Warning>), SyntaxError> {
        let mut config = Config::default();
        let mut warnings = Vec::new();
        let mut first_line: HashMap<String, u32> = HashMap::new();
        loop {
            self.skip_blanks();
            match self.peek() {
                None => break,
                Some('\n') => {
                    self.bump();
                }
                Some('#') => self.skip_comment(),
                Some(c) if c.is_ascii_alphabetic() => {
                    let entry = self.statement()?;
                    if let Some(&first) = first_line.get(&entry.name) {
                        warnings.push(Warning {
                            file: self.file.to_owned(),
                            line: entry.line,
                            kind: WarningKind::DuplicateKey {
                                key: entry.name,
                                first_line: first,
                            },
                        });
                    } else {
                        first_line.insert(entry.name.clone(), entry.line);
                        config.entries.push(entry);
                    }
                }
                Some(_) => {
                    return Err(self.error_here(SyntaxErrorKind::ExpectedName {
                        found: self.found(),
                    }));
                }
            }
        }
        Ok((config, warnings))
    }

    fn statement(&mut self) -> Result<Entry, SyntaxError> {
        let line = self.line;
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.bump();
        }
        let name = self.text[start..self.pos].to_owned();

        self.skip_blanks();
        if self.peek() != Some('=') {
            return Err(self.error_here(SyntaxErrorKind::ExpectedEquals { name }));
        }
        self.bump();
        self.skip_blanks();
        let value = self.value(&name, 0)?;

        self.skip_blanks();
        if self.peek() == Some('#') {
            self.skip_comment();
        }
        match self.peek() {
            None | Some('\n') => {}
            Some(';') => {
                self.bump();
            }
            Some(_) => {
                return Err(self.error_here(SyntaxErrorKind::ExpectedSeparator {
                    name,
                    found: self.found(),
                }));
            }
        }
        Ok(Entry { name, value, line })
    }

    fn value(&mut self, name: &str, depth: usize) -> Result<Value, SyntaxError> {
        match self.peek() {
            Some('"') if self.text[self.pos..].starts_with(r#"""""#) => self.triple_string(name),
            Some(quote @ ('"' | '\'')) => self.line_string(name, quote),
            Some('[') => self.list(name, depth),
            Some(c) if c.is_ascii_digit() || c == '+' || c == '-' => self.integer(name),
            _ => Err(self.error_here(SyntaxErrorKind::ExpectedValue {
                name: name.to_owned(),
                found: self.found(),
            })),
        }
    }

    fn line_string(&mut self, name: &str, quote: char) -> Result<Value, SyntaxError> {
        let (line, column) = (self.line, self.column);
        self.bump();
        let start = self.pos;
        loop {
            match self.peek() {
                // libvirt treats a bare CR as a line end too, so a CR can
                // never sit inside a one-line string.
                None | Some('\n' | '\r') => {
                    return Err(self.error_at(
                        line,
                        column,
                        SyntaxErrorKind::UnterminatedString {
                            name: name.to_owned(),
                            quote: if quote == '"' { "'\"'" } else { "\"'\"" },
                        },
                    ));
                }
                Some(c) if c == quote => {
                    let s = self.text[start..self.pos].to_owned();
                    self.bump();
                    return Ok(Value::String(s));
                }
                Some(_) => {
                    self.bump();
                }
            }
        }
    }

    fn triple_string(&mut self, name: &str) -> Result<Value, SyntaxError> {
        const DELIM: &str = r#"""""#;
        let (line, column) = (self.line, self.column);
        for _ in 0..3 {
            self.bump();
        }
        let rest = &self.text[self.pos..];
        let Some(len) = rest.find(DELIM) else {
            return Err(self.error_at(
                line,
                column,
                SyntaxErrorKind::UnterminatedString {
                    name: name.to_owned(),
                    quote: r#"'"""'"#,
                },
            ));
        };
        let s = rest[..len].to_owned();
        // Bump char by char so line and column stay right after the string.
        let end = self.pos + len + DELIM.len();
        while self.pos < end {
            self.bump();
        }
        Ok(Value::String(s))
    }

    fn list(&mut self, name: &str, depth: usize) -> Result<Value, SyntaxError> {
        let (line, column) = (self.line, self.column);
        if depth >= MAX_LIST_DEPTH {
            return Err(self.error_here(SyntaxErrorKind::ListTooDeep {
                name: name.to_owned(),
            }));
        }
        self.bump();
        let unterminated = |p: &Self| {
            p.error_at(
                line,
                column,
                SyntaxErrorKind::UnterminatedList {
                    name: name.to_owned(),
                },
            )
        };
        let mut items = Vec::new();
        loop {
            self.skip_list_spacing();
            match self.peek() {
                None => return Err(unterminated(self)),
                Some(']') => {
                    self.bump();
                    return Ok(Value::List(items));
                }
                Some(_) => {}
            }
            items.push(self.value(name, depth + 1)?);
            self.skip_list_spacing();
            match self.peek() {
                None => return Err(unterminated(self)),
                Some(',') => {
                    self.bump();
                }
                Some(']') => {
                    self.bump();
                    return Ok(Value::List(items));
                }
                Some(_) => {
                    return Err(self.error_here(SyntaxErrorKind::ExpectedListSeparator {
                        name: name.to_owned(),
                        found: self.found(),
                    }));
                }
            }
        }
    }

    fn integer(&mut self, name: &str) -> Result<Value, SyntaxError> {
        let (line, column) = (self.line, self.column);
        let start = self.pos;
        let negative = match self.peek() {
            Some('-') => {
                self.bump();
                true
            }
            Some('+') => {
                self.bump();
                false
            }
            _ => false,
        };
        let digits_start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        let digits = &self.text[digits_start..self.pos];
        // Swallow the rest of a word like `0x10`, `1.5` or `12abc` so the
        // message shows the whole thing rather than complaining about 'x'.
        let word_continues = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '+' | '-');
        if digits.is_empty() || self.peek().is_some_and(word_continues) {
            while self.peek().is_some_and(word_continues) {
                self.bump();
            }
            return Err(self.error_at(
                line,
                column,
                SyntaxErrorKind::InvalidInteger {
                    name: name.to_owned(),
                    text: self.text[start..self.pos].to_owned(),
                },
            ));
        }
        let out_of_range = || {
            self.error_at(
                line,
                column,
                SyntaxErrorKind::IntegerOutOfRange {
                    name: name.to_owned(),
                    text: self.text[start..self.pos].to_owned(),
                },
            )
        };
        let magnitude: u64 = digits.parse().map_err(|_| out_of_range())?;
        if !negative {
            return Ok(Value::Unsigned(magnitude));
        }
        // i64::MIN has no positive counterpart, so negate in i128.
        let value = i64::try_from(-i128::from(magnitude)).map_err(|_| out_of_range())?;
        Ok(Value::Signed(value))
    }
}
