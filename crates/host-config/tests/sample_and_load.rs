//! The shipped sample file and reading config files from disk.

use std::fs;

use host_config::{ConfigError, HostConfig, IdSpec, KNOWN_KEYS, sample};

#[test]
fn sample_parses_to_defaults() {
    let (config, warnings) = HostConfig::parse(sample(), "qemu.conf.sample").unwrap();
    assert_eq!(config, HostConfig::default());
    assert!(warnings.is_empty());
}

/// Removes the '#' from the default-value lines (`#key = …` and the list
/// lines that continue them), leaving prose and `# key = …` examples alone.
fn uncomment_defaults(text: &str) -> String {
    let mut out = String::new();
    let mut in_list = false;
    for line in text.lines() {
        let is_default = line
            .strip_prefix('#')
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_alphabetic()));
        if is_default || in_list {
            let body = &line[1..];
            if is_default {
                in_list = body.contains('[') && !body.contains(']');
            } else if body.trim_start().starts_with(']') {
                in_list = false;
            }
            out.push_str(body);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[test]
fn uncommented_sample_still_gives_defaults() {
    let text = uncomment_defaults(sample());
    let (config, warnings) = HostConfig::parse(&text, "uncommented").unwrap();
    assert_eq!(config, HostConfig::default(), "{text}");
    assert!(warnings.is_empty());
}

#[test]
fn sample_mentions_every_key_and_every_line_is_a_comment() {
    for key in KNOWN_KEYS {
        assert!(
            sample().contains(&format!("{key} = ")),
            "sample does not show '{key}'"
        );
    }
    for line in sample().lines() {
        assert!(line.is_empty() || line.starts_with('#'), "{line:?}");
    }
    // Each default-value line names a distinct known key.
    let text = uncomment_defaults(sample());
    let (config, _) = host_config::grammar::parse(&text, "s").unwrap();
    let shown: Vec<_> = config.pairs().map(|(k, _)| k).collect();
    for key in &shown {
        assert!(KNOWN_KEYS.contains(key), "{key}");
    }
}

#[test]
fn missing_file_means_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let (config, warnings) = HostConfig::load(dir.path().join("qemu.conf")).unwrap();
    assert_eq!(config, HostConfig::default());
    assert!(warnings.is_empty());
}

#[test]
fn load_names_the_path_in_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qemu.conf");
    fs::write(&path, "user = \"+0\"\nbogus = 1\n").unwrap();
    let (config, warnings) = HostConfig::load(&path).unwrap();
    assert_eq!(config.user, IdSpec::Id(0));
    assert_eq!(
        warnings[0].to_string(),
        format!(
            "{}:2: unknown key 'bogus' is ignored (rvirt does not use it)",
            path.display()
        )
    );

    fs::write(&path, "\nuser = 5\n").unwrap();
    let e = HostConfig::load(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}:2: 'user' must be a string", path.display())
    );
}

#[test]
fn load_rejects_non_utf8_with_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qemu.conf");
    fs::write(&path, b"a = 1\n# caf\xe9\n").unwrap();
    let e = HostConfig::load(&path).unwrap_err();
    assert!(matches!(e, ConfigError::NotUtf8 { line: 2, .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!("{}:2: the file is not valid UTF-8", path.display())
    );
}

#[test]
fn unreadable_path_is_an_error() {
    // A directory exists but cannot be read as a file.
    let dir = tempfile::tempdir().unwrap();
    let e = HostConfig::load(dir.path()).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with(&format!("cannot read {}: ", dir.path().display()))
    );
}
