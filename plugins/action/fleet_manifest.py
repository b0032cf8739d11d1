# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for mxone.pki.fleet_manifest: the module's own code, run inside ansible-playbook on the controller.

See plugins/plugin_utils/in_process.py: no module process per call; delegated elsewhere, the module
runs there as usual.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mxone.pki.plugins.plugin_utils.in_process import InProcessAction


class ActionModule(InProcessAction):
    MODULE = "fleet_manifest"
