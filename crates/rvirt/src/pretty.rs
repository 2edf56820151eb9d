//! virsh's `--pretty` JSON layout, keeping the members in the order QEMU sent
//! them: two-space indentation, `"key": value`, and an empty object or array
//! written over two lines (as libvirt 11.3's JSON writer does; libvirt 9.0's
//! put an empty line between). Scalars are kept as they were written.

/// A JSON value with members in their original order and scalars as raw text.
enum Node {
    Object(Vec<(String, Node)>),
    Array(Vec<Node>),
    Scalar(String),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn string(&mut self) -> Option<String> {
        let start = self.i;
        self.eat(b'"')?;
        let mut escaped = false;
        while let Some(&c) = self.s.get(self.i) {
            self.i += 1;
            match c {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => return String::from_utf8(self.s[start..self.i].to_vec()).ok(),
                _ => {}
            }
        }
        None
    }

    fn value(&mut self, depth: usize) -> Option<Node> {
        if depth > 512 {
            return None;
        }
        match self.peek()? {
            b'{' => {
                self.i += 1;
                let mut members = Vec::new();
                if self.eat(b'}').is_some() {
                    return Some(Node::Object(members));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.eat(b':')?;
                    members.push((k, self.value(depth + 1)?));
                    if self.eat(b',').is_none() {
                        self.eat(b'}')?;
                        return Some(Node::Object(members));
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                if self.eat(b']').is_some() {
                    return Some(Node::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.eat(b',').is_none() {
                        self.eat(b']')?;
                        return Some(Node::Array(items));
                    }
                }
            }
            b'"' => self.string().map(Node::Scalar),
            _ => {
                let start = self.i;
                while self.i < self.s.len() && !b",]} \t\r\n".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                (self.i > start)
                    .then(|| String::from_utf8(self.s[start..self.i].to_vec()).ok())
                    .flatten()
                    .map(Node::Scalar)
            }
        }
    }
}

fn write(n: &Node, indent: usize, out: &mut String) {
    let pad = |k: usize| "  ".repeat(k);
    match n {
        Node::Scalar(s) => out.push_str(s),
        Node::Object(m) if m.is_empty() => {
            out.push_str(&format!("{{\n{}}}", pad(indent)));
        }
        Node::Array(a) if a.is_empty() => {
            out.push_str(&format!("[\n{}]", pad(indent)));
        }
        Node::Object(m) => {
            out.push_str("{\n");
            for (i, (k, v)) in m.iter().enumerate() {
                out.push_str(&format!("{}{k}: ", pad(indent + 1)));
                write(v, indent + 1, out);
                out.push_str(if i + 1 < m.len() { ",\n" } else { "\n" });
            }
            out.push_str(&format!("{}}}", pad(indent)));
        }
        Node::Array(a) => {
            out.push_str("[\n");
            for (i, v) in a.iter().enumerate() {
                out.push_str(&pad(indent + 1));
                write(v, indent + 1, out);
                out.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
            }
            out.push_str(&format!("{}]", pad(indent)));
        }
    }
}

/// `text` laid out like `virsh --pretty` (no final newline: virsh prints none
/// after it); `None` when it is not one JSON value.
pub fn pretty(text: &str) -> Option<String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return None;
    }
    let mut out = String::new();
    write(&v, 0, &mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::pretty;

    #[test]
    fn layout_and_order() {
        assert_eq!(
            pretty(r#"{"return":{"running":false,"status":"paused"},"id":"rvirt-2"}"#).unwrap(),
            "{\n  \"return\": {\n    \"running\": false,\n    \"status\": \"paused\"\n  },\n  \"id\": \"rvirt-2\"\n}"
        );
        assert_eq!(
            pretty(r#"{"return":{},"id":"a"}"#).unwrap(),
            "{\n  \"return\": {\n  },\n  \"id\": \"a\"\n}"
        );
        assert_eq!(
            pretty(r#"{"return":[{"a":"x,]}\"y"},[]]}"#).unwrap(),
            "{\n  \"return\": [\n    {\n      \"a\": \"x,]}\\\"y\"\n    },\n    [\n    ]\n  ]\n}"
        );
        for bad in ["", "{", "{\"a\" 1}", "[1,]", "{} x", "\"open"] {
            assert!(pretty(bad).is_none(), "{bad:?}");
        }
    }
}
