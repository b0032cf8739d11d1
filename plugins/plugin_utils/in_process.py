# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one of this collection's controller-side modules inside ansible-playbook.

The PKI modules (enterprise_ca, server_cert) and tls_check run on the controller (the CA key never
leaves it). As modules, each call starts a Python, unpacks a payload and imports cryptography
(0.3-0.5 s), once per certificate. Their action plugins instead validate the same argument spec
and call the same ``run(module)`` function here, with the small part of AnsibleModule those
modules use. Values of no_log options are scrubbed from the result as AnsibleModule does.
When the task is delegated anywhere but the controller, the module runs there as usual.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import time

import importlib

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

from ansible_collections.mxone.pki.plugins.plugin_utils.role_errors import for_role_user


class _Exit(Exception):
    def __init__(self, result):
        super(_Exit, self).__init__("module exited")
        self.result = result


class InProcessModule(object):
    """The AnsibleModule API the collection's PKI modules use: params, check mode, diff, warn, exit, fail, backup."""

    def __init__(self, params, check_mode, diff):
        self.params = params
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []

    def warn(self, warning):
        self.warnings.append(warning)

    def exit_json(self, **result):
        raise _Exit(result)

    def fail_json(self, msg, **result):
        result.update(failed=True, msg=msg)
        raise _Exit(result)

    def backup_local(self, path):
        """A copy beside ``path`` named as AnsibleModule names it (<path>.<pid>.<mtime>~)."""
        if not os.path.exists(path):
            return ""
        stamp = time.strftime("%Y-%m-%d@%H:%M:%S~", time.localtime(os.stat(path).st_mtime))
        destination = "%s.%s.%s" % (path, os.getpid(), stamp)
        shutil.copy2(path, destination)
        return destination


def run_module(action, task_vars, module_name, spec, run):
    """The module's result: in-process on the controller, else the module on the task's host.

    ``spec``: ``argument_spec`` and the other keyword arguments AnsibleModule takes for validation
    (``mutually_exclusive``, ``required_one_of``, ``required_by`` ...).
    """
    if action._connection.transport != "local":
        return action._execute_module(module_name=module_name, task_vars=task_vars)
    validation = ArgumentSpecValidator(**spec).validate(action._task.args)
    no_log_values = validation._no_log_values
    if validation.error_messages:
        return remove_values(dict(failed=True, msg="; ".join(validation.error_messages)), no_log_values)
    module = InProcessModule(validation.validated_parameters, bool(action._play_context.check_mode),
                             bool(action._play_context.diff))
    try:
        run(module)
        result = dict(changed=False)
    except _Exit as done:
        result = done.result
    if module.warnings:
        result["warnings"] = list(module.warnings)
    return remove_values(result, no_log_values)


class InProcessAction(ActionBase):
    """Base of the action plugins of controller-side modules: set ``MODULE`` (the module's short name).

    The module file provides ``module_kwargs()`` (AnsibleModule's ``argument_spec`` and constraints)
    and ``run(module)``.
    """

    TRANSFERS_FILES = False
    MODULE = None

    def run(self, tmp=None, task_vars=None):
        result = super(InProcessAction, self).run(tmp, task_vars)
        module = importlib.import_module("ansible_collections.mxone.pki.plugins.modules." + self.MODULE)
        result.update(run_module(self, task_vars, "mxone.pki." + self.MODULE, module.module_kwargs(), module.run))
        return for_role_user(self._task, result)
