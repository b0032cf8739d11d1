# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors of this collection's modules, as a user of its roles reads them.

A module error names the module option at fault (``field: ca_passphrase``): right for a playbook that
calls the module itself. The collection's roles fill those options from inventory variables, so through
a role the error names the variable the user set (``field: mxone_ca_passphrase``). ``ROLE_VARIABLES`` is
that one mapping: every role fills each of these options from the same variable (a unit test reads the
roles' tasks to keep it so). The actions of the modules apply it when the task is one of this
collection's roles' (``for_role_user``); ``ModuleAction`` does it for the modules that have no action of
their own.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action.normal import ActionModule as NormalAction

from ansible_collections.mxone.pki.plugins.module_utils.errors import name_variables

COLLECTION = "mxone.pki"

# module option -> the variable the roles fill it from (every passphrase of the PKI store is the CA's).
ROLE_VARIABLES = {
    "ca_passphrase": "mxone_ca_passphrase",
    "key_passphrase": "mxone_ca_passphrase",
    "certificate.key_passphrase": "mxone_ca_passphrase",
    "client_key_passphrase": "mxone_ca_passphrase",
    "password": "mxone_pfx_password",
    "pfx_passwords": "mxone_pfx_password",  # fleet_manifest: per system
    "pkcs12_password": "mivoice5000_pkcs12_password",
}


def from_our_role(task):
    """Whether ``task`` (a handler too) belongs to one of this collection's roles."""
    role = getattr(task, "_role", None)
    name = role.get_name() if role is not None else ""
    return name.startswith(COLLECTION + ".")


def for_role_user(task, result):
    """``result`` with its field named as the inventory variable when a role of this collection ran the task."""
    if not from_our_role(task):
        return result
    named = name_variables(result, ROLE_VARIABLES)
    if isinstance(named, dict) and isinstance(named.get("results"), dict):  # deliver's per-host results
        named = dict(named, results=dict((host, name_variables(r, ROLE_VARIABLES))
                                         for host, r in named["results"].items()))
    return named


class ModuleAction(NormalAction):
    """The module as usual (wherever the task runs), its errors named for the roles' users."""

    def run(self, tmp=None, task_vars=None):
        return for_role_user(self._task, super(ModuleAction, self).run(tmp, task_vars))
