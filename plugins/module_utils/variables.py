# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The words the plan says about an inventory beyond its errors: unknown variables, no download servers.

The plan (``fleet.build_plan``) checks every variable it reads. A variable that nothing reads cannot be
wrong, only unused: most often a typo (``mxone_tls_client_verfication``) whose value silently never takes
effect. ``unknown_variable_warnings`` names each ``mxone_*`` variable of a fleet host that no part of the
collection reads, where it is set, and the nearest known name. The known names are the plan's own
(``fleet.LIM_VARS``, ``fleet.DOWNLOAD_VARS``), every option of every role's ``meta/argument_specs.yml``
(``spec_options``; the fleet_plan action reads them at run time) and the short lists below.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib

PREFIX = "mxone_"

# Read by a playbook, outside every role's argument spec.
PLAYBOOK_VARIABLES = (
    "mxone_renew_summary_path",  # playbooks/renew.yml: where the JSON summary goes
)

# Set by the collection's own tasks (register, set_fact) and read by later ones. A later play of the same
# ansible-playbook run sees them among a host's variables: they are not the user's typos.
SET_BY_THE_COLLECTION = (
    "mxone_fleet",  # mxone_plan
    "mxone_ca_result",  # mxone_ca
    "mxone_issue_result",  # mxone_issue
    "mxone_deliver_result",  # mxone_deliver
    "mxone_activate_result",  # mxone_activate
    "mxone_verify_result", "mxone_verify_phone_result", "mxone_verify_summary",  # mxone_verify
    "mxone_report_result",  # mxone_report
    "mxone_devices_connect_result", "mxone_devices_mivoice5000_result", "mxone_devices_phones_result",
    "mxone_devices_sip_proxy_result", "mxone_devices_sip_proxy_check", "mxone_devices_ta7100_result",  # mxone_devices
    "mxone_renew_report",  # playbooks/renew.yml
)

# How close a known name must be to be offered: difflib's ratio of the names without the shared "mxone_" (with
# it, every pair looks alike: mxone_tz would suggest mxone_tls). A swap in a short name (lmi, lim) scores 0.67.
CUTOFF = 0.6


def spec_options(argument_specs):
    """The option names of every entry point of one role's parsed ``meta/argument_specs.yml``."""
    names = set()
    for entry in ((argument_specs or {}).get("argument_specs") or {}).values():
        names.update((entry or {}).get("options") or {})
    return names


def suggestion(name, known):
    """The known ``mxone_*`` name nearest to ``name``, or None when none is close."""
    stems = dict((k[len(PREFIX):], k) for k in sorted(known) if k.startswith(PREFIX))
    matches = difflib.get_close_matches(name[len(PREFIX):], list(stems), n=1, cutoff=CUTOFF)
    return stems[matches[0]] if matches else None


def places(hosts, groups, extra_vars=False):
    """Where a variable set on ``hosts`` is set, in the inventory's own words.

    ``groups``: (label, [hosts]) pairs in inventory order, e.g. ("system group mxone_sthlm", [...]), the
    fleet's groups. Set with --extra-vars (``extra_vars``), that is the place; on every host of a group, that
    group; on every host of a fleet of several groups, the whole fleet (group_vars/all, say); else each host.
    """
    hosts = set(hosts)
    if extra_vars:
        return ["--extra-vars"]
    found, covered = [], set()
    for label, members in groups:
        if members and set(members) <= hosts and not set(members) <= covered:
            found.append(label)
            covered.update(members)
    every = set(h for _label, members in groups for h in members)
    if len(found) > 1 and every <= hosts:
        return ["every host of the fleet"]
    found.extend("host %s" % host for host in sorted(hosts - covered))
    return found


def unknown_variable_warnings(names_by_host, groups, known, extra_vars=()):
    """One warning per unknown ``mxone_*`` variable and place, with a "did you mean" when one is close.

    ``names_by_host``: host -> the names of its variables (only the names: values are never read);
    ``groups``: as for ``places``; ``known``: every name the collection reads; ``extra_vars``: the names
    given with --extra-vars.
    """
    known = set(known) | set(PLAYBOOK_VARIABLES) | set(SET_BY_THE_COLLECTION)
    hosts_by_name = {}
    for host, names in names_by_host.items():
        for name in names:
            if name.startswith(PREFIX) and name not in known:
                hosts_by_name.setdefault(name, set()).add(host)
    warnings = []
    for name in sorted(hosts_by_name):
        near = suggestion(name, known)
        hint = "; did you mean %s?" % near if near else ""
        for where in places(hosts_by_name[name], groups, name in set(extra_vars)):
            warnings.append("%s (%s): mxone.pki reads no such variable, so it has no effect%s" % (name, where, hint))
    return warnings


def no_download_servers_warning(group, exists):
    """The warning for a fleet without phone download servers (``exists``: whether the group is defined)."""
    why = "group %s has no host" % group if exists else "the inventory has no group %s" % group
    return ("%s: phones get no ca.pem from this run. Add the phone download (TFTP/HTTP/FTP) servers to a group "
            "%s, each with mxone_download_dir (and mxone_download_url for the phone-like check); see "
            "inventories/example/hosts.yml" % (why, group))
