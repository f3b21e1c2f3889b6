#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: switch
short_description: Move a host's exporters to a manifest's state with exporterctl
description:
  - Runs C(exporterctl switch - --json) on the host with the manifest on stdin, so
    nothing is written on the host first. exporterctl flips each changed exporter,
    restarts it and health-checks it, rolling that step back by itself when the check fails.
  - Check mode runs C(exporterctl switch --dry-run --json -) and reports C(changed) from the plan.
  - With C(--diff) it reports the exporters' versions before and after.
  - The task fails when the switch failed, also when exporterctl rolled it back; C(msg)
    names the failed steps with the health check's verdict and the exporter's own last log lines.
  - C(manifest) may be the manifest's text or a path on the controller (the action plugin reads it there).
version_added: "0.1.0"
options:
  manifest:
    description: The manifest (YAML text), or a path to it on the controller.
    type: str
    required: true
  download_url:
    description:
      - Replace C(settings.github.download_url) and C(settings.gitlab.download_url) of the
        manifest (an offline mirror, e.g. C(file:///var/cache/exporterctl/mirror)). Done on the controller.
    type: str
  root:
    description: exporterctl's C(--root) (all state, links and units under it).
    type: path
  binary:
    description: The exporterctl binary on the host.
    type: str
    default: /usr/local/bin/exporterctl
  mode:
    description: C(--mode). C(fast) neither asks nor pauses; C(standard) pauses between steps.
    type: str
    choices: [fast, standard]
    default: fast
  only:
    description: C(--only) these exporters.
    type: list
    elements: str
    default: []
  atomic:
    description: C(--atomic) (on a failed step undo every step of the switch).
    type: bool
    default: false
  rollout_id:
    description: C(--rollout-id), for C(exporterctl.fleet.rollback rollout=...).
    type: str
  preflight:
    description:
      - C(--preflight). Unset, the manifest's C(settings.preflight) (default C(warn)) applies.
      - A switch the preflight refuses changes nothing on the host; the task fails with the
        preflight's findings in C(preflight) and the releases it refused in C(failed_steps).
    type: str
    choices: ["off", warn, require]
author:
  - exporterctl contributors
"""

EXAMPLES = r"""
- name: Switch to the host's manifest (a controller path)
  exporterctl.fleet.switch:
    manifest: "{{ exporterctl_manifest }}"
    rollout_id: "{{ rollout_id }}"
"""

RETURN = r"""
record:
  description: The finished switch record (docs/json.md, schema exporterctl/record/v1); in check mode the plan (exporterctl/plan/v1).
  returned: always
  type: dict
generation:
  description: The generation the switch made (null when nothing changed).
  returned: always
  type: int
failed_steps:
  description: Steps that failed (name, change, reason).
  returned: always
  type: list
preflight:
  description: When the preflight refused the switch (nothing changed), its findings (exporterctl/preflight/v1).
  returned: when refused
  type: dict
exporterctl_ms:
  description: How long exporterctl itself ran on the host, in milliseconds.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.exporterctl.fleet.plugins.module_utils import exporterctl as xc
from ansible_collections.exporterctl.fleet.plugins.module_utils.exporterctl import (
    COMMON_ARGS,
    EXIT_FAILED,
    EXIT_OK,
    SCHEMA_PLAN,
    SCHEMA_PREFLIGHT,
    SCHEMA_RECORD,
    base_argv,
    blocked_or_bad,
    failed_steps,
    parse,
    refused_steps,
    run,
    versions_text,
)


def diff_of(steps):
    before = dict((s["name"], s.get("from_version")) for s in steps)
    after = dict((s["name"], s.get("to_version")) for s in steps)
    return dict(
        before=versions_text(before),
        after=versions_text(after),
        before_header="exporters before",
        after_header="exporters after",
    )


def main():
    args = dict(
        manifest=dict(type="str", required=True),
        download_url=dict(type="str"),
        mode=dict(type="str", choices=["fast", "standard"], default="fast"),
        only=dict(type="list", elements="str", default=[]),
        atomic=dict(type="bool", default=False),
        rollout_id=dict(type="str"),
        preflight=dict(type="str", choices=["off", "warn", "require"]),
    )
    args.update(COMMON_ARGS)
    module = AnsibleModule(argument_spec=args, supports_check_mode=True)
    p = module.params
    manifest = p["manifest"].encode("utf-8")

    if module.check_mode:
        argv = base_argv(module) + ["switch", "--dry-run", "--json"]
        for name in p["only"]:
            argv += ["--only", name]
        argv.append("-")
        rc, out, err = run(module, argv, data=manifest)
        if rc != EXIT_OK:
            blocked_or_bad(module, argv, rc, out, err)
        plan = parse(module, argv, rc, out, err, SCHEMA_PLAN)
        changed = not plan.get("nothing_to_do", False)
        module.exit_json(
            changed=changed,
            record=plan,
            plan=plan,
            generation=plan.get("from_generation"),
            failed_steps=[],
            exporterctl_ms=xc.LAST_MS,
            diff=diff_of(plan.get("steps") or []),
        )

    argv = base_argv(module) + ["switch", "--json", "--yes", "--mode", p["mode"]]
    if p["atomic"]:
        argv.append("--atomic")
    for name in p["only"]:
        argv += ["--only", name]
    if p["rollout_id"]:
        argv += ["--rollout-id", p["rollout_id"]]
    if p["preflight"]:
        argv += ["--preflight", p["preflight"]]
    argv.append("-")
    rc, out, err = run(module, argv, data=manifest)
    if rc not in (EXIT_OK, EXIT_FAILED):
        blocked_or_bad(module, argv, rc, out, err)
    record = parse(module, argv, rc, out, err, (SCHEMA_RECORD, SCHEMA_PREFLIGHT))
    if record.get("schema") == SCHEMA_PREFLIGHT:
        # Refused before the first flip: nothing on the host changed.
        failed = refused_steps(record)
        module.fail_json(
            msg="exporterctl switch refused by preflight (%s), nothing was changed: %s"
            % (record.get("mode"), "; ".join("%s %s: %s" % (f["name"], f["change"], f["reason"]) for f in failed)),
            changed=False,
            preflight=record,
            record=None,
            generation=None,
            failed_steps=failed,
            exporterctl_ms=xc.LAST_MS,
        )
    if record.get("nothing_to_do"):
        module.exit_json(changed=False, record=record, generation=None, exporterctl_ms=xc.LAST_MS, failed_steps=[], msg=record.get("message"))
    steps = record.get("steps") or []
    failed = failed_steps(record)
    result = dict(
        exporterctl_ms=xc.LAST_MS,
        record=record,
        generation=record.get("result_generation"),
        failed_steps=failed,
        status=record.get("status"),
        diff=diff_of([s for s in steps if s.get("status") == "succeeded"]),
        # A switch that rolled back restarted exporters: the host was touched.
        changed=bool(steps),
    )
    if rc == EXIT_FAILED or failed or record.get("status") not in ("succeeded",):
        lines = ["%s %s: %s" % (f["name"], f["change"], f["reason"]) for f in failed]
        result["msg"] = "exporterctl switch %s (record %s, generation %s): %s" % (
            record.get("status"),
            record.get("id"),
            record.get("result_generation"),
            "; ".join(lines) if lines else (err or "").strip()[-2000:],
        )
        module.fail_json(**result)
    result["msg"] = "switched to generation %s" % record.get("result_generation")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
