//! Safe extraction of a release's binary: every tar entry is checked (paths,
//! link targets, types, sizes) even though only the binary is written, and the
//! binary is streamed once through the canonical hasher and into its file.
//! `tar`'s own `unpack()` is never used.

use super::{nar, StoreError};
use std::cell::Cell;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::rc::Rc;

/// Read and write chunk size (≥ 64 KiB keeps syscalls and hasher calls cheap).
const CHUNK: usize = 256 * 1024;

/// At most this many executable files are listed in a `BinaryMissing` hint.
const HINT_MAX: usize = 8;

/// The longest path or link target an entry may have: PATH_MAX (4096)
/// less the terminating NUL.
const MAX_NAME: usize = 4095;

/// A GNU long name or long link record holds one name and its NUL.
const MAX_LONG_RECORD: u64 = MAX_NAME as u64 + 1;

/// A PAX extended header: a path, a link target, times, a few attributes.
const MAX_PAX_RECORD: u64 = 64 * 1024;

/// What the unpacker produced in the temp directory.
pub struct Unpacked {
    /// Full canonical tree hash of the temp directory.
    pub hash: blake3::Hash,
}

/// Unpacks the binary at `binary` (a path inside the archive) from the gzipped
/// tar `archive` into `dest/bin/<name>`, checking every entry.
pub fn tar_gz(archive: &Path, binary: &str, name: &str, dest: &Path, limit: u64) -> Result<Unpacked, StoreError> {
    let label = archive.display().to_string();
    let want = match normalise(binary.as_bytes()) {
        Ok(c) if !c.is_empty() => c.join(&b'/'),
        _ => {
            return Err(StoreError::BadEntry {
                archive: label,
                entry: binary.to_string(),
                reason: "the binary's path must be relative, without `..`".into(),
            })
        }
    };
    let file = File::open(archive).map_err(|e| io_err(format!("opening archive {label}"), e))?;
    let exceeded = Rc::new(Cell::new(false));
    // Caps the whole decompressed stream (headers, long names and PAX records
    // included, which the tar crate buffers in memory) — a gzip bomb stops here.
    let stream_cap = limit.saturating_add(limit / 4).saturating_add(1 << 20);
    let gz = flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(CHUNK, file));
    let capped = Capped {
        inner: gz,
        left: stream_cap,
        exceeded: exceeded.clone(),
    };
    let mut tar = tar::Archive::new(capped);
    let mut check = Checker::new(&label, limit);
    let mut result: Option<Unpacked> = None;
    // Raw entries: the tar crate would read a GNU long name or a PAX header
    // of any size into memory before returning the entry it describes
    // (a 256 MiB long name cost GiBs). Here each is bounded by its header's
    // size before a byte of it is read.
    let entries = tar.entries().map_err(|e| check.stream_error(e, &exceeded))?.raw(true);
    let mut pending = Extensions::default();
    for entry in entries {
        let mut entry = entry.map_err(|e| check.stream_error(e, &exceeded))?;
        let kind = entry.header().entry_type();
        if is_extension(kind) {
            check.extension(&mut entry, &mut pending, &exceeded)?;
            continue;
        }
        let ext = std::mem::take(&mut pending);
        let names = check.names(entry.header(), ext)?;
        let key = check.entry(entry.header(), &names)?;
        if key.as_deref() != Some(want.as_slice()) {
            continue;
        }
        let shown = check.last.clone();
        if result.is_some() {
            return Err(check.bad(&shown, "the binary appears more than once in the archive"));
        }
        if kind.is_symlink() || kind.is_hard_link() {
            let target = names.link.as_ref().map(|t| String::from_utf8_lossy(t).into_owned());
            let what = if kind.is_symlink() { "symlink" } else { "hard link" };
            return Err(check.bad(
                &shown,
                &format!(
                    "the binary is a {what} to `{}`; exporterctl does not follow links for the binary: \
                     point `binary` at the file itself",
                    target.unwrap_or_default()
                ),
            ));
        }
        if !(kind.is_file() || kind.is_contiguous()) {
            return Err(check.bad(&shown, "the binary is not a regular file"));
        }
        let size = entry.size();
        let out = write_binary(&mut entry, size, name, dest, |e| {
            check.bad(&shown, &format!("reading it: {e}"))
        })?;
        result = Some(out);
    }
    if !pending.is_empty() {
        return Err(check.bad(
            &check.after_last(),
            "a GNU long name or PAX header at the end of the archive describes no entry",
        ));
    }
    // Read to the end of the gzip stream (tar padding, usually a few KiB) so
    // that the gzip CRC-32 and length trailer are checked too.
    let mut rest = tar.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| {
        if exceeded.get() {
            StoreError::TooLarge {
                archive: label.clone(),
                limit,
            }
        } else {
            check.bad("(end of archive)", &format!("corrupt gzip stream: {e}"))
        }
    })?;
    result.ok_or_else(|| StoreError::BinaryMissing {
        archive: label.clone(),
        binary: binary.to_string(),
        hint: check.hint(),
    })
}

/// Copies a raw download (the binary itself) to `dest/bin/<name>`, hashing it
/// on the way.
pub fn raw(archive: &Path, name: &str, dest: &Path, limit: u64) -> Result<Unpacked, StoreError> {
    let label = archive.display().to_string();
    let mut file = File::open(archive).map_err(|e| io_err(format!("opening download {label}"), e))?;
    let size = file
        .metadata()
        .map_err(|e| io_err(format!("reading {label}"), e))?
        .len();
    if size > limit {
        return Err(StoreError::TooLarge { archive: label, limit });
    }
    write_binary(&mut file, size, name, dest, |e| io_err(format!("reading {label}"), e))
}

/// Creates `dest/bin/<name>` (mode 0700, normalised later) and streams exactly
/// `size` bytes from `src` through the hasher into it.
fn write_binary<R: Read>(
    src: &mut R,
    size: u64,
    name: &str,
    dest: &Path,
    read_err: impl Fn(io::Error) -> StoreError,
) -> Result<Unpacked, StoreError> {
    let bin = dest.join("bin");
    fs::DirBuilder::new()
        .mode(0o755)
        .create(&bin)
        .map_err(|e| io_err(format!("creating {}", bin.display()), e))?;
    let path = bin.join(name);
    let ctx = |e| io_err(format!("writing {}", path.display()), e);
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o700)
        .open(&path)
        .map_err(ctx)?;
    let mut h = blake3::Hasher::new();
    nar::release_prefix(&mut h, name, size);
    let mut buf = vec![0u8; CHUNK];
    let mut copied = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_err(e)),
        };
        copied += n as u64;
        if copied > size {
            break;
        }
        h.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(ctx)?;
    }
    if copied != size {
        return Err(read_err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("expected {size} bytes, got {copied}"),
        )));
    }
    Ok(Unpacked { hash: h.finalize() })
}

fn io_err(context: String, source: io::Error) -> StoreError {
    StoreError::Io { context, source }
}

/// Splits an archive path into its components, dropping empty and `.` ones;
/// refuses absolute paths and `..`.
fn normalise(path: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    if path.first() == Some(&b'/') {
        return Err("absolute path");
    }
    let mut out = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("path contains `..`"),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Whether a symlink in directory depth `depth` (0 = archive root) pointing to
/// `target` stays inside the archive. Strict by design: relative, any `..`
/// only at the start and no more of them than `depth`, so that even following
/// other symlinks physically cannot leave the root.
fn symlink_escape(depth: usize, target: &[u8]) -> Option<&'static str> {
    if target.is_empty() {
        return Some("symlink with an empty target");
    }
    if target.first() == Some(&b'/') {
        return Some("symlink to an absolute path");
    }
    let mut ups = 0;
    let mut named = false;
    for c in target.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." if named => return Some("symlink target has `..` after a name"),
            b".." => ups += 1,
            _ => named = true,
        }
    }
    (ups > depth).then_some("symlink escapes the archive root")
}

/// Per-archive checking state.
struct Checker<'a> {
    archive: &'a str,
    limit: u64,
    total: u64,
    /// Normalised paths of symlink entries seen so far.
    symlinks: HashSet<Vec<u8>>,
    /// Normalised paths of regular-file entries seen so far.
    files: HashSet<Vec<u8>>,
    /// Regular files with an execute bit, for the `BinaryMissing` hint.
    executables: Vec<String>,
    /// The last entry's path as shown to users.
    last: String,
}

impl<'a> Checker<'a> {
    fn new(archive: &'a str, limit: u64) -> Self {
        Checker {
            archive,
            limit,
            total: 0,
            symlinks: HashSet::new(),
            files: HashSet::new(),
            executables: Vec::new(),
            last: String::new(),
        }
    }

    fn bad(&self, entry: &str, reason: &str) -> StoreError {
        StoreError::BadEntry {
            archive: self.archive.to_string(),
            entry: entry.to_string(),
            reason: reason.to_string(),
        }
    }

    /// Maps an error of the tar stream itself (not of one entry).
    fn stream_error(&self, e: io::Error, exceeded: &Cell<bool>) -> StoreError {
        if exceeded.get() {
            return StoreError::TooLarge {
                archive: self.archive.to_string(),
                limit: self.limit,
            };
        }
        self.bad(&self.after_last(), &format!("unreadable archive: {e}"))
    }

    /// How the position of a header without a name of its own is shown.
    fn after_last(&self) -> String {
        if self.last.is_empty() {
            "(first header)".to_string()
        } else {
            format!("(header after `{}`)", self.last)
        }
    }

    /// Reads a GNU long name or link record, or a PAX header, into
    /// `pending` for the entry that follows, after checking that its size
    /// is one such a record can need.
    fn extension<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        pending: &mut Extensions,
        exceeded: &Cell<bool>,
    ) -> Result<(), StoreError> {
        let kind = entry.header().entry_type();
        let (what, max) = if kind.is_gnu_longname() {
            ("GNU long name record", MAX_LONG_RECORD)
        } else if kind.is_gnu_longlink() {
            ("GNU long link name record", MAX_LONG_RECORD)
        } else if kind.is_pax_global_extensions() {
            ("PAX global header", MAX_PAX_RECORD)
        } else {
            ("PAX extended header", MAX_PAX_RECORD)
        };
        let at = self.after_last();
        let size = entry
            .header()
            .entry_size()
            .map_err(|e| self.bad(&at, &format!("{what}: {e}")))?;
        if size > max {
            return Err(self.bad(
                &at,
                &format!("{what} of {size} bytes, more than the {max} bytes allowed; refusing to read it"),
            ));
        }
        let duplicate = if kind.is_gnu_longname() {
            pending.long_name.is_some()
        } else if kind.is_gnu_longlink() {
            pending.long_link.is_some()
        } else if kind.is_pax_local_extensions() {
            pending.pax.is_some()
        } else {
            false
        };
        if duplicate {
            return Err(self.bad(&at, &format!("two {what}s for one entry")));
        }
        // `size` is at most `max`, so this allocation is bounded.
        let mut data = Vec::with_capacity(size as usize);
        entry
            .read_to_end(&mut data)
            .map_err(|e| self.stream_error(e, exceeded))?;
        if data.len() as u64 != size {
            return Err(self.bad(&at, &format!("{what} cut short ({} of {size} bytes)", data.len())));
        }
        if kind.is_gnu_longname() {
            pending.long_name = Some(gnu_name(data).map_err(|r| self.bad(&at, &format!("{what}: {r}")))?);
        } else if kind.is_gnu_longlink() {
            pending.long_link = Some(gnu_name(data).map_err(|r| self.bad(&at, &format!("{what}: {r}")))?);
        } else {
            let pax = parse_pax(&data).map_err(|r| self.bad(&at, &format!("{what}: {r}")))?;
            if kind.is_pax_global_extensions() {
                // Nothing here reads global attributes; ones that would
                // change what an entry is are refused, not ignored.
                if pax.path.is_some() || pax.link.is_some() || pax.size.is_some() {
                    return Err(self.bad(&at, &format!("{what} with a path, linkpath or size record")));
                }
            } else {
                pending.pax = Some(pax);
            }
        }
        Ok(())
    }

    /// The path and link target of an entry: a GNU long record or a PAX
    /// record when one came before it, else the header's own.
    fn names(&mut self, header: &tar::Header, ext: Extensions) -> Result<Names, StoreError> {
        let at = self.after_last();
        let pax = ext.pax.unwrap_or_default();
        if ext.long_name.is_some() && pax.path.is_some() {
            return Err(self.bad(&at, "both a GNU long name and a PAX path for one entry"));
        }
        if ext.long_link.is_some() && pax.link.is_some() {
            return Err(self.bad(&at, "both a GNU long link name and a PAX linkpath for one entry"));
        }
        let path = ext
            .long_name
            .or(pax.path)
            .unwrap_or_else(|| header.path_bytes().into_owned());
        let link = ext
            .long_link
            .or(pax.link)
            .or_else(|| header.link_name_bytes().map(|l| l.into_owned()));
        for (what, name) in [("path", Some(&path)), ("link target", link.as_ref())] {
            let Some(name) = name else { continue };
            if name.len() > MAX_NAME {
                let head = String::from_utf8_lossy(&name[..64]);
                return Err(self.bad(
                    &format!("{head}…"),
                    &format!(
                        "{what} of {} bytes, longer than PATH_MAX allows ({MAX_NAME})",
                        name.len()
                    ),
                ));
            }
        }
        // Raw entries are read by the header's size: a PAX size that says
        // otherwise would make this reader and `tar -x` see different files.
        if let Some(pax_size) = pax.size {
            let size = header
                .entry_size()
                .map_err(|e| self.bad(&String::from_utf8_lossy(&path), &format!("bad size: {e}")))?;
            if pax_size != size {
                return Err(self.bad(
                    &String::from_utf8_lossy(&path),
                    &format!("its PAX size record ({pax_size}) disagrees with its header ({size})"),
                ));
            }
        }
        Ok(Names { path, link })
    }

    /// Checks one entry; returns its normalised path.
    fn entry(&mut self, header: &tar::Header, names: &Names) -> Result<Option<Vec<u8>>, StoreError> {
        let raw = &names.path;
        self.last = String::from_utf8_lossy(raw).into_owned();
        let shown = self.last.clone();
        let kind = header.entry_type();
        let size = header
            .entry_size()
            .map_err(|e| self.bad(&shown, &format!("bad size: {e}")))?;
        if size > self.limit || self.total.saturating_add(size) > self.limit {
            return Err(StoreError::TooLarge {
                archive: self.archive.to_string(),
                limit: self.limit,
            });
        }
        self.total += size;
        let comps = normalise(raw).map_err(|r| self.bad(&shown, r))?;
        if comps.is_empty() && !kind.is_dir() {
            return Err(self.bad(&shown, "empty path"));
        }
        for i in 1..comps.len() {
            if self.symlinks.contains(&comps[..i].join(&b'/')) {
                let link = String::from_utf8_lossy(&comps[..i].join(&b'/')).into_owned();
                return Err(self.bad(&shown, &format!("path goes through the symlink `{link}`")));
            }
        }
        let key = comps.join(&b'/');
        if kind.is_file() || kind.is_contiguous() {
            let mode = header.mode().map_err(|e| self.bad(&shown, &format!("bad mode: {e}")))?;
            if mode & 0o111 != 0 && self.executables.len() < HINT_MAX {
                self.executables.push(shown.clone());
            }
            self.files.insert(key.clone());
        } else if kind.is_dir() {
        } else if kind.is_symlink() {
            let target = names
                .link
                .as_deref()
                .ok_or_else(|| self.bad(&shown, "symlink without a target"))?;
            if let Some(reason) = symlink_escape(comps.len().saturating_sub(1), target) {
                let reason = format!("{reason} (`{}`)", String::from_utf8_lossy(target));
                return Err(self.bad(&shown, &reason));
            }
            self.symlinks.insert(key.clone());
        } else if kind.is_hard_link() {
            let target = names
                .link
                .as_deref()
                .ok_or_else(|| self.bad(&shown, "hard link without a target"))?;
            let shown_target = String::from_utf8_lossy(target).into_owned();
            let t = normalise(target)
                .map_err(|r| {
                    self.bad(
                        &shown,
                        &format!("hard link target `{shown_target}` escapes the archive root: {r}"),
                    )
                })?
                .join(&b'/');
            if !self.files.contains(&t) {
                return Err(self.bad(
                    &shown,
                    &format!("hard link to `{shown_target}`, which is not an earlier regular file of the archive"),
                ));
            }
            self.files.insert(key.clone());
        } else {
            let what = if kind.is_character_special() {
                "character device".to_string()
            } else if kind.is_block_special() {
                "block device".to_string()
            } else if kind.is_fifo() {
                "FIFO".to_string()
            } else if kind.is_gnu_sparse() {
                "sparse file".to_string()
            } else {
                format!("entry type `{}`", kind.as_byte().escape_ascii())
            };
            return Err(self.bad(&shown, &format!("{what} entries are not allowed")));
        }
        Ok(Some(key))
    }

    fn hint(&self) -> String {
        if self.executables.is_empty() {
            return "; the archive has no executable files".to_string();
        }
        let list: Vec<String> = self.executables.iter().map(|e| format!("`{e}`")).collect();
        format!("; executable files in it: {}", list.join(", "))
    }
}

/// Header types that describe the entry after them rather than being one.
fn is_extension(kind: tar::EntryType) -> bool {
    kind.is_gnu_longname()
        || kind.is_gnu_longlink()
        || kind.is_pax_local_extensions()
        || kind.is_pax_global_extensions()
}

/// What GNU long records and a PAX header said about the next entry.
#[derive(Default)]
struct Extensions {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Pax>,
}

impl Extensions {
    fn is_empty(&self) -> bool {
        self.long_name.is_none() && self.long_link.is_none() && self.pax.is_none()
    }
}

/// The PAX records this reader acts on (others, like times, are ignored).
#[derive(Default)]
struct Pax {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
}

/// An entry's path and link target, wherever in the archive they came from.
struct Names {
    path: Vec<u8>,
    link: Option<Vec<u8>>,
}

/// The name in a GNU long record: its bytes up to the terminating NUL(s).
fn gnu_name(mut data: Vec<u8>) -> Result<Vec<u8>, &'static str> {
    while data.last() == Some(&0) {
        data.pop();
    }
    if data.contains(&0) {
        return Err("NUL inside the name");
    }
    Ok(data)
}

fn parse_pax(data: &[u8]) -> Result<Pax, String> {
    let mut pax = Pax::default();
    for ext in tar::PaxExtensions::new(data) {
        let ext = ext.map_err(|e| format!("malformed record: {e}"))?;
        let value = ext.value_bytes();
        match ext.key_bytes() {
            b"path" => pax.path = Some(value.to_vec()),
            b"linkpath" => pax.link = Some(value.to_vec()),
            b"size" => {
                let size = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or_else(|| format!("size record `{}` is not a number", value.escape_ascii()))?;
                pax.size = Some(size);
            }
            k if k.starts_with(b"GNU.sparse.") => return Err("sparse file records are not allowed".into()),
            _ => {}
        }
    }
    for (what, v) in [("path", &pax.path), ("linkpath", &pax.link)] {
        if v.as_ref().is_some_and(|v| v.contains(&0)) {
            return Err(format!("NUL inside the {what} record"));
        }
    }
    Ok(pax)
}

/// A reader that fails once more than `left` bytes have been read from it,
/// recording that it did in `exceeded`.
struct Capped<R> {
    inner: R,
    left: u64,
    exceeded: Rc<Cell<bool>>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            self.exceeded.set(true);
            return Err(io::Error::other("archive expands past the size limit"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_drops_dots_and_refuses_escapes() {
        assert_eq!(normalise(b"./a//b/./c/").unwrap(), vec![&b"a"[..], b"b", b"c"]);
        assert!(normalise(b"./").unwrap().is_empty());
        assert!(normalise(b"/etc/passwd").is_err());
        assert!(normalise(b"a/../../b").is_err());
        assert!(normalise(b"a/..").is_err());
    }

    #[test]
    fn symlink_targets_must_stay_inside() {
        assert_eq!(symlink_escape(0, b"node_exporter"), None);
        assert_eq!(symlink_escape(1, b"../LICENSE"), None);
        assert_eq!(symlink_escape(2, b"../../a/b"), None);
        assert!(symlink_escape(0, b"../x").is_some());
        assert!(symlink_escape(1, b"../../x").is_some());
        assert!(symlink_escape(3, b"/etc/passwd").is_some());
        assert!(symlink_escape(3, b"a/../b").is_some());
        assert!(symlink_escape(3, b"").is_some());
    }

    #[test]
    fn capped_reader_stops_at_the_cap() {
        let flag = Rc::new(Cell::new(false));
        let mut r = Capped {
            inner: &[0u8; 100][..],
            left: 10,
            exceeded: flag.clone(),
        };
        let mut buf = [0u8; 100];
        assert!(r.read(&mut buf).is_err());
        assert!(flag.get());
    }
}
