//! An inactive definition as the registry keeps it: its canonical XML and the few
//! facts reads ask for, about half a kilobyte instead of the ~7 kB a parsed model
//! with its defaults takes. The model is parsed again when a job needs it (a start,
//! a grant in the definition): canonical XML parses back to the same model (the
//! round trip is what the domain-xml property and fuzz tests check).

use domain_xml::Domain;
use uuid::Uuid;

#[derive(Debug)]
pub struct StoredDef {
    pub name: String,
    pub uuid: Uuid,
    /// `to_xml()` of the definition, without an id.
    xml: Box<str>,
    pub memory_kib: u64,
    pub current_memory_kib: u64,
    pub vcpus: u32,
    pub vcpus_current: Option<u32>,
    pub os_type: String,
}

impl StoredDef {
    /// From a definition (its id is not kept).
    pub fn new(def: &Domain) -> StoredDef {
        if def.id.is_some() {
            let mut d = def.clone();
            d.id = None;
            return Self::with_xml(&d, d.to_xml());
        }
        Self::with_xml(def, def.to_xml())
    }

    /// From a definition and its `to_xml()` (without an id), already made.
    pub fn with_xml(def: &Domain, xml: String) -> StoredDef {
        StoredDef {
            name: def.name.clone(),
            uuid: def.uuid,
            xml: xml.into_boxed_str(),
            memory_kib: def.memory_kib,
            current_memory_kib: def.current_memory_kib,
            vcpus: def.vcpu.count,
            vcpus_current: def.vcpu.current,
            os_type: def.os.os_type.to_string(),
        }
    }

    /// The canonical XML (what `dumpxml --inactive` shows).
    pub fn xml(&self) -> &str {
        &self.xml
    }

    /// The model, parsed again.
    pub fn domain(&self) -> Result<Domain, String> {
        domain_xml::parse_domain(&self.xml)
            .map(|p| p.value)
            .map_err(|e| format!("stored definition of '{}': {e}", self.name))
    }
}

/// A definition as a read sees it: the live model of a running domain, or a stored
/// definition.
#[derive(Clone, Copy, Debug)]
pub enum DefView<'a> {
    Model(&'a Domain),
    Stored(&'a StoredDef),
}

impl DefView<'_> {
    pub fn memory_kib(&self) -> u64 {
        match self {
            DefView::Model(d) => d.memory_kib,
            DefView::Stored(s) => s.memory_kib,
        }
    }

    /// `<currentMemory>`, else `<memory>`.
    pub fn current_memory_kib(&self) -> u64 {
        let c = match self {
            DefView::Model(d) => d.current_memory_kib,
            DefView::Stored(s) => s.current_memory_kib,
        };
        if c > 0 { c } else { self.memory_kib() }
    }

    /// `<vcpu>`: the maximum.
    pub fn vcpus_max(&self) -> u32 {
        match self {
            DefView::Model(d) => d.vcpu.count,
            DefView::Stored(s) => s.vcpus,
        }
    }

    /// `<vcpu current>`, else the maximum.
    pub fn vcpus_current(&self) -> u32 {
        match self {
            DefView::Model(d) => d.vcpu.current.unwrap_or(d.vcpu.count),
            DefView::Stored(s) => s.vcpus_current.unwrap_or(s.vcpus),
        }
    }

    pub fn os_type(&self) -> String {
        match self {
            DefView::Model(d) => d.os.os_type.to_string(),
            DefView::Stored(s) => s.os_type.clone(),
        }
    }

    /// The XML, with `id` on `<domain>` when given.
    pub fn to_xml(&self, id: Option<i32>) -> String {
        match self {
            DefView::Stored(s) if id.is_none() => s.xml().to_owned(),
            DefView::Stored(s) => match s.domain() {
                Ok(mut d) => {
                    d.id = id;
                    d.to_xml()
                }
                Err(_) => s.xml().to_owned(),
            },
            DefView::Model(d) if d.id == id => d.to_xml(),
            DefView::Model(d) => {
                let mut d = (*d).clone();
                d.id = id;
                d.to_xml()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_definitions_parse_back_to_the_model() {
        let text = "<domain type='kvm'><name>a</name><uuid>11111111-2222-3333-4444-555555555555</uuid>\
            <memory unit='MiB'>256</memory><currentMemory unit='MiB'>128</currentMemory>\
            <vcpu current='1'>2</vcpu><os><type machine='pc'>hvm</type></os></domain>";
        let mut def = domain_xml::parse_domain(text).unwrap().value;
        def.id = Some(4);
        let s = StoredDef::new(&def);
        def.id = None;
        assert_eq!(s.domain().unwrap(), def);
        assert!(!s.xml().contains("id="));
        let v = DefView::Stored(&s);
        assert_eq!(
            (
                v.memory_kib(),
                v.current_memory_kib(),
                v.vcpus_max(),
                v.vcpus_current()
            ),
            (262_144, 131_072, 2, 1)
        );
        assert_eq!(v.os_type(), "hvm");
        assert!(v.to_xml(Some(7)).starts_with("<domain type='kvm' id='7'>"));
        assert_eq!(v.to_xml(None), DefView::Model(&def).to_xml(None));
    }
}
