#!/usr/bin/env python3
"""Repackage the real Debian exporter binaries as upstream-shaped releases.

Output tree (served under GitHub-shaped paths by release_server.py):

  prometheus/node_exporter/releases/download/v{V}/node_exporter-{V}.linux-amd64.tar.gz
  prometheus/node_exporter/releases/download/v{V}/sha256sums.txt
  prometheus/mysqld_exporter/releases/download/v{V}/mysqld_exporter-{V}.linux-amd64.tar.gz
  prometheus/mysqld_exporter/releases/download/v{V}/sha256sums.txt
  nginx/nginx-prometheus-exporter/releases/download/v{V}/nginx-prometheus-exporter_{V}_linux_amd64.tar.gz
  nginx/nginx-prometheus-exporter/releases/download/v{V}/nginx-prometheus-exporter_{V}_checksums.txt
  index.json   (what the harness expects from each release)

Versions:
  * "v1" = the real Debian binary at its real version (node 1.5.0,
    nginx 0.11.0-1+b4 -- the version Debian's build reports, see below --,
    mysqld 0.14.0).
  * "v2" = the same Go binary with its version string patched in place
    (same length: 1.5.0 -> 1.5.1, 0.14.0 -> 0.14.1, 0.11.0-1+b4 ->
    0.11.1-1+b4).  It is a genuinely different file (different store path)
    that still runs natively, so /proc/MAINPID/exe points into the store,
    and its *_build_info{version} really reports the new version.  That lets
    the manifests keep the build_info health check honest (manifest version
    == reported version) instead of weakening it, and lets the harness tell
    v1 from v2 by scraping.  (A #!/bin/sh wrapper was rejected: the service's
    exe would then be the real binary outside the store.)
  * node 1.5.9 = a broken release: a #!/bin/sh script that exits 1.

Archives are byte-for-byte reproducible (fixed mtimes, gzip mtime 0), so a
cached tree and a rebuilt one have the same checksums.
Standard library only.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile

MTIME = 1700000000  # fixed, for reproducible archives

LICENSE = b"""                                 Apache License
                           Version 2.0, January 2004
                        http://www.apache.org/licenses/

   (Abbreviated copy shipped by the exporterctl e2e harness; the binary in
   this archive is the Debian build of the upstream project.)
"""


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def patch_version(data, old, new, expect_count=1):
    """Replace the NUL-delimited version string `old` by `new` (same length)."""
    assert len(old) == len(new), (old, new)
    count = data.count(b"\x00" + old + b"\x00")
    if count != expect_count:
        sys.exit(f"make_releases: expected {expect_count} NUL-delimited {old!r} in binary, found {count}")
    return data.replace(b"\x00" + old + b"\x00", b"\x00" + new + b"\x00")


def tar_bytes(members):
    """members: list of (name, bytes|None for dir, mode). Returns .tar.gz bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for name, data, mode in members:
            ti = tarfile.TarInfo(name)
            ti.mtime = MTIME
            ti.mode = mode
            ti.uid = ti.gid = 1001
            ti.uname = ti.gname = "runner"
            if data is None:
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            else:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def fake_hash(name):
    return sha256(b"exporterctl-e2e fake asset " + name.encode())


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


BROKEN = b"""#!/bin/sh
# exporterctl e2e: a deliberately broken release (exits at start).
echo "exporterctl-e2e: this release is broken on purpose" >&2
exit 1
"""


def prometheus_style(out, repo, name, version, binary):
    """node_exporter / mysqld_exporter layout (promu)."""
    base = f"{name}-{version}.linux-amd64"
    archive = f"{base}.tar.gz"
    data = tar_bytes([
        (base, None, 0o755),
        (f"{base}/LICENSE", LICENSE, 0o644),
        (f"{base}/NOTICE", f"{name}\nCopyright 2015 The Prometheus Authors\n".encode(), 0o644),
        (f"{base}/{name}", binary, 0o755),
    ])
    d = os.path.join(out, "prometheus", repo, "releases", "download", f"v{version}")
    write(os.path.join(d, archive), data)
    entries = {archive: sha256(data)}
    for arch in ("darwin-amd64", "darwin-arm64", "linux-386", "linux-arm64", "linux-armv7", "netbsd-amd64"):
        fake = f"{name}-{version}.{arch}.tar.gz"
        entries[fake] = fake_hash(fake)
    lines = "".join(f"{h}  {f}\n" for f, h in sorted(entries.items()))
    write(os.path.join(d, "sha256sums.txt"), lines.encode())
    return {
        "url_path": f"/prometheus/{repo}/releases/download/v{version}/{archive}",
        "archive_sha256": entries[archive],
        "binary_sha256": sha256(binary),
    }


def nginx_style(out, version, binary):
    """nginx-prometheus-exporter layout (goreleaser): binary at archive root."""
    archive = f"nginx-prometheus-exporter_{version}_linux_amd64.tar.gz"
    data = tar_bytes([
        ("CHANGELOG.md", f"# Changelog\n\n## {version}\n".encode(), 0o644),
        ("LICENSE", LICENSE, 0o644),
        ("README.md", b"# NGINX Prometheus Exporter\n", 0o644),
        ("nginx-prometheus-exporter", binary, 0o755),
    ])
    d = os.path.join(out, "nginx", "nginx-prometheus-exporter", "releases", "download", f"v{version}")
    write(os.path.join(d, archive), data)
    entries = {archive: sha256(data)}
    for fake in (f"nginx-prometheus-exporter_{version}_darwin_amd64.tar.gz",
                 f"nginx-prometheus-exporter_{version}_linux_arm64.tar.gz",
                 f"nginx-prometheus-exporter_{version}_linux_armv7.tar.gz",
                 f"nginx-prometheus-exporter_{version}_windows_amd64.zip",
                 f"nginx-prometheus-exporter_{version}_linux_amd64.deb"):
        entries[fake] = fake_hash(fake)
    lines = "".join(f"{h}  {f}\n" for f, h in sorted(entries.items()))
    write(os.path.join(d, f"nginx-prometheus-exporter_{version}_checksums.txt"), lines.encode())
    return {
        "url_path": f"/nginx/nginx-prometheus-exporter/releases/download/v{version}/{archive}",
        "archive_sha256": entries[archive],
        "binary_sha256": sha256(binary),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True, help="dir holding prometheus-{node,nginx,mysqld}-exporter")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    def read(n):
        with open(os.path.join(a.bin_dir, n), "rb") as f:
            return f.read()

    node = read("prometheus-node-exporter")
    nginx = read("prometheus-nginx-exporter")
    mysqld = read("prometheus-mysqld-exporter")

    if os.path.exists(a.out):
        shutil.rmtree(a.out)
    os.makedirs(a.out)
    index = {"node_exporter": {}, "nginx_exporter": {}, "mysqld_exporter": {}}

    r = prometheus_style(a.out, "node_exporter", "node_exporter", "1.5.0", node)
    index["node_exporter"]["1.5.0"] = dict(r, reports="1.5.0", broken=False)
    r = prometheus_style(a.out, "node_exporter", "node_exporter", "1.5.1", patch_version(node, b"1.5.0", b"1.5.1"))
    index["node_exporter"]["1.5.1"] = dict(r, reports="1.5.1", broken=False)
    r = prometheus_style(a.out, "node_exporter", "node_exporter", "1.5.9", BROKEN)
    index["node_exporter"]["1.5.9"] = dict(r, reports=None, broken=True)

    r = prometheus_style(a.out, "mysqld_exporter", "mysqld_exporter", "0.14.0", mysqld)
    index["mysqld_exporter"]["0.14.0"] = dict(r, reports="0.14.0", broken=False)
    r = prometheus_style(a.out, "mysqld_exporter", "mysqld_exporter", "0.14.1", patch_version(mysqld, b"0.14.0", b"0.14.1"))
    index["mysqld_exporter"]["0.14.1"] = dict(r, reports="0.14.1", broken=False)

    # Debian's nginx exporter reports its Debian revision as its version
    # (nginxexporter_build_info{version="0.11.0-1+b4"}), so its releases are
    # published under exactly that version: exporterctl's catalogue gives
    # nginx_exporter a build_info check by default, and that check compares
    # the label with the manifest's version.
    r = nginx_style(a.out, "0.11.0-1+b4", nginx)
    index["nginx_exporter"]["0.11.0-1+b4"] = dict(r, reports="0.11.0-1+b4", broken=False)
    r = nginx_style(a.out, "0.11.1-1+b4", patch_version(nginx, b"0.11.0-1+b4", b"0.11.1-1+b4"))
    index["nginx_exporter"]["0.11.1-1+b4"] = dict(r, reports="0.11.1-1+b4", broken=False)

    with open(os.path.join(a.out, "index.json"), "w") as f:
        json.dump(index, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
