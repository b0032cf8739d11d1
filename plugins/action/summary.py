# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for mxone.pki.summary: print the per-system summary as plain lines, whatever the callback.

A debug message with newlines is one escaped string under the default callback's JSON results, and a
list of lines is folded at 80 columns under the YAML ones; lines written to the display read the same
under both, and in AWX's job output.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.utils.display import Display

from ansible_collections.mxone.pki.plugins.filter.mxone import summary_table
from ansible_collections.mxone.pki.plugins.plugin_utils.action_args import SpecAction

display = Display()


class ActionModule(SpecAction):
    MODULE = "summary"
    _requires_connection = False

    def run_validated(self, result, args, task_vars):
        lines = summary_table(args["summary"]).splitlines() if args["summary"] else ["(no system selected)"]
        display.display("\n".join([args["title"] + ":"] + ["  " + line for line in lines]))
        result.update(changed=False, lines=lines)
        return result
