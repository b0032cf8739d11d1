# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The wording of check mode and diff support, written once.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Runs in check mode and reports the change it would make, with the same reason, writing nothing.
  diff_mode:
    description: Returns a diff of parsed certificate facts (names, issuer, dates, serial, fingerprints); never key bytes.
  action_group:
    description: Use C(group/mxone.pki.pki) in C(module_defaults) to set options for all modules of this collection.
    support: full
    membership:
      - mxone.pki.pki
"""

    # What a module supports, for the two common cases: pulled in beside the wording above.
    CHECK_AND_DIFF = r"""
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

    CHECK_ONLY = r"""
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

    READ_ONLY = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: Read-only; it runs the same in check mode.
  diff_mode:
    support: none
"""
