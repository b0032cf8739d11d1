# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The cryptography floor, stated once for every module that needs the library. The run-time check
    # (module_utils/_crypto.py MINIMAL_CRYPTOGRAPHY_VERSION) must say the same; a unit test compares them,
    # and CI runs the unit tests on this version (scripts/test-floor).
    DOCUMENTATION = r"""
options: {}
requirements:
  - cryptography >= 42.0.0
"""
