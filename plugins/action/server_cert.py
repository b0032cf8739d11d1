# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for mxone.pki.server_cert: the module's own code, run inside ansible-playbook on the controller.

See plugins/plugin_utils/in_process.py: no module process per certificate; delegated elsewhere, the
module runs there as usual.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.mxone.pki.plugins.modules.server_cert import argument_spec, run
from ansible_collections.mxone.pki.plugins.plugin_utils.in_process import run_module


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        result.update(run_module(self, task_vars, "mxone.pki.server_cert", argument_spec(), run))
        return result
