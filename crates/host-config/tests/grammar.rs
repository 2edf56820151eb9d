//! The generic grammar: every feature and every syntax error.

use host_config::grammar::{Found, MAX_LIST_DEPTH, parse};
use host_config::{Config, SyntaxError, SyntaxErrorKind, Value, WarningKind};

fn ok(text: &str) -> Config {
    let (config, warnings) = parse(text, "qemu.conf").expect("should parse");
    assert!(warnings.is_empty(), "unexpected warnings: {warnings:?}");
    config
}

fn one(text: &str) -> Value {
    let config = ok(text);
    assert_eq!(config.entries.len(), 1, "{config:?}");
    config.entries[0].value.clone()
}

fn err(text: &str) -> SyntaxError {
    parse(text, "qemu.conf").expect_err("should fail")
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

#[test]
fn empty_and_comment_only_files() {
    assert_eq!(ok(""), Config::default());
    assert_eq!(
        ok("\n\n  \t\n# just a comment\n   # indented\n"),
        Config::default()
    );
}

#[test]
fn double_and_single_quoted_strings() {
    assert_eq!(one(r#"a = "x y""#), s("x y"));
    assert_eq!(one("a = 'x y'"), s("x y"));
    assert_eq!(one(r#"a = 'say "hi"'"#), s(r#"say "hi""#));
    assert_eq!(one(r#"a = "it's""#), s("it's"));
    assert_eq!(one(r#"a = """#), s(""));
    assert_eq!(one("a = ''"), s(""));
}

#[test]
fn no_escape_sequences() {
    assert_eq!(one(r#"a = "C:\new\t""#), s(r"C:\new\t"));
}

#[test]
fn triple_quoted_strings_span_lines() {
    let config = ok("a = \"\"\"line one\nline \"two\" 'x'\n\"\"\"\nb = 1\n");
    assert_eq!(config.entries[0].value, s("line one\nline \"two\" 'x'\n"));
    assert_eq!(
        config.entries[1].line, 4,
        "line counting continues after it"
    );
    assert_eq!(one(r#"a = """""""#), s(""));
    assert_eq!(one(r#"a = """"x""""#), s("\"x"));
}

#[test]
fn integers() {
    assert_eq!(one("a = 0"), Value::Unsigned(0));
    assert_eq!(one("a = 42"), Value::Unsigned(42));
    assert_eq!(one("a = +42"), Value::Unsigned(42));
    assert_eq!(one("a = 007"), Value::Unsigned(7));
    assert_eq!(one("a = -42"), Value::Signed(-42));
    assert_eq!(one("a = -0"), Value::Signed(0));
    assert_eq!(one("a = 18446744073709551615"), Value::Unsigned(u64::MAX));
    assert_eq!(one("a = -9223372036854775808"), Value::Signed(i64::MIN));
}

#[test]
fn integer_out_of_range() {
    for text in ["a = 18446744073709551616", "a = -9223372036854775809"] {
        let e = err(text);
        assert!(
            matches!(e.kind, SyntaxErrorKind::IntegerOutOfRange { .. }),
            "{e}"
        );
        assert_eq!((e.line, e.column), (1, 5));
    }
    assert_eq!(
        err("a = 99999999999999999999").to_string(),
        "qemu.conf:1:5: integer '99999999999999999999' in 'a' is out of range"
    );
}

#[test]
fn invalid_integers() {
    for (text, word) in [
        ("a = 1.5", "1.5"),
        ("a = 0x10", "0x10"),
        ("a = 12abc", "12abc"),
        ("a = +", "+"),
        ("a = -", "-"),
        ("a = +-1", "+-1"),
        ("a = 1e3", "1e3"),
    ] {
        let e = err(text);
        assert_eq!(
            e.kind,
            SyntaxErrorKind::InvalidInteger {
                name: "a".into(),
                text: word.into()
            },
            "{text}"
        );
        assert_eq!(e.column, 5);
    }
    assert_eq!(
        err("a = 1.5").to_string(),
        "qemu.conf:1:5: '1.5' in 'a' is not an integer (only decimal whole numbers are allowed)"
    );
}

#[test]
fn no_booleans_or_bare_words() {
    let e = err("flag = true");
    assert_eq!(
        e.kind,
        SyntaxErrorKind::ExpectedValue {
            name: "flag".into(),
            found: Found::Char('t')
        }
    );
    assert_eq!(
        e.to_string(),
        "qemu.conf:1:8: expected a value for 'flag' (a quoted string, an integer or a list; \
         flags are written 0 or 1), found 't'"
    );
}

#[test]
fn missing_value() {
    let e = err("a =\n");
    assert_eq!(
        e.kind,
        SyntaxErrorKind::ExpectedValue {
            name: "a".into(),
            found: Found::EndOfLine
        }
    );
    let e = err("a = ");
    assert_eq!(
        e.kind,
        SyntaxErrorKind::ExpectedValue {
            name: "a".into(),
            found: Found::EndOfFile
        }
    );
    // The value must start on the same line as the '='.
    assert!(matches!(
        err("a =\n  1").kind,
        SyntaxErrorKind::ExpectedValue { .. }
    ));
}

#[test]
fn lists() {
    assert_eq!(one("a = []"), Value::List(vec![]));
    assert_eq!(one("a = [ ]"), Value::List(vec![]));
    assert_eq!(
        one(r#"a = [ "x", 'y', 3, -4 ]"#),
        Value::List(vec![s("x"), s("y"), Value::Unsigned(3), Value::Signed(-4)])
    );
    assert_eq!(one(r#"a = ["x",]"#), Value::List(vec![s("x")]));
    assert_eq!(
        one("a = [[1], []]"),
        Value::List(vec![
            Value::List(vec![Value::Unsigned(1)]),
            Value::List(vec![])
        ])
    );
}

#[test]
fn lists_span_lines_and_hold_comments() {
    let text = r#"
a = [   # opening comment
    "one",  # first
    # a whole comment line

    "two"   # no comma yet
    ,
    """three
""",
]   # after the list
b = 2
"#;
    let config = ok(text);
    assert_eq!(
        config.entries[0].value,
        Value::List(vec![s("one"), s("two"), s("three\n")])
    );
    assert_eq!(config.entries[1].line, 11);
}

#[test]
fn bad_list_separator() {
    let e = err(r#"a = [ "x" "y" ]"#);
    assert_eq!(
        e.kind,
        SyntaxErrorKind::ExpectedListSeparator {
            name: "a".into(),
            found: Found::Char('"')
        }
    );
    assert_eq!(e.column, 11);
    assert_eq!(
        e.to_string(),
        "qemu.conf:1:11: expected ',' or ']' in the list for 'a', found '\"'"
    );
}

#[test]
fn bad_list_items() {
    assert!(matches!(
        err("a = [ , ]").kind,
        SyntaxErrorKind::ExpectedValue {
            found: Found::Char(','),
            ..
        }
    ));
    assert!(matches!(
        err("a = [ 1,, ]").kind,
        SyntaxErrorKind::ExpectedValue {
            found: Found::Char(','),
            ..
        }
    ));
    assert!(matches!(
        err("a = [ yes ]").kind,
        SyntaxErrorKind::ExpectedValue {
            found: Found::Char('y'),
            ..
        }
    ));
}

#[test]
fn unterminated_list_points_at_its_bracket() {
    let e = err("x = 1\nlist = [ \"a\",\n  \"b\"\n");
    assert_eq!(
        e.kind,
        SyntaxErrorKind::UnterminatedList {
            name: "list".into()
        }
    );
    assert_eq!((e.line, e.column), (2, 8));
    assert_eq!(
        e.to_string(),
        "qemu.conf:2:8: unterminated list for 'list': the closing ']' is missing"
    );
    assert!(matches!(
        err("a = [").kind,
        SyntaxErrorKind::UnterminatedList { .. }
    ));
    assert!(matches!(
        err("a = [ 1, # ]").kind,
        SyntaxErrorKind::UnterminatedList { .. }
    ));
}

#[test]
fn list_depth_is_capped() {
    let deep_ok = format!(
        "a = {}{}",
        "[".repeat(MAX_LIST_DEPTH),
        "]".repeat(MAX_LIST_DEPTH)
    );
    ok(&deep_ok);
    let too_deep = format!(
        "a = {}{}",
        "[".repeat(MAX_LIST_DEPTH + 1),
        "]".repeat(MAX_LIST_DEPTH + 1)
    );
    let e = err(&too_deep);
    assert_eq!(e.kind, SyntaxErrorKind::ListTooDeep { name: "a".into() });
    assert_eq!(e.column, 5 + MAX_LIST_DEPTH as u32);
    // Must not overflow the stack on absurd input either.
    err(&format!("a = {}", "[".repeat(100_000)));
}

#[test]
fn unterminated_strings_point_at_the_opening_quote() {
    let e = err("\nuser = \"qemu\n");
    assert_eq!(
        e.kind,
        SyntaxErrorKind::UnterminatedString {
            name: "user".into(),
            quote: "'\"'"
        }
    );
    assert_eq!((e.line, e.column), (2, 8));
    assert_eq!(
        e.to_string(),
        "qemu.conf:2:8: unterminated string for 'user': the closing '\"' is missing"
    );

    let e = err("user = 'qemu");
    assert_eq!(
        e.to_string(),
        "qemu.conf:1:8: unterminated string for 'user': the closing \"'\" is missing"
    );

    let e = err("a = 1\nb = \"\"\"never\nclosed\"\"\n");
    assert_eq!((e.line, e.column), (2, 5));
    assert_eq!(
        e.to_string(),
        "qemu.conf:2:5: unterminated string for 'b': the closing '\"\"\"' is missing"
    );

    // A CR ends a one-line string just like LF does.
    assert!(matches!(
        err("a = \"x\ry\"").kind,
        SyntaxErrorKind::UnterminatedString { .. }
    ));
}

#[test]
fn missing_equals_names_file_line_and_column() {
    let text = format!("{}user  x\n", "# filler\n".repeat(11));
    let e = err(&text);
    assert_eq!(e.to_string(), "qemu.conf:12:7: expected '=' after 'user'");
    assert_eq!(
        e.kind,
        SyntaxErrorKind::ExpectedEquals {
            name: "user".into()
        }
    );
    assert!(matches!(
        err("user\n").kind,
        SyntaxErrorKind::ExpectedEquals { .. }
    ));
    assert!(matches!(
        err("user").kind,
        SyntaxErrorKind::ExpectedEquals { .. }
    ));
}

#[test]
fn source_name_appears_in_messages() {
    let e = parse("a 1", "/etc/rvirt/qemu.conf").unwrap_err();
    assert_eq!(e.file, "/etc/rvirt/qemu.conf");
    assert!(e.to_string().starts_with("/etc/rvirt/qemu.conf:1:3: "));
}

#[test]
fn names() {
    let config = ok("a = 1\nAbc_9 = 2\nx_ = 3\n");
    let names: Vec<_> = config.pairs().map(|(n, _)| n).collect();
    assert_eq!(names, ["a", "Abc_9", "x_"]);
}

#[test]
fn bad_names() {
    for (text, found) in [
        ("_a = 1", '_'),
        ("1a = 1", '1'),
        ("= 1", '='),
        ("\"a\" = 1", '"'),
        ("é = 1", 'é'),
    ] {
        let e = err(text);
        assert_eq!(
            e.kind,
            SyntaxErrorKind::ExpectedName {
                found: Found::Char(found)
            },
            "{text}"
        );
        assert_eq!((e.line, e.column), (1, 1));
    }
    assert_eq!(
        err("  1a = 1").to_string(),
        "qemu.conf:1:3: expected a key name (a letter, then letters, digits or '_'), found '1'"
    );
    // A character outside the name alphabet ends the name.
    let e = err("us-er = 1");
    assert_eq!(e.to_string(), "qemu.conf:1:3: expected '=' after 'us'");
}

#[test]
fn semicolons_separate_statements() {
    let config = ok("a = 1; b = 'two';c=[3]\nd = 4;\n");
    let pairs: Vec<_> = config.pairs().collect();
    assert_eq!(
        pairs,
        [
            ("a", &Value::Unsigned(1)),
            ("b", &s("two")),
            ("c", &Value::List(vec![Value::Unsigned(3)])),
            ("d", &Value::Unsigned(4)),
        ]
    );
    assert!(config.entries.iter().all(|e| e.line == 1 || e.name == "d"));
    assert_eq!(config.get("d").unwrap().line, 2);
    // A separator with no statement before it is not a statement.
    assert!(matches!(
        err("a = 1;;").kind,
        SyntaxErrorKind::ExpectedName {
            found: Found::Char(';')
        }
    ));
}

#[test]
fn something_after_a_value() {
    let e = err("a = 1 2");
    assert_eq!(
        e.kind,
        SyntaxErrorKind::ExpectedSeparator {
            name: "a".into(),
            found: Found::Char('2')
        }
    );
    assert_eq!(
        e.to_string(),
        "qemu.conf:1:7: expected ';' or a new line after the value of 'a', found '2'"
    );
    assert!(matches!(
        err(r#"a = "x""y""#).kind,
        SyntaxErrorKind::ExpectedSeparator { .. }
    ));
    // Four quotes: the triple string closes early and a '"' is left over.
    assert!(
        err(r#"a = """x"""""#)
            .to_string()
            .contains("after the value of 'a'")
    );
}

#[test]
fn comments_after_values() {
    let config = ok("a = 1 # one\nb = \"#not a comment\" # real comment\nc = [] #\n");
    assert_eq!(config.get("a").unwrap().value, Value::Unsigned(1));
    assert_eq!(config.get("b").unwrap().value, s("#not a comment"));
    assert_eq!(config.get("c").unwrap().value, Value::List(vec![]));
}

#[test]
fn crlf_line_endings() {
    let config = ok("a = 1\r\nb = \"x\"\r\n\r\n# c\r\nc = [\r\n 1,\r\n]\r\n");
    assert_eq!(config.get("b").unwrap().value, s("x"));
    assert_eq!(config.get("c").unwrap().line, 5);
}

#[test]
fn columns_count_characters_not_bytes() {
    let e = err("a = 'ééé' x");
    assert_eq!(e.column, 11);
}

#[test]
fn duplicate_keys_first_wins_with_warning() {
    let (config, warnings) =
        parse("user = \"a\"\n\ngroup = \"g\"\nuser = \"b\"\n", "qemu.conf").unwrap();
    assert_eq!(config.get("user").unwrap().value, s("a"));
    assert_eq!(config.entries.len(), 2, "the duplicate is dropped");
    assert_eq!(warnings.len(), 1);
    assert_eq!(
        warnings[0].kind,
        WarningKind::DuplicateKey {
            key: "user".into(),
            first_line: 1
        }
    );
    assert_eq!(warnings[0].line, 4);
    assert_eq!(
        warnings[0].to_string(),
        "qemu.conf:4: 'user' is already set on line 1; this later setting is ignored"
    );
}

#[test]
fn every_duplicate_is_reported() {
    let (_, warnings) = parse("a = 1; a = 2\na = 3\n", "f").unwrap();
    let lines: Vec<_> = warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, [1, 2]);
}

#[test]
fn entry_lines() {
    let config = ok("\n# c\na = 1\n\n  b = [\n1]\nc = 2\n");
    let lines: Vec<_> = config.entries.iter().map(|e| e.line).collect();
    assert_eq!(lines, [3, 5, 7]);
}
