#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: status
short_description: Gather exporterctl's view of a host as facts
description:
  - Runs C(exporterctl status --json) and sets the fact C(exporterctl) to its content
    (docs/json.md, schema exporterctl/status/v1), that is the current generation, each exporter's
    version, unit state and health now, the last switch.
  - Changes nothing; supports check mode.
version_added: "0.1.0"
options:
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
- name: Read every host's exporters
  exporterctl.fleet.status:
- name: Say which are unhealthy
  ansible.builtin.debug:
    msg: "{{ ansible_facts.exporterctl.exporters | rejectattr('health', 'equalto', 'healthy') | list }}"
"""

RETURN = r"""
ansible_facts:
  description: C(exporterctl), the status document.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.exporterctl.fleet.plugins.module_utils.exporterctl import (
    COMMON_ARGS,
    EXIT_OK,
    SCHEMA_STATUS,
    base_argv,
    blocked_or_bad,
    parse,
    run,
)


def main():
    module = AnsibleModule(argument_spec=dict(COMMON_ARGS), supports_check_mode=True)
    argv = base_argv(module) + ["status", "--json"]
    rc, out, err = run(module, argv)
    if rc != EXIT_OK:
        blocked_or_bad(module, argv, rc, out, err)
    status = parse(module, argv, rc, out, err, SCHEMA_STATUS)
    module.exit_json(changed=False, ansible_facts=dict(exporterctl=status))


if __name__ == "__main__":
    main()
