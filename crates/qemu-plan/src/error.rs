//! The planner's error: every problem of a domain, each named, in one value.

use std::fmt;

/// One reason a domain cannot be started as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// What it is about, e.g. `disk 'vda'`; empty for the domain as a whole.
    pub subject: String,
    /// A sentence fragment, e.g. `bus 'usb' is not supported`.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.subject.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.subject, self.message)
        }
    }
}

/// Why no launch plan could be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The domain asks for things rvirt cannot do (or that the host/emulator
    /// lacks). Every problem found is listed, not only the first.
    #[error("{}", render(domain, problems))]
    Domain {
        domain: String,
        problems: Vec<Problem>,
    },
}

fn render(domain: &str, problems: &[Problem]) -> String {
    let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
    format!("domain '{domain}': {}", list.join("; "))
}

impl PlanError {
    /// The individual problems.
    pub fn problems(&self) -> &[Problem] {
        match self {
            PlanError::Domain { problems, .. } => problems,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_domain_and_every_problem() {
        let e = PlanError::Domain {
            domain: "web1".into(),
            problems: vec![
                Problem {
                    subject: "disk 'vda'".into(),
                    message: "bus 'usb' is not supported".into(),
                },
                Problem {
                    subject: String::new(),
                    message: "<genid> is not supported yet".into(),
                },
            ],
        };
        assert_eq!(
            e.to_string(),
            "domain 'web1': disk 'vda': bus 'usb' is not supported; <genid> is not supported yet"
        );
        assert_eq!(e.problems().len(), 2);
    }
}
