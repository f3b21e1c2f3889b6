#!/usr/bin/env python3
"""Availability scraper for the exporterctl e2e harness (stdlib only).

  scraper.py run --target NAME=URL ... --out EVENTS [--interval 0.05]
                 [--max-seconds 900] [--stop-file PATH]
      Polls every target every --interval seconds (one thread per target,
      1 s timeout per request) and appends "<unix-time> <name> <0|1>" to
      EVENTS (1 = HTTP 200 with a non-empty body). Stops when --stop-file
      exists, on SIGTERM/SIGINT, or after --max-seconds (always bounded).

  scraper.py window --events EVENTS --target NAME --start T0 --end T1
      Prints the failed scrapes of NAME between T0 and T1 (unix times) and
      the longest interval without a successful one (the last success
      before T0 and the first after T1 bound it).

  scraper.py report --events EVENTS [--markers MARKERS]
      Prints, per target, the longest interval without a successful scrape
      (overall and per scenario window). MARKERS lines are
      "<unix-time> START|END <scenario>". Gaps before a target's first
      success are not counted (the exporter did not exist yet).
"""
import argparse
import os
import signal
import sys
import threading
import time
import urllib.request

stop = threading.Event()


def poll(name, url, interval, out, lock):
    while not stop.is_set():
        t0 = time.time()
        ok = 0
        try:
            with urllib.request.urlopen(url, timeout=1.0) as r:
                ok = 1 if (r.status == 200 and len(r.read()) > 0) else 0
        except Exception:
            ok = 0
        with lock:
            out.write(f"{time.time():.4f} {name} {ok}\n")
        stop.wait(max(0.0, t0 + interval - time.time()))


def cmd_run(a):
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    lock = threading.Lock()
    out = open(a.out, "a", buffering=1)
    threads = []
    for t in a.target:
        name, url = t.split("=", 1)
        th = threading.Thread(target=poll, args=(name, url, a.interval, out, lock), daemon=True)
        th.start()
        threads.append(th)
    deadline = time.time() + a.max_seconds
    while not stop.is_set() and time.time() < deadline:
        if a.stop_file and os.path.exists(a.stop_file):
            break
        stop.wait(0.2)
    stop.set()
    for th in threads:
        th.join(timeout=3)
    out.close()


def gaps_for(events, end_time):
    """events: sorted [(t, ok)]. Returns [(start, end, open)] between successes."""
    succ = [t for t, ok in events if ok]
    gaps = []
    for a, b in zip(succ, succ[1:]):
        gaps.append((a, b, False))
    if succ and end_time > succ[-1]:
        gaps.append((succ[-1], end_time, True))
    return gaps


def read_events(path):
    per = {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) != 3:
                continue
            per.setdefault(p[1], []).append((float(p[0]), p[2] == "1"))
    return {n: sorted(ev) for n, ev in per.items()}


def window_figures(ev, ws, we):
    """(scrapes, failed, longest gap in s) of sorted events ev within [ws, we]."""
    inside = [(t, ok) for t, ok in ev if ws <= t <= we]
    failed = sum(1 for _, ok in inside if not ok)
    before = [t for t, ok in ev if ok and t < ws]
    after = [t for t, ok in ev if ok and t > we]
    succ = before[-1:] + [t for t, ok in inside if ok] + after[:1]
    longest = max((b - a for a, b in zip(succ, succ[1:])), default=0.0)
    return len(inside), failed, longest


def cmd_window(a):
    ev = read_events(a.events).get(a.target, [])
    n, failed, longest = window_figures(ev, a.start, a.end)
    print(f"{n} scrapes, {failed} failed, longest gap {longest * 1000:.0f} ms")


def cmd_report(a):
    per = {}
    last_t = 0.0
    with open(a.events) as f:
        for line in f:
            p = line.split()
            if len(p) != 3:
                continue
            t = float(p[0])
            per.setdefault(p[1], []).append((t, p[2] == "1"))
            last_t = max(last_t, t)
    windows = []
    absent = {}  # name -> [t]: moments the exporter was removed on purpose
    if a.markers and os.path.exists(a.markers):
        starts = {}
        with open(a.markers) as f:
            for line in f:
                p = line.split(None, 2)
                if len(p) != 3:
                    continue
                t, kind, name = float(p[0]), p[1], p[2].strip()
                if kind == "START":
                    starts[name] = t
                elif kind == "END" and name in starts:
                    windows.append((name, starts.pop(name), t))
                elif kind == "ABSENT":
                    absent.setdefault(name, []).append(t)
    print("scrape gaps (longest interval without a successful /metrics scrape, polled every 50 ms):")
    for name in sorted(per):
        ev = sorted(per[name])
        gaps = gaps_for(ev, last_t)
        # A gap spanning a moment when the exporter was removed on purpose
        # (e.g. rolled back to a generation without it) is not downtime.
        on_purpose = [g for g in gaps if any(g[0] <= t <= g[1] for t in absent.get(name, []))]
        gaps = [g for g in gaps if g not in on_purpose]
        n_ok = sum(1 for _, ok in ev if ok)
        worst = max(gaps, key=lambda g: g[1] - g[0], default=None)
        w = f"{(worst[1]-worst[0])*1000:.0f} ms" + (" (still failing at end)" if worst and worst[2] else "") if worst else "n/a"
        extra = "".join(f"; absent on purpose for {(g[1]-g[0]):.1f} s (not counted)" for g in on_purpose)
        print(f"  {name}: {len(ev)} scrapes, {n_ok} ok, longest gap overall {w}{extra}")
        # Per scenario, gaps are clipped to the scenario's window, so a gap
        # that started earlier (e.g. an exporter removed on purpose by a
        # rollback) is only counted for the time it lasted inside it.
        for wname, ws, we in windows:
            inside = [(max(g[0], ws), min(g[1], we), g[2]) for g in gaps if g[1] >= ws and g[0] <= we]
            if not inside:
                continue
            g = max(inside, key=lambda g: g[1] - g[0])
            note = " (not answering at the end of the run)" if g[2] and g[1] >= we else ""
            failed = sum(1 for t, ok in ev if not ok and ws <= t <= we)
            print(f"    {wname}: {(g[1]-g[0])*1000:.0f} ms, {failed} failed scrapes{note}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--target", action="append", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--interval", type=float, default=0.05)
    r.add_argument("--max-seconds", type=float, default=900)
    r.add_argument("--stop-file")
    w = sub.add_parser("window")
    w.add_argument("--events", required=True)
    w.add_argument("--target", required=True)
    w.add_argument("--start", type=float, required=True)
    w.add_argument("--end", type=float, required=True)
    p = sub.add_parser("report")
    p.add_argument("--events", required=True)
    p.add_argument("--markers")
    a = ap.parse_args()
    if a.cmd == "run":
        cmd_run(a)
    elif a.cmd == "window":
        cmd_window(a)
    else:
        cmd_report(a)


if __name__ == "__main__":
    sys.exit(main())
