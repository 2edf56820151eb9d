//! Reads `qemu.conf`, the host-wide configuration of libvirt's QEMU driver,
//! the way rvirt's daemon needs it.
//!
//! Two layers:
//!
//! * [`grammar`] parses libvirt's generic config syntax into an untyped
//!   [`Config`] tree, and [`writer`] turns such a tree back into text.
//! * [`keys`] turns the tree into a typed [`HostConfig`], checking each key
//!   rvirt honours. The typed values live in [`settings`].
//!
//! # The grammar
//!
//! * Statements are `name = value`, ended by a newline or `;`. `#` starts a
//!   comment, on its own line or after a value.
//! * Names start with an ASCII letter, followed by letters, digits or `_`.
//! * Values are strings (`"…"` or `'…'` on one line, `"""…"""` across
//!   lines; no escape sequences), decimal integers (a leading `-` makes a
//!   signed value, anything else, `+` included, an unsigned one), or lists
//!   `[ v, v, ]` which may span lines, hold comments and end with a comma.
//!   There are no booleans or floats: flags are `0` / `1`.
//! * If a name repeats, the first statement wins and the later one draws a
//!   [`Warning`].
//! * Syntax errors say `file:line:column: …`; type errors `file:line: …`.
//!
//! Where rvirt is stricter than libvirt, on purpose: lists nest at most
//! [`grammar::MAX_LIST_DEPTH`] deep, files must be UTF-8, and paths in
//! path-valued keys must be absolute.
//!
//! # Keys
//!
//! [`KNOWN_KEYS`] lists them; [`sample()`] is a commented qemu.conf showing
//! each with its default, and [`HostConfig::default`] matches it. Keys rvirt
//! does not know produce a [`Warning`], never an error, so a libvirt
//! qemu.conf with settings rvirt lacks still loads.
//!
//! `landlock` is rvirt's own key, not a libvirt one: it turns Landlock
//! confinement of the QEMU process on (1, the default) or off (0). A
//! libvirt daemon reading the same file ignores it.
//!
//! ```
//! use host_config::{HostConfig, IdSpec};
//!
//! let (config, warnings) = HostConfig::parse("user = \"+0\"\nvnc_listen = \"::\"\n", "qemu.conf")?;
//! assert_eq!(config.user, IdSpec::Id(0));
//! assert_eq!(warnings[0].to_string(),
//!            "qemu.conf:2: unknown key 'vnc_listen' is ignored (rvirt does not use it)");
//! # Ok::<(), host_config::ConfigError>(())
//! ```

pub mod grammar;
pub mod keys;
pub mod sample;
pub mod settings;
pub mod warning;
pub mod writer;

pub use grammar::{Config, Entry, SyntaxError, SyntaxErrorKind, Value};
pub use keys::{ConfigError, HostConfig, KNOWN_KEYS};
pub use sample::sample;
pub use settings::{
    CgroupController, DeprecationBehavior, HugetlbfsMount, IdSpec, IdSpecError, KVM_GROUP,
    Namespace, SeccompSandbox, SecurityDriver, SecurityDrivers,
};
pub use warning::{Warning, WarningKind};
pub use writer::{WriteError, to_string};
