//! The `qemu:` namespace (`http://libvirt.org/schemas/domain/qemu/1.0`): command-line
//! passthrough, capability overrides, deprecation behaviour and device property
//! overrides. Recognised by namespace URI whatever prefix the document uses; always
//! written back with the prefix `qemu` declared on `<domain>`.

use crate::xml::{El, ParseError, XmlWriter};
use crate::xml_enum;

pub const QEMU_NS: &str = "http://libvirt.org/schemas/domain/qemu/1.0";

/// `<qemu:env name= [value=]/>`; a missing value stays missing (QEMU gets an empty
/// variable), `value=''` stays an explicit empty value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QemuEnv {
    pub name: String,
    pub value: Option<String>,
}

xml_enum! {
    pub enum DeprecationBehavior { None = "none", Omit = "omit", Reject = "reject", Crash = "crash" }
}

xml_enum! {
    pub enum PropertyType { String = "string", Signed = "signed", Unsigned = "unsigned", Bool = "bool", Remove = "remove" }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverrideProperty {
    pub name: String,
    pub ptype: PropertyType,
    pub value: Option<String>,
}

/// `<qemu:device alias=><qemu:frontend><qemu:property .../></qemu:frontend></qemu:device>`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverrideDevice {
    pub alias: String,
    pub frontend: Vec<OverrideProperty>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QemuNs {
    pub args: Vec<String>,
    pub env: Vec<QemuEnv>,
    pub caps_add: Vec<String>,
    pub caps_del: Vec<String>,
    pub deprecation: Option<DeprecationBehavior>,
    pub overrides: Vec<OverrideDevice>,
    /// Containers given empty (`<qemu:commandline/>`): kept, so nothing the user
    /// wrote moves or disappears on a round trip.
    pub empty: Vec<&'static str>,
}

/// libvirt's rule for passthrough variable names: a letter or `_`, then letters,
/// digits or `_`.
pub fn check_env_name(name: &str) -> Result<(), &'static str> {
    let mut chars = name.chars();
    match chars.next() {
        None => Err("an empty qemu environment variable name is not allowed"),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
            Err("a qemu environment variable name must begin with a letter or underscore")
        }
        _ if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            Err("a qemu environment variable name may contain only letters, digits and underscores")
        }
        _ => Ok(()),
    }
}

impl QemuNs {
    pub fn is_empty(&self) -> bool {
        self.empty.is_empty()
            && self.args.is_empty()
            && self.env.is_empty()
            && self.caps_add.is_empty()
            && self.caps_del.is_empty()
            && self.deprecation.is_none()
            && self.overrides.is_empty()
    }

    /// Whether the domain carries passthrough that libvirt marks as `custom-argv`.
    pub fn has_custom_argv(&self) -> bool {
        !self.args.is_empty() || !self.env.is_empty()
    }

    /// Reads every qemu-namespace child of `<domain>`.
    pub fn read(domain: &El<'_, '_>) -> Result<QemuNs, ParseError> {
        let mut ns = QemuNs::default();
        for cl in domain.children_ns(QEMU_NS, "commandline") {
            ns.open_container(&cl, "commandline")?;
            for c in cl.children_in_ns(QEMU_NS) {
                ns.read_commandline_item(&c)?;
                c.done()?;
            }
            cl.done()?;
        }
        for caps in domain.children_ns(QEMU_NS, "capabilities") {
            ns.open_container(&caps, "capabilities")?;
            for c in caps.children_in_ns(QEMU_NS) {
                ns.read_capability(&c)?;
                c.done()?;
            }
            caps.done()?;
        }
        if let Some(d) = domain.child_ns(QEMU_NS, "deprecation") {
            ns.deprecation = Some(d.req_enum("behavior")?);
            d.done()?;
        }
        for ov in domain.children_ns(QEMU_NS, "override") {
            ns.open_container(&ov, "override")?;
            for dev in ov.children_ns(QEMU_NS, "device") {
                ns.overrides.push(read_override_device(dev)?);
            }
            ov.done()?;
        }
        // A container that also appeared with content is written once, with it.
        let has = [
            ("commandline", !ns.args.is_empty() || !ns.env.is_empty()),
            (
                "capabilities",
                !ns.caps_add.is_empty() || !ns.caps_del.is_empty(),
            ),
            ("override", !ns.overrides.is_empty()),
        ];
        ns.empty
            .retain(|e| !has.iter().any(|(n, full)| n == e && *full));
        Ok(ns)
    }

    /// Refuses text in a container and notes one without elements, which
    /// is written back as it was.
    fn open_container(&mut self, c: &El<'_, '_>, name: &'static str) -> Result<(), ParseError> {
        if !c.text().trim().is_empty() {
            return Err(c.err(format!("unexpected text inside <qemu:{}>", c.name())));
        }
        if c.node().children().all(|n| !n.is_element()) && !self.empty.contains(&name) {
            self.empty.push(name);
        }
        Ok(())
    }

    /// `<qemu:arg>` or `<qemu:env>` inside `<qemu:commandline>`.
    fn read_commandline_item(&mut self, c: &El<'_, '_>) -> Result<(), ParseError> {
        match c.name() {
            "arg" => {
                let v = c.attr("value").ok_or_else(|| {
                    c.err("<qemu:arg> needs a 'value' (the command-line argument)")
                })?;
                self.args.push(v.to_owned());
            }
            "env" => {
                let name = c
                    .attr("name")
                    .ok_or_else(|| c.err("<qemu:env> needs a 'name'"))?;
                check_env_name(name).map_err(|m| c.attr_err("name", format!("{m}: '{name}'")))?;
                self.env.push(QemuEnv {
                    name: name.to_owned(),
                    value: c.attr_string("value"),
                });
            }
            other => {
                return Err(c.err(format!(
                    "unknown element <qemu:{other}> in <qemu:commandline>"
                )));
            }
        }
        Ok(())
    }

    /// `<qemu:add>` or `<qemu:del>` inside `<qemu:capabilities>`.
    fn read_capability(&mut self, c: &El<'_, '_>) -> Result<(), ParseError> {
        let cap = c
            .attr("capability")
            .ok_or_else(|| c.err(format!("<qemu:{}> needs a 'capability'", c.name())))?
            .to_owned();
        match c.name() {
            "add" => self.caps_add.push(cap),
            "del" => self.caps_del.push(cap),
            other => {
                return Err(c.err(format!(
                    "unknown element <qemu:{other}> in <qemu:capabilities>"
                )));
            }
        }
        Ok(())
    }
}

/// One `<qemu:device>` of `<qemu:override>` with its frontend properties.
fn read_override_device(dev: El<'_, '_>) -> Result<OverrideDevice, ParseError> {
    let alias = dev.req_attr("alias")?.to_owned();
    let mut frontend = Vec::new();
    for fe in dev.children_ns(QEMU_NS, "frontend") {
        for p in fe.children_ns(QEMU_NS, "property") {
            frontend.push(read_override_property(p)?);
        }
        fe.done()?;
    }
    dev.done()?;
    Ok(OverrideDevice { alias, frontend })
}

/// One `<qemu:property>`, its value checked against its type.
fn read_override_property(p: El<'_, '_>) -> Result<OverrideProperty, ParseError> {
    let name = p.req_attr("name")?.to_owned();
    let ptype = p.req_enum::<PropertyType>("type")?;
    let value = p.attr_string("value");
    match (ptype, &value) {
        (PropertyType::Remove, Some(_)) => {
            return Err(p.attr_err("value", "a property of type 'remove' takes no value"));
        }
        (PropertyType::Remove, None) => {}
        (_, None) => {
            return Err(p.err(format!("property '{name}' needs a 'value'")));
        }
        (PropertyType::Signed, Some(v)) if v.parse::<i64>().is_err() => {
            return Err(p.attr_err("value", format!("'{v}' is not a signed integer")));
        }
        (PropertyType::Unsigned, Some(v)) if v.parse::<u64>().is_err() => {
            return Err(p.attr_err("value", format!("'{v}' is not an unsigned integer")));
        }
        (PropertyType::Bool, Some(v)) if v != "true" && v != "false" => {
            return Err(p.attr_err("value", format!("'{v}' is not 'true' or 'false'")));
        }
        _ => {}
    }
    p.done()?;
    Ok(OverrideProperty { name, ptype, value })
}

impl QemuNs {
    pub fn write(&self, w: &mut XmlWriter<'_>) {
        if !self.args.is_empty() || !self.env.is_empty() || self.empty.contains(&"commandline") {
            w.start("qemu:commandline");
            for a in &self.args {
                w.start("qemu:arg").attr("value", a);
                w.end();
            }
            for e in &self.env {
                w.start("qemu:env")
                    .attr("name", &e.name)
                    .attr_opt("value", e.value.as_deref());
                w.end();
            }
            w.end();
        }
        if !self.caps_add.is_empty()
            || !self.caps_del.is_empty()
            || self.empty.contains(&"capabilities")
        {
            w.start("qemu:capabilities");
            for c in &self.caps_add {
                w.start("qemu:add").attr("capability", c);
                w.end();
            }
            for c in &self.caps_del {
                w.start("qemu:del").attr("capability", c);
                w.end();
            }
            w.end();
        }
        if let Some(d) = self.deprecation {
            w.start("qemu:deprecation").attr("behavior", d);
            w.end();
        }
        if !self.overrides.is_empty() || self.empty.contains(&"override") {
            w.start("qemu:override");
            for d in &self.overrides {
                w.start("qemu:device").attr("alias", &d.alias);
                w.start("qemu:frontend");
                for p in &d.frontend {
                    w.start("qemu:property")
                        .attr("name", &p.name)
                        .attr("type", p.ptype);
                    w.attr_opt("value", p.value.as_deref());
                    w.end();
                }
                w.end();
                w.end();
            }
            w.end();
        }
    }
}
