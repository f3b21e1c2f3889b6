#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: rollback
short_description: Return a host's exporters to an earlier generation with exporterctl
description:
  - C(rollout=ID) runs C(exporterctl rollback --rollout ID --json), returning the host to the
    generation that was current before that rollout's switch; nothing changes (C(changed=false))
    on a host the rollout never switched or that is already back.
  - C(to=N) runs C(exporterctl rollback --to N); with neither, it returns to the previous generation.
  - Nothing is downloaded; only link flips, restarts and health checks.
  - Check mode changes nothing and reads C(status) only; C(changed) is then true for C(to=N) when N
    is not current, and false for C(rollout=ID).
version_added: "0.1.0"
options:
  rollout:
    description: The rollout id to undo (C(switch --rollout-id)).
    type: str
  to:
    description: The generation to return to.
    type: int
  root:
    description: exporterctl's C(--root).
    type: path
  binary:
    description: The exporterctl binary on the host.
    type: str
    default: /usr/local/bin/exporterctl
author:
  - exporterctl contributors
"""

EXAMPLES = r"""
- name: Undo a rollout on every host it changed
  exporterctl.fleet.rollback:
    rollout: "{{ rollout_id }}"
"""

RETURN = r"""
record:
  description: The rollback's record (exporterctl/record/v1), or C(nothing_to_do) with a message.
  returned: always
  type: dict
generation:
  description: The generation the host is on afterwards (null when nothing changed).
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.exporterctl.fleet.plugins.module_utils import exporterctl as xc
from ansible_collections.exporterctl.fleet.plugins.module_utils.exporterctl import (
    COMMON_ARGS,
    EXIT_FAILED,
    EXIT_OK,
    SCHEMA_RECORD,
    SCHEMA_STATUS,
    base_argv,
    blocked_or_bad,
    failed_steps,
    parse,
    run,
)


def main():
    args = dict(rollout=dict(type="str"), to=dict(type="int"))
    args.update(COMMON_ARGS)
    module = AnsibleModule(
        argument_spec=args, supports_check_mode=True, mutually_exclusive=[("rollout", "to")]
    )
    p = module.params
    if module.check_mode:
        argv = base_argv(module) + ["status", "--json"]
        rc, out, err = run(module, argv)
        if rc != EXIT_OK:
            blocked_or_bad(module, argv, rc, out, err)
        status = parse(module, argv, rc, out, err, SCHEMA_STATUS)
        module.exit_json(
            changed=p["to"] is not None and status.get("current_generation") != p["to"],
            record=None,
            generation=status.get("current_generation"),
            msg="check mode: a rollback changes nothing in check mode; current generation %s"
            % status.get("current_generation"),
        )
    argv = base_argv(module) + ["rollback", "--json"]
    if p["rollout"]:
        argv += ["--rollout", p["rollout"]]
    elif p["to"] is not None:
        argv += ["--to", str(p["to"])]
    rc, out, err = run(module, argv)
    if rc not in (EXIT_OK, EXIT_FAILED):
        blocked_or_bad(module, argv, rc, out, err)
    record = parse(module, argv, rc, out, err, SCHEMA_RECORD)
    if record.get("nothing_to_do"):
        module.exit_json(changed=False, record=record, generation=None, exporterctl_ms=xc.LAST_MS, msg=record.get("message"))
    failed = failed_steps(record)
    result = dict(
        exporterctl_ms=xc.LAST_MS,
        changed=bool(record.get("steps")),
        record=record,
        generation=record.get("result_generation"),
        failed_steps=failed,
        status=record.get("status"),
    )
    if rc == EXIT_FAILED or failed or record.get("status") != "succeeded":
        result["msg"] = "exporterctl rollback %s: %s" % (
            record.get("status"),
            "; ".join("%s %s: %s" % (f["name"], f["change"], f["reason"]) for f in failed)
            or (err or "").strip()[-2000:],
        )
        module.fail_json(**result)
    result["msg"] = "rolled back to generation %s" % record.get("result_generation")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
