# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs of the modules that exist only as action plugins: activate, deliver, fleet_plan, summary.

Their files in plugins/modules are documentation only (ansible-test compares a module's documentation
with its spec only when the module builds an AnsibleModule), so the one spec lives here: the action
plugin validates its task's arguments with it (ActionBase.validate_argument_spec, through
plugin_utils/action_args.py), and tests/unit/plugins/modules/test_argument_specs.py checks that each
module's DOCUMENTATION says the same (names, types, defaults, choices, required, elements, suboptions)
and that every secret is no_log. The in-process modules (enterprise_ca, server_cert, ...) keep their
spec in their own ``module_kwargs()``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mxone.pki.plugins.module_utils.activation import RELOAD_UNITS_DEFAULT

# mxone_pki_host's default: the store is on the controller.
CONTROLLER = "localhost"


def activate_kwargs():
    """mxone.pki.activate: activate ``systems``, or read ``licence``, or show a host's ``report``."""
    return dict(argument_spec=dict(
        systems=dict(type="list", elements="dict", default=[]),
        reload_units=dict(type="str", default=RELOAD_UNITS_DEFAULT),
        client_key_passphrase=dict(type="str", no_log=True),
        # a count or a share such as 25% (module_utils/rolling.py parallel_count)
        parallel=dict(type="raw", default=1),
        max_failures=dict(type="int", default=0),
        order=dict(type="list", elements="str", default=[]),
        timeout=dict(type="float", default=900),
        now=dict(type="bool", default=False),
        progress_interval=dict(type="float", default=30),
        report=dict(type="dict"),
        licence=dict(type="list", elements="dict"),
    ))


def deliver_kwargs():
    """mxone.pki.deliver: one host's files, or every host's (``targets``); ``restore``/``activated`` modes;
    or a host's ``report``."""
    return dict(argument_spec=dict(
        certificate=dict(type="dict", options=dict(
            cert_path=dict(type="path", required=True),
            key_path=dict(type="path", required=True, no_log=False),
            key_passphrase=dict(type="str", no_log=True),
            chain_path=dict(type="path"),
        )),
        ca_path=dict(type="path"),
        dest_dir=dict(type="str", default="/etc/opt/eri_sn/certs"),
        bundle_name=dict(type="str", default="eri_sn_cert.pem"),
        ca_name=dict(type="str", default="ca.pem"),
        pending_certificate=dict(type="bool", default=False),
        pending_ca=dict(type="bool", default=False),
        pending_facts=dict(type="dict"),
        settings=dict(type="list", elements="dict", default=[], options=dict(
            path=dict(type="str", required=True),
            key=dict(type="str", required=True, no_log=False),
            value=dict(type="str", required=True),
        )),
        activation=dict(type="bool", default=False),
        activated=dict(type="bool", default=False),
        restore=dict(type="bool", default=False),
        # per-host jobs: a host name, or a dict of the options above with ``host`` (or ``host`` and ``stop``)
        targets=dict(type="list", elements="raw"),
        # or every host's files from the plan step's manifest (mxone.pki.fleet_manifest)
        manifest=dict(type="dict"),
        key_passphrase=dict(type="str", no_log=True),
        pki_host=dict(type="str", default=CONTROLLER),
        public_copies=dict(type="dict", default={}),
        report=dict(type="dict"),
    ))


def fleet_plan_kwargs():
    """mxone.pki.fleet_plan: the plan (and the run lock), or ``release`` the lock."""
    return dict(argument_spec=dict(
        systems_group=dict(type="str", default="mxone_systems"),
        download_group=dict(type="str", default="mxone_download_servers"),
        encryption_only=dict(type="bool", default=False),
        lock=dict(type="bool", default=True),
        lock_timeout=dict(type="int", default=300),
        lock_lease=dict(type="int", default=1800),
        ca_create=dict(type="bool", default=False),
        release=dict(type="bool", default=False),
        holder=dict(type="str"),
        pki_dir=dict(type="path", default="pki"),
        pki_host=dict(type="str", default=CONTROLLER),
        public_dir=dict(type="path", default="pki-public"),
    ))


def summary_kwargs():
    """mxone.pki.summary: print the per-system table."""
    return dict(argument_spec=dict(
        summary=dict(type="list", elements="dict", required=True),
        title=dict(type="str", default="Per-system summary"),
    ))


# Module name -> its validation arguments; the unit test walks this.
ACTION_MODULES = dict(
    activate=activate_kwargs,
    deliver=deliver_kwargs,
    fleet_plan=fleet_plan_kwargs,
    summary=summary_kwargs,
)
