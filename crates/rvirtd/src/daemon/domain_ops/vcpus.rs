//! vCPU hot-plug for `setvcpus --live`: QEMU lists the CPU slots of
//! `-smp N,maxcpus=M` (`query-hotpluggable-cpus`); the empty ones are filled in
//! topology order with `device_add`, each named `vcpuI` after its vCPU index,
//! as libvirt names them.

use remote_protocol::{ErrorCode, ErrorDomain, RemoteError};
use serde_json::Value;

use super::qmp_err;

/// The topology key of a slot, for plugging in order.
fn slot_key(e: &Value) -> Vec<i64> {
    [
        "socket-id",
        "die-id",
        "cluster-id",
        "module-id",
        "core-id",
        "thread-id",
    ]
    .iter()
    .map(|k| e["props"][*k].as_i64().unwrap_or(0))
    .collect()
}

/// The `device_add` arguments for the empty slots that take the count from
/// `cur` to `want`, or why not.
pub(super) fn plan(slots: &Value, cur: u32, want: u32) -> Result<Vec<Value>, String> {
    let mut free: Vec<&Value> = slots
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e.get("qom-path").is_none())
        .collect();
    free.sort_by_key(|e| slot_key(e));
    let need = (want - cur) as usize;
    if free.len() < need {
        return Err(format!(
            "QEMU has {} free vCPU slots, {need} are needed",
            free.len()
        ));
    }
    let mut out = Vec::with_capacity(need);
    for (i, e) in free.into_iter().take(need).enumerate() {
        if e["vcpus-count"].as_u64().unwrap_or(1) != 1 {
            return Err("vCPU slots of more than one thread are not supported".into());
        }
        let mut args = e["props"].clone();
        let Some(obj) = args.as_object_mut() else {
            return Err("a vCPU slot without properties".into());
        };
        obj.remove("node-id");
        obj.insert("driver".into(), e["type"].clone());
        obj.insert(
            "id".into(),
            Value::from(format!("vcpu{}", cur as usize + i)),
        );
        out.push(args);
    }
    Ok(out)
}

/// Plugs vCPUs until `want` are there.
pub(super) async fn plug(q: &qemu::QmpClient, cur: u32, want: u32) -> Result<(), RemoteError> {
    let slots = q
        .execute("query-hotpluggable-cpus", None)
        .await
        .map_err(qmp_err)?;
    let adds = plan(&slots, cur, want).map_err(|m| {
        RemoteError::new(
            ErrorCode::OPERATION_UNSUPPORTED,
            ErrorDomain::QEMU,
            format!("Operation not supported: vCPU hot-plug: {m}"),
        )
    })?;
    for a in adds {
        q.execute("device_add", Some(a)).await.map_err(qmp_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fills_empty_slots_in_order() {
        // QEMU lists the slots last first.
        let slots = json!([
            {"props": {"core-id": 0, "thread-id": 0, "socket-id": 2}, "vcpus-count": 1, "type": "qemu64-x86_64-cpu"},
            {"props": {"core-id": 0, "thread-id": 0, "socket-id": 1}, "vcpus-count": 1, "type": "qemu64-x86_64-cpu"},
            {"props": {"core-id": 0, "thread-id": 0, "socket-id": 0}, "vcpus-count": 1,
             "qom-path": "/machine/unattached/device[0]", "type": "qemu64-x86_64-cpu"}
        ]);
        let adds = plan(&slots, 1, 2).unwrap();
        assert_eq!(
            adds,
            vec![json!({"core-id": 0, "thread-id": 0, "socket-id": 1,
                        "driver": "qemu64-x86_64-cpu", "id": "vcpu1"})]
        );
        assert_eq!(plan(&slots, 1, 3).unwrap().len(), 2);
        assert!(plan(&slots, 1, 4).is_err());
    }
}
