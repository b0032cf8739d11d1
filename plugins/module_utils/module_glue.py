# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Option specs shared by several modules and the turning of params into plain values.

Each spec here has a twin in ``plugins/doc_fragments`` with the same
options; keep them identical (ansible-test validate-modules compares them).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from ansible_collections.mxone.pki.plugins.module_utils.ca import load_ca
from ansible_collections.mxone.pki.plugins.module_utils.certs import facts, load_certificate
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.files import read_bytes
from ansible_collections.mxone.pki.plugins.module_utils.issue import DEFAULT_VALIDITY_DAYS
from ansible_collections.mxone.pki.plugins.module_utils.keys import (
    DEFAULT_DIGEST, DEFAULT_KEY_TYPE, DIGESTS, KEY_TYPES, load_private_key)
from ansible_collections.mxone.pki.plugins.module_utils.naming import COMMON_NAMES, lim_names, system_names
from ansible_collections.mxone.pki.plugins.module_utils.renewal import DEFAULT_RENEW_BEFORE_DAYS, Existing


def ca_argument_spec():
    return dict(
        ca_cert_path=dict(type="path", required=True),
        ca_key_path=dict(type="path", required=True),
        ca_passphrase=dict(type="str", required=True, no_log=True),
    )


def names_argument_spec():
    return dict(
        domain=dict(type="str", required=True),
        lims=dict(type="list", elements="dict", required=True,
                  options=dict(lim=dict(type="raw", required=True), ip=dict(type="str"),
                               host=dict(type="str"))),
        lim=dict(type="int"),
        extra_dns=dict(type="list", elements="str", default=[]),
        extra_ips=dict(type="list", elements="str", default=[]),
        common_name=dict(type="str", default="name", choices=list(COMMON_NAMES)),
    )


def key_argument_spec(key_type=DEFAULT_KEY_TYPE, digests=DIGESTS):
    """The new key's type (default per module) and the signature hash; doc fragment ``mxone.pki.issue``."""
    return dict(
        key_type=dict(type="str", default=key_type, choices=list(KEY_TYPES)),
        digest=dict(type="str", default=DEFAULT_DIGEST, choices=list(digests)),
    )


def lifetime_argument_spec(renew_before):
    """Lifetime and renewal of a CA-signed certificate; doc fragment ``mxone.pki.issue.lifetime``."""
    return dict(
        validity_days=dict(type="int", default=DEFAULT_VALIDITY_DAYS),
        renew_before=dict(type="str", default=renew_before),
        force=dict(type="bool", default=False),
    )


def backup_argument_spec():
    """Doc fragment ``mxone.pki.issue.backup``."""
    return dict(backup=dict(type="bool", default=False))


def names_from_params(params):
    """The wanted ``Names``: a system's wildcard set, or one LIM's when ``lim`` is set."""
    common_name = params.get("common_name") or "name"
    if params.get("lim") is None:
        return system_names(params["domain"], params["lims"], params["extra_dns"], params["extra_ips"], common_name)
    matches = [entry for entry in params["lims"] if str(entry.get("lim")) == str(params["lim"])]
    if not matches:
        raise MxonePkiError("LIM %s is not in lims" % params["lim"], field="lim")
    return lim_names(params["domain"], params["lim"], matches[0].get("ip"), params["extra_dns"],
                     params["extra_ips"], common_name)


def load_ca_from_params(params):
    cert_path, key_path = params["ca_cert_path"], params["ca_key_path"]
    cert_data, key_data = read_bytes(cert_path), read_bytes(key_path)
    if cert_data is None:
        raise MxonePkiError("CA certificate %s does not exist; create the CA first (mxone.pki.enterprise_ca)"
                            % cert_path, file=cert_path, field="ca_cert_path")
    if key_data is None:
        raise MxonePkiError("CA key %s does not exist" % key_path, file=key_path, field="ca_key_path")
    return load_ca(cert_data, key_data, params["ca_passphrase"], cert_source=cert_path, key_source=key_path)


def parse_renew_before(value):
    """'30' or '30d' → 30 days (int); '10%' → 0.10 of the lifetime (float)."""
    text = str(DEFAULT_RENEW_BEFORE_DAYS if value is None else value).strip().lower()
    match = re.fullmatch(r"(\d+)\s*d?", text)
    if match:
        return int(match.group(1))
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%", text)
    if match and 0 < float(match.group(1)) < 100:
        return float(match.group(1)) / 100.0
    raise MxonePkiError("renew_before %r must be days (30, 30d) or a share of the lifetime (10%%)" % value,
                        field="renew_before")


def parse_now(value):
    """``now`` for the decision: the real clock, or an ISO 8601 time (tests, what-if reports)."""
    if not value:
        return datetime.datetime.now(datetime.timezone.utc)
    try:
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise MxonePkiError("now %r is not an ISO 8601 time" % value, field="now")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)


def fail(module, error, **extra):
    """Turn an MxonePkiError into fail_json with its host/file/field as result keys."""
    result = dict(extra)
    result.update(error.context())
    module.fail_json(msg=str(error), **result)


def facts_of_file(path, now):
    """Facts of the certificate at ``path`` for a diff: {} when absent, a marker when unreadable."""
    data = read_bytes(path)
    if data is None:
        return {}
    try:
        return facts(load_certificate(data, source=path), now)
    except MxonePkiError as error:
        return {"unreadable": error.msg}


def facts_diff(path, before, after):
    """A diff of parsed facts (never file bytes: some of these files hold keys)."""
    return dict(before=before or {}, after=after or {}, before_header=path, after_header=path)


def exit_with_facts(module, result, path, before, after, writer):
    """exit_json with ``result``, the facts diff of ``path`` when asked for, and the writer's backups."""
    if module._diff:
        result["diff"] = facts_diff(path, before, after)
    if writer.backup_files:
        result["backup_files"] = writer.backup_files
    module.exit_json(**result)


def load_existing(cert_path, key_path, key_passphrase, read=read_bytes):
    """What is on disk (or what ``read(path)`` returns: bytes or None), as ``renewal.Existing``.

    An unreadable certificate is a reason to renew. An unreadable key is
    an error instead: a wrong passphrase must never cost the key that a
    customer's signed certificate or a deployed node depends on.
    """
    cert, problem = None, None
    cert_data = read(cert_path) if cert_path else None
    if cert_data is not None:
        try:
            cert = load_certificate(cert_data, source=cert_path)
        except MxonePkiError as error:
            problem = error.msg
    key_data = read(key_path) if key_path else None
    key = None
    if key_data is not None:
        key = load_private_key(key_data, key_passphrase, source=key_path, field="key_passphrase", own_store=True)
    return Existing(cert, key, problem)
