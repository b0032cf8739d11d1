# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The renewal decision: renew or not, and why. Every caller asks ``decide``.

Checks run in a fixed order and the first hit is the reason, so the same
inputs always give the same answer, in check mode and for real:
forced, unreadable, missing, key_mismatch, issuer_changed, names_changed,
key_policy, not_yet_valid, expiring.

Renewal keeps the key by default (the vendor's meaning: new validity
dates only); ``key_policy='rotate'`` makes a new key at every renewal.

Every kind of certificate is decided here, each through its inputs:
server certificates (``issue.renew_or_keep``), device certificates (the
same, with the kind's window), the enterprise CA (``ca.plan_ca``: no names,
issuer or key type to check, so only forced, missing, not_yet_valid and
expiring can hit) and imported certificates (``match='cover'``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.mxone.pki.plugins.module_utils.certs import common_name, signed_by
from ansible_collections.mxone.pki.plugins.module_utils.coverage import cover
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.keys import key_fits_certificate, key_type_of
from ansible_collections.mxone.pki.plugins.module_utils.naming import names_of_certificate

REASONS = ("forced", "unreadable", "missing", "key_mismatch", "issuer_changed", "names_changed",
           "key_policy", "not_yet_valid", "expiring")
KEY_POLICIES = ("keep", "rotate")
DEFAULT_RENEW_BEFORE_DAYS = 30


class Existing(object):
    """What is on disk now: a certificate and its key, each possibly absent.

    ``problem`` says why the certificate or key could not be read; the
    caller catches the parse error and hands its message over.
    ``key_checked=False`` judges the certificate alone (a read-only report
    that was given no key): the key checks are skipped, not failed.
    """

    def __init__(self, cert=None, key=None, problem=None, key_checked=True):
        self.cert = cert
        self.key = key
        self.problem = problem
        self.key_checked = key_checked


NAME_MATCHES = ("exact", "cover")


class Wanted(object):
    """What the certificate must be: names, issuing CA (None: not ours), key type.

    ``names=None`` checks no names (a CA: its subject is its identity and
    stays across renewals); ``key_type=None`` accepts the held key's type.

    ``match='exact'`` (certificates this collection issues): the names must
    be the wanted ones, no more, no less. ``match='cover'`` (certificates a
    customer's CA signed): the coverage rule of ``coverage.py``, the same
    one the import applied, so an accepted import is not renewed for its
    names on the next run; ``require_ips`` makes a missing IP a refusal.
    """

    def __init__(self, names, issuer=None, key_type=None, match="exact", require_ips=False):
        if match not in NAME_MATCHES:
            raise MxonePkiError("names match must be one of %s, not %r" % (", ".join(NAME_MATCHES), match),
                                field="names_match")
        self.names = names
        self.issuer = issuer
        self.key_type = key_type
        self.match = match
        self.require_ips = require_ips


class Decision(object):
    def __init__(self, renew, reason, detail, new_key=False):
        self.renew = renew
        self.reason = reason
        self.detail = detail
        self.new_key = new_key

    def as_dict(self):
        return {"renew": self.renew, "reason": self.reason, "detail": self.detail, "new_key": self.new_key}

    def __repr__(self):
        return "Decision(%r, %r, %r, new_key=%r)" % (self.renew, self.reason, self.detail, self.new_key)


def renew_window(cert, renew_before):
    """The renew-before window as a timedelta.

    ``renew_before`` is days (int), a ``timedelta``, or a share of the
    certificate's lifetime (a float strictly between 0 and 1).
    """
    if isinstance(renew_before, datetime.timedelta):
        return renew_before
    if isinstance(renew_before, float) and 0 < renew_before < 1:
        return (cert.not_valid_after_utc - cert.not_valid_before_utc) * renew_before
    if isinstance(renew_before, (int, float)) and not isinstance(renew_before, bool) and renew_before >= 0:
        return datetime.timedelta(days=renew_before)
    raise MxonePkiError("renew_before must be days (>= 0) or a share of the lifetime between 0 and 1, not %r"
                        % (renew_before,), field="renew_before")


def _names_detail(have, want):
    parts = []
    for label, old, new in (("DNS", have.dns, want.dns), ("IP", have.ips, want.ips)):
        if new - old:
            parts.append("%s added: %s" % (label, ", ".join(sorted(new - old))))
        if old - new:
            parts.append("%s removed: %s" % (label, ", ".join(sorted(old - new))))
    if have.common_name != want.common_name:
        parts.append("CN %r -> %r" % (have.common_name, want.common_name))
    return "; ".join(parts)


def _names_problem(cert, wanted):
    """What is wrong with the certificate's names, or None (also when no names are wanted)."""
    if wanted.names is None:
        return None
    if wanted.match == "cover":
        return cover(cert, wanted.names, wanted.require_ips).refusal()
    have = names_of_certificate(cert)
    return _names_detail(have, wanted.names) if have != wanted.names else None


def _why(existing, wanted, now, renew_before, force):
    """(reason, detail) of the first check that asks for a new certificate, or (None, detail)."""
    cert = existing.cert
    if force:
        return "forced", "renewal forced"
    if existing.problem:
        return "unreadable", existing.problem
    if cert is None:
        return "missing", "no certificate yet"
    if existing.key_checked and existing.key is None:
        return "missing", "the private key is missing"
    if existing.key_checked and not key_fits_certificate(existing.key, cert):
        return "key_mismatch", "the certificate does not fit the private key"
    if wanted.issuer is not None and not signed_by(cert, wanted.issuer):
        return "issuer_changed", "issued by %r, wanted %r" % (common_name(cert.issuer),
                                                              common_name(wanted.issuer.subject))
    names_problem = _names_problem(cert, wanted)
    if names_problem:
        return "names_changed", names_problem
    have_type = key_type_of(cert.public_key())
    if wanted.key_type and have_type != wanted.key_type:
        return "key_policy", "key is %s, policy wants %s" % (have_type, wanted.key_type)
    if cert.not_valid_before_utc > now:
        # A clock that was wrong at issue, or a what-if run: peers and devices (MiVoice 5000) refuse it.
        return "not_yet_valid", ("the stored certificate starts only on %s; peers and devices refuse it until then"
                                 % cert.not_valid_before_utc.isoformat())
    left = cert.not_valid_after_utc - now
    window = renew_window(cert, renew_before)
    if left <= window:
        when = "expired" if left.total_seconds() < 0 else "expires in %d day(s)" % left.days
        return "expiring", "%s (%s); renew-before window %d day(s)" % (
            when, cert.not_valid_after_utc.date().isoformat(), window.days)
    return None, "valid until %s, %d day(s) left" % (cert.not_valid_after_utc.date().isoformat(), left.days)


def decide(existing, wanted, now, renew_before=DEFAULT_RENEW_BEFORE_DAYS, force=False, key_policy="keep"):
    """Answer whether the certificate in ``existing`` must be (re)issued, and why."""
    if key_policy not in KEY_POLICIES:
        raise MxonePkiError("key_policy must be one of %s, not %r" % (", ".join(KEY_POLICIES), key_policy),
                            field="key_policy")
    reason, detail = _why(existing, wanted, now, renew_before, force)
    if reason is None:
        return Decision(False, None, detail)
    # A kept key must also be of the wanted type, or the next run would renew again for key_policy.
    held_key = existing.key if existing.key_checked else (existing.cert.public_key() if existing.cert else None)
    wrong_type = (wanted.key_type is not None and held_key is not None
                  and key_type_of(held_key) != wanted.key_type)
    missing_key = existing.key_checked and existing.key is None
    new_key = missing_key or wrong_type or reason == "key_policy" or key_policy == "rotate"
    return Decision(True, reason, detail, new_key=new_key)
