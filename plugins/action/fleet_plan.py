# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for mxone.pki.fleet_plan: validate the inventory and return the fleet plan.

It runs inside ansible-playbook on the controller and reads the inventory
from the task's variables (``groups``, and per fleet host only the few
variables it needs, from ``hostvars``), so it costs no module execution and
never copies hostvars, which may hold secrets, anywhere.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import socket
import uuid

import yaml

from ansible.errors import AnsibleActionFail

from ansible_collections.mxone.pki.plugins.module_utils._argspecs import CONTROLLER
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.fleet_trust import existing_cas, interlock_message
from ansible_collections.mxone.pki.plugins.module_utils.fleet import DOWNLOAD_VARS, LIM_VARS, FleetError, build_plan
from ansible_collections.mxone.pki.plugins.module_utils.runlock import acquire, process_alive, release
from ansible_collections.mxone.pki.plugins.module_utils.variables import (
    PREFIX, no_download_servers_warning, spec_options, unknown_variable_warnings)
from ansible_collections.mxone.pki.plugins.plugin_utils.action_args import SpecAction
from ansible_collections.mxone.pki.plugins.plugin_utils.pki_host import (
    check_pki_host, is_remote, read_store_files, run_module_on, write_public_copy)
from ansible_collections.mxone.pki.plugins.plugin_utils.trust_survey import survey


def child_groups(hostvars, group):
    """The names of ``group``'s child groups, in inventory order ([] when there is no such group).

    The one fact about the inventory that no variable carries: ``groups`` lists each group's hosts (its
    children's included) but not which groups are children of which, and a system is a *child group* of
    mxone_systems (a subgroup of a system is part of it, not a system of its own). So this one read goes to
    the inventory behind ``hostvars``; everything else comes from ``groups`` and ``hostvars[host]``.
    """
    inventory = getattr(hostvars, "_inventory", None)
    if inventory is None or not hasattr(inventory, "groups"):  # pragma: no cover - ansible-core internals changed
        raise AnsibleActionFail("mxone.pki.fleet_plan cannot read the inventory's group tree (ansible-core changed?)")
    parent = inventory.groups.get(group)
    return [child.name for child in parent.child_groups] if parent is not None else []


def extra_variable_names(task):
    """The names given with --extra-vars (only names: their values may be secrets)."""
    manager = task.get_variable_manager()
    return list(getattr(manager, "extra_vars", None) or {})


def _host_vars(hostvars, host, names):
    variables = hostvars[host]
    return dict((name, variables[name]) for name in names if name in variables)


_KNOWN = []


def known_variables():
    """Every variable name the collection reads: the plan's own and every option of every role's argument specs.

    Read once per process from this collection's roles/ (beside plugins/), so a new role option is known
    without a list to keep.
    """
    if not _KNOWN:
        names = set(LIM_VARS) | set(DOWNLOAD_VARS)
        roles = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles")
        for path in sorted(glob.glob(os.path.join(roles, "*", "meta", "argument_specs.yml"))):
            with open(path) as handle:
                names.update(spec_options(yaml.safe_load(handle)))
        _KNOWN.append(frozenset(names))
    return _KNOWN[0]


def _words(variables, system_groups, download_group, download_hosts, download_group_exists, extra_vars):
    """Warnings about the inventory that are not errors: unknown mxone_* variables, no download servers.

    ``variables``: host -> its hostvars. Only variable names are looked at, never values (they may hold secrets).
    """
    names = dict((host, [n for n in hostvars if n.startswith(PREFIX)]) for host, hostvars in variables.items())
    groups = [("system group %s" % group, hosts) for group, hosts in system_groups.items()]
    groups.append(("group %s" % download_group, list(download_hosts)))
    warnings = unknown_variable_warnings(names, groups, known_variables(), extra_vars)
    if system_groups and not download_hosts:
        warnings.append(no_download_servers_warning(download_group, download_group_exists))
    return warnings


def public_copies(plan, public_dir):
    """Store path -> its copy under ``public_dir``, for the TLS checks that run on the controller (PKI host).

    Public certificates only: the CA, each server certificate and each chain (an external system's chain is its
    customer's CA, which the checks trust; for the others the chain is the CA file).
    """
    paths = [plan["ca"]["cert"]]
    for certificate in plan["certificates"].values():
        paths += [certificate["paths"]["cert"], certificate["paths"]["chain"]]
    return dict((path, os.path.join(public_dir, os.path.relpath(path, plan["pki_dir"]))) for path in paths)


def interlock_lims(plan, selected):
    """The selected LIMs the CA interlock surveys: an external system's LIMs are left out (its customer's CA
    signs them, so a new enterprise CA would not replace their trust)."""
    return [dict(host=host, ip=lim["ip"], fqdn=lim["fqdn"]) for host, lim in sorted(plan["hosts"].items())
            if host in selected and plan["certificates"][lim["certificate"]]["mode"] != "external"]


class ActionModule(SpecAction):
    MODULE = "fleet_plan"
    _requires_connection = False

    def run_validated(self, result, args, task_vars):
        # Workers are forked from ansible-playbook: the parent is the run.
        run_pid = os.getppid()
        pki_host = args["pki_host"] or CONTROLLER  # an empty mxone_pki_host is the controller too
        if args["release"]:
            if is_remote(pki_host):
                released = run_module_on(self, task_vars, pki_host, "mxone.pki.run_lock", dict(
                    pki_dir=args["pki_dir"], holder=args["holder"], state="released"))
                if released.get("failed") or released.get("unreachable"):
                    result["warnings"] = ["the run lock on the PKI host %s was not released (%s); it expires by "
                                          "itself when its lease ends" % (pki_host, released.get("msg"))]
                result.update(changed=False, released=bool(released.get("released")))
                return result
            result.update(changed=False, released=release(args["pki_dir"], run_pid))
            return result
        systems_group, download_group = args["systems_group"], args["download_group"]
        hostvars, groups = task_vars["hostvars"], task_vars["groups"]
        # A group's hosts, its child groups' included, in inventory order: as Group.get_hosts() gives them.
        system_groups = dict((child, list(groups.get(child) or [])) for child in child_groups(hostvars, systems_group))
        download_hosts = list(groups.get(download_group) or [])
        fleet = [h for hosts in system_groups.values() for h in hosts] + download_hosts
        # hostvars[host] templates a variable only when it is read: the plan reads a few names per host.
        variables = dict((host, hostvars[host]) for host in dict.fromkeys(fleet))
        extra_vars = [n for n in extra_variable_names(self._task) if n.startswith(PREFIX)]
        warnings = _words(variables, system_groups, download_group, download_hosts, download_group in groups,
                          extra_vars)
        if warnings:
            result["warnings"] = warnings
        needed = {}
        for hosts in system_groups.values():
            for host in hosts:
                needed[host] = _host_vars(variables, host, LIM_VARS)
        for host in download_hosts:
            needed[host] = _host_vars(variables, host, DOWNLOAD_VARS)
        problem = check_pki_host(pki_host, groups.get("all") or [], args["pki_dir"])
        if problem:
            result.update(failed=True, msg=problem + ". Nothing was changed.", field="mxone_pki_host")
            return result
        try:
            plan = build_plan(system_groups, needed, download_hosts, pki_dir=args["pki_dir"])
        except FleetError as error:
            result.update(failed=True, msg=str(error), problems=[
                dict(where=where, field=field, msg=msg) for where, field, msg in error.problems])
            return result
        plan["pki_host"] = pki_host
        plan["pki_remote"] = is_remote(pki_host)
        selected = set(task_vars.get("ansible_play_hosts_all") or [])
        plan["outside_limit"] = dict(
            (system_id, [h for h in system["hosts"] if h not in selected])
            for system_id, system in plan["systems"].items()
            if any(h in selected for h in system["hosts"]) and not all(h in selected for h in system["hosts"]))
        encryption_only = args["encryption_only"]
        plan["selected_systems"] = sorted(set(
            entry["system"] for host, entry in plan["hosts"].items()
            if host in selected and (plan["systems"][entry["system"]]["encryption"] or not encryption_only)))
        if plan["pki_remote"]:
            return self._remote(result, args, task_vars, plan, run_pid)
        if not os.path.exists(plan["ca"]["cert"]):
            # No CA in this store: a new one would replace the fleet's trust. Look first (the CA interlock).
            lims = interlock_lims(plan, selected)
            cas = existing_cas(*survey(self, task_vars, lims)) if lims else []
            plan["fleet_cas"] = cas
            message = interlock_message(cas, plan["pki_dir"])
            if message and not args["ca_create"]:
                result.update(failed=True, msg=message, fleet_cas=cas)
                return result
        if args["lock"] and not self._play_context.check_mode:
            try:
                lock_path, waited = acquire(plan["pki_dir"], run_pid, float(args["lock_timeout"]))
            except MxonePkiError as error:
                result.update(failed=True, msg=str(error), **error.context())
                return result
            plan["lock"] = dict(path=lock_path, waited=round(waited, 1))
        result.update(changed=False, plan=plan)
        return result

    def _take_lease(self, task_vars, pki_host, lock_args):
        """run_lock on the PKI host: at once if free; an earlier run of this controller that died is taken over
        (its lease would otherwise block for its whole length); any other holder is waited for."""
        taken = run_module_on(self, task_vars, pki_host, "mxone.pki.run_lock", dict(lock_args, timeout=0))
        holder = taken.get("holder") or {}
        if not taken.get("failed") or not holder:
            return taken
        if holder.get("host") == socket.gethostname() and str(holder.get("pid", "")).isdigit() \
                and not process_alive(holder["pid"]):
            lock_args = dict(lock_args, replace=holder.get("id"))
        return run_module_on(self, task_vars, pki_host, "mxone.pki.run_lock", lock_args)

    def _remote(self, result, args, task_vars, plan, run_pid):
        """The store is on the PKI host: a lease there, the CA interlock from there, public copies here."""
        pki_host = plan["pki_host"]
        public_dir = args["public_dir"]
        plan["public_dir"] = public_dir
        plan["public_copies"] = public_copies(plan, public_dir)
        take_lock = args["lock"] and not self._play_context.check_mode
        try:
            if take_lock:
                holder = "%s:%s:%s" % (socket.gethostname(), run_pid, uuid.uuid4().hex[:12])
                lease = args["lock_lease"]
                taken = self._take_lease(task_vars, pki_host, dict(
                    pki_dir=plan["pki_dir"], holder=holder, state="acquired", lease=lease,
                    timeout=args["lock_timeout"], probe=[plan["ca"]["cert"]]))
                if taken.get("failed") or taken.get("unreachable"):
                    result.update(failed=True, msg="PKI host %s (mxone_pki_host): %s" % (
                        pki_host, taken.get("msg")), field="mxone_pki_host")
                    return result
                plan["lock"] = dict(path=taken["path"], waited=taken.get("waited", 0), holder=holder, lease=lease,
                                    waited_for=taken.get("waited_for"))
            public = read_store_files(self, task_vars, pki_host, list(plan["public_copies"]))
        except MxonePkiError as error:
            result.update(failed=True, msg=str(error), field="mxone_pki_host")
            return result
        for path, data in public.items():
            if data is not None:
                write_public_copy(plan["public_copies"][path], data)
        if public.get(plan["ca"]["cert"]) is None:
            lims = interlock_lims(plan, set(task_vars.get("ansible_play_hosts_all") or []))
            cas = existing_cas(*survey(self, task_vars, lims)) if lims else []
            plan["fleet_cas"] = cas
            message = interlock_message(cas, "%s:%s" % (pki_host, plan["pki_dir"]))
            if message and not args["ca_create"]:
                if plan.get("lock"):
                    run_module_on(self, task_vars, pki_host, "mxone.pki.run_lock", dict(
                        pki_dir=plan["pki_dir"], holder=plan["lock"]["holder"], state="released"))
                result.update(failed=True, msg=message, fleet_cas=cas)
                return result
        result.update(changed=False, plan=plan)
        return result
