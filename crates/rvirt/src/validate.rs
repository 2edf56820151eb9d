//! `rvirt validate`: offline checks of domain XML, with positions, and the define-time
//! rules the daemon applies (`domain_xml::validate`).

use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::Context;
use domain_xml::Severity;

fn read_input(file: &str) -> anyhow::Result<String> {
    if file == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading standard input")?;
        Ok(s)
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read '{file}'"))
    }
}

/// Returns failure when any file has an error; warnings alone still pass.
pub fn run(files: &[String], canonical: bool) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for file in files {
        let text = match read_input(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{file}: error: {e:#}");
                failed = true;
                continue;
            }
        };
        match domain_xml::parse_domain(&text) {
            Err(e) => {
                let pos = e.pos.map(|p| format!("{p}:")).unwrap_or_default();
                eprintln!("{file}:{pos} error: {}", e.message);
                failed = true;
            }
            Ok(parsed) => {
                for w in &parsed.warnings {
                    let sev = match w.severity {
                        Severity::Warning => "warning",
                        Severity::Error => "error",
                    };
                    eprintln!("{file}:{}: {sev}: {}", w.pos, w.message);
                }
                // The define-time rules (no position: they are about the whole definition).
                for e in domain_xml::validate_all(&parsed.value) {
                    eprintln!("{file}: error: {}: {e}", e.kind.prefix());
                    failed = true;
                }
                if canonical {
                    out.write_all(parsed.value.to_xml().as_bytes())?;
                }
            }
        }
    }
    out.flush()?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
