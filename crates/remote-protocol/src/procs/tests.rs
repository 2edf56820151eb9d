use super::*;
use crate::xdr::{FixedChars, XdrError, from_bytes, to_bytes};

#[test]
fn numbers_round_trip() {
    for p in Procedure::ALL {
        assert_eq!(Procedure::from_number(p.number()), Some(*p));
    }
    assert_eq!(Procedure::from_number(8), None);
    assert_eq!(Procedure::DomainLookupByName.number(), 23);
    assert_eq!(Procedure::ConnectListAllDomains.number(), 273);
    assert_eq!(Procedure::DomainGetMessages.number(), 426);
    assert_eq!(
        Procedure::DomainDefineXml.mutating_api(),
        Some("virDomainDefineXML")
    );
    assert_eq!(Procedure::DomainGetXmlDesc.mutating_api(), None);
}

#[test]
fn wire_sizes_match_libvirt() {
    let info = DomainInfo {
        state: 5,
        max_mem: 1,
        memory: 2,
        nr_virt_cpu: 3,
        cpu_time: 4,
    };
    assert_eq!(to_bytes(&info).len(), 32);
    let node = NodeInfo {
        model: FixedChars::from_str_lossy("x86_64"),
        memory: 1,
        cpus: 2,
        mhz: 3,
        nodes: 1,
        sockets: 1,
        cores: 2,
        threads: 1,
    };
    assert_eq!(to_bytes(&node).len(), 160);
    assert_eq!(to_bytes(&JobInfo::default()).len(), 4 + 11 * 8);
    assert_eq!(to_bytes(&ControlInfo::default()).len(), 16);
    let dom = Domain {
        name: "vm1".into(),
        uuid: [1; 16],
        id: -1,
    };
    assert_eq!(to_bytes(&dom).len(), 8 + 16 + 4);
    assert_eq!(from_bytes::<Domain>(&to_bytes(&dom)).unwrap(), dom);
}

proptest::proptest! {
    #[test]
    fn decoding_random_args_never_panics(
        idx in 0..Procedure::ALL.len(),
        body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..96),
    ) {
        let _ = Request::decode(Procedure::ALL[idx], &body);
    }
}

#[test]
fn typed_param_union_uses_real_discriminants() {
    let p = TypedParam {
        field: "cpu.time".into(),
        value: TypedParamValue::ULLong(7),
    };
    let b = to_bytes(&p);
    // field (4 + 8), discriminant 4, u64.
    assert_eq!(b.len(), 12 + 4 + 8);
    assert_eq!(&b[12..16], &[0, 0, 0, 4]);
    assert_eq!(from_bytes::<TypedParam>(&b).unwrap(), p);
    for v in [
        TypedParamValue::Int(-1),
        TypedParamValue::UInt(1),
        TypedParamValue::LLong(-5),
        TypedParamValue::Double(0.5),
        TypedParamValue::Boolean(true),
        TypedParamValue::String("x".into()),
    ] {
        assert_eq!(from_bytes::<TypedParamValue>(&to_bytes(&v)).unwrap(), v);
    }
    assert!(matches!(
        from_bytes::<TypedParamValue>(&[0, 0, 0, 0, 0, 0, 0, 0]),
        Err(XdrError::BadDiscriminant { value: 0, .. })
    ));
}

#[test]
fn folded_requests() {
    let dom = Domain {
        name: "vm".into(),
        uuid: [9; 16],
        id: 3,
    };
    let body = to_bytes(&DomainArgs { dom: dom.clone() });
    assert_eq!(
        Request::decode(Procedure::DomainCreate, &body).unwrap(),
        Some(Request::DomainCreate {
            dom: dom.clone(),
            flags: 0
        })
    );
    let body = to_bytes(&DomainFlagsArgs {
        dom: dom.clone(),
        flags: 4,
    });
    assert_eq!(
        Request::decode(Procedure::DomainUndefineFlags, &body).unwrap(),
        Some(Request::DomainUndefine { dom, flags: 4 })
    );
    // Trailing garbage is an error, void args must be empty.
    assert!(Request::decode(Procedure::ConnectGetType, &[0, 0, 0, 0]).is_err());
    assert_eq!(Request::decode(Procedure::AuthList, &[]).unwrap(), None);
}

#[test]
fn every_family_but_the_servers_decodes_to_a_request_of_that_family() {
    let dom = Domain {
        name: "vm".into(),
        uuid: [7; 16],
        id: 1,
    };
    let dom_flags = to_bytes(&DomainFlagsArgs {
        dom: dom.clone(),
        flags: 0,
    });
    let dom_only = to_bytes(&DomainArgs { dom });
    for p in Procedure::ALL {
        let bodies: [&[u8]; 3] = [&[], &dom_only, &dom_flags];
        let decoded: Vec<_> = bodies.iter().map(|b| Request::decode(*p, b)).collect();
        if p.family() == Family::Server {
            assert!(decoded.iter().all(|d| matches!(d, Ok(None))), "{p:?}");
            continue;
        }
        // Whatever the body, never "not mine"; any request that decodes is
        // of the procedure's family.
        for d in decoded {
            match d {
                Ok(Some(r)) => assert_eq!(r.family(), p.family(), "{p:?}"),
                Ok(None) => panic!("{p:?} decodes to no request"),
                Err(_) => {}
            }
        }
    }
}
