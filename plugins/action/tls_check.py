# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for mxone.pki.tls_check: on the controller, probe in-process; elsewhere, run the module there.

A check of the whole fleet from the controller (delegate_to localhost, run_once) is the common case:
running it here saves a Python start, a module payload and the cryptography import per call.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.tls_probe import TLS_CHECK_SPEC, tls_check


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        if self._connection.transport != "local":
            return self._execute_module(module_name="mxone.pki.tls_check", task_vars=task_vars)
        result = super(ActionModule, self).run(tmp, task_vars)
        spec = dict(TLS_CHECK_SPEC)
        dummy, params = self.validate_argument_spec(**spec)
        try:
            outcome, failure = tls_check(params)
        except MxonePkiError as error:
            result.update(failed=True, changed=False, msg=str(error), **error.context())
            return result
        result.update(outcome)
        if failure:
            result.update(failed=True, msg=failure)
        return result
