# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An action plugin's arguments, validated once against its spec (module_utils/_argspecs.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

from ansible_collections.mxone.pki.plugins.module_utils._argspecs import ACTION_MODULES


def validated_args(action, kwargs):
    """``(args, None)``: the task's arguments typed and defaulted; or ``(None, failure)``, a failed result.

    ``kwargs``: ``argument_spec`` and the constraints ActionBase.validate_argument_spec takes. The failure's
    message never holds a no_log value (a passphrase in the wrong place, say): they are masked as
    AnsibleModule masks them, and the task's arguments are not attached to it.
    """
    try:
        return action.validate_argument_spec(**kwargs)[1], None
    except AnsibleActionFail as error:
        # The validator is run again only to learn which values to mask: ActionBase keeps its result to itself.
        secrets = ArgumentSpecValidator(**kwargs).validate(action._task.args)._no_log_values
        return None, dict(failed=True, changed=False, msg=remove_values(error.message, secrets))


class SpecAction(ActionBase):
    """An action plugin of this collection whose module file only documents it (``MODULE``).

    Its arguments are validated once against the module's spec; a ``report`` argument (a host's part of a
    fleet-wide result, see the roles' per-host tasks) becomes that host's own result as it is. Everything else
    is ``run_validated``'s.
    """
    TRANSFERS_FILES = False
    MODULE = None

    def run(self, tmp=None, task_vars=None):
        result = super(SpecAction, self).run(tmp, task_vars)
        args, failure = validated_args(self, ACTION_MODULES[self.MODULE]())
        if failure:
            result.update(failure)
            return result
        if args.get("report") is not None:
            result.update(args["report"])
            return result
        return self.run_validated(result, args, task_vars)

    def run_validated(self, result, args, task_vars):
        raise NotImplementedError
