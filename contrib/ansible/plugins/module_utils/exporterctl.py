# -*- coding: utf-8 -*-
# Shared by the exporterctl.fleet modules: run exporterctl with an argv list
# (never a shell string), read its JSON, check the schema it declares.
# The contract is docs/json.md of exporterctl.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

SCHEMA_RECORD = "exporterctl/record/v1"
SCHEMA_PLAN = "exporterctl/plan/v1"
SCHEMA_STATUS = "exporterctl/status/v1"
SCHEMA_PREFLIGHT = "exporterctl/preflight/v1"

# exporterctl's documented exit statuses.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_BLOCKED = 3
EXIT_STOPPED = 130

COMMON_ARGS = dict(
    binary=dict(type="str", default="/usr/local/bin/exporterctl"),
    root=dict(type="path"),
)


def base_argv(module):
    binary = module.params["binary"]
    # A missing binary would read as exporterctl's "bad input" (exit 2).
    if not os.path.isfile(binary) or not os.access(binary, os.X_OK):
        module.fail_json(
            msg="no exporterctl binary at %s on this host: install it (role exporterctl.fleet.install) "
            "or set exporterctl_binary" % binary
        )
    argv = [binary]
    if module.params.get("root"):
        argv += ["--root", module.params["root"]]
    return argv


def run(module, argv, data=None):
    """Runs argv (a list) with `data` on stdin; returns (rc, stdout, stderr).
    The wall time of the last run is kept in LAST_MS (returned as
    `exporterctl_ms`: what the host's own work took, against Ansible's)."""
    global LAST_MS
    t0 = time.monotonic()
    result = module.run_command(
        argv,
        data=data,
        binary_data=True,
        check_rc=False,
        environ_update={"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "NO_COLOR": "1"},
    )
    LAST_MS = int((time.monotonic() - t0) * 1000)
    return result


LAST_MS = None


def parse(module, argv, rc, out, err, schema):
    """The JSON document on stdout, checked to declare `schema` (one, or a
    tuple of those the caller reads)."""
    schemas = schema if isinstance(schema, tuple) else (schema,)
    try:
        doc = json.loads(out)
    except ValueError:
        module.fail_json(
            msg="exporterctl printed no JSON (exit status %d): %s" % (rc, (err or out).strip()[-2000:]),
            rc=rc,
            cmd=argv,
            stdout=out,
            stderr=err,
        )
    if not isinstance(doc, dict) or doc.get("schema") not in schemas:
        module.fail_json(
            msg="exporterctl answered with schema %r; this collection reads %r (docs/json.md): "
            "upgrade the collection or the binary so they match"
            % (doc.get("schema") if isinstance(doc, dict) else None, " or ".join(schemas)),
            rc=rc,
            cmd=argv,
            stdout=out,
            stderr=err,
        )
    return doc


def blocked_or_bad(module, argv, rc, out, err):
    """Exit statuses 2, 3 and 130 (and anything unknown) end the task as failed."""
    what = {
        EXIT_BAD_INPUT: "bad input (manifest, arguments)",
        EXIT_BLOCKED: "blocked: another exporterctl holds the lock, or an interrupted switch needs `exporterctl resume`",
        EXIT_STOPPED: "stopped by a signal",
    }.get(rc, "exit status %d" % rc)
    module.fail_json(
        msg="exporterctl: %s: %s" % (what, (err or "").strip()[-2000:]),
        rc=rc,
        cmd=argv,
        stdout=out,
        stderr=err,
    )


def failed_steps(record):
    steps = []
    for s in record.get("steps") or []:
        if s.get("status") == "failed":
            steps.append(
                dict(
                    name=s.get("name"),
                    change="%s -> %s" % (s.get("from_version") or "none", s.get("to_version") or "none"),
                    reason=s.get("reason") or "",
                )
            )
    return steps


def refused_steps(preflight):
    """The steps a refused switch's preflight (exporterctl/preflight/v1) did
    not attempt, shaped like failed_steps: the releases that failed."""
    steps = []
    for r in preflight.get("exporters") or []:
        if r.get("status") == "failed" or r.get("kept_removed"):
            steps.append(
                dict(
                    name=r.get("name"),
                    change="%s -> %s" % (r.get("from_version") or "none", r.get("to_version") or "none"),
                    reason="preflight: %s" % (r.get("reason") or "removes kept families %s" % r.get("kept_removed")),
                )
            )
    return steps


def versions_text(pairs):
    """`name: version` lines, sorted, for --diff."""
    return "".join("%s: %s\n" % (n, v if v is not None else "(absent)") for n, v in sorted(pairs.items()))
