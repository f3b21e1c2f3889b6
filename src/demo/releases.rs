//! Releases of the demo exporter, packaged like node_exporter's GitHub
//! releases (`NAME-V.linux-ARCH/NAME` in a tar.gz, plus `sha256sums.txt`),
//! and a static server for them on 127.0.0.1.

use crate::demo::http::{self, Request, Response, ServerHandle};
use sha2::{Digest, Sha256};
use std::io;
use std::net::TcpListener;
use std::path::{Component, Path, PathBuf};

/// The demo exporter's binary: a `#!/bin/sh` wrapper that answers
/// `--version` like upstream exporters and otherwise execs this very
/// `exporterctl demo-exporter`, so the pid the service manager started is the
/// exporter's.
pub fn wrapper_script(exe: &Path, name: &str, version: &str, behaviour: &str) -> String {
    let exe = exe.to_string_lossy().replace('\'', r"'\''");
    format!(
        "#!/bin/sh\n\
         case \"$1\" in --version) echo \"{name}, version {version} (demo)\"; exit 0;; esac\n\
         exec '{exe}' demo-exporter --name {name} --version {version} --behaviour {behaviour} \"$@\"\n"
    )
}

fn tar_gz(entries: &[(String, Vec<u8>, u32)]) -> io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, data, mode) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path, data.as_slice())?;
    }
    tar.into_inner()?.finish()
}

/// Writes one release under `dir/<name>/releases/download/v<version>/`.
pub fn publish(dir: &Path, exe: &Path, name: &str, version: &str, arch: &str, behaviour: &str) -> io::Result<()> {
    let top = format!("{name}-{version}.linux-{arch}");
    let archive = tar_gz(&[
        (format!("{top}/LICENSE"), b"Apache License 2.0 (demo)\n".to_vec(), 0o644),
        (
            format!("{top}/{name}"),
            wrapper_script(exe, name, version, behaviour).into_bytes(),
            0o755,
        ),
    ])?;
    let release = dir.join(name).join("releases/download").join(format!("v{version}"));
    std::fs::create_dir_all(&release)?;
    let file = format!("{top}.tar.gz");
    let sum: String = Sha256::digest(&archive).iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(release.join(&file), &archive)?;
    std::fs::write(release.join("sha256sums.txt"), format!("{sum}  {file}\n"))
}

/// A manifest for the demo exporter `name` at `version`, released on
/// `server`, listening on `port`, on the `process` service manager.
pub fn manifest_text(name: &str, server: &str, version: &str, port: u16, settle: &str) -> String {
    format!(
        "# exporterctl demo manifest: {name} {version}\n\
         apiVersion: exporterctl/v1\n\
         settings:\n  service_manager: process   # no systemd needed\n\
         exporters:\n{}",
        manifest_entry(name, server, version, port, settle)
    )
}

/// The `exporters:` entry for the demo exporter released under `server`
/// (GitHub's layout: `<server>/<name>/releases/download/v<version>/…`).
pub fn manifest_entry(name: &str, server: &str, version: &str, port: u16, settle: &str) -> String {
    format!(
        r#"  {name}:
    version: "{version}"
    source:
      url: "{server}/{name}/releases/download/v{{version}}/{name}-{{version}}.linux-{{arch}}.tar.gz"
      checksums_url: "{server}/{name}/releases/download/v{{version}}/sha256sums.txt"
      binary: "{name}-{{version}}.linux-{{arch}}/{name}"
    args: ["--listen", "127.0.0.1:{port}"]
    health:
      url: "http://127.0.0.1:{port}/metrics"
      build_info: {name}_build_info
      timeout: 10s
      settle: {settle}
"#
    )
}

/// Serves `dir` read-only on 127.0.0.1 (a random port).
pub fn serve(dir: PathBuf) -> io::Result<ServerHandle> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    http::spawn(listener, move |req: &Request| {
        let rel = Path::new(req.path.trim_start_matches('/'));
        if req.method != "GET" || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Response::not_found();
        }
        Response::file(&dir.join(rel))
    })
}
