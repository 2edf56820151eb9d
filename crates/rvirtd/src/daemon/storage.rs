//! The storage procedures ([`Family::Storage`](remote_protocol::procs::Family))
//! answered from the `dir` storage driver ([`crate::storage`]), with libvirt's
//! error codes in the storage error domain.

use remote_protocol::procs::storage::pool_state;
use remote_protocol::procs::{StoragePool, StorageReply, StorageRequest, StorageVol};
use remote_protocol::{ErrorCode, ErrorDomain, RemoteError};
use uuid::Uuid;

use super::Daemon;
use crate::storage::{self, ErrorKind, Pool, Storage, StorageError, Vol};

/// `VIR_STORAGE_XML_INACTIVE`.
const XML_INACTIVE: u32 = 1;
/// `VIR_STORAGE_VOL_FILE`.
const VOL_FILE: i32 = 0;
/// `VIR_STORAGE_VOL_GET_PHYSICAL`.
const GET_PHYSICAL: u32 = 1;
/// `VIR_STORAGE_POOL_CREATE_WITH_BUILD` and its two variants.
const CREATE_WITH_BUILD: u32 = 0b111;

/// The libvirt error for a driver error, with libvirt's message prefixes.
pub fn remote_error(e: &StorageError) -> RemoteError {
    let (code, prefix) = match e.kind() {
        ErrorKind::NoPool => (ErrorCode::NO_STORAGE_POOL, "Storage pool not found: "),
        ErrorKind::NoVol => (ErrorCode::NO_STORAGE_VOL, "Storage volume not found: "),
        ErrorKind::Invalid => (
            ErrorCode::OPERATION_INVALID,
            "Requested operation is not valid: ",
        ),
        ErrorKind::Failed => (ErrorCode::OPERATION_FAILED, "operation failed: "),
        ErrorKind::Xml => (ErrorCode::XML_ERROR, "XML error: "),
        ErrorKind::Unsupported => (ErrorCode::CONFIG_UNSUPPORTED, "unsupported configuration: "),
        ErrorKind::System => (ErrorCode::SYSTEM_ERROR, ""),
        ErrorKind::VolExists => (ErrorCode::STORAGE_VOL_EXIST, ""),
        ErrorKind::Internal => (ErrorCode::INTERNAL_ERROR, "internal error: "),
        ErrorKind::InvalidArg => (ErrorCode::INVALID_ARG, "invalid argument: "),
    };
    RemoteError::new(code, ErrorDomain::STORAGE, format!("{prefix}{e}"))
}

fn wire_pool(p: &Pool) -> StoragePool {
    StoragePool {
        name: p.def.name.clone(),
        uuid: *p.def.uuid.as_bytes(),
    }
}

fn wire_vol(v: &Vol) -> StorageVol {
    StorageVol {
        pool: v.pool.clone(),
        name: v.name.clone(),
        key: v.path.clone(),
    }
}

/// The pool a call names, found by UUID as libvirt's driver does (the name
/// only tells the error message).
fn pool_of(s: &Storage, p: &StoragePool) -> Result<Pool, StorageError> {
    let uuid = Uuid::from_bytes(p.uuid);
    s.by_uuid(uuid).map_err(|_| StorageError::NoPool {
        uuid,
        name: p.name.clone(),
    })
}

/// The volume a call names: in its running pool, by name.
fn vol_of(s: &Storage, v: &StorageVol) -> Result<Vol, StorageError> {
    s.vol_by_name(&v.pool, &v.name)
}

/// Answers one storage call.
pub fn handle(d: &Daemon, req: StorageRequest) -> Result<StorageReply, RemoteError> {
    answer(&d.storage, req).map_err(|e| remote_error(&e))
}

fn answer(s: &Storage, req: StorageRequest) -> Result<StorageReply, StorageError> {
    use StorageReply as R;
    use StorageRequest as Q;
    Ok(match req {
        Q::ListAllPools {
            need_results,
            flags,
        } => R::Pools {
            pools: s
                .all()
                .iter()
                .filter(|p| storage::list_matches(p, flags))
                .map(wire_pool)
                .collect(),
            need_results,
        },
        Q::NumOfPools { active } => {
            R::Int(s.all().iter().filter(|p| p.active == active).count() as i32)
        }
        Q::ListPoolNames { active, max } => R::Names(
            s.all()
                .into_iter()
                .filter(|p| p.active == active)
                .map(|p| p.def.name)
                .take(usize::try_from(max).unwrap_or(0))
                .collect(),
        ),
        Q::PoolCapabilities { .. } => R::String(storage::xml::pool_capabilities_xml()),
        Q::LookupByName(name) => R::Pool(wire_pool(&s.by_name(&name)?)),
        Q::LookupByUuid(uuid) => R::Pool(wire_pool(&s.by_uuid(Uuid::from_bytes(uuid))?)),
        Q::LookupByVolume(v) => R::Pool(wire_pool(&s.by_name(&v.pool)?)),
        Q::LookupByTargetPath(path) => R::Pool(wire_pool(&s.by_target(&path)?)),
        Q::DefineXml { xml, .. } => R::Pool(wire_pool(&s.define(&xml)?)),
        Q::CreateXml { xml, flags } => R::Pool(wire_pool(
            &s.create_transient(&xml, flags & CREATE_WITH_BUILD != 0)?,
        )),
        Q::Create(p, flags) => {
            s.start(&pool_of(s, &p)?.def.name, flags)?;
            R::Void
        }
        Q::Build(p, _) => {
            s.build(&pool_of(s, &p)?.def.name)?;
            R::Void
        }
        Q::Destroy(p) => {
            s.destroy(&pool_of(s, &p)?.def.name)?;
            R::Void
        }
        Q::Delete(p, _) => {
            s.delete(&pool_of(s, &p)?.def.name)?;
            R::Void
        }
        Q::Undefine(p) => {
            s.undefine(&pool_of(s, &p)?.def.name)?;
            R::Void
        }
        Q::Refresh(p, _) => {
            s.refresh(&pool_of(s, &p)?.def.name)?;
            R::Void
        }
        Q::GetInfo(p) => {
            let p = pool_of(s, &p)?;
            let z = s.sizes(&p);
            R::PoolInfo {
                state: if p.active {
                    pool_state::RUNNING
                } else {
                    pool_state::INACTIVE
                },
                capacity: z.capacity,
                allocation: z.allocation,
                available: z.available,
            }
        }
        Q::GetXmlDesc(p, flags) => {
            R::String(s.pool_xml(&pool_of(s, &p)?, flags & XML_INACTIVE != 0))
        }
        Q::GetAutostart(p) => R::Int(i32::from(pool_of(s, &p)?.autostart)),
        Q::SetAutostart(p, on) => {
            s.set_autostart(&pool_of(s, &p)?.def.name, on)?;
            R::Void
        }
        Q::IsActive(p) => R::Int(i32::from(pool_of(s, &p)?.active)),
        Q::IsPersistent(p) => R::Int(i32::from(pool_of(s, &p)?.persistent)),
        Q::NumOfVolumes(p) => {
            let p = s.active(&pool_of(s, &p)?.def.name)?;
            R::Int(storage::volumes(&p)?.len() as i32)
        }
        Q::ListVolumes(p, max) => {
            let p = s.active(&pool_of(s, &p)?.def.name)?;
            R::Names(
                storage::volumes(&p)?
                    .into_iter()
                    .map(|v| v.name)
                    .take(usize::try_from(max).unwrap_or(0))
                    .collect(),
            )
        }
        Q::ListAllVolumes { pool, need_results } => {
            let p = s.active(&pool_of(s, &pool)?.def.name)?;
            R::Vols {
                vols: storage::volumes(&p)?.iter().map(wire_vol).collect(),
                need_results,
            }
        }
        Q::VolLookupByName(p, name) => {
            let p = pool_of(s, &p)?;
            R::Vol(wire_vol(&s.vol_by_name(&p.def.name, &name)?))
        }
        Q::VolCreateXml { pool, xml, flags } => {
            let p = pool_of(s, &pool)?;
            R::Vol(wire_vol(&s.create_vol(&p.def.name, &xml, flags)?))
        }
        Q::VolResize {
            vol,
            capacity,
            flags,
        } => {
            s.resize_vol(&vol.pool, &vol.name, capacity, flags)?;
            R::Void
        }
        Q::VolCreateXmlFrom {
            pool, xml, from, ..
        } => {
            let p = pool_of(s, &pool)?;
            let src = vol_of(s, &from)?;
            R::Vol(wire_vol(&s.clone_vol(&p.def.name, &xml, &src)?))
        }
        Q::VolDelete(v, _) => {
            s.delete_vol(&v.pool, &v.name)?;
            R::Void
        }
        Q::VolLookupByKey(key) => R::Vol(wire_vol(&s.vol_by_path(&key, true)?)),
        Q::VolLookupByPath(path) => R::Vol(wire_vol(&s.vol_by_path(&path, false)?)),
        Q::VolGetInfo(v, flags) => {
            let f = storage::vol_facts(&vol_of(s, &v)?)?;
            R::VolInfo {
                typ: VOL_FILE,
                capacity: f.capacity,
                // VIR_STORAGE_VOL_GET_PHYSICAL asks for the file's size instead.
                allocation: if flags & GET_PHYSICAL != 0 {
                    f.physical
                } else {
                    f.allocation
                },
            }
        }
        Q::VolGetXmlDesc(v, _) => {
            R::String(storage::xml::vol_xml(&storage::vol_facts(&vol_of(s, &v)?)?))
        }
        Q::VolGetPath(v) => R::String(vol_of(s, &v)?.path),
    })
}

/// Resolves the `<disk type='volume'>` disks of a definition about to start
/// into the files they name (`<source pool= volume=>` → `type='file'`,
/// `file=` the volume's path), so the planner and every confinement layer
/// treat them as any file disk. The pool must be running, as libvirt requires.
pub fn resolve_volume_disks(d: &Daemon, def: &mut domain_xml::Domain) -> Result<(), RemoteError> {
    for disk in &mut def.devices.disks {
        if disk.disk_type != domain_xml::model::devices::DiskType::Volume {
            continue;
        }
        let src = disk.source.get_or_insert_with(Default::default);
        let (Some(pool), Some(volume)) = (src.attrs.get("pool"), src.attrs.get("volume")) else {
            return Err(RemoteError::new(
                ErrorCode::XML_ERROR,
                ErrorDomain::DOMAIN,
                format!(
                    "XML error: disk '{}' of type 'volume' needs <source pool= volume=>",
                    disk.target.dev
                ),
            ));
        };
        let vol = d
            .storage
            .vol_by_name(pool, volume)
            .map_err(|e| remote_error(&e))?;
        disk.disk_type = domain_xml::model::devices::DiskType::File;
        src.attrs
            .attrs
            .retain(|(k, _)| k != "pool" && k != "volume");
        src.path = Some(vol.path);
    }
    Ok(())
}
