//! A reading view over a roxmltree node that records which attributes and children the
//! model consumed. `finish()` returns everything else as [`Extras`], so an element the
//! model does not know is kept verbatim and reported, never silently dropped.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::str::FromStr;

use super::pos::Pos;
use super::raw::{ExtraChild, Extras, RawAttr, RawElement};

/// A document that could not be accepted. Display is `LINE:COL: message`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", pos.map(|p| format!("{p}: ")).unwrap_or_default())]
pub struct ParseError {
    pub pos: Option<Pos>,
    pub message: String,
    /// What kind of refusal, for callers that answer with libvirt's error codes.
    pub kind: ParseErrorKind,
}

/// Which libvirt error a [`ParseError`] corresponds to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// Malformed or invalid XML (`VIR_ERR_XML_ERROR`).
    #[default]
    Invalid,
    /// The domain has no `<name>` (`VIR_ERR_NO_NAME`).
    MissingName,
}

impl ParseError {
    pub fn at(pos: Pos, message: impl Into<String>) -> Self {
        ParseError {
            pos: Some(pos),
            message: message.into(),
            kind: ParseErrorKind::Invalid,
        }
    }
    pub fn nowhere(message: impl Into<String>) -> Self {
        ParseError {
            pos: None,
            message: message.into(),
            kind: ParseErrorKind::Invalid,
        }
    }
    /// The same error, of `kind`.
    #[must_use]
    pub fn of_kind(mut self, kind: ParseErrorKind) -> Self {
        self.kind = kind;
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Warning,
    Error,
}

/// A message about the input with its position (`rvirt validate` prints these).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub pos: Pos,
    pub severity: Severity,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{}: {sev}: {}", self.pos, self.message)
    }
}

/// An enumeration of XML keyword values (`type='file'`, `bus='virtio'`).
pub trait XmlEnum: Sized + Copy + 'static {
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;
    fn from_xml(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == s)
    }
    fn expected() -> String {
        Self::ALL
            .iter()
            .map(|v| format!("'{}'", v.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Declares a keyword enum with its XML spellings.
#[macro_export]
macro_rules! xml_enum {
    ($(#[$m:meta])* $vis:vis enum $name:ident { $($var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name { $($var),+ }
        impl $crate::xml::reader::XmlEnum for $name {
            const ALL: &'static [Self] = &[$(Self::$var),+];
            fn as_str(self) -> &'static str {
                match self { $(Self::$var => $s),+ }
            }
        }
        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str($crate::xml::reader::XmlEnum::as_str(*self))
            }
        }
    };
}

/// Shared by every [`El`] of one document: the diagnostics collected so far.
#[derive(Debug, Default)]
pub struct Diags {
    list: RefCell<Vec<Diagnostic>>,
    /// Set once any error was built: elements dropped on the way out of an error are
    /// expected to be unfinished.
    failed: Cell<bool>,
    /// The first repeated single-valued element: refused after reading, because a
    /// kept duplicate would swap places with the original on every round trip.
    duplicate: RefCell<Option<ParseError>>,
}

impl Diags {
    pub fn warn(&self, pos: Pos, message: impl Into<String>) {
        self.list.borrow_mut().push(Diagnostic {
            pos,
            severity: Severity::Warning,
            message: message.into(),
        });
    }
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.list.into_inner()
    }

    pub fn take_duplicate(&self) -> Option<ParseError> {
        self.duplicate.borrow_mut().take()
    }

    /// Builds an error, noting that parsing is being abandoned.
    pub fn error(&self, pos: Pos, message: impl Into<String>) -> ParseError {
        self.failed.set(true);
        ParseError::at(pos, message)
    }
}

/// One element being read. Every `El` must end in [`El::finish`] (or [`El::done`]):
/// that is where unconsumed content is captured.
pub struct El<'a, 'i> {
    node: roxmltree::Node<'a, 'i>,
    diags: &'a Diags,
    used_attrs: RefCell<Vec<bool>>,
    used_children: RefCell<Vec<bool>>,
    finished: Cell<bool>,
}

impl fmt::Debug for El<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "El(<{}> at {})", self.node.tag_name().name(), self.pos())
    }
}

impl Drop for El<'_, '_> {
    fn drop(&mut self) {
        // A parser that forgets finish() would drop unknown content silently.
        debug_assert!(
            self.finished.get() || self.diags.failed.get() || std::thread::panicking(),
            "element <{}> read without finish()",
            self.node.tag_name().name()
        );
    }
}

fn pos_at(node: roxmltree::Node<'_, '_>, offset: usize) -> Pos {
    let p = node.document().text_pos_at(offset);
    Pos {
        line: p.row,
        col: p.col,
    }
}

impl<'a, 'i> El<'a, 'i> {
    pub fn new(node: roxmltree::Node<'a, 'i>, diags: &'a Diags) -> Self {
        let n_attrs = node.attributes().len();
        let n_children = node.children().filter(|c| c.is_element()).count();
        El {
            node,
            diags,
            used_attrs: RefCell::new(vec![false; n_attrs]),
            used_children: RefCell::new(vec![false; n_children]),
            finished: Cell::new(false),
        }
    }

    pub fn node(&self) -> roxmltree::Node<'a, 'i> {
        self.node
    }
    pub fn diags(&self) -> &'a Diags {
        self.diags
    }
    pub fn name(&self) -> &'a str {
        self.node.tag_name().name()
    }
    pub fn ns(&self) -> Option<&'a str> {
        self.node.tag_name().namespace()
    }
    pub fn pos(&self) -> Pos {
        pos_at(self.node, self.node.range().start)
    }
    pub fn err(&self, message: impl Into<String>) -> ParseError {
        self.diags.error(self.pos(), message)
    }

    fn find_attr(&self, name: &str) -> Option<(usize, roxmltree::Attribute<'a, 'i>)> {
        self.node
            .attributes()
            .enumerate()
            .find(|(_, a)| a.namespace().is_none() && a.name() == name)
    }

    /// The value of an un-namespaced attribute, marking it consumed.
    pub fn attr(&self, name: &str) -> Option<&'a str> {
        let (i, a) = self.find_attr(name)?;
        self.used_attrs.borrow_mut()[i] = true;
        Some(a.value())
    }

    pub fn attr_string(&self, name: &str) -> Option<String> {
        self.attr(name).map(str::to_owned)
    }

    pub fn attr_pos(&self, name: &str) -> Pos {
        match self.find_attr(name) {
            Some((_, a)) => pos_at(self.node, a.range().start),
            None => self.pos(),
        }
    }

    pub fn attr_err(&self, name: &str, message: impl Into<String>) -> ParseError {
        self.diags.error(self.attr_pos(name), message)
    }

    pub fn req_attr(&self, name: &str) -> Result<&'a str, ParseError> {
        self.attr(name)
            .ok_or_else(|| self.err(format!("<{}> needs the attribute '{name}'", self.name())))
    }

    /// An attribute parsed with `FromStr`; the error names element, attribute and value.
    pub fn attr_parse<T: FromStr>(&self, name: &str, what: &str) -> Result<Option<T>, ParseError> {
        match self.attr(name) {
            None => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| {
                self.attr_err(
                    name,
                    format!(
                        "invalid value '{v}' for attribute '{name}' of <{}>: expected {what}",
                        self.name()
                    ),
                )
            }),
        }
    }

    pub fn attr_enum<E: XmlEnum>(&self, name: &str) -> Result<Option<E>, ParseError> {
        match self.attr(name) {
            None => Ok(None),
            Some(v) => E::from_xml(v).map(Some).ok_or_else(|| {
                self.attr_err(
                    name,
                    format!(
                        "unknown value '{v}' for attribute '{name}' of <{}>: expected one of {}",
                        self.name(),
                        E::expected()
                    ),
                )
            }),
        }
    }

    pub fn req_enum<E: XmlEnum>(&self, name: &str) -> Result<E, ParseError> {
        self.attr_enum(name)?
            .ok_or_else(|| self.err(format!("<{}> needs the attribute '{name}'", self.name())))
    }

    /// `yes`/`no` attributes (libvirt's virTristateBool).
    pub fn attr_yes_no(&self, name: &str) -> Result<Option<bool>, ParseError> {
        self.attr_bool(name, "yes", "no")
    }

    /// `on`/`off` attributes (libvirt's virTristateSwitch).
    pub fn attr_on_off(&self, name: &str) -> Result<Option<bool>, ParseError> {
        self.attr_bool(name, "on", "off")
    }

    fn attr_bool(&self, name: &str, t: &str, f: &str) -> Result<Option<bool>, ParseError> {
        match self.attr(name) {
            None => Ok(None),
            Some(v) if v == t => Ok(Some(true)),
            Some(v) if v == f => Ok(Some(false)),
            Some(v) => Err(self.attr_err(
                name,
                format!(
                    "invalid value '{v}' for attribute '{name}' of <{}>: expected '{t}' or '{f}'",
                    self.name()
                ),
            )),
        }
    }

    fn element_children(&self) -> impl Iterator<Item = (usize, roxmltree::Node<'a, 'i>)> {
        self.node.children().filter(|c| c.is_element()).enumerate()
    }

    fn take(&self, pred: impl Fn(roxmltree::Node<'a, 'i>) -> bool, all: bool) -> Vec<El<'a, 'i>> {
        let mut out = Vec::new();
        let mut used = self.used_children.borrow_mut();
        for (i, c) in self.element_children() {
            if !used[i] && pred(c) {
                used[i] = true;
                out.push(El::new(c, self.diags));
                if !all {
                    break;
                }
            }
        }
        out
    }

    /// The first un-namespaced child with this name. Later duplicates stay unconsumed
    /// and are kept verbatim.
    pub fn child(&self, name: &str) -> Option<El<'a, 'i>> {
        let matches = |c: roxmltree::Node<'a, 'i>| {
            c.tag_name().namespace().is_none() && c.tag_name().name() == name
        };
        let found = self.take(matches, false).pop();
        if found.is_some()
            && let Some(second) = self
                .element_children()
                .map(|(_, c)| c)
                .filter(|c| matches(*c))
                .nth(1)
        {
            let mut dup = self.diags.duplicate.borrow_mut();
            if dup.is_none() {
                *dup = Some(ParseError::at(
                    pos_at(second, second.range().start),
                    format!("<{}> may contain only one <{name}>", self.name()),
                ));
            }
        }
        found
    }

    pub fn children(&self, name: &str) -> Vec<El<'a, 'i>> {
        self.take(
            |c| c.tag_name().namespace().is_none() && c.tag_name().name() == name,
            true,
        )
    }

    /// Every un-consumed un-namespaced child, in document order.
    pub fn remaining_children(&self) -> Vec<El<'a, 'i>> {
        self.take(|c| c.tag_name().namespace().is_none(), true)
    }

    pub fn child_ns(&self, uri: &str, name: &str) -> Option<El<'a, 'i>> {
        self.take(
            |c| c.tag_name().namespace() == Some(uri) && c.tag_name().name() == name,
            false,
        )
        .pop()
    }

    pub fn children_ns(&self, uri: &str, name: &str) -> Vec<El<'a, 'i>> {
        self.take(
            |c| c.tag_name().namespace() == Some(uri) && c.tag_name().name() == name,
            true,
        )
    }

    /// Children in a namespace whatever their name, in document order.
    pub fn children_in_ns(&self, uri: &str) -> Vec<El<'a, 'i>> {
        self.take(|c| c.tag_name().namespace() == Some(uri), true)
    }

    /// Takes every unconsumed child element verbatim, without warnings: for content
    /// that is opaque by design (`<metadata>`, hyperv enlightenments).
    pub fn take_raw_children(&self) -> Vec<RawElement> {
        let mut used = self.used_children.borrow_mut();
        let node = self.node;
        let pos_of = move |off: usize| pos_at(node, off);
        let mut out = Vec::new();
        for (i, c) in self.element_children() {
            if !used[i] {
                used[i] = true;
                out.push(RawElement::from_node(c, &pos_of));
            }
        }
        out
    }

    /// Concatenated text content of this element (not of its children).
    pub fn text(&self) -> String {
        self.node
            .children()
            .filter(|c| c.is_text())
            .filter_map(|c| c.text())
            .collect()
    }

    /// Text of a simple child like `<name>x</name>`, trimmed, consuming the child.
    pub fn child_text(&self, name: &str) -> Result<Option<String>, ParseError> {
        match self.child(name) {
            None => Ok(None),
            Some(c) => {
                let t = c.text().trim().to_owned();
                c.done()?;
                Ok(Some(t))
            }
        }
    }

    /// Like [`El::child_text`] but keeps the text exactly as written.
    pub fn child_text_raw(&self, name: &str) -> Result<Option<String>, ParseError> {
        match self.child(name) {
            None => Ok(None),
            Some(c) => {
                let t = c.text();
                c.done()?;
                Ok(Some(t))
            }
        }
    }

    /// Ends reading: everything not consumed becomes [`Extras`] with a warning each.
    pub fn finish(self) -> Extras {
        self.finished.set(true);
        let pos_of = |off: usize| pos_at(self.node, off);
        let mut extras = Extras::default();
        let used_attrs = self.used_attrs.borrow();
        for (i, a) in self.node.attributes().enumerate() {
            if used_attrs[i] {
                continue;
            }
            let prefix = a
                .namespace()
                .and_then(|uri| self.node.lookup_prefix(uri))
                .map(str::to_owned);
            let raw = RawAttr {
                ns: a.namespace().map(str::to_owned),
                prefix,
                name: a.name().to_owned(),
                value: a.value().to_owned(),
                pos: pos_of(a.range().start),
            };
            let shown = match &raw.prefix {
                Some(p) => format!("{p}:{}", raw.name),
                None => raw.name.clone(),
            };
            self.diags.warn(
                raw.pos,
                format!(
                    "attribute '{shown}' of <{}> is not supported by rvirt; it is kept but the domain cannot be started with it",
                    self.name()
                ),
            );
            extras.attrs.push(raw);
        }
        let used = self.used_children.borrow();
        let mut last_known: Option<(String, usize)> = None;
        let mut seen: Vec<(String, usize)> = Vec::new();
        for (i, c) in self.element_children() {
            let name = c.tag_name().name().to_owned();
            if used[i] {
                let n = match seen.iter_mut().find(|(k, _)| *k == name) {
                    Some((_, n)) => {
                        *n += 1;
                        *n
                    }
                    None => {
                        seen.push((name.clone(), 0));
                        0
                    }
                };
                last_known = Some((name, n));
                continue;
            }
            let elem = RawElement::from_node(c, &pos_of);
            self.diags.warn(
                elem.pos,
                format!(
                    "element <{}> in <{}> is not supported by rvirt; it is kept but the domain cannot be started with it",
                    elem.qualified_name(),
                    self.name()
                ),
            );
            extras.children.push(ExtraChild {
                after: last_known.clone(),
                elem,
            });
        }
        extras
    }

    /// Ends reading a simple element (text-only or marker) that has no place to keep
    /// unknown content: anything left over is refused rather than dropped.
    pub fn done(self) -> Result<(), ParseError> {
        let name = self.name();
        let pos = self.pos();
        let diags = self.diags;
        let extras = self.finish();
        if let Some(a) = extras.attrs.first() {
            return Err(diags.error(
                a.pos,
                format!("unsupported attribute '{}' on <{name}>", a.name),
            ));
        }
        if let Some(c) = extras.children.first() {
            return Err(diags.error(
                c.elem.pos,
                format!(
                    "unsupported element <{}> inside <{name}> at {pos}",
                    c.elem.qualified_name()
                ),
            ));
        }
        Ok(())
    }
}
