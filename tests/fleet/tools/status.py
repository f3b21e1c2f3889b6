#!/usr/bin/env python3
"""Assertions on a fleet host's `exporterctl status --json` (stdin).

  status.py field PATH            print a field (dotted; exporters.NAME.FIELD)
  status.py expect [--generation N] [--version NAME=V ...] [--healthy]
                   [--last-status S] [--last-id ID] [--pids FILE] [--same-pids FILE]

Exit 1 with a message naming what differs. Standard library only.
"""
import argparse
import json
import sys


def load():
    doc = json.load(sys.stdin)
    if doc.get("schema") != "exporterctl/status/v1":
        sys.exit("status: unexpected schema %r" % doc.get("schema"))
    return doc


def field(doc, path):
    cur = doc
    parts = path.split(".")
    i = 0
    while i < len(parts):
        p = parts[i]
        if p == "exporters" and i + 1 < len(parts):
            cur = {e["name"]: e for e in cur["exporters"]}.get(parts[i + 1])
            i += 2
            continue
        cur = None if cur is None else cur.get(p)
        i += 1
    return cur


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("field")
    f.add_argument("path")
    e = sub.add_parser("expect")
    e.add_argument("--generation", type=int)
    e.add_argument("--version", action="append", default=[])
    e.add_argument("--healthy", action="store_true")
    e.add_argument("--last-status")
    e.add_argument("--last-id")
    e.add_argument("--failure-names")
    e.add_argument("--save-pids")
    e.add_argument("--same-pids")
    a = ap.parse_args()
    doc = load()
    if a.cmd == "field":
        v = field(doc, a.path)
        print(v if isinstance(v, str) else json.dumps(v))
        return
    errors = []
    if a.generation is not None and doc["current_generation"] != a.generation:
        errors.append("current_generation %s, expected %s" % (doc["current_generation"], a.generation))
    rows = {e["name"]: e for e in doc["exporters"]}
    for nv in a.version:
        n, v = nv.split("=", 1)
        got = rows.get(n, {}).get("version")
        if got != v:
            errors.append("%s version %s, expected %s" % (n, got, v))
    if a.healthy:
        for n, r in rows.items():
            if r["health"] != "healthy" or r["active_state"] != "active":
                errors.append("%s: %s, %s" % (n, r["active_state"], r["health"]))
        if not rows:
            errors.append("no exporters")
    last = doc.get("last_switch") or {}
    if a.last_status and last.get("status") != a.last_status:
        errors.append("last_switch.status %s, expected %s" % (last.get("status"), a.last_status))
    if a.last_id and last.get("id") != a.last_id:
        errors.append("last_switch.id %s, expected %s (the host was touched)" % (last.get("id"), a.last_id))
    if a.failure_names:
        fails = " ".join(last.get("failures") or [])
        for n in a.failure_names.split(","):
            if n not in fails:
                errors.append("last_switch.failures do not name %s: %r" % (n, fails))
    pids = {n: r.get("main_pid") for n, r in rows.items()}
    if a.same_pids:
        with open(a.same_pids) as fh:
            before = json.load(fh)
        if before != pids:
            errors.append("main pids changed: %s -> %s" % (before, pids))
    if a.save_pids:
        with open(a.save_pids, "w") as fh:
            json.dump(pids, fh)
    if errors:
        print("status: " + "; ".join(errors), file=sys.stderr)
        print(json.dumps(doc, indent=1)[:3000], file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
