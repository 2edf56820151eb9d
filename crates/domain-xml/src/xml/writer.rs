//! libvirt-style XML output: 2-space indent, single-quoted attributes, `<x/>` for empty
//! elements. Unmodelled content ([`Extras`]) attached to an element is written back
//! after the known sibling it followed in the input.

use std::fmt::Display;

use super::escape;
use super::raw::{Extras, RawAttr, RawElement, RawNode};

struct Frame<'e> {
    name: String,
    /// `<name attrs` written, `>` not yet.
    tag_open: bool,
    has_children: bool,
    has_text: bool,
    extras: Option<&'e Extras>,
    emitted: Vec<bool>,
    counts: Vec<(String, usize)>,
    ns_mark: usize,
}

/// Streaming writer; build documents with `start`/`attr`/`end` and the helpers.
#[derive(Default)]
pub struct XmlWriter<'e> {
    out: String,
    stack: Vec<Frame<'e>>,
    /// Namespace declarations in scope: (prefix, uri); `None` prefix = default ns.
    scope: Vec<(Option<String>, String)>,
    /// Namespaces that always use a fixed prefix on output (qemu, rvirt).
    fixed: Vec<(&'static str, &'static str)>,
}

impl std::fmt::Debug for XmlWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmlWriter")
            .field("len", &self.out.len())
            .finish()
    }
}

impl<'e> XmlWriter<'e> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every element or attribute in namespace `uri` is written with `prefix`.
    pub fn fix_prefix(&mut self, prefix: &'static str, uri: &'static str) {
        self.fixed.push((prefix, uri));
    }

    pub fn finish(self) -> String {
        debug_assert!(self.stack.is_empty(), "unclosed elements");
        self.out
    }

    fn indent(&mut self) {
        for _ in 0..self.stack.len() {
            self.out.push_str("  ");
        }
    }

    /// Closes the parent's start tag before its first child.
    fn open_parent_for_child(&mut self) {
        let Some(top) = self.stack.last_mut() else {
            return;
        };
        if top.tag_open {
            top.tag_open = false;
            self.out.push('>');
            if !top.has_text {
                self.out.push('\n');
            }
        }
        if !top.has_children {
            top.has_children = true;
            // Unknown children that came before any known one go first.
            self.emit_extras(None);
        }
    }

    pub fn start(&mut self, name: &str) -> &mut Self {
        self.open_parent_for_child();
        let inline = self.stack.last().is_some_and(|f| f.has_text);
        if !inline {
            self.indent();
        }
        self.out.push('<');
        self.out.push_str(name);
        let ns_mark = self.scope.len();
        self.stack.push(Frame {
            name: name.to_owned(),
            tag_open: true,
            has_children: false,
            has_text: false,
            extras: None,
            emitted: Vec::new(),
            counts: Vec::new(),
            ns_mark,
        });
        self
    }

    pub fn attr(&mut self, key: &str, value: impl Display) -> &mut Self {
        debug_assert!(
            self.stack.last().is_some_and(|f| f.tag_open),
            "attr after content"
        );
        self.out.push(' ');
        self.out.push_str(key);
        self.out.push_str("='");
        escape(&value.to_string(), &mut self.out);
        self.out.push('\'');
        self
    }

    pub fn attr_opt(&mut self, key: &str, value: Option<impl Display>) -> &mut Self {
        if let Some(v) = value {
            self.attr(key, v);
        }
        self
    }

    pub fn attr_yes_no(&mut self, key: &str, value: Option<bool>) -> &mut Self {
        self.attr_opt(key, value.map(|b| if b { "yes" } else { "no" }))
    }

    pub fn attr_on_off(&mut self, key: &str, value: Option<bool>) -> &mut Self {
        self.attr_opt(key, value.map(|b| if b { "on" } else { "off" }))
    }

    /// Declares a namespace on the open element.
    pub fn declare_ns(&mut self, prefix: Option<&str>, uri: &str) -> &mut Self {
        match prefix {
            Some(p) => self.attr(&format!("xmlns:{p}"), uri),
            None => self.attr("xmlns", uri),
        };
        self.scope.push((prefix.map(str::to_owned), uri.to_owned()));
        self
    }

    /// Attaches unmodelled content to the open element: its attributes now (after the
    /// known ones), its children where they stood.
    pub fn extras(&mut self, extras: &'e Extras) -> &mut Self {
        for a in &extras.attrs {
            self.raw_attr(a);
        }
        if let Some(top) = self.stack.last_mut() {
            top.emitted = vec![false; extras.children.len()];
            top.extras = Some(extras);
        }
        self
    }

    /// Text content of the open element, written inline.
    pub fn text(&mut self, text: &str) -> &mut Self {
        if let Some(top) = self.stack.last_mut() {
            top.has_text = true;
            if top.tag_open {
                top.tag_open = false;
                self.out.push('>');
            }
        }
        escape(text, &mut self.out);
        self
    }

    pub fn end(&mut self) {
        // Unknown children whose anchor was never written still go out, last.
        self.emit_remaining_extras();
        let Some(frame) = self.stack.pop() else {
            return;
        };
        if frame.tag_open {
            self.out.push_str("/>");
        } else {
            if !frame.has_text {
                self.indent();
            }
            self.out.push_str("</");
            self.out.push_str(&frame.name);
            self.out.push('>');
        }
        self.scope.truncate(frame.ns_mark);
        let inline = self.stack.last().is_some_and(|f| f.has_text);
        if !inline {
            self.out.push('\n');
        }
        self.child_written(&frame.name);
    }

    fn child_written(&mut self, name: &str) {
        // Anchors are recorded by local name (the reader sees `qemu:override` as
        // `override`), so count written children the same way (found by fuzzing).
        let name = name.rsplit(':').next().unwrap_or(name);
        let Some(top) = self.stack.last_mut() else {
            return;
        };
        let n = match top.counts.iter_mut().find(|(k, _)| k == name) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                top.counts.push((name.to_owned(), 0));
                0
            }
        };
        self.emit_extras(Some((name, n)));
    }

    /// Writes the not yet written unknown children anchored at `anchor`.
    fn emit_extras(&mut self, anchor: Option<(&str, usize)>) {
        self.emit_extras_where(|after| after.as_ref().map(|(n, k)| (n.as_str(), *k)) == anchor);
    }

    fn emit_remaining_extras(&mut self) {
        self.emit_extras_where(|_| true);
    }

    fn emit_extras_where(&mut self, due: impl Fn(&Option<(String, usize)>) -> bool) {
        let Some(top) = self.stack.last_mut() else {
            return;
        };
        let Some(extras) = top.extras else { return };
        // Writing a kept child must not re-enter the "first child" path, which would
        // emit the same children again (found by fuzzing).
        top.has_children = true;
        let due: Vec<usize> = extras
            .children
            .iter()
            .enumerate()
            .filter(|(i, c)| !top.emitted[*i] && due(&c.after))
            .map(|(i, _)| i)
            .collect();
        for i in due {
            match self.stack.last_mut() {
                Some(top) if !top.emitted[i] => top.emitted[i] = true,
                _ => continue,
            }
            self.raw_inner(&extras.children[i].elem);
        }
    }

    /// `<name/>`
    pub fn empty(&mut self, name: &str) {
        self.start(name);
        self.end();
    }

    /// `<name>text</name>`
    pub fn text_elem(&mut self, name: &str, text: &str) {
        self.start(name);
        self.text(text);
        self.end();
    }

    pub fn text_elem_opt(&mut self, name: &str, text: Option<&str>) {
        if let Some(t) = text {
            self.text_elem(name, t);
        }
    }

    fn prefix_for(&self, uri: &str, wanted: Option<&str>) -> String {
        if let Some((p, _)) = self.fixed.iter().find(|(_, u)| *u == uri) {
            return (*p).to_owned();
        }
        wanted.unwrap_or("ns0").to_owned()
    }

    fn in_scope(&self, prefix: Option<&str>, uri: &str) -> bool {
        self.scope
            .iter()
            .rev()
            .find(|(p, _)| p.as_deref() == prefix)
            .is_some_and(|(_, u)| u == uri)
    }

    fn ensure_ns(&mut self, prefix: Option<&str>, uri: &str) {
        if !self.in_scope(prefix, uri) {
            self.declare_ns(prefix, uri);
        }
    }

    /// Writes a kept attribute, declaring its namespace on the open element if needed.
    fn raw_attr(&mut self, a: &RawAttr) {
        let key = match &a.ns {
            Some(uri) => {
                let p = self.prefix_for(uri, a.prefix.as_deref());
                self.ensure_ns(Some(&p), uri);
                format!("{p}:{}", a.name)
            }
            None => a.name.clone(),
        };
        self.attr(&key, &a.value);
    }

    /// Writes a verbatim element, declaring the namespaces it needs where they are not
    /// already in scope.
    pub fn raw(&mut self, e: &'e RawElement) {
        self.raw_inner(e);
    }

    fn raw_inner(&mut self, e: &RawElement) {
        let prefix = e.ns.as_deref().map(|uri| {
            if self.fixed.iter().any(|(_, u)| *u == uri) {
                Some(self.prefix_for(uri, None))
            } else {
                e.prefix.clone()
            }
        });
        let qname = match prefix.clone().flatten() {
            Some(p) => format!("{p}:{}", e.name),
            None => e.name.clone(),
        };
        self.start(&qname);
        match (&e.ns, prefix.flatten()) {
            (Some(uri), p) => self.ensure_ns(p.as_deref(), uri),
            (None, _) => {
                let default_set = self
                    .scope
                    .iter()
                    .rev()
                    .find(|(p, _)| p.is_none())
                    .is_some_and(|(_, u)| !u.is_empty());
                if default_set {
                    self.declare_ns(None, "");
                }
            }
        }
        for a in &e.attrs {
            self.raw_attr(a);
        }
        for c in &e.children {
            match c {
                RawNode::Element(child) => self.raw_inner(child),
                RawNode::Text(t) => {
                    self.text(t);
                }
            }
        }
        self.end();
    }
}
