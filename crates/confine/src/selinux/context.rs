//! Security contexts (`user:role:type[:range]`) and the policy's
//! `virtual_domain_context` / `virtual_image_context` files; the daemon's own context.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::error::SelinuxError;
use super::host::SelinuxHost;
use crate::hostops::HostOps;

/// `user:role:type[:range]`; the range may itself contain `:` (`s0-s0:c0.c1023`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    pub user: String,
    pub role: String,
    pub type_: String,
    pub range: Option<String>,
}

impl FromStr for Context {
    type Err = SelinuxError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim_end_matches(['\0', '\n']).trim();
        let mut it = s.splitn(4, ':');
        let bad = || SelinuxError::BadContext(s.to_owned());
        let user = it.next().filter(|x| !x.is_empty()).ok_or_else(bad)?;
        let role = it.next().filter(|x| !x.is_empty()).ok_or_else(bad)?;
        let type_ = it.next().filter(|x| !x.is_empty()).ok_or_else(bad)?;
        let range = match it.next() {
            Some("") => return Err(bad()),
            Some(r) => Some(r.to_owned()),
            None => None,
        };
        if s.chars().any(char::is_whitespace) {
            return Err(bad());
        }
        Ok(Context {
            user: user.to_owned(),
            role: role.to_owned(),
            type_: type_.to_owned(),
            range,
        })
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.user, self.role, self.type_)?;
        if let Some(r) = &self.range {
            write!(f, ":{r}")?;
        }
        Ok(())
    }
}

impl Context {
    /// `base` with the daemon's user (and role, for a process context) and `range`
    /// (libvirt's `GenNewContext`).
    pub fn derive(base: &Context, own: &Context, range: &str, object: bool) -> Context {
        Context {
            user: own.user.clone(),
            role: if object {
                base.role.clone()
            } else {
                own.role.clone()
            },
            type_: base.type_.clone(),
            range: Some(range.to_owned()),
        }
    }
}

/// The policy's contexts for virtual machines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtContexts {
    /// QEMU with KVM (`svirt_t`).
    pub domain: Context,
    /// QEMU with TCG (`svirt_tcg_t`), when the policy has one.
    pub tcg_domain: Option<Context>,
    /// Image files (`svirt_image_t`).
    pub image: Context,
    /// Read-only content (`virt_content_t`), when the policy has one.
    pub content: Option<Context>,
}

fn context_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty())
}

impl VirtContexts {
    /// Parse the texts of `virtual_domain_context` and `virtual_image_context`.
    pub fn parse(domain_text: &str, image_text: &str) -> Result<Self, SelinuxError> {
        let mut d = context_lines(domain_text);
        let mut i = context_lines(image_text);
        let domain = d
            .next()
            .ok_or_else(|| SelinuxError::EmptyContextFile("virtual_domain_context".into()))?
            .parse()?;
        let tcg_domain = d.next().map(str::parse).transpose()?;
        let image = i
            .next()
            .ok_or_else(|| SelinuxError::EmptyContextFile("virtual_image_context".into()))?
            .parse()?;
        let content = i.next().map(str::parse).transpose()?;
        Ok(VirtContexts {
            domain,
            tcg_domain,
            image,
            content,
        })
    }

    /// Load them for a detected host.
    pub fn load(ops: &dyn HostOps, host: &SelinuxHost) -> Result<Self, SelinuxError> {
        let dir = host.contexts_dir();
        let read = |name: &str| {
            let path = dir.join(name);
            ops.read_file(&path)
                .map_err(|source| SelinuxError::Read { path, source })
        };
        Self::parse(
            &read("virtual_domain_context")?,
            &read("virtual_image_context")?,
        )
    }
}

/// The daemon's own context (`/proc/self/attr/current`).
pub fn current_context(ops: &dyn HostOps) -> Result<Context, SelinuxError> {
    let path = PathBuf::from("/proc/self/attr/current");
    let text = ops
        .read_file(&path)
        .map_err(|source| SelinuxError::Read { path, source })?;
    text.parse()
}
