//! `virsh screenshot`: DOMAIN_SCREENSHOT, QMP `screendump` streamed back as PPM.
//!
//! libvirt has QEMU write a file in its cache directory and labels that file for
//! QEMU. Here QEMU never opens a path: the daemon makes an anonymous memory file,
//! hands QEMU a write-only descriptor of it (`add-fd`) and asks for the dump into
//! `/dev/fdset/N`, which QEMU resolves by duplicating that descriptor. So no
//! directory has to be writable by QEMU's account, nothing enters its private
//! mount namespace, Landlock and DAC stay as they are, and no file is left
//! behind if anything fails. The daemon then reads the image from its own
//! descriptor and streams it.

use std::io::{Read, Seek};
use std::os::fd::AsFd;
use std::sync::Arc;

use remote_protocol::server::{ByteStream, ReadOnlyStream};
use remote_protocol::{ErrorCode, ErrorDomain, RemoteError};
use serde_json::json;

use super::{Daemon, DomainObj, monitor, qmp_err, running, unsupported_flags};

/// The MIME type of QEMU's default dump format.
pub const PPM_MIME: &str = "image/x-portable-pixmap";

fn sys(what: &str, e: impl std::fmt::Display) -> RemoteError {
    RemoteError::new(
        ErrorCode::SYSTEM_ERROR,
        ErrorDomain::QEMU,
        format!("{what}: {e}"),
    )
}

/// The video device and head that `screen` counts to (heads in device order).
fn device_for(def: &domain_xml::Domain, mut screen: u32) -> Option<(String, u32)> {
    for (i, v) in def.devices.videos.iter().enumerate() {
        let heads = v
            .model
            .as_ref()
            .and_then(|m| m.get("heads"))
            .and_then(|h| h.parse::<u32>().ok())
            .unwrap_or(1);
        if screen < heads {
            let alias = v.info.alias.clone().unwrap_or_else(|| format!("video{i}"));
            return Some((alias, screen));
        }
        screen -= heads;
    }
    None
}

/// DOMAIN_SCREENSHOT.
pub async fn take(
    d: &Arc<Daemon>,
    obj: &Arc<DomainObj>,
    screen: u32,
    flags: u32,
) -> Result<(String, ByteStream), RemoteError> {
    if flags != 0 {
        return Err(unsupported_flags(flags));
    }
    let _job = obj.job.lock().await;
    let vm = running(d, obj)?;
    let def = vm.status().domain;
    if def.devices.videos.is_empty() {
        return Err(RemoteError::operation_invalid(
            "no screens to take screenshot from",
        ));
    }
    let device = if screen == 0 {
        None
    } else {
        Some(
            device_for(&def, screen)
                .ok_or_else(|| RemoteError::operation_invalid("no such screen ID"))?,
        )
    };
    let q = monitor(&vm)?;
    let mem = rustix::fs::memfd_create("rvirt-screendump", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| sys("memfd_create", e))?;
    // QEMU opens the dump write-only and takes only a descriptor of that mode.
    let wr = rustix::fs::open(
        format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&mem)),
        rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| sys("reopening the screendump file", e))?;
    let added = q
        .execute_with_fds("add-fd", Some(json!({})), &[wr.as_fd()])
        .await
        .map_err(qmp_err)?;
    drop(wr);
    let fdset = added["fdset-id"]
        .as_i64()
        .ok_or_else(|| RemoteError::internal("add-fd returned no fdset-id"))?;
    let mut args = json!({ "filename": format!("/dev/fdset/{fdset}") });
    if let Some((dev, head)) = device {
        args["device"] = json!(dev);
        args["head"] = json!(head);
    }
    let dumped = q.execute("screendump", Some(args)).await;
    // The set goes whether or not the dump worked: QEMU keeps no descriptor of ours.
    if let Err(e) = q
        .execute("remove-fd", Some(json!({ "fdset-id": fdset })))
        .await
    {
        tracing::warn!("domain '{}': remove-fd {fdset}: {e}", vm.name);
    }
    dumped.map_err(qmp_err)?;
    let mut f = std::fs::File::from(mem);
    let mut image = Vec::new();
    f.rewind()
        .and_then(|()| f.read_to_end(&mut image))
        .map_err(|e| sys("reading the screendump", e))?;
    Ok((
        PPM_MIME.to_owned(),
        Box::new(ReadOnlyStream(std::io::Cursor::new(image))),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screens_count_heads() {
        let def = domain_xml::parse_domain(
            "<domain type='qemu'><name>s</name><memory>131072</memory><os><type>hvm</type></os>\
             <devices><video><model type='virtio' heads='2'/></video><video><model type='vga'/></video></devices></domain>",
        )
        .unwrap()
        .value;
        assert_eq!(device_for(&def, 1), Some(("video0".into(), 1)));
        assert_eq!(device_for(&def, 2), Some(("video1".into(), 0)));
        assert_eq!(device_for(&def, 3), None);
    }
}
