//! Verbatim XML kept for what the typed model does not cover (`<metadata>` children,
//! unknown elements and attributes). Positions are kept for diagnostics only.

use super::pos::Pos;

/// An attribute kept verbatim. `ns` is the namespace URI; `prefix` the prefix the
/// input used for it, so it can be declared again on output. Prefixes are cosmetic:
/// equality ignores them (the writer may replace one, e.g. always `qemu:` for the
/// qemu namespace).
#[derive(Clone, Debug, Eq)]
pub struct RawAttr {
    pub ns: Option<String>,
    pub prefix: Option<String>,
    pub name: String,
    pub value: String,
    pub pos: Pos,
}

/// A node inside a verbatim element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawNode {
    Element(RawElement),
    Text(String),
}

/// An element kept verbatim, with its namespace by URI (prefixes are cosmetic and
/// ignored by equality).
#[derive(Clone, Debug, Eq)]
pub struct RawElement {
    pub ns: Option<String>,
    pub prefix: Option<String>,
    pub name: String,
    pub attrs: Vec<RawAttr>,
    pub children: Vec<RawNode>,
    pub pos: Pos,
}

impl PartialEq for RawAttr {
    fn eq(&self, o: &Self) -> bool {
        self.ns == o.ns && self.name == o.name && self.value == o.value
    }
}

impl PartialEq for RawElement {
    fn eq(&self, o: &Self) -> bool {
        self.ns == o.ns
            && self.name == o.name
            && self.attrs == o.attrs
            && self.children == o.children
    }
}

impl RawElement {
    /// `prefix:name` as the user wrote it, for messages.
    pub fn qualified_name(&self) -> String {
        match &self.prefix {
            Some(p) => format!("{p}:{}", self.name),
            None => self.name.clone(),
        }
    }

    /// Builds a verbatim copy of a parsed node; text between child elements is
    /// trimmed (whitespace-only text dropped) because the canonical writer re-indents.
    pub fn from_node(node: roxmltree::Node<'_, '_>, pos_of: &dyn Fn(usize) -> Pos) -> Self {
        let tag = node.tag_name();
        let ns = tag.namespace().map(str::to_owned);
        let prefix = tag
            .namespace()
            .and_then(|uri| node.lookup_prefix(uri))
            .map(str::to_owned);
        let attrs = node
            .attributes()
            .map(|a| RawAttr {
                ns: a.namespace().map(str::to_owned),
                prefix: a
                    .namespace()
                    .and_then(|uri| node.lookup_prefix(uri))
                    .map(str::to_owned),
                name: a.name().to_owned(),
                value: a.value().to_owned(),
                pos: pos_of(a.range().start),
            })
            .collect();
        let has_elements = node.children().any(|c| c.is_element());
        let mut children = Vec::new();
        for c in node.children() {
            if c.is_element() {
                children.push(RawNode::Element(RawElement::from_node(c, pos_of)));
            } else if c.is_text() {
                // Text split by a comment (comments are not kept) is one text.
                let t = c.text().unwrap_or_default();
                match children.last_mut() {
                    Some(RawNode::Text(prev)) => prev.push_str(t),
                    _ => children.push(RawNode::Text(t.to_owned())),
                }
            }
        }
        if has_elements {
            // Mixed content: the writer re-indents around child elements, so only
            // the trimmed text is meaningful (found by fuzzing).
            children.retain_mut(|n| match n {
                RawNode::Text(t) => {
                    *t = t.trim().to_owned();
                    !t.is_empty()
                }
                RawNode::Element(_) => true,
            });
        }
        RawElement {
            ns,
            prefix,
            name: tag.name().to_owned(),
            attrs,
            children,
            pos: pos_of(node.range().start),
        }
    }

    /// Every namespaced thing that is kept verbatim below (and including) this element,
    /// as `prefix:name (line:col)` strings for warnings and refusal messages.
    pub fn describe(&self) -> String {
        format!("<{}> at {}", self.qualified_name(), self.pos)
    }
}

/// Where an unmodelled child stood: after the `n`-th (0-based) known sibling with that
/// name, or first when `None`. The writer puts it back at the same place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtraChild {
    pub after: Option<(String, usize)>,
    pub elem: RawElement,
}

/// Unmodelled attributes and children of one modelled element.
#[derive(Clone, Debug, Default, Eq)]
pub struct Extras {
    pub attrs: Vec<RawAttr>,
    pub children: Vec<ExtraChild>,
}

/// Children are compared grouped by anchor (keeping their order within an anchor):
/// the canonical writer reorders known siblings, which reorders the groups but never
/// what stands at one place.
impl PartialEq for Extras {
    fn eq(&self, other: &Self) -> bool {
        fn grouped(e: &Extras) -> Vec<&ExtraChild> {
            let mut v: Vec<&ExtraChild> = e.children.iter().collect();
            v.sort_by(|a, b| a.after.cmp(&b.after));
            v
        }
        self.attrs == other.attrs && grouped(self) == grouped(other)
    }
}

impl Extras {
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty() && self.children.is_empty()
    }
}
