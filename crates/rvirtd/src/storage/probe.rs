//! A volume's facts from its file: size and allocation from `stat`, the
//! format from the first bytes (qcow2 magic, ISO 9660 signature), and for
//! qcow2 the virtual size and backing file from its header — the same
//! fields `qemu-img info` reports, read without starting a process for every
//! file of a directory.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::xml::{Perms, VolFacts, VolFormat};

/// `QFI\xfb`.
const QCOW_MAGIC: [u8; 4] = *b"QFI\xfb";
/// Where an ISO 9660 primary volume descriptor says `CD001`.
const ISO_OFFSET: u64 = 0x8001;
/// qcow2 header limit for a backing file name (QEMU's).
const BACKING_MAX: u32 = 1023;

/// The facts of the regular file `path` (canonical), named `name` in its pool;
/// `None` if it is not a regular file (directories, sockets...), which a
/// `dir` pool does not list.
pub fn probe(path: &Path, name: &str) -> std::io::Result<Option<VolFacts>> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Ok(None);
    }
    let physical = meta.len();
    let mut facts = VolFacts {
        name: name.to_owned(),
        path: path.to_string_lossy().into_owned(),
        format: VolFormat::Raw,
        capacity: physical,
        allocation: meta.blocks().saturating_mul(512),
        physical,
        perms: Perms {
            mode: Some(meta.mode() & 0o7777),
            owner: Some(i64::from(meta.uid())),
            group: Some(i64::from(meta.gid())),
            label: None,
        },
        backing: None,
    };
    // An unreadable file is still a volume (libvirt lists it too), as raw.
    let Ok(mut f) = File::open(path) else {
        return Ok(Some(facts));
    };
    let mut head = [0u8; 72];
    let n = read_full(&mut f, &mut head)?;
    if n >= 32 && head[..4] == QCOW_MAGIC {
        facts.format = VolFormat::Qcow2;
        facts.capacity = u64::from_be_bytes(head[24..32].try_into().expect("8 bytes"));
        let off = u64::from_be_bytes(head[8..16].try_into().expect("8 bytes"));
        let len = u32::from_be_bytes(head[16..20].try_into().expect("4 bytes"));
        if off != 0 && len > 0 && len <= BACKING_MAX {
            let mut name = vec![0u8; len as usize];
            f.seek(SeekFrom::Start(off))?;
            if read_full(&mut f, &mut name)? == name.len() {
                facts.backing = Some(String::from_utf8_lossy(&name).into_owned());
            }
        }
    } else if physical > ISO_OFFSET + 5 {
        let mut sig = [0u8; 5];
        f.seek(SeekFrom::Start(ISO_OFFSET))?;
        if read_full(&mut f, &mut sig)? == 5 && &sig == b"CD001" {
            facts.format = VolFormat::Iso;
        }
    }
    Ok(Some(facts))
}

fn read_full(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("a.img");
        std::fs::write(&raw, vec![1u8; 4096]).unwrap();
        let f = probe(&raw, "a.img").unwrap().unwrap();
        assert_eq!(
            (f.format, f.capacity, f.physical),
            (VolFormat::Raw, 4096, 4096)
        );

        // A qcow2 header: magic, version 3, backing "base.img" at 104, size 1 GiB.
        let mut h = vec![0u8; 112];
        h[..4].copy_from_slice(&QCOW_MAGIC);
        h[4..8].copy_from_slice(&3u32.to_be_bytes());
        h[8..16].copy_from_slice(&104u64.to_be_bytes());
        h[16..20].copy_from_slice(&8u32.to_be_bytes());
        h[24..32].copy_from_slice(&(1u64 << 30).to_be_bytes());
        h[104..112].copy_from_slice(b"base.img");
        let q = dir.path().join("q.qcow2");
        std::fs::write(&q, &h).unwrap();
        let f = probe(&q, "q.qcow2").unwrap().unwrap();
        assert_eq!(f.format, VolFormat::Qcow2);
        assert_eq!(f.capacity, 1 << 30);
        assert_eq!(f.physical, 112);
        assert_eq!(f.backing.as_deref(), Some("base.img"));

        let mut iso = vec![0u8; 0x8010];
        iso[0x8001..0x8006].copy_from_slice(b"CD001");
        let i = dir.path().join("c.iso");
        std::fs::write(&i, &iso).unwrap();
        assert_eq!(probe(&i, "c.iso").unwrap().unwrap().format, VolFormat::Iso);

        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert_eq!(probe(&dir.path().join("sub"), "sub").unwrap(), None);
    }
}
