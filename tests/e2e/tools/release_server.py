#!/usr/bin/env python3
"""Static release server for the exporterctl e2e harness (stdlib only).

Serves --dir on --bind:--port and appends one line per request to --log:
    <unix-time> <client> <method> <path> <status>
so scenarios can assert that an operation made no download at all.
Runs inside the container (private network), as a transient systemd unit.
"""
import argparse
import functools
import http.server
import os
import sys
import threading
import time

_lock = threading.Lock()


class Handler(http.server.SimpleHTTPRequestHandler):
    log_path = None

    def log_request(self, code="-", size="-"):
        code = getattr(code, "value", code)
        with _lock, open(self.log_path, "a") as f:
            f.write(f"{time.time():.3f} {self.client_address[0]} {self.command} {self.path} {code}\n")

    def log_message(self, fmt, *args):  # keep stderr (journal) quiet but useful
        sys.stderr.write("release-server: " + (fmt % args) + "\n")

    def list_directory(self, path):  # GitHub does not list directories
        self.send_error(404, "Not Found")
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8999)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    Handler.log_path = a.log
    open(a.log, "a").close()
    handler = functools.partial(Handler, directory=os.path.abspath(a.dir))
    srv = http.server.ThreadingHTTPServer((a.bind, a.port), handler)
    srv.daemon_threads = True
    sys.stderr.write(f"release-server: serving {a.dir} on {a.bind}:{a.port}\n")
    srv.serve_forever()


if __name__ == "__main__":
    main()
