# -*- coding: utf-8 -*-
# The controller side of exporterctl.fleet.switch: a `manifest` that names a
# file on the controller is read there (so hosts need no copy of it, and check
# mode works without writing anything on them); `download_url` is put into
# the manifest's settings here, where PyYAML is always available.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

try:
    import yaml
except ImportError:  # pragma: no cover - ansible-core depends on PyYAML
    yaml = None

# Bounded like exporterctl's own stdin (1 MiB).
MAX_MANIFEST = 1024 * 1024


def looks_like_path(value):
    return "\n" not in value and not value.lstrip().startswith(("{", "apiVersion", "settings", "exporters"))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(
        ("manifest", "download_url", "root", "binary", "mode", "only", "atomic", "rollout_id")
    )

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        manifest = args.get("manifest")
        if not isinstance(manifest, str) or not manifest:
            raise AnsibleActionFail("manifest: the manifest's text or a path on the controller is required")
        if looks_like_path(manifest):
            try:
                path = self._find_needle("files", manifest)
            except Exception as e:
                raise AnsibleActionFail("manifest %s: not found on the controller (%s)" % (manifest, e))
            if os.path.getsize(path) > MAX_MANIFEST:
                raise AnsibleActionFail("manifest %s is larger than %d bytes" % (path, MAX_MANIFEST))
            with open(path, "rb") as f:
                manifest = to_text(f.read(), errors="surrogate_or_strict")
            result["manifest_path"] = path
        url = args.pop("download_url", None)
        if url:
            # A plain str: SafeDumper cannot represent Ansible's str subclasses.
            url = to_text(url).encode("utf-8").decode("utf-8")
            try:
                doc = yaml.safe_load(manifest)
            except yaml.YAMLError as e:
                raise AnsibleActionFail("manifest is not YAML: %s" % e)
            if not isinstance(doc, dict):
                raise AnsibleActionFail("manifest is not a mapping")
            settings = doc.setdefault("settings", {}) or {}
            doc["settings"] = settings
            for forge in ("github", "gitlab"):
                section = settings.get(forge) or {}
                section["download_url"] = url
                settings[forge] = section
            manifest = yaml.safe_dump(doc, default_flow_style=False, sort_keys=False)
        args["manifest"] = manifest
        result.update(
            self._execute_module(
                module_name="exporterctl.fleet.switch", module_args=args, task_vars=task_vars
            )
        )
        return result
