//! The writer, and the property that writing then parsing is lossless.

use host_config::grammar::parse;
use host_config::{Config, Entry, Value, WriteError, to_string};
use proptest::prelude::*;

fn config(pairs: Vec<(&str, Value)>) -> Config {
    Config {
        entries: pairs
            .into_iter()
            .map(|(name, value)| Entry {
                name: name.to_owned(),
                value,
                line: 0,
            })
            .collect(),
    }
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn pairs(c: &Config) -> Vec<(String, Value)> {
    c.pairs().map(|(n, v)| (n.to_owned(), v.clone())).collect()
}

#[test]
fn writes_each_kind_of_value() {
    let c = config(vec![
        ("a", s("plain")),
        ("b", s("has \"double\"")),
        ("c", s("both \" and '")),
        ("d", s("two\nlines")),
        ("e", Value::Unsigned(7)),
        ("f", Value::Signed(-7)),
        ("g", Value::Signed(0)),
        ("h", Value::List(vec![])),
        (
            "i",
            Value::List(vec![s("x"), Value::List(vec![Value::Unsigned(1)])]),
        ),
    ]);
    let text = to_string(&c).unwrap();
    assert_eq!(
        text,
        "a = \"plain\"\n\
         b = 'has \"double\"'\n\
         c = \"\"\"both \" and '\"\"\"\n\
         d = \"\"\"two\nlines\"\"\"\n\
         e = 7\n\
         f = -7\n\
         g = -0\n\
         h = []\n\
         i = [ \"x\", [ 1 ] ]\n"
    );
    let (back, warnings) = parse(&text, "w").unwrap();
    assert!(warnings.is_empty());
    assert_eq!(pairs(&back), pairs(&c));
}

#[test]
fn refuses_what_the_grammar_cannot_express() {
    let bad = [
        ("x", s("both \" and ' and \"\"\"")),
        ("x", s("line\nending in quote\"")),
        ("x", s("cr\rand \"\"\"")),
        ("x", Value::List(vec![s("a'\"b\"")])),
    ];
    for (name, value) in bad {
        let c = config(vec![(name, value.clone())]);
        assert_eq!(
            to_string(&c),
            Err(WriteError::UnquotableString { name: "x".into() }),
            "{value:?}"
        );
    }
    assert_eq!(
        to_string(&config(vec![("x", Value::Signed(5))])),
        Err(WriteError::PositiveSigned {
            name: "x".into(),
            value: 5
        })
    );
    for name in ["", "1a", "_a", "a-b", "a b"] {
        assert_eq!(
            to_string(&config(vec![(name, Value::Unsigned(1))])),
            Err(WriteError::InvalidName { name: name.into() })
        );
    }
    let e = to_string(&config(vec![("x", Value::Signed(5))])).unwrap_err();
    assert!(e.to_string().starts_with("'x' holds signed integer 5"));
}

#[test]
fn rewrites_the_sample_config() {
    let text = "user = \"+0\"; group='kvm'\nsecurity_driver = [ # c\n \"selinux\",\n]\n";
    let (c, _) = parse(text, "f").unwrap();
    let (again, _) = parse(&to_string(&c).unwrap(), "f").unwrap();
    assert_eq!(pairs(&again), pairs(&c));
}

/// Strings the writer can always quote: built per quoting style so that
/// every style is exercised, not just plain ones.
fn quotable_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\"\n\r]{0,12}",
        "[^'\n\r]{0,12}",
        "[a-z \"'\n\r#\\[\\],;=\t]{0,12}".prop_filter("needs \"\"\" and cannot end in '\"'", |s| {
            !s.contains("\"\"\"") && !s.ends_with('"')
        }),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        quotable_string().prop_map(Value::String),
        any::<u64>().prop_map(Value::Unsigned),
        (i64::MIN..=0).prop_map(Value::Signed),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        proptest::collection::vec(inner, 0..5).prop_map(Value::List)
    })
}

fn any_config() -> impl Strategy<Value = Config> {
    // Unique names: a parsed config never repeats one.
    proptest::collection::btree_map("[a-zA-Z][a-zA-Z0-9_]{0,8}", value(), 0..8).prop_map(|map| {
        Config {
            entries: map
                .into_iter()
                .map(|(name, value)| Entry {
                    name,
                    value,
                    line: 0,
                })
                .collect(),
        }
    })
}

proptest! {
    #[test]
    fn parse_of_write_is_identity(c in any_config()) {
        let text = to_string(&c).expect("every generated value is writable");
        let (back, warnings) = parse(&text, "roundtrip").expect("written text parses");
        prop_assert!(warnings.is_empty());
        prop_assert_eq!(pairs(&back), pairs(&c));
    }

    /// Any string at all: the writer either refuses it or writes it so it
    /// reads back unchanged.
    #[test]
    fn strings_round_trip_or_are_refused(raw in "[a\"' \n\r]{0,10}|\\PC{0,10}") {
        let c = config(vec![("k", Value::String(raw.clone()))]);
        if let Ok(text) = to_string(&c) {
            let (back, _) = parse(&text, "s").expect("written text parses");
            prop_assert_eq!(&back.get("k").unwrap().value, &Value::String(raw));
        }
    }

    /// Whatever the input, parsing returns instead of panicking.
    #[test]
    fn parse_never_panics(text in "[a-z0-9 =;#\"'\\[\\],+\n-]{0,60}|\\PC{0,60}") {
        let _ = parse(&text, "fuzz");
        let _ = host_config::HostConfig::parse(&text, "fuzz");
    }

    /// Anything that parses can be written back and means the same.
    #[test]
    fn parsed_configs_are_always_writable(text in "([a-c] = ([0-9]{1,3}|-[0-9]|\"[a'#]{0,3}\"|'[b\"]{0,3}'|\"\"\"[a\"'\n]{0,4}\"\"\"|\\[ *(1|'x') *, *\\]) *(#[a ]*)?[;\n]){0,6}") {
        if let Ok((c, _)) = parse(&text, "t") {
            let written = to_string(&c).expect("a parsed config is writable");
            let (back, _) = parse(&written, "t").expect("written text parses");
            prop_assert_eq!(pairs(&back), pairs(&c));
        }
    }
}
