//! Builders for release archives (good and hostile) used by the tests.
//!
//! Hostile headers are written byte by byte into a raw `tar::Header`, because
//! the `tar` crate's safe setters (rightly) refuse `..`, absolute paths and
//! the like.

use flate2::write::GzEncoder;
use flate2::Compression;
use std::path::{Path, PathBuf};
use tar::{EntryType, Header};

/// The directory every `node_exporter` test archive nests its files in.
pub fn node_dir(version: &str) -> String {
    format!("node_exporter-{version}.linux-amd64")
}

/// The `binary` path (as a manifest gives it) of a `node_exporter` archive.
pub fn node_binary(version: &str) -> String {
    format!("{}/node_exporter", node_dir(version))
}

/// Pseudo-random bytes (xorshift; deterministic per seed), cheap to make.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A tar.gz under construction. Entries are appended in call order.
pub struct ArchiveBuilder {
    tar: tar::Builder<Vec<u8>>,
}

impl Default for ArchiveBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ArchiveBuilder {
    pub fn new() -> Self {
        ArchiveBuilder {
            tar: tar::Builder::new(Vec::new()),
        }
    }

    /// A well-formed entry through the `tar` crate's checked setters.
    fn checked(&mut self, path: &str, kind: EntryType, mode: u32, data: &[u8], link: Option<&str>) -> &mut Self {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        h.set_uid(1000);
        h.set_gid(1000);
        if let Some(link) = link {
            h.set_link_name(link).unwrap();
        }
        self.tar.append_data(&mut h, path, data).unwrap();
        self
    }

    pub fn dir(&mut self, path: &str) -> &mut Self {
        self.checked(path, EntryType::Directory, 0o755, b"", None)
    }

    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) -> &mut Self {
        self.checked(path, EntryType::Regular, mode, data, None)
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.checked(path, EntryType::Symlink, 0o777, b"", Some(target))
    }

    pub fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.checked(path, EntryType::Link, 0o644, b"", Some(target))
    }

    /// Any header at all: `name` and `link` bytes are copied in unchecked,
    /// `size` is written as is even if `data` is shorter (a lying header).
    pub fn raw(&mut self, name: &[u8], kind: EntryType, size: u64, link: &[u8], data: &[u8]) -> &mut Self {
        let mut h = Header::new_gnu();
        {
            let old = h.as_old_mut();
            old.name[..name.len()].copy_from_slice(name);
            old.linkname[..link.len()].copy_from_slice(link);
        }
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(size);
        h.set_mtime(1_700_000_000);
        if matches!(kind, EntryType::Char | EntryType::Block) {
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
        }
        h.set_cksum();
        self.tar.append(&h, data).unwrap();
        self
    }

    /// A GNU long-name record (`L`) followed by a regular file whose real name
    /// is `long_name`; lets a path with `..` hide beyond the 100-byte field.
    pub fn long_name_file(&mut self, long_name: &[u8], data: &[u8]) -> &mut Self {
        let mut name = long_name.to_vec();
        name.push(0);
        self.raw(b"././@LongLink", EntryType::GNULongName, name.len() as u64, b"", &name);
        self.raw(b"placeholder", EntryType::Regular, data.len() as u64, b"", data)
    }

    /// A PAX extended header (`x`) or global header (`g`) holding `records`.
    pub fn pax(&mut self, kind: EntryType, records: &[u8]) -> &mut Self {
        self.raw(b"././@PaxHeader", kind, records.len() as u64, b"", records)
    }

    /// The tar stream so far, without end blocks.
    pub fn unfinished_tar(&self) -> Vec<u8> {
        self.tar.get_ref().clone()
    }

    /// The tar stream with its end blocks, not compressed.
    pub fn finish_tar(&mut self) -> Vec<u8> {
        self.tar.finish().unwrap();
        std::mem::take(self.tar.get_mut())
    }

    /// The gzipped archive.
    pub fn finish(&mut self) -> Vec<u8> {
        self.tar.finish().unwrap();
        let tar = std::mem::take(self.tar.get_mut());
        gzip(&tar)
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// The start of a release archive as upstream ships it: the versioned
/// directory with LICENSE and NOTICE.
pub fn node_exporter_prefix(version: &str) -> ArchiveBuilder {
    let dir = node_dir(version);
    let mut b = ArchiveBuilder::new();
    b.dir(&format!("{dir}/"))
        .file(&format!("{dir}/LICENSE"), 0o644, b"Apache License 2.0\n")
        .file(
            &format!("{dir}/NOTICE"),
            0o644,
            b"node_exporter\nCopyright 2015 The Prometheus Authors\n",
        );
    b
}

/// A good `node_exporter-<version>.linux-amd64.tar.gz` whose binary is `binary`.
pub fn node_exporter(version: &str, binary: &[u8]) -> Vec<u8> {
    let mut b = node_exporter_prefix(version);
    b.file(&node_binary(version), 0o755, binary);
    b.finish()
}

/// Every kind of hostile archive the store must refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
    AbsolutePath,
    DotDot,
    /// `..` hidden in a GNU long name.
    LongNameDotDot,
    SymlinkEscape,
    AbsoluteSymlink,
    HardlinkEscape,
    /// A file written through a symlink entry of the same archive.
    ThroughSymlink,
    CharDevice,
    BlockDevice,
    Fifo,
    /// One entry whose header claims more than the limit (data absent).
    Oversize,
    /// The binary is missing (only LICENSE and an executable `other_tool`).
    MissingBinary,
    /// The binary is a symlink to another file of the archive.
    SymlinkBinary,
    /// The binary is a hard link to another file of the archive.
    HardlinkBinary,
}

impl Hostile {
    pub const ALL: [Hostile; 14] = [
        Hostile::AbsolutePath,
        Hostile::DotDot,
        Hostile::LongNameDotDot,
        Hostile::SymlinkEscape,
        Hostile::AbsoluteSymlink,
        Hostile::HardlinkEscape,
        Hostile::ThroughSymlink,
        Hostile::CharDevice,
        Hostile::BlockDevice,
        Hostile::Fifo,
        Hostile::Oversize,
        Hostile::MissingBinary,
        Hostile::SymlinkBinary,
        Hostile::HardlinkBinary,
    ];
}

/// A `node_exporter` archive (version `version`, good binary `binary`)
/// spoiled by `kind`; returns it with the name of the offending entry. The
/// hostile entry comes after the binary, so refusing it proves every entry is
/// checked, not only those before the binary.
pub fn hostile(kind: Hostile, version: &str, binary: &[u8]) -> (Vec<u8>, String) {
    let dir = node_dir(version);
    let mut b = node_exporter_prefix(version);
    let bin = node_binary(version);
    if !matches!(
        kind,
        Hostile::MissingBinary | Hostile::SymlinkBinary | Hostile::HardlinkBinary
    ) {
        b.file(&bin, 0o755, binary);
    }
    let entry = match kind {
        Hostile::AbsolutePath => {
            b.raw(b"/etc/cron.d/evil", EntryType::Regular, 4, b"", b"evil");
            "/etc/cron.d/evil".to_string()
        }
        Hostile::DotDot => {
            let name = format!("{dir}/../../evil");
            b.raw(name.as_bytes(), EntryType::Regular, 4, b"", b"evil");
            name
        }
        Hostile::LongNameDotDot => {
            let name = format!("{dir}/{}/../../../../../../evil", "d/".repeat(60));
            b.long_name_file(name.as_bytes(), b"evil");
            name
        }
        Hostile::SymlinkEscape => {
            let name = format!("{dir}/escape");
            b.raw(name.as_bytes(), EntryType::Symlink, 0, b"../../../etc", b"");
            name
        }
        Hostile::AbsoluteSymlink => {
            let name = format!("{dir}/etc");
            b.raw(name.as_bytes(), EntryType::Symlink, 0, b"/etc", b"");
            name
        }
        Hostile::HardlinkEscape => {
            let name = format!("{dir}/passwd");
            b.raw(name.as_bytes(), EntryType::Link, 0, b"../etc/passwd", b"");
            name
        }
        Hostile::ThroughSymlink => {
            b.symlink(&format!("{dir}/sub"), "NOTICE-dir");
            let name = format!("{dir}/sub/evil");
            b.raw(name.as_bytes(), EntryType::Regular, 4, b"", b"evil");
            name
        }
        Hostile::CharDevice => {
            let name = format!("{dir}/null");
            b.raw(name.as_bytes(), EntryType::Char, 0, b"", b"");
            name
        }
        Hostile::BlockDevice => {
            let name = format!("{dir}/sda");
            b.raw(name.as_bytes(), EntryType::Block, 0, b"", b"");
            name
        }
        Hostile::Fifo => {
            let name = format!("{dir}/fifo");
            b.raw(name.as_bytes(), EntryType::Fifo, 0, b"", b"");
            name
        }
        Hostile::Oversize => {
            let name = format!("{dir}/huge");
            b.raw(name.as_bytes(), EntryType::Regular, 8 << 30, b"", b"");
            name
        }
        Hostile::MissingBinary => {
            b.file(&format!("{dir}/other_tool"), 0o755, binary);
            bin
        }
        Hostile::SymlinkBinary => {
            b.file(&format!("{dir}/real_binary"), 0o755, binary);
            b.symlink(&bin, "real_binary");
            bin
        }
        Hostile::HardlinkBinary => {
            b.file(&format!("{dir}/real_binary"), 0o755, binary);
            b.hardlink(&bin, &format!("{dir}/real_binary"));
            bin
        }
    };
    (b.finish(), entry)
}

/// `count` regular files of `size` bytes each (plus a small binary), to test
/// the total expansion limit with entries that are each under it.
pub fn many_files(version: &str, count: usize, size: usize) -> Vec<u8> {
    let dir = node_dir(version);
    let mut b = node_exporter_prefix(version);
    b.file(&node_binary(version), 0o755, b"#!/bin/true\n");
    let data = vec![0u8; size];
    for i in 0..count {
        b.file(&format!("{dir}/data-{i}"), 0o644, &data);
    }
    b.finish()
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A PAX record: `"<length> <key>=<value>\n"`, the length counting itself.
pub fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    assert_eq!(r.len(), len);
    r
}

/// A `node_exporter` archive whose binary comes after a GNU long-name
/// record of `mib` MiB (all there, `a`s). The record is gzipped once per
/// MiB as concatenated gzip members, so a 256 MiB record costs ~256 KiB.
pub fn long_name_bomb(version: &str, binary: &[u8], mib: u64) -> Vec<u8> {
    let mut h = Header::new_gnu();
    {
        let name = b"././@LongLink";
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
    }
    h.set_entry_type(EntryType::GNULongName);
    h.set_mode(0o644);
    h.set_size(mib << 20);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    let mut head = node_exporter_prefix(version).unfinished_tar();
    head.extend_from_slice(h.as_bytes());
    let mut out = gzip(&head);
    let one_mib = {
        use std::io::Write;
        let mut gz = GzEncoder::new(Vec::new(), Compression::best());
        gz.write_all(&vec![b'a'; 1 << 20]).unwrap();
        gz.finish().unwrap()
    };
    for _ in 0..mib {
        out.extend_from_slice(&one_mib);
    }
    let mut tail = ArchiveBuilder::new();
    tail.file(&node_binary(version), 0o755, binary);
    out.extend_from_slice(&gzip(&tail.finish_tar()));
    out
}
