//! The canonical tree serialisation and its BLAKE3 hash: the store's notion of
//! identity. Only names, the tree shape, file contents, the executable bit and
//! symlink targets are hashed; owners, times and other mode bits are not.
//! `store-layout/README.md` specifies the bytes; this module is the one place
//! that emits them, for both `hash_tree` (from disk) and the unpacker (which
//! streams an archive entry through the hasher as it writes the file).
//!
//! ```text
//! tree    = str("exporterctl-tree-v1") node
//! node    = file | symlink | dir
//! file    = ( 'r' | 'x' ) u64le(size) content[size]     ('x' = executable)
//! symlink = 'l' str(target)
//! dir     = 'd' u64le(count) { str(name) node }*count   (sorted by name bytes)
//! str(s)  = u64le(len(s)) s
//! ```

use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

/// The format tag every serialisation starts with.
pub const MAGIC: &[u8] = b"exporterctl-tree-v1";

/// Files at least this large are hashed with mmap + rayon when re-hashing.
const MMAP_THRESHOLD: u64 = 1 << 20;

/// Read buffer for smaller files.
const BUF_SIZE: usize = 64 * 1024;

/// Whether a mode's owner-execute bit is set: the one mode bit that is hashed.
pub fn is_executable(mode: u32) -> bool {
    mode & 0o100 != 0
}

fn put_u64(h: &mut blake3::Hasher, n: u64) {
    h.update(&n.to_le_bytes());
}

fn put_str(h: &mut blake3::Hasher, s: &[u8]) {
    put_u64(h, s.len() as u64);
    h.update(s);
}

/// Starts a serialisation: the format tag.
pub fn begin(h: &mut blake3::Hasher) {
    put_str(h, MAGIC);
}

/// A directory node with `count` entries follows; then each entry as
/// [`entry_name`] and its node, in ascending byte order of names.
pub fn dir(h: &mut blake3::Hasher, count: u64) {
    h.update(b"d");
    put_u64(h, count);
}

/// The name of the next directory entry.
pub fn entry_name(h: &mut blake3::Hasher, name: &[u8]) {
    put_str(h, name);
}

/// A regular file node header; exactly `size` content bytes must follow.
pub fn file(h: &mut blake3::Hasher, executable: bool, size: u64) {
    h.update(if executable { b"x" } else { b"r" });
    put_u64(h, size);
}

/// A symlink node.
pub fn symlink(h: &mut blake3::Hasher, target: &[u8]) {
    h.update(b"l");
    put_str(h, target);
}

/// Everything of a release tree (`bin/<name>`, one executable) that precedes
/// the binary's content. The caller then feeds exactly `size` content bytes.
pub fn release_prefix(h: &mut blake3::Hasher, name: &str, size: u64) {
    begin(h);
    dir(h, 1);
    entry_name(h, b"bin");
    dir(h, 1);
    entry_name(h, name.as_bytes());
    file(h, true, size);
}

/// The tree hash of a directory holding just the file `name`, computed
/// without writing it.
pub fn hash_one_file(name: &str, executable: bool, content: &[u8]) -> String {
    let mut h = blake3::Hasher::new();
    begin(&mut h);
    dir(&mut h, 1);
    entry_name(&mut h, name.as_bytes());
    file(&mut h, executable, content.len() as u64);
    h.update(content);
    h.finalize().to_hex().to_string()
}

/// The canonical BLAKE3 tree hash of `path` (a directory, file or symlink),
/// as lowercase hex (64 digits). Exotic files (FIFOs, sockets, devices) are
/// an `InvalidData` error.
pub fn hash_tree(path: &Path) -> io::Result<String> {
    let mut h = blake3::Hasher::new();
    begin(&mut h);
    node(&mut h, path)?;
    Ok(h.finalize().to_hex().to_string())
}

fn node(h: &mut blake3::Hasher, path: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(path)?;
        symlink(h, target.as_os_str().as_bytes());
    } else if ft.is_dir() {
        let mut names = Vec::new();
        for entry in fs::read_dir(path)? {
            names.push(entry?.file_name());
        }
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        dir(h, names.len() as u64);
        for name in names {
            entry_name(h, name.as_bytes());
            node(h, &path.join(&name))?;
        }
    } else if ft.is_file() {
        file_node(h, path, &meta)?;
    } else {
        let what = if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "a device file"
        };
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is {what}, which a store tree cannot hold", path.display()),
        ));
    }
    Ok(())
}

fn file_node(h: &mut blake3::Hasher, path: &Path, meta: &fs::Metadata) -> io::Result<()> {
    let size = meta.len();
    file(h, is_executable(meta.permissions().mode()), size);
    if size >= MMAP_THRESHOLD {
        // The file may change between the stat and the map; then the hash is
        // simply different, which `verify` reports as a modification.
        h.update_mmap_rayon(path)?;
        return Ok(());
    }
    let mut f = fs::File::open(path)?;
    let mut buf = vec![0u8; BUF_SIZE];
    let mut read = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        read += n as u64;
        h.update(&buf[..n]);
    }
    if read != size {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} changed size while being hashed", path.display()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink as mk_symlink;

    fn set_mode(p: &Path, mode: u32) {
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// The serialisation of a small tree, spelled out byte for byte as in
    /// `store-layout/README.md`.
    #[test]
    fn hash_matches_the_specified_bytes() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::write(root.join("bin/x"), b"hi").unwrap();
        set_mode(&root.join("bin/x"), 0o755);
        fs::write(root.join("README"), b"").unwrap();
        mk_symlink("bin/x", root.join("link")).unwrap();

        let mut bytes = Vec::new();
        let s = |b: &mut Vec<u8>, x: &[u8]| {
            b.extend_from_slice(&(x.len() as u64).to_le_bytes());
            b.extend_from_slice(x);
        };
        s(&mut bytes, b"exporterctl-tree-v1");
        bytes.push(b'd');
        bytes.extend_from_slice(&3u64.to_le_bytes());
        s(&mut bytes, b"README");
        bytes.push(b'r');
        bytes.extend_from_slice(&0u64.to_le_bytes());
        s(&mut bytes, b"bin");
        bytes.push(b'd');
        bytes.extend_from_slice(&1u64.to_le_bytes());
        s(&mut bytes, b"x");
        bytes.push(b'x');
        bytes.extend_from_slice(&2u64.to_le_bytes());
        bytes.extend_from_slice(b"hi");
        s(&mut bytes, b"link");
        bytes.push(b'l');
        s(&mut bytes, b"bin/x");

        assert_eq!(hash_tree(&root).unwrap(), blake3::hash(&bytes).to_hex().to_string());
    }

    /// The worked example of `store-layout/README.md` (keep them in step).
    #[test]
    fn worked_example_of_the_layout_document() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir(t.path().join("bin")).unwrap();
        fs::write(t.path().join("bin/hello"), b"hi\n").unwrap();
        set_mode(&t.path().join("bin/hello"), 0o555);
        let hex = "13000000000000006578706f7274657263746c2d747265652d763164010000000000000003000000\
                   0000000062696e640100000000000000050000000000000068656c6c6f7803000000000000006869\
                   0a";
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let want = "4f0772bb0d3d8acdb75e214887bb67989cf330840ea2e254be67d9efeb535941";
        assert_eq!(blake3::hash(&bytes).to_hex().as_str(), want);
        assert_eq!(hash_tree(t.path()).unwrap(), want);
    }

    #[test]
    fn ignores_times_owner_and_non_exec_mode_bits_but_not_the_exec_bit() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        fs::write(&f, b"content").unwrap();
        set_mode(&f, 0o644);
        let a = hash_tree(&f).unwrap();
        set_mode(&f, 0o400);
        let times = fs::FileTimes::new().set_modified(std::time::UNIX_EPOCH);
        fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_times(times)
            .unwrap();
        assert_eq!(hash_tree(&f).unwrap(), a);
        set_mode(&f, 0o500);
        assert_ne!(hash_tree(&f).unwrap(), a);
    }

    #[test]
    fn release_prefix_equals_hash_of_the_tree() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir(t.path().join("bin")).unwrap();
        let content = vec![7u8; 3 << 20]; // large enough for the mmap path
        fs::write(t.path().join("bin/tool"), &content).unwrap();
        set_mode(&t.path().join("bin/tool"), 0o555);
        let mut h = blake3::Hasher::new();
        release_prefix(&mut h, "tool", content.len() as u64);
        h.update(&content);
        assert_eq!(h.finalize().to_hex().to_string(), hash_tree(t.path()).unwrap());
    }

    #[test]
    fn names_and_contents_cannot_be_shifted_into_each_other() {
        // "ab" + "" versus "a" + "b": the length prefixes keep them apart.
        let t = tempfile::tempdir().unwrap();
        let one = t.path().join("one");
        let two = t.path().join("two");
        fs::create_dir_all(&one).unwrap();
        fs::create_dir_all(&two).unwrap();
        fs::write(one.join("ab"), b"").unwrap();
        fs::write(two.join("a"), b"b").unwrap();
        assert_ne!(hash_tree(&one).unwrap(), hash_tree(&two).unwrap());
    }

    #[test]
    fn refuses_fifos() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("fifo");
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let err = hash_tree(t.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
