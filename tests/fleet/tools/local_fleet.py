#!/usr/bin/env python3
"""The cheap fleet tier (tests/fleet/local.sh): demo-exporter releases,
one manifest per inventory host, and the timing summary.

  local_fleet.py publish --exe EXPORTERCTL --out DIR VERSION...
  local_fleet.py inventory --hosts N --work DIR --server URL --version V --base-port P
  local_fleet.py summary --results FILE --wall SECONDS --hosts N --forks F

Standard library only.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import statistics
import sys
import tarfile

NAME = "demo_exporter"


def wrapper(exe, version):
    # As exporterctl's own demo releases: a #!/bin/sh wrapper that answers
    # --version and otherwise execs `exporterctl demo-exporter`.
    exe = exe.replace("'", "'\\''")
    return (
        "#!/bin/sh\n"
        'case "$1" in --version) echo "%s, version %s (demo)"; exit 0;; esac\n'
        "exec '%s' demo-exporter --name %s --version %s --behaviour ok \"$@\"\n" % (NAME, version, exe, NAME, version)
    ).encode()


def publish(a):
    for v in a.versions:
        top = "%s-%s.linux-amd64" % (NAME, v)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            data = wrapper(a.exe, v)
            info = tarfile.TarInfo("%s/%s" % (top, NAME))
            info.size, info.mode, info.mtime = len(data), 0o755, 1700000000
            tar.addfile(info, io.BytesIO(data))
        gz = gzip.compress(buf.getvalue(), mtime=0)
        d = os.path.join(a.out, NAME, "releases", "download", "v" + v)
        os.makedirs(d, exist_ok=True)
        name = top + ".tar.gz"
        with open(os.path.join(d, name), "wb") as f:
            f.write(gz)
        with open(os.path.join(d, "sha256sums.txt"), "w") as f:
            f.write("%s  %s\n" % (hashlib.sha256(gz).hexdigest(), name))


def inventory(a):
    hosts = {}
    for i in range(1, a.hosts + 1):
        h = "local%02d" % i
        port = a.base_port + i
        m = os.path.join(a.work, "manifests", "%s-%s.yaml" % (h, a.version))
        os.makedirs(os.path.dirname(m), exist_ok=True)
        with open(m, "w") as f:
            f.write(
                "apiVersion: exporterctl/v1\n"
                "settings:\n  service_manager: process\n  arch: amd64\n"
                "exporters:\n"
                "  %(n)s:\n"
                '    version: "%(v)s"\n'
                "    source:\n"
                '      url: "%(s)s/%(n)s/releases/download/v{version}/%(n)s-{version}.linux-{arch}.tar.gz"\n'
                '      checksums_url: "%(s)s/%(n)s/releases/download/v{version}/sha256sums.txt"\n'
                '      binary: "%(n)s-{version}.linux-{arch}/%(n)s"\n'
                '    args: ["--listen", "127.0.0.1:%(p)d"]\n'
                "    health:\n"
                '      url: "http://127.0.0.1:%(p)d/metrics"\n'
                "      build_info: %(n)s_build_info\n"
                "      timeout: 10s\n" % dict(n=NAME, v=a.version, s=a.server, p=port)
            )
        hosts[h] = dict(
            ansible_connection="local",
            exporterctl_root=os.path.join(a.work, "hosts", h),
            exporterctl_manifest=m,
        )
    inv = dict(exporters=dict(hosts=hosts, vars=dict(exporterctl_binary=a.exe, ansible_python_interpreter=sys.executable)))
    json.dump(inv, sys.stdout, indent=1)


def summary(a):
    with open(a.results) as f:
        results = json.load(f)
    ms = [r["exporterctl_ms"] for r in results.values() if r.get("exporterctl_ms") is not None]
    changed = sum(1 for r in results.values() if r.get("changed"))
    if len(ms) != a.hosts:
        sys.exit("summary: %d of %d hosts reported a switch time" % (len(ms), a.hosts))
    wall_ms = a.wall * 1000.0
    total_switch = sum(ms)
    per_host_wall = wall_ms / a.hosts
    # With F forks, F switches overlap: the wall time the switches alone
    # need is at least sum/F. Ansible's overhead is the rest of the wall.
    print("hosts %d (changed %d), forks %d" % (a.hosts, changed, a.forks))
    print("rollout wall time %.1f s, %.0f ms per host" % (a.wall, per_host_wall))
    print(
        "exporterctl switch per host: median %d ms, min %d, max %d, sum %.1f s"
        % (statistics.median(ms), min(ms), max(ms), total_switch / 1000.0)
    )
    # The switches alone, as the play runs them: batches of serial
    # [1, 25%, 100%], each in rounds of `forks` hosts, a round as long as
    # the median switch. Ansible's overhead is the rest of the wall time.
    batches = [1, max(1, a.hosts * 25 // 100)]
    batches.append(max(0, a.hosts - sum(batches)))
    rounds = sum(-(-b // a.forks) for b in batches if b > 0)
    bound = rounds * statistics.median(ms)
    over = wall_ms - bound
    print(
        "batches %s, %d rounds of <= %d forks: the switches alone need %.1f s"
        % (batches, rounds, a.forks, bound / 1000.0)
    )
    print(
        "Ansible overhead: %.1f s of %.1f s wall (%.0f%%), %.0f ms per host, %.0f ms per round"
        % (over / 1000.0, a.wall, 100.0 * over / wall_ms, over / a.hosts, over / rounds)
    )
    if changed != a.hosts:
        sys.exit("summary: only %d of %d hosts changed" % (changed, a.hosts))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("publish")
    p.add_argument("--exe", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("versions", nargs="+")
    i = sub.add_parser("inventory")
    i.add_argument("--hosts", type=int, required=True)
    i.add_argument("--work", required=True)
    i.add_argument("--server", required=True)
    i.add_argument("--version", required=True)
    i.add_argument("--base-port", type=int, required=True)
    i.add_argument("--exe", required=True)
    s = sub.add_parser("summary")
    s.add_argument("--results", required=True)
    s.add_argument("--wall", type=float, required=True)
    s.add_argument("--hosts", type=int, required=True)
    s.add_argument("--forks", type=int, required=True)
    a = ap.parse_args()
    dict(publish=publish, inventory=inventory, summary=summary)[a.cmd](a)


if __name__ == "__main__":
    main()
