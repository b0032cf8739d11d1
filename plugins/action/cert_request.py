# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for mxone.pki.cert_request: the module runs as usual; through the collection's roles its errors name the
inventory variable the role filled the option from (plugins/plugin_utils/role_errors.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mxone.pki.plugins.plugin_utils.role_errors import ModuleAction


class ActionModule(ModuleAction):
    pass
