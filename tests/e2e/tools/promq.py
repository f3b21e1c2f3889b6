#!/usr/bin/env python3
"""Queries a real Prometheus for the exporterctl e2e harness (stdlib only).

Run in the container's network namespace (the server is on its loopback).
Every target carries the labels `exporter` and `listener`.

  promq.py ready --url URL --targets N [--timeout 90]
      Waits until /-/ready answers 200 and N active targets are all up
      (each with a successful scrape). Exit 1 on timeout, saying what lacks.

  promq.py window --url URL --start T0 --end T1 [--json FILE]
      Per exporter, over exactly [T0, T1] (unix times): the scrapes and the
      failed ones, from
        count_over_time(up[W]) - sum_over_time(up[W])   at time T1, W = T1-T0
      and the longest interval between successful scrapes around the window
      (raw `up` samples; the last success before T0 and the first after T1
      bound it). Waits first until every target has a sample after T1, so
      the window is complete. Prints one line per exporter; --json appends
      the figures as one JSON line to FILE.
"""
import argparse
import json
import math
import sys
import time
import urllib.parse
import urllib.request


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def query(base, expr, at):
    q = urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"})
    _, body = get(f"{base}/api/v1/query?{q}")
    data = json.loads(body)
    if data.get("status") != "success":
        raise SystemExit(f"query {expr!r} failed: {data}")
    return data["data"]["result"]


def by_exporter(result):
    return {r["metric"].get("exporter", r["metric"].get("instance", "?")): r for r in result}


def cmd_ready(a):
    deadline = time.monotonic() + a.timeout
    why = "no answer"
    while time.monotonic() < deadline:
        try:
            status, _ = get(f"{a.url}/-/ready", timeout=2)
            if status != 200:
                why = f"/-/ready answered {status}"
            else:
                _, body = get(f"{a.url}/api/v1/targets?state=active", timeout=2)
                targets = json.loads(body)["data"]["activeTargets"]
                down = [f"{t['labels'].get('exporter')}={t['health']} {t.get('lastError', '')}".strip()
                        for t in targets if t["health"] != "up"]
                if len(targets) == a.targets and not down:
                    print(f"ready: {len(targets)} targets up")
                    return 0
                why = f"{len(targets)} active targets, not up: {down}"
        except (OSError, ValueError, KeyError) as e:
            why = str(e)
        time.sleep(0.2)
    print(f"not ready after {a.timeout} s: {why}")
    return 1


def cmd_window(a):
    t0, t1 = a.start, a.end
    if not t1 > t0:
        raise SystemExit("--end must be after --start")
    # Every target must have been scraped after the window's end (a scrape
    # started before T1 is recorded at its start, within scrape_timeout).
    deadline = time.monotonic() + 30
    while True:
        res = query(a.url, 'min(timestamp(up{job=~"e2e.*"}))', t1 + 5)
        last = float(res[0]["value"][1]) if res else 0.0
        if last > t1 + 0.3:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"Prometheus has no sample after the window's end (latest common sample {last})")
        time.sleep(0.2)

    w = f"{math.ceil((t1 - t0) * 1000)}ms"
    failed = by_exporter(query(a.url, f'count_over_time(up{{job=~"e2e.*"}}[{w}]) - sum_over_time(up{{job=~"e2e.*"}}[{w}])', t1))
    count = by_exporter(query(a.url, f'count_over_time(up{{job=~"e2e.*"}}[{w}])', t1))
    # raw samples from 2 s before to 1 s after the window
    # how long scrapes took (a timed-out one counts its timeout)
    med = by_exporter(query(a.url, f'quantile_over_time(0.5, scrape_duration_seconds{{job=~"e2e.*"}}[{w}])', t1))
    top = by_exporter(query(a.url, f'max_over_time(scrape_duration_seconds{{job=~"e2e.*"}}[{w}])', t1))
    raw = by_exporter(query(a.url, f'up{{job=~"e2e.*"}}[{math.ceil((t1 - t0) * 1000) + 3000}ms]', t1 + 1))

    out = {"start": t0, "end": t1, "window": w, "exporters": {}}
    for name in sorted(raw):
        labels = raw[name]["metric"]
        ok = [float(ts) for ts, v in raw[name]["values"] if float(v) == 1]
        gap = None
        # intervals between consecutive successes that overlap [t0, t1]
        for a_ts, b_ts in zip(ok, ok[1:]):
            if b_ts >= t0 and a_ts <= t1:
                gap = max(gap or 0.0, b_ts - a_ts)
        if gap is None:
            gap = float("inf")
        n = int(float(count[name]["value"][1])) if name in count else 0
        f = int(float(failed[name]["value"][1])) if name in failed else 0
        dur = [round(float(d[name]["value"][1]) * 1000) if name in d else None for d in (med, top)]
        out["exporters"][name] = {"listener": labels.get("listener", "?"), "scrapes": n, "failed": f,
                                  "longest_gap_ms": None if gap == float("inf") else round(gap * 1000),
                                  "scrape_ms_median": dur[0], "scrape_ms_max": dur[1]}
        g = "none succeeded" if gap == float("inf") else f"{gap * 1000:.0f} ms"
        print(f"{name:<16} {labels.get('listener', '?'):<17} {n:>3} scrapes, {f:>2} failed, longest gap {g}"
              f" (scrape duration median {dur[0]} ms, max {dur[1]} ms)")
    if a.json:
        with open(a.json, "a") as fh:
            fh.write(json.dumps(dict(out, op=a.op)) + "\n")
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("ready")
    r.add_argument("--url", required=True)
    r.add_argument("--targets", type=int, required=True)
    r.add_argument("--timeout", type=float, default=90)
    w = sub.add_parser("window")
    w.add_argument("--url", required=True)
    w.add_argument("--start", type=float, required=True)
    w.add_argument("--end", type=float, required=True)
    w.add_argument("--json")
    w.add_argument("--op", default="")
    a = p.parse_args()
    return cmd_ready(a) if a.cmd == "ready" else cmd_window(a)


if __name__ == "__main__":
    sys.exit(main())
