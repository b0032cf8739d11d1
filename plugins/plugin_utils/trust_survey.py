# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gather what the fleet trusts now: each LIM's served certificate (TLS, from the controller) and its ca.pem (SSH).

Used only when the PKI store has no CA yet, so a normal run pays nothing for it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import concurrent.futures

from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.mxone.pki.plugins.module_utils.bundle import CA_BUNDLE_NAME
from ansible_collections.mxone.pki.plugins.module_utils.certs import facts, load_certificate
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.fleet import NODE_CERT_DIR
from ansible_collections.mxone.pki.plugins.module_utils.pem import certificate_ders
from ansible_collections.mxone.pki.plugins.module_utils.tls_probe import Endpoint, served_certificate
from ansible_collections.mxone.pki.plugins.plugin_utils.fleet_exec import run_on_hosts

CA_MARK = "@@mxone-ca-pem"


def _ca_certs(text):
    try:
        return [facts(load_certificate(der, source=CA_BUNDLE_NAME))
                for der in certificate_ders(to_bytes(text), source=CA_BUNDLE_NAME)]
    except MxonePkiError:
        return []


def survey(action, task_vars, lims):
    """({host: [CA facts from its ca.pem]}, {host: served leaf facts or None}) for ``lims`` [{host, ip, fqdn}]."""
    endpoints = dict((lim["host"], Endpoint(lim["host"], lim["ip"], 5061, lim["fqdn"])) for lim in lims)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(16, len(endpoints)))) as pool:
        served = dict(zip(endpoints, pool.map(lambda e: served_certificate(e, 5.0), endpoints.values())))
    script = "echo %s; cat %s/%s 2>/dev/null; true" % (CA_MARK, NODE_CERT_DIR, CA_BUNDLE_NAME)
    answers = run_on_hosts(action, task_vars, [lim["host"] for lim in lims], lambda shell: shell.run(script))
    ca_files = {}
    for host, answer in answers.items():
        out = answer.get("stdout") or ""
        if CA_MARK in out:
            ca_files[host] = _ca_certs(out.split(CA_MARK, 1)[1])
    return ca_files, served
