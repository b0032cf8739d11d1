"""renewal.decide: renew or not, why, and whether a new key is made; one row per reason."""

import datetime

import pytest

from _fixtures import DAY, DOMAIN, LIMS, NOW
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.issue import issue_server_certificate, renew_or_keep
from ansible_collections.mxone.pki.plugins.module_utils.keys import key_type_of
from ansible_collections.mxone.pki.plugins.module_utils.naming import system_names
from ansible_collections.mxone.pki.plugins.module_utils.renewal import (
    REASONS, Decision, Existing, Wanted, decide, renew_window)

# The server certificate is issued at NOW for 364 days: not_after = NOW + 364 days.
NOT_AFTER = NOW + 364 * DAY
SECOND = datetime.timedelta(seconds=1)


class Ctx(object):
    def __init__(self, enterprise_ca, server, pki):
        self.ca = enterprise_ca
        self.server = server
        self.pki = pki
        # issued with a clock two days ahead: at NOW it is not valid yet
        self.future = issue_server_certificate(enterprise_ca, server.key.public_key(), system_names(DOMAIN, LIMS),
                                               NOW + 2 * DAY)

    def existing(self, spec):
        cert, key = self.server.cert, self.server.key
        return {
            "good": Existing(cert, key),
            "none": Existing(),
            "no-key": Existing(cert, None),
            "no-cert": Existing(None, key),
            "unreadable": Existing(None, None, problem="/etc/lim.crt is not a readable X.509 certificate"),
            "unreadable-with-key": Existing(None, key, problem="/etc/lim.crt is not a readable X.509 certificate"),
            "other-key": Existing(cert, self.pki.leaf.key),
            "foreign": Existing(self.pki.foreign_leaf.cert, self.pki.foreign_leaf.key),
            "cert-only": Existing(cert, None, key_checked=False),
            "cert-only-foreign": Existing(self.pki.foreign_leaf.cert, None, key_checked=False),
            "future": Existing(self.future, key),
            "ca": Existing(self.ca.cert, self.ca.key),
        }[spec]

    def wanted(self, spec):
        names = system_names(DOMAIN, LIMS)
        return {
            "same": Wanted(names, issuer=self.ca.cert, key_type="rsa2048"),
            "no-key-type": Wanted(names, issuer=self.ca.cert),
            "not-ours": Wanted(names, issuer=None, key_type="rsa2048"),
            "reordered": Wanted(system_names(DOMAIN, [LIMS[2], LIMS[0], LIMS[1]]), issuer=self.ca.cert,
                                key_type="rsa2048"),
            "lim4": Wanted(system_names(DOMAIN, LIMS + [{"lim": 4, "ip": "10.0.0.4"}]), issuer=self.ca.cert,
                           key_type="rsa2048"),
            "lim3-gone": Wanted(system_names(DOMAIN, LIMS[:2]), issuer=self.ca.cert, key_type="rsa2048"),
            "extra-dns": Wanted(system_names(DOMAIN, LIMS, extra_dns=["malmo.mx.corp.net"]), issuer=self.ca.cert,
                                key_type="rsa2048"),
            "other-domain": Wanted(system_names("mx2.corp.net", LIMS), issuer=self.ca.cert, key_type="rsa2048"),
            "ec": Wanted(names, issuer=self.ca.cert, key_type="ec-p256"),
            # what ca.plan_ca asks: no names, issuer or key type (a CA keeps its subject and key)
            "no-names": Wanted(None),
        }[spec]


@pytest.fixture(scope="module")
def ctx(enterprise_ca, server, pki):
    return Ctx(enterprise_ca, server, pki)


CASES = [
    # id, existing, wanted, now, decide kwargs, renew?, reason, new_key, words in detail
    ("forced", "good", "same", NOW, dict(force=True), True, "forced", False, "renewal forced"),
    ("forced-rotate", "good", "same", NOW, dict(force=True, key_policy="rotate"), True, "forced", True, "forced"),
    ("missing-cert-and-key", "none", "same", NOW, {}, True, "missing", True, "no certificate yet"),
    ("missing-cert", "no-cert", "same", NOW, {}, True, "missing", False, "no certificate yet"),
    ("missing-key", "no-key", "same", NOW, {}, True, "missing", True, "the private key is missing"),
    ("unreadable", "unreadable", "same", NOW, {}, True, "unreadable", True,
     "/etc/lim.crt is not a readable X.509 certificate"),
    ("unreadable-key-kept", "unreadable-with-key", "same", NOW, {}, True, "unreadable", False, "not a readable"),
    ("key-mismatch", "other-key", "same", NOW, {}, True, "key_mismatch", False,
     "the certificate does not fit the private key"),
    ("issuer-changed", "foreign", "same", NOW, {}, True, "issuer_changed", False,
     "issued by 'Foreign Root CA', wanted 'MXOneEnterpriseCA'"),
    ("names-lim-added", "good", "lim4", NOW, {}, True, "names_changed", False,
     "DNS added: lim4.mx.corp.net; IP added: 10.0.0.4"),
    ("names-lim-removed", "good", "lim3-gone", NOW, {}, True, "names_changed", False,
     "DNS removed: lim3.mx.corp.net; IP removed: 10.0.0.3"),
    ("names-extra-dns", "good", "extra-dns", NOW, {}, True, "names_changed", False, "DNS added: malmo.mx.corp.net"),
    ("names-domain", "good", "other-domain", NOW, {}, True, "names_changed", False,
     "CN '*.mx.corp.net' -> '*.mx2.corp.net'"),
    ("names-same-other-order", "good", "reordered", NOW, {}, False, None, False, "364 day(s) left"),
    ("key-policy", "good", "ec", NOW, {}, True, "key_policy", True, "key is rsa2048, policy wants ec-p256"),
    ("expiring", "good", "same", NOT_AFTER - 10 * DAY, {}, True, "expiring", False,
     "expires in 10 day(s) (2027-11-23); renew-before window 30 day(s)"),
    ("expiring-boundary", "good", "same", NOT_AFTER - 30 * DAY, {}, True, "expiring", False, "expires in 30 day(s)"),
    ("just-outside-window", "good", "same", NOT_AFTER - 30 * DAY - SECOND, {}, False, None, False,
     "valid until 2027-11-23, 30 day(s) left"),
    ("expiring-rotate", "good", "same", NOT_AFTER - 10 * DAY, dict(key_policy="rotate"), True, "expiring", True,
     "expires in 10 day(s)"),
    ("expired", "good", "same", NOT_AFTER + DAY, {}, True, "expiring", False, "expired (2027-11-23)"),
    ("expired-a-second-ago", "good", "same", NOT_AFTER + SECOND, {}, True, "expiring", False, "expired"),
    ("not-due", "good", "same", NOW, {}, False, None, False, "valid until 2027-11-23, 364 day(s) left"),
    ("not-due-rotate", "good", "same", NOW, dict(key_policy="rotate"), False, None, False, "364 day(s) left"),
    ("renew-before-0", "good", "same", NOT_AFTER - SECOND, dict(renew_before=0), False, None, False, "0 day(s) left"),
    ("renew-before-timedelta", "good", "same", NOW, dict(renew_before=400 * DAY), True, "expiring", False,
     "window 400 day(s)"),
    ("renew-before-share", "good", "same", NOT_AFTER - 36 * DAY, dict(renew_before=0.1), True, "expiring", False,
     "window 36 day(s)"),
    ("renew-before-share-outside", "good", "same", NOT_AFTER - 37 * DAY, dict(renew_before=0.1), False, None, False,
     "37 day(s) left"),
    ("no-key-type-wanted", "good", "no-key-type", NOW, {}, False, None, False, "left"),
    ("issuer-not-checked", "foreign", "not-ours", NOW, {}, False, None, False, "left"),
    ("cert-only-not-due", "cert-only", "same", NOW, {}, False, None, False, "left"),
    ("cert-only-names", "cert-only", "lim4", NOW, {}, True, "names_changed", False, "lim4"),
    ("cert-only-issuer", "cert-only-foreign", "same", NOW, {}, True, "issuer_changed", False, "Foreign Root CA"),
    ("cert-only-key-policy", "cert-only", "ec", NOW, {}, True, "key_policy", True, "ec-p256"),
    ("not-yet-valid", "future", "same", NOW, {}, True, "not_yet_valid", False,
     "the stored certificate starts only on 2026-"),
    ("not-yet-valid-rotate", "future", "same", NOW, dict(key_policy="rotate"), True, "not_yet_valid", True, "starts"),
    ("valid-once-started", "future", "same", NOW + 2 * DAY, {}, False, None, False, "left"),
    # what the enterprise CA is asked (ca.plan_ca): only forced, missing, not_yet_valid, expiring can hit
    ("ca-kept", "ca", "no-names", NOW, {}, False, None, False, "valid until"),
    ("ca-names-not-checked", "good", "no-names", NOW, {}, False, None, False, "left"),
    ("ca-foreign-not-checked", "foreign", "no-names", NOW, {}, False, None, False, "left"),
    ("ca-key-only", "no-cert", "no-names", NOW, {}, True, "missing", False, "no certificate yet"),
    ("ca-none", "none", "no-names", NOW, {}, True, "missing", True, "no certificate yet"),
    ("ca-expiring", "good", "no-names", NOT_AFTER - 100 * DAY, dict(renew_before=180), True, "expiring", False,
     "renew-before window 180 day(s)"),
    ("ca-forced", "ca", "no-names", NOW, dict(force=True), True, "forced", False, "forced"),
    # the first check that hits is the reason
    ("forced-beats-missing", "none", "same", NOW, dict(force=True), True, "forced", True, "forced"),
    ("mismatch-beats-names", "other-key", "lim4", NOW, {}, True, "key_mismatch", False, "does not fit"),
    ("issuer-beats-expiry", "foreign", "same", NOT_AFTER + DAY, {}, True, "issuer_changed", False, "Foreign"),
    ("names-beat-key-policy", "good", "lim4", NOW, dict(key_policy="rotate"), True, "names_changed", True, "lim4"),
    ("names-beat-not-yet-valid", "future", "lim4", NOW, {}, True, "names_changed", False, "lim4"),
    ("key-policy-beats-not-yet-valid", "future", "ec", NOW, {}, True, "key_policy", True, "ec-p256"),
    ("not-yet-valid-beats-expiry", "future", "same", NOW, dict(renew_before=400 * DAY), True, "not_yet_valid",
     False, "starts"),
]


@pytest.mark.parametrize("existing, wanted, now, kwargs, renew, reason, new_key, words",
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_decide(ctx, existing, wanted, now, kwargs, renew, reason, new_key, words):
    decision = decide(ctx.existing(existing), ctx.wanted(wanted), now, **kwargs)
    assert isinstance(decision, Decision)
    assert (decision.renew, decision.reason, decision.new_key) == (renew, reason, new_key), decision
    assert words in decision.detail
    assert decision.as_dict() == {"renew": renew, "reason": reason, "detail": decision.detail, "new_key": new_key}
    assert reason is None or reason in REASONS


def test_every_reason_has_a_row():
    assert set(REASONS) == set(case[6] for case in CASES if case[6])


def test_decide_is_deterministic(ctx):
    args = (ctx.existing("good"), ctx.wanted("lim4"), NOW)
    assert decide(*args).as_dict() == decide(*args).as_dict()


# ------------------------------------------------------------ renew window


@pytest.mark.parametrize("renew_before, expected", [
    (30, 30 * DAY),
    (0, datetime.timedelta(0)),
    (45.0, 45 * DAY),
    (1.5, 1.5 * DAY),
    (datetime.timedelta(hours=5), datetime.timedelta(hours=5)),
])
def test_renew_window(server, renew_before, expected):
    assert renew_window(server.cert, renew_before) == expected


@pytest.mark.parametrize("share", [0.1, 0.25, 0.5])
def test_renew_window_share_of_lifetime(server, share):
    window = renew_window(server.cert, share)
    # the lifetime is 364 days (plus the few minutes notBefore is backdated by)
    assert window.total_seconds() / 86400 == pytest.approx(364 * share, abs=0.01)
    if share == 0.1:
        assert window.total_seconds() / 86400 == pytest.approx(36.4, abs=0.01)


@pytest.mark.parametrize("renew_before", [-1, -0.5, "30", "10%", True, False, None, [30]])
def test_bad_renew_before(ctx, renew_before):
    with pytest.raises(MxonePkiError) as info:
        renew_window(ctx.server.cert, renew_before)
    assert info.value.field == "renew_before"
    with pytest.raises(MxonePkiError) as info:
        decide(ctx.existing("good"), ctx.wanted("same"), NOW, renew_before=renew_before)
    assert info.value.field == "renew_before"
    assert repr(renew_before) in info.value.msg


@pytest.mark.parametrize("key_policy", ["new", "KEEP", None, ""])
def test_bad_key_policy(ctx, key_policy):
    for existing in ("good", "none"):
        with pytest.raises(MxonePkiError) as info:
            decide(ctx.existing(existing), ctx.wanted("same"), NOW, key_policy=key_policy)
        assert info.value.field == "key_policy"
        assert repr(key_policy) in info.value.msg


# ---------------------------------------------- applying it (issue.renew_or_keep)


@pytest.fixture(scope="module")
def names():
    return system_names(DOMAIN, LIMS)


def test_renew_or_keep_keeps_what_is_good(ctx, names):
    existing = ctx.existing("good")
    decision, key, cert = renew_or_keep(ctx.ca, names, existing, NOW)
    assert not decision.renew
    assert key is existing.key and cert is existing.cert


@pytest.mark.parametrize("key_policy, same_key", [("keep", True), ("rotate", False)])
def test_renew_or_keep_on_expiry(ctx, names, key_policy, same_key):
    existing = ctx.existing("good")
    now = NOT_AFTER - 5 * DAY
    decision, key, cert = renew_or_keep(ctx.ca, names, existing, now, key_policy=key_policy)
    assert decision.renew and decision.reason == "expiring"
    assert (key is existing.key) is same_key
    assert cert.serial_number != existing.cert.serial_number
    assert cert.not_valid_after_utc == now + 364 * DAY
    assert not decide(Existing(cert, key), Wanted(names, ctx.ca.cert, "rsa2048"), now).renew


def test_renew_or_keep_key_policy_makes_the_wanted_key(ctx, names):
    decision, key, cert = renew_or_keep(ctx.ca, names, ctx.existing("good"), NOW, key_type="ec-p256")
    assert decision.reason == "key_policy" and decision.new_key
    assert key_type_of(key) == key_type_of(cert.public_key()) == "ec-p256"


def test_a_renewal_for_another_reason_also_fixes_the_key_type(ctx, names):
    # key_mismatch keeps the held key; if that key is not of the wanted type the next run would
    # renew again for key_policy, so a new key of the wanted type is made at once.
    decision, key, cert = renew_or_keep(ctx.ca, names, ctx.existing("other-key"), NOW, key_type="ec-p256")
    assert decision.reason == "key_mismatch" and decision.new_key
    assert not decide(Existing(cert, key), Wanted(names, ctx.ca.cert, "ec-p256"), NOW).renew
