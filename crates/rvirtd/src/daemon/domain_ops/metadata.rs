//! `virsh metadata` and `virsh desc`: DOMAIN_SET_METADATA / DOMAIN_GET_METADATA
//! on the title, the description, or one `<metadata>` element by namespace URI,
//! in the live domain and/or the definition.

use domain_xml::xml::{Pos, RawElement, XmlWriter};
use remote_protocol::RemoteError;
use remote_protocol::procs::domain_ops::{impact, metadata_type};
use remote_protocol::server::LifecycleEvent;

use super::{
    Daemon, Def, DomainObj, change_config, change_live, impact_of, no_metadata, running,
    unknown_metadata_type, unsupported_flags,
};

/// What a SET_METADATA call changes, checked before anything is touched.
enum Change {
    Title(Option<String>),
    Description(Option<String>),
    Element { uri: String, el: Option<RawElement> },
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// Parses the caller's element and puts it in namespace `uri` as `key:`.
fn element(xml: &str, key: &str, uri: &str) -> Result<RawElement, RemoteError> {
    let doc = roxmltree::Document::parse(xml)
        .map_err(|e| RemoteError::xml_error(&format!("(metadata_xml): {e}")))?;
    let mut el = RawElement::from_node(doc.root_element(), &|_| Pos { line: 0, col: 0 });
    el.ns = Some(uri.to_owned());
    el.prefix = Some(key.to_owned());
    Ok(el)
}

fn change_of(
    typ: i32,
    metadata: Option<String>,
    key: Option<String>,
    uri: Option<String>,
) -> Result<Change, RemoteError> {
    Ok(match typ {
        metadata_type::TITLE => {
            let t = non_empty(metadata);
            if t.as_deref().is_some_and(|t| t.contains('\n')) {
                return Err(RemoteError::invalid_arg("title can't contain newlines"));
            }
            Change::Title(t)
        }
        metadata_type::DESCRIPTION => Change::Description(non_empty(metadata)),
        metadata_type::ELEMENT => {
            let uri = uri.ok_or_else(|| {
                RemoteError::invalid_arg("uri in virDomainSetMetadata must not be NULL")
            })?;
            let el = match non_empty(metadata) {
                None => None,
                Some(xml) => {
                    let key = key.filter(|k| !k.is_empty()).ok_or_else(|| {
                        RemoteError::invalid_arg("key in virDomainSetMetadata must not be NULL")
                    })?;
                    Some(element(&xml, &key, &uri)?)
                }
            };
            Change::Element { uri, el }
        }
        other => return Err(unknown_metadata_type(other)),
    })
}

fn apply(def: &mut Def, change: &Change) {
    match change {
        Change::Title(t) => def.title.clone_from(t),
        Change::Description(t) => def.description.clone_from(t),
        Change::Element { uri, el } => {
            let mut list = def.metadata.take().unwrap_or_default();
            list.retain(|e| e.ns.as_deref() != Some(uri.as_str()));
            if let Some(e) = el {
                list.push(e.clone());
            }
            def.metadata = (!list.is_empty()).then_some(list);
        }
    }
}

/// DOMAIN_SET_METADATA.
pub(super) async fn set(
    d: &std::sync::Arc<Daemon>,
    obj: &std::sync::Arc<DomainObj>,
    typ: i32,
    metadata: Option<String>,
    key: Option<String>,
    uri: Option<String>,
    flags: u32,
) -> Result<(), RemoteError> {
    if flags & !(impact::LIVE | impact::CONFIG) != 0 {
        return Err(unsupported_flags(flags));
    }
    let change = change_of(typ, metadata, key, uri)?;
    let _job = obj.job.lock().await;
    let (live, config) = impact_of(obj, flags)?;
    if live {
        let vm = running(d, obj)?;
        change_live(d, obj, &vm, |def| {
            apply(def, &change);
            Ok(())
        })?;
    }
    if config {
        change_config(d, obj, |def| {
            apply(def, &change);
            Ok(())
        })?;
    }
    let s = obj.snapshot();
    let dom = remote_protocol::Domain {
        name: s.name.clone(),
        uuid: *s.uuid.as_bytes(),
        id: s.id.unwrap_or(-1),
    };
    let nsuri = match &change {
        Change::Element { uri, .. } => Some(uri.clone()),
        _ => None,
    };
    let _ = d
        .events
        .send(LifecycleEvent::metadata_change(dom, typ, nsuri));
    Ok(())
}

/// The definition a read with `flags` means: live, persistent, or current.
fn def_for(obj: &DomainObj, flags: u32) -> Result<Def, RemoteError> {
    let (live, config) = (flags & impact::LIVE != 0, flags & impact::CONFIG != 0);
    if live && config {
        return Err(RemoteError::invalid_arg(
            "Flags 'VIR_DOMAIN_AFFECT_LIVE' and 'VIR_DOMAIN_AFFECT_CONFIG' are mutually exclusive",
        ));
    }
    let s = obj.snapshot();
    if live && !s.is_active() {
        return Err(super::ops::not_running());
    }
    let want_live = live || (!config && s.is_active());
    if want_live && let Some(l) = &s.live {
        return Ok((**l).clone());
    }
    match &s.config {
        Some(c) => c.domain().map_err(|m| RemoteError::xml_error(&m)),
        None => s
            .live
            .as_ref()
            .map(|l| (**l).clone())
            .ok_or_else(|| s.not_found()),
    }
}

/// DOMAIN_GET_METADATA.
pub(super) fn get(
    obj: &DomainObj,
    typ: i32,
    uri: Option<&str>,
    flags: u32,
) -> Result<String, RemoteError> {
    if flags & !(impact::LIVE | impact::CONFIG) != 0 {
        return Err(unsupported_flags(flags));
    }
    let def = def_for(obj, flags)?;
    match typ {
        metadata_type::TITLE => def.title.ok_or_else(no_metadata),
        metadata_type::DESCRIPTION => def.description.ok_or_else(no_metadata),
        metadata_type::ELEMENT => {
            let uri = uri.ok_or_else(|| {
                RemoteError::invalid_arg("uri in virDomainGetMetadata must not be NULL")
            })?;
            let el = def
                .metadata
                .iter()
                .flatten()
                .find(|e| e.ns.as_deref() == Some(uri))
                .ok_or_else(no_metadata)?;
            let mut w = XmlWriter::new();
            w.raw(el);
            Ok(w.finish().trim_end().to_owned())
        }
        other => Err(unknown_metadata_type(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def() -> Def {
        domain_xml::parse_domain(
            "<domain type='qemu'><name>m</name><memory>131072</memory><os><type>hvm</type></os></domain>",
        )
        .unwrap()
        .value
    }

    #[test]
    fn element_set_replace_remove() {
        let mut d = def();
        let uri = Some("http://example.org/rvirt".to_owned());
        let c = change_of(2, Some("<x>1</x>".into()), Some("rv".into()), uri.clone()).unwrap();
        apply(&mut d, &c);
        let xml = d.to_xml();
        assert!(
            xml.contains("<rv:x xmlns:rv=\"http://example.org/rvirt\">1</rv:x>")
                || xml.contains("<rv:x xmlns:rv='http://example.org/rvirt'>1</rv:x>"),
            "{xml}"
        );
        let c = change_of(2, Some("<y/>".into()), Some("rv".into()), uri.clone()).unwrap();
        apply(&mut d, &c);
        assert_eq!(d.metadata.as_ref().unwrap().len(), 1);
        assert_eq!(d.metadata.as_ref().unwrap()[0].name, "y");
        apply(&mut d, &change_of(2, None, None, uri).unwrap());
        assert!(d.metadata.is_none());
    }

    #[test]
    fn title_rules() {
        assert!(change_of(1, Some("a\nb".into()), None, None).is_err());
        assert!(change_of(7, None, None, None).is_err());
        assert!(change_of(2, Some("<x/>".into()), None, Some("u".into())).is_err());
        assert!(change_of(2, Some("<x".into()), Some("k".into()), Some("u".into())).is_err());
        let mut d = def();
        apply(&mut d, &change_of(1, Some("T".into()), None, None).unwrap());
        assert_eq!(d.title.as_deref(), Some("T"));
        apply(
            &mut d,
            &change_of(1, Some(String::new()), None, None).unwrap(),
        );
        assert_eq!(d.title, None);
    }
}
