//! The planner's view of the host, read with real `stat(2)` calls and qcow2 headers.
//! Kept here, outside the pure planner, so planning stays free of syscalls.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use qemu_plan::runtime::ImageBacking;
use qemu_plan::{HostFacts, PathKind, PathOwner};

#[derive(Debug, Default, Clone, Copy)]
pub struct RealHostFacts;

fn major(dev: u64) -> u32 {
    rustix::fs::major(dev)
}

fn minor(dev: u64) -> u32 {
    rustix::fs::minor(dev)
}

impl HostFacts for RealHostFacts {
    fn stat(&self, path: &str) -> Option<PathKind> {
        let md = std::fs::metadata(path).ok()?;
        let ft = md.file_type();
        Some(if ft.is_file() {
            PathKind::File
        } else if ft.is_dir() {
            PathKind::Dir
        } else if ft.is_char_device() {
            PathKind::CharDev {
                major: major(md.rdev()),
                minor: minor(md.rdev()),
            }
        } else if ft.is_block_device() {
            PathKind::BlockDev {
                major: major(md.rdev()),
                minor: minor(md.rdev()),
            }
        } else {
            PathKind::Other
        })
    }

    fn owner(&self, path: &str) -> Option<PathOwner> {
        let md = std::fs::metadata(path).ok()?;
        Some(PathOwner {
            uid: md.uid(),
            gid: md.gid(),
            mode: md.mode() & 0o7777,
        })
    }

    fn numa_nodes(&self) -> Option<Vec<u32>> {
        let list = std::fs::read_to_string("/sys/devices/system/node/online").ok()?;
        domain_xml::model::numa::parse_cpu_list(list.trim())
    }

    fn canonical(&self, path: &str) -> Option<String> {
        std::fs::canonicalize(path)
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
    }

    fn backing_file(&self, path: &str) -> Option<ImageBacking> {
        let mut f = File::open(path).ok()?;
        let (backing, format) = qcow2_backing(&mut f).ok()??;
        let p = Path::new(&backing);
        let abs = if p.is_absolute() {
            p.to_path_buf()
        } else {
            Path::new(path).parent().unwrap_or(Path::new("/")).join(p)
        };
        Some(ImageBacking {
            path: abs.to_string_lossy().into_owned(),
            format,
        })
    }

    /// A port nothing listens on: bound and released again (QEMU binds it
    /// right after; another program may race it, as with libvirt).
    fn free_tcp_port(&self, address: &str, from: u16, taken: &[u16]) -> Option<u16> {
        (from..=65535)
            .filter(|p| !taken.contains(p))
            .find(|p| std::net::TcpListener::bind((address, *p)).is_ok())
    }

    fn now_unix(&self) -> Option<i64> {
        now_unix()
    }
}

fn now_unix() -> Option<i64> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
}

/// The host as a preview (`domxml-to-native`) sees it: real where paths
/// exist, and a path the XML names but the host lacks is taken for what the
/// XML says (libvirt's preview does not require the files either).
#[derive(Debug, Default, Clone, Copy)]
pub struct PreviewHostFacts;

impl HostFacts for PreviewHostFacts {
    fn stat(&self, path: &str) -> Option<PathKind> {
        RealHostFacts.stat(path)
    }

    fn owner(&self, path: &str) -> Option<PathOwner> {
        RealHostFacts.owner(path)
    }

    fn canonical(&self, path: &str) -> Option<String> {
        RealHostFacts.canonical(path)
    }

    fn backing_file(&self, path: &str) -> Option<ImageBacking> {
        RealHostFacts.backing_file(path)
    }

    /// A preview opens no port: the first one from `from` not yet handed out.
    fn free_tcp_port(&self, _address: &str, from: u16, taken: &[u16]) -> Option<u16> {
        (from..=65535).find(|p| !taken.contains(p))
    }

    fn assume_missing(&self) -> bool {
        true
    }

    fn now_unix(&self) -> Option<i64> {
        now_unix()
    }
}

const QCOW2_MAGIC: [u8; 4] = *b"QFI\xfb";
const EXT_BACKING_FORMAT: u32 = 0xE279_2ACA;
/// Bounds on what a header may claim, so a corrupt image cannot make us read much.
const MAX_BACKING_NAME: u32 = 4096;
const MAX_EXTENSIONS: usize = 64;

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// Reads the backing file name and format from a qcow2 header; `None` when the
/// image is not qcow2 or has no backing file.
pub fn qcow2_backing<R: Read + Seek>(
    f: &mut R,
) -> std::io::Result<Option<(String, Option<String>)>> {
    let mut hdr = [0u8; 104];
    f.seek(SeekFrom::Start(0))?;
    let n = f.read(&mut hdr)?;
    if n < 72 || hdr[..4] != QCOW2_MAGIC {
        return Ok(None);
    }
    let version = be32(&hdr[4..8]);
    let backing_off = be64(&hdr[8..16]);
    let backing_len = be32(&hdr[16..20]);
    if backing_off == 0 || backing_len == 0 || backing_len > MAX_BACKING_NAME {
        return Ok(None);
    }
    let mut name = vec![0u8; backing_len as usize];
    f.seek(SeekFrom::Start(backing_off))?;
    f.read_exact(&mut name)?;
    let name = String::from_utf8_lossy(&name).into_owned();

    let header_len: u64 = if version >= 3 && n >= 104 {
        u64::from(be32(&hdr[100..104]))
    } else {
        72
    };
    let mut format = None;
    let mut pos = header_len;
    for _ in 0..MAX_EXTENSIONS {
        let mut ext = [0u8; 8];
        f.seek(SeekFrom::Start(pos))?;
        if f.read_exact(&mut ext).is_err() {
            break;
        }
        let (ty, len) = (be32(&ext[..4]), be32(&ext[4..8]));
        if ty == 0 || len > 65536 {
            break;
        }
        if ty == EXT_BACKING_FORMAT && len <= 64 {
            let mut data = vec![0u8; len as usize];
            f.read_exact(&mut data)?;
            format = Some(String::from_utf8_lossy(&data).into_owned());
            break;
        }
        pos += 8 + u64::from(len).div_ceil(8) * 8;
    }
    Ok(Some((name, format)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn image(version: u32, backing: &str, format: Option<&str>) -> Vec<u8> {
        let header_len = if version >= 3 { 104u32 } else { 72 };
        let mut v = vec![0u8; 512];
        v[..4].copy_from_slice(&QCOW2_MAGIC);
        v[4..8].copy_from_slice(&version.to_be_bytes());
        if version >= 3 {
            v[100..104].copy_from_slice(&header_len.to_be_bytes());
        }
        let mut pos = header_len as usize;
        if let Some(f) = format {
            v[pos..pos + 4].copy_from_slice(&EXT_BACKING_FORMAT.to_be_bytes());
            v[pos + 4..pos + 8].copy_from_slice(&(f.len() as u32).to_be_bytes());
            v[pos + 8..pos + 8 + f.len()].copy_from_slice(f.as_bytes());
            pos += 8 + f.len().div_ceil(8) * 8;
        }
        v[pos..pos + 8].copy_from_slice(&[0; 8]);
        let off = 256usize;
        v[8..16].copy_from_slice(&(off as u64).to_be_bytes());
        v[16..20].copy_from_slice(&(backing.len() as u32).to_be_bytes());
        v[off..off + backing.len()].copy_from_slice(backing.as_bytes());
        v
    }

    #[test]
    fn reads_backing_and_format() {
        let img = image(3, "base.qcow2", Some("qcow2"));
        assert_eq!(
            qcow2_backing(&mut Cursor::new(img)).unwrap(),
            Some(("base.qcow2".into(), Some("qcow2".into())))
        );
        let img = image(2, "/abs/base.raw", None);
        assert_eq!(
            qcow2_backing(&mut Cursor::new(img)).unwrap(),
            Some(("/abs/base.raw".into(), None))
        );
        assert_eq!(
            qcow2_backing(&mut Cursor::new(vec![0u8; 512])).unwrap(),
            None
        );
    }

    #[test]
    fn real_qemu_img_backing_chain() {
        let Some(qemu_img) = ["/usr/bin/qemu-img"]
            .into_iter()
            .find(|p| Path::new(p).exists())
        else {
            panic!("qemu-img is missing: install qemu-utils (tools/setup-host.sh does)");
        };
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("base.qcow2");
        let top = d.path().join("top.qcow2");
        let ok = std::process::Command::new(qemu_img)
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&base)
            .arg("1M")
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let ok = std::process::Command::new(qemu_img)
            .args([
                "create",
                "-q",
                "-f",
                "qcow2",
                "-F",
                "qcow2",
                "-b",
                "base.qcow2",
            ])
            .arg(&top)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let b = RealHostFacts.backing_file(top.to_str().unwrap()).unwrap();
        assert_eq!(b.path, base.to_string_lossy());
        assert_eq!(b.format.as_deref(), Some("qcow2"));
        assert_eq!(
            RealHostFacts.stat("/dev/null"),
            Some(PathKind::CharDev { major: 1, minor: 3 })
        );
        assert_eq!(
            RealHostFacts.stat(top.to_str().unwrap()),
            Some(PathKind::File)
        );
        assert_eq!(RealHostFacts.stat("/nonexistent/x"), None);
    }
}
