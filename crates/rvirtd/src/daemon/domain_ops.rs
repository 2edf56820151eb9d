//! The domain commands that change one thing or tell one fact ([`DomainOp`]):
//! `setmem`, `setvcpus`, `send-key`, `metadata`/`desc`, `domrename`, and the
//! agent-backed `domtime`, `domhostname`, `domfsinfo`, `domifaddr`, `guestinfo`;
//! plus the screenshot stream. Flags and errors follow libvirt's QEMU driver:
//! `--live`/`--config`/`--current` pick the running domain and/or the
//! definition, a change to the definition is stored like a define.

use std::sync::Arc;

use domain_xml::Domain as Def;
use remote_protocol::procs::domain_ops::{
    DomainOp, DomainOpReply, ERR_NO_DOMAIN_METADATA, FsInfo, Interface, IpAddr, TimeRet, impact,
};
use remote_protocol::{ErrorCode, ErrorDomain, RemoteError, Response};
use serde_json::json;
use uuid::Uuid;

use super::vm::Vm;
use super::{Daemon, agent, keys, ops};
use crate::registry::DomainObj;

mod guestinfo;
mod metadata;
pub mod rename;
pub mod screenshot;
mod vcpus;

fn lookup(d: &Daemon, dom: &remote_protocol::Domain) -> Result<Arc<DomainObj>, RemoteError> {
    d.registry
        .by_uuid(&Uuid::from_bytes(dom.uuid))
        .ok_or_else(|| RemoteError::no_domain_uuid(&dom.uuid, &dom.name))
}

fn unsupported_flags(flags: u32) -> RemoteError {
    RemoteError::invalid_arg(&format!("unsupported flags (0x{flags:x})"))
}

/// `virDomainObjGetDefs`: which of the live domain and the definition a change
/// with `flags` (its impact bits) applies to.
pub(crate) fn impact_of(obj: &DomainObj, flags: u32) -> Result<(bool, bool), RemoteError> {
    let s = obj.snapshot();
    let (mut live, mut config) = (flags & impact::LIVE != 0, flags & impact::CONFIG != 0);
    if !live && !config {
        if s.is_active() {
            live = true;
        } else {
            config = true;
        }
    }
    if live && !s.is_active() {
        return Err(ops::not_running());
    }
    if config && !s.persistent {
        return Err(RemoteError::operation_invalid(
            "transient domains do not have any persistent config",
        ));
    }
    Ok((live, config))
}

/// The persistent definition with `f` applied, checked like a define (defaults,
/// libvirt's define-time rules) and stored durably; unlike a define it sends no
/// DEFINED event, as libvirt sends none for these changes.
pub(crate) fn change_config(
    d: &Daemon,
    obj: &DomainObj,
    f: impl FnOnce(&mut Def) -> Result<(), RemoteError>,
) -> Result<(), RemoteError> {
    let _defs = d.definitions.lock().unwrap_or_else(|e| e.into_inner());
    let s = obj.snapshot();
    let Some(cfg) = &s.config else {
        return Err(RemoteError::operation_invalid(
            "transient domains do not have any persistent config",
        ));
    };
    let mut def = cfg.domain().map_err(|m| RemoteError::xml_error(&m))?;
    f(&mut def)?;
    let mut def = ops::parse_definition(d, &def.to_xml())?;
    def.id = None;
    let text = def.to_xml();
    let stored = crate::stored::StoredDef::with_xml(&def, text);
    // The file first: the registry then says what the disk says.
    crate::store::atomic_write(&d.paths.config_file(&def.name), stored.xml().as_bytes())
        .map_err(|e| super::errors::store(&e))?;
    d.registry.define(stored).map_err(RemoteError::from)?;
    Ok(())
}

/// The running domain's definition with `f` applied: status file and live XML.
pub(crate) fn change_live(
    d: &Daemon,
    obj: &DomainObj,
    vm: &Vm,
    f: impl FnOnce(&mut Def) -> Result<(), RemoteError>,
) -> Result<(), RemoteError> {
    let mut def = vm.status().domain;
    f(&mut def)?;
    let live = Arc::new(def.clone());
    vm.update_status(d, |s| s.domain = def);
    obj.update(|s| s.live = Some(live));
    Ok(())
}

fn running(d: &Daemon, obj: &DomainObj) -> Result<Arc<Vm>, RemoteError> {
    d.vm(&obj.uuid).ok_or_else(ops::not_running)
}

fn monitor(vm: &Vm) -> Result<qemu::QmpClient, RemoteError> {
    vm.qmp().ok_or_else(|| {
        RemoteError::operation_failed(&format!(
            "the monitor of domain '{}' is not connected (reconnect is being retried)",
            vm.name
        ))
    })
}

#[allow(clippy::needless_pass_by_value)] // map_err(qmp_err)
fn qmp_err(e: qemu::QmpError) -> RemoteError {
    RemoteError::operation_failed(&format!("QEMU monitor: {e}"))
}

/// Answers one of the domain commands.
pub async fn handle(d: &Arc<Daemon>, op: DomainOp) -> Result<Response, RemoteError> {
    let obj = lookup(d, op.domain())?;
    let void = |r: Result<(), RemoteError>| r.map(|()| Response::Void);
    match op {
        DomainOp::SetMemory { kib, flags, .. } => void(set_memory(d, &obj, kib, flags).await),
        DomainOp::SetVcpus { nvcpus, flags, .. } => void(set_vcpus(d, &obj, nvcpus, flags).await),
        DomainOp::SendKey {
            codeset,
            holdtime,
            keycodes,
            flags,
            ..
        } => void(send_key(d, &obj, codeset, holdtime, &keycodes, flags).await),
        DomainOp::SetMetadata {
            typ,
            metadata,
            key,
            uri,
            flags,
            ..
        } => void(metadata::set(d, &obj, typ, metadata, key, uri, flags).await),
        DomainOp::GetMetadata {
            typ, uri, flags, ..
        } => metadata::get(&obj, typ, uri.as_deref(), flags).map(Response::String),
        DomainOp::Rename {
            new_name, flags, ..
        } => rename::rename(d, &obj, new_name, flags)
            .await
            .map(|()| Response::Int(0)),
        op => agent_op(d, &obj, op).await,
    }
}

/// DOMAIN_SET_MEMORY_FLAGS: the balloon target live, `<currentMemory>` (or with
/// MAXIMUM `<memory>`) in the definition.
async fn set_memory(
    d: &Arc<Daemon>,
    obj: &Arc<DomainObj>,
    kib: u64,
    flags: u32,
) -> Result<(), RemoteError> {
    const MAXIMUM: u32 = 4;
    if flags & !(impact::LIVE | impact::CONFIG | MAXIMUM) != 0 {
        return Err(unsupported_flags(flags));
    }
    let _job = obj.job.lock().await;
    let (live, config) = impact_of(obj, flags)?;
    let s = obj.snapshot();
    if flags & MAXIMUM != 0 {
        if live {
            return Err(RemoteError::operation_invalid(
                "cannot resize the maximum memory on an active domain",
            ));
        }
        return change_config(d, obj, |def| {
            def.memory_kib = kib;
            if def.current_memory_kib > kib {
                def.current_memory_kib = kib;
            }
            Ok(())
        });
    }
    let mut max = u64::MAX;
    if live && let Some(def) = s.definition(false) {
        max = def.memory_kib();
    }
    if config && let Some(def) = s.definition(true) {
        max = max.min(def.memory_kib());
    }
    if kib > max {
        return Err(RemoteError::invalid_arg(
            "cannot set memory higher than max memory",
        ));
    }
    if live {
        let vm = running(d, obj)?;
        if vm
            .status()
            .domain
            .devices
            .memballoon
            .as_ref()
            .is_none_or(|b| b.model == "none")
        {
            return Err(RemoteError::operation_invalid(
                "Unable to change memory of active domain without the balloon device and guest OS balloon driver",
            ));
        }
        monitor(&vm)?
            .execute("balloon", Some(json!({ "value": kib * 1024 })))
            .await
            .map_err(qmp_err)?;
        change_live(d, obj, &vm, |def| {
            def.current_memory_kib = kib;
            Ok(())
        })?;
    }
    if config {
        change_config(d, obj, |def| {
            def.current_memory_kib = kib;
            Ok(())
        })?;
    }
    Ok(())
}

/// DOMAIN_SET_VCPUS_FLAGS. The definition takes any count within its maximum;
/// a running domain gets vCPUs hot-plugged up to its maximum (`-smp
/// N,maxcpus=M`); taking them away (guest-cooperative eject) is refused.
async fn set_vcpus(
    d: &Arc<Daemon>,
    obj: &Arc<DomainObj>,
    nvcpus: u32,
    flags: u32,
) -> Result<(), RemoteError> {
    const MAXIMUM: u32 = 4;
    const GUEST: u32 = 8;
    const HOTPLUGGABLE: u32 = 16;
    if flags & !(impact::LIVE | impact::CONFIG | MAXIMUM | GUEST | HOTPLUGGABLE) != 0 {
        return Err(unsupported_flags(flags));
    }
    if nvcpus == 0 {
        return Err(RemoteError::invalid_arg(
            "argument unsupported: requested vcpu count must be greater than 0",
        ));
    }
    if flags & GUEST != 0 {
        // Onlining/offlining vCPUs inside the guest: an agent command.
        let vm = running(d, obj)?;
        agent::available(&vm, obj.snapshot().state).await?;
        return Err(RemoteError::new(
            ErrorCode::OPERATION_UNSUPPORTED,
            ErrorDomain::QEMU,
            "Operation not supported: setting the guest's online vCPUs through the agent is not implemented",
        ));
    }
    let _job = obj.job.lock().await;
    let (live, config) = impact_of(obj, flags)?;
    let s = obj.snapshot();
    if live {
        if flags & MAXIMUM != 0 {
            return Err(RemoteError::invalid_arg(
                "cannot change the maximum vCPU count of a running domain",
            ));
        }
        let def = s.definition(false).ok_or_else(ops::not_running)?;
        let (cur, max) = (def.vcpus_current(), def.vcpus_max());
        if nvcpus > max {
            return Err(RemoteError::invalid_arg(&format!(
                "requested vcpus is greater than max allowable vcpus for the live domain: {nvcpus} > {max}"
            )));
        }
        if nvcpus < cur {
            return Err(RemoteError::new(
                ErrorCode::OPERATION_UNSUPPORTED,
                ErrorDomain::QEMU,
                format!(
                    "Operation not supported: removing vCPUs from running domain '{}' \
                     ({cur} -> {nvcpus}) needs the guest to eject them, which rvirt does not \
                     do; use --config and restart",
                    s.name
                ),
            ));
        }
        if nvcpus > cur {
            let vm = running(d, obj)?;
            vcpus::plug(&monitor(&vm)?, cur, nvcpus).await?;
            change_live(d, obj, &vm, |def| {
                def.vcpu.current = (nvcpus != def.vcpu.count).then_some(nvcpus);
                Ok(())
            })?;
        }
    }
    if config {
        change_config(d, obj, |def| {
            if flags & MAXIMUM != 0 {
                def.vcpu.count = nvcpus;
                if def.vcpu.current.is_some_and(|c| c > nvcpus) {
                    def.vcpu.current = Some(nvcpus);
                }
            } else {
                if nvcpus > def.vcpu.count {
                    return Err(RemoteError::invalid_arg(&format!(
                        "requested vcpus is greater than max allowable vcpus for the persistent domain: {nvcpus} > {}",
                        def.vcpu.count
                    )));
                }
                def.vcpu.current = (nvcpus != def.vcpu.count).then_some(nvcpus);
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// DOMAIN_SEND_KEY: QMP `send-key` with the keys as QEMU key numbers.
async fn send_key(
    d: &Arc<Daemon>,
    obj: &Arc<DomainObj>,
    codeset: u32,
    holdtime: u32,
    keycodes: &[u32],
    flags: u32,
) -> Result<(), RemoteError> {
    if flags != 0 {
        return Err(unsupported_flags(flags));
    }
    if keycodes.is_empty() {
        return Err(RemoteError::invalid_arg(
            "nkeycodes in virDomainSendKey must be greater than 0",
        ));
    }
    let mut keys = Vec::with_capacity(keycodes.len());
    for &k in keycodes {
        let q = keys::to_qnum(codeset, k).ok_or_else(|| {
            RemoteError::internal(&format!(
                "cannot translate keycode {k} of {} codeset to qnum keycode",
                keys::codeset_name(codeset)
            ))
        })?;
        keys.push(json!({"type": "number", "data": q}));
    }
    let _job = obj.job.lock().await;
    let vm = running(d, obj)?;
    let mut args = json!({ "keys": keys });
    if holdtime > 0 {
        args["hold-time"] = json!(holdtime);
    }
    monitor(&vm)?
        .execute("send-key", Some(args))
        .await
        .map_err(qmp_err)?;
    Ok(())
}

/// The commands answered by the guest agent.
async fn agent_op(
    d: &Arc<Daemon>,
    obj: &Arc<DomainObj>,
    op: DomainOp,
) -> Result<Response, RemoteError> {
    const SRC_LEASE: u32 = 0;
    const SRC_AGENT: u32 = 1;
    // DOMAIN_GET_HOSTNAME: LEASE 1, AGENT 2.
    const HOSTNAME_LEASE: u32 = 1;
    let s = obj.snapshot();
    match &op {
        DomainOp::InterfaceAddresses { source, .. } if *source != SRC_AGENT => {
            // Leases come from libvirt's own DHCP (virtual networks) and ARP from
            // the host's table for the domain's MACs: a domain without interfaces
            // has no addresses either way.
            let vm = running(d, obj)?;
            if !vm.status().domain.devices.interfaces.is_empty() {
                return Err(RemoteError::new(
                    ErrorCode::OPERATION_UNSUPPORTED,
                    ErrorDomain::QEMU,
                    format!(
                        "Operation not supported: interface addresses from source {} \
                         (lease/arp) are not implemented; use --source agent",
                        if *source == SRC_LEASE { "lease" } else { "arp" }
                    ),
                ));
            }
            return Ok(Response::DomainOp(DomainOpReply::Interfaces(Vec::new())));
        }
        DomainOp::GetHostname { flags, .. } if flags & HOSTNAME_LEASE != 0 => {
            return Err(RemoteError::new(
                ErrorCode::OPERATION_UNSUPPORTED,
                ErrorDomain::QEMU,
                "Operation not supported: the hostname from DHCP leases needs libvirt's virtual networks",
            ));
        }
        _ => {}
    }
    let vm = running(d, obj)?;
    let agent = agent::available(&vm, s.state).await?;
    let t = agent::DEFAULT_TIMEOUT;
    match op {
        DomainOp::GetTime { .. } => {
            let v = agent.run(&json!({"execute": "guest-get-time"}), t).await?;
            let ns = v.as_i64().unwrap_or(0);
            Ok(Response::DomainOp(DomainOpReply::Time(TimeRet {
                seconds: ns.div_euclid(1_000_000_000),
                nseconds: ns.rem_euclid(1_000_000_000) as u32,
            })))
        }
        DomainOp::SetTime {
            seconds,
            nseconds,
            flags,
            ..
        } => {
            const SYNC: u32 = 1;
            let cmd = if flags & SYNC != 0 {
                json!({"execute": "guest-set-time"})
            } else {
                let ns = seconds
                    .checked_mul(1_000_000_000)
                    .and_then(|s| s.checked_add(i64::from(nseconds)))
                    .ok_or_else(|| RemoteError::invalid_arg("time too big for the guest agent"))?;
                json!({"execute": "guest-set-time", "arguments": {"time": ns}})
            };
            agent.run(&cmd, t).await?;
            Ok(Response::Void)
        }
        DomainOp::GetHostname { .. } => {
            let v = agent
                .run(&json!({"execute": "guest-get-host-name"}), t)
                .await?;
            Ok(Response::String(
                v["host-name"].as_str().unwrap_or_default().to_owned(),
            ))
        }
        DomainOp::GetFsInfo { .. } => {
            let v = agent
                .run(&json!({"execute": "guest-get-fsinfo"}), t)
                .await?;
            Ok(Response::DomainOp(DomainOpReply::FsInfo(fsinfo(&v))))
        }
        DomainOp::InterfaceAddresses { .. } => {
            let v = agent
                .run(&json!({"execute": "guest-network-get-interfaces"}), t)
                .await?;
            Ok(Response::DomainOp(DomainOpReply::Interfaces(interfaces(
                &v,
            ))))
        }
        DomainOp::GetGuestInfo { types, flags, .. } => {
            if flags != 0 {
                return Err(unsupported_flags(flags));
            }
            Ok(Response::DomainOp(DomainOpReply::GuestInfo(
                guestinfo::get(&agent, types).await?,
            )))
        }
        other => Err(RemoteError::internal(&format!(
            "unexpected domain operation {other:?}"
        ))),
    }
}

/// QEMU_PROC_DOMAIN_AGENT_COMMAND (`virsh qemu-agent-command`): the command
/// passed to the agent as written, its reply as text. `timeout` in seconds, with
/// libvirt's special values: -2 default, -1 block (bounded here by the default),
/// 0 do not wait (refused: the reply would be lost).
pub async fn agent_command(
    d: &Arc<Daemon>,
    obj: &Arc<DomainObj>,
    cmd: &str,
    timeout: i32,
    flags: u32,
) -> Result<String, RemoteError> {
    if flags != 0 {
        return Err(unsupported_flags(flags));
    }
    let t = match timeout {
        -2 | -1 => agent::DEFAULT_TIMEOUT,
        n if n > 0 => std::time::Duration::from_secs(n as u64),
        0 => {
            return Err(RemoteError::invalid_arg(
                "timeout 0 (no wait) is not supported: the reply would be lost",
            ));
        }
        n => return Err(RemoteError::invalid_arg(&format!("invalid timeout {n}"))),
    };
    let vm = running(d, obj)?;
    let agent = agent::available(&vm, obj.snapshot().state).await?;
    // As libvirt: the guest's state may now differ from what the daemon knows.
    const TAINT: &str = "custom-ga-command";
    if !vm.status().taints.iter().any(|t| t == TAINT) {
        tracing::warn!(
            "Domain id={} name='{}' uuid={} is tainted: {TAINT}",
            vm.id,
            vm.name,
            vm.uuid
        );
        vm.update_status(d, |s| s.taints.push(TAINT.to_owned()));
    }
    agent.passthrough(cmd, t).await
}

/// `guest-get-fsinfo` → libvirt's filesystem list (disks named by their serial
/// or bus address are not matched to targets here; the guest's names are kept).
fn fsinfo(v: &serde_json::Value) -> Vec<FsInfo> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|f| FsInfo {
            mountpoint: f["mountpoint"].as_str().unwrap_or_default().to_owned(),
            name: f["name"].as_str().unwrap_or_default().to_owned(),
            fstype: f["type"].as_str().unwrap_or_default().to_owned(),
            dev_aliases: f["disk"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| {
                    d["dev"]
                        .as_str()
                        .map(|s| s.trim_start_matches("/dev/").to_owned())
                })
                .collect(),
        })
        .collect()
}

/// `guest-network-get-interfaces` → libvirt's interface list.
fn interfaces(v: &serde_json::Value) -> Vec<Interface> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|i| Interface {
            name: i["name"].as_str().unwrap_or_default().to_owned(),
            hwaddr: i["hardware-address"].as_str().map(str::to_owned),
            addrs: i["ip-addresses"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| IpAddr {
                    typ: i32::from(a["ip-address-type"].as_str() == Some("ipv6")),
                    addr: a["ip-address"].as_str().unwrap_or_default().to_owned(),
                    prefix: a["prefix"].as_u64().unwrap_or(0) as u32,
                })
                .collect(),
        })
        .collect()
}

/// The error of a metadata kind libvirt does not know.
fn unknown_metadata_type(typ: i32) -> RemoteError {
    RemoteError::invalid_arg(&format!("unknown metadata type '{typ}'"))
}

/// The error for metadata that is not there.
fn no_metadata() -> RemoteError {
    RemoteError::new(
        ERR_NO_DOMAIN_METADATA,
        ErrorDomain::DOMAIN,
        "metadata not found: Requested metadata element is not present",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_replies_become_libvirt_lists() {
        let fs = fsinfo(&json!([{"name": "vda1", "mountpoint": "/", "type": "ext4",
            "disk": [{"dev": "/dev/vda", "bus-type": "virtio"}]}]));
        assert_eq!(fs[0].dev_aliases, vec!["vda".to_owned()]);
        let ifs = interfaces(
            &json!([{"name": "eth0", "hardware-address": "52:54:00:00:00:01",
            "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "10.0.0.2", "prefix": 24},
                             {"ip-address-type": "ipv6", "ip-address": "fe80::1", "prefix": 64}]}]),
        );
        assert_eq!(ifs[0].addrs[0].typ, 0);
        assert_eq!(ifs[0].addrs[1].typ, 1);
        assert_eq!(ifs[0].addrs[1].prefix, 64);
    }
}
