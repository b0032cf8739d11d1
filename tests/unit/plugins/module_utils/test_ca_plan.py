"""ca.plan_ca: the enterprise CA's renewal, decided by renewal.decide on a fixed clock; one row per case."""

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from _fixtures import DAY, NOW, pem_cert, pem_key, public_der
from ansible_collections.mxone.pki.plugins.module_utils.ca import (
    DEFAULT_CA_COMMON_NAME, DEFAULT_CA_RENEW_BEFORE_DAYS, create_ca, plan_ca)
from ansible_collections.mxone.pki.plugins.module_utils.certs import common_name, is_ca
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.renewal import REASONS

PASS = "ca-passphrase-1"
CA_END = NOW + 3650 * DAY  # the session's enterprise_ca is made at NOW with the default ten years


@pytest.fixture(scope="module")
def store(enterprise_ca, pki):
    future_key, future_cert = create_ca(NOW + 2 * DAY, key_type="ec-p256")
    return {
        "cert": pem_cert(enterprise_ca.cert),
        "key": pem_key(enterprise_ca.key, PASS.encode()),
        "future": pem_cert(future_cert),
        "future_key": pem_key(future_key, PASS.encode()),
        "other_key": pem_key(pki.root.key, PASS.encode()),
        "garbage": b"-----BEGIN X-----\nnot at all\n-----END X-----\n",
        None: None,
    }


CASES = [
    # id, cert, key, now, kwargs, reason (None: kept), new key?, same subject and key as the store?, words
    ("empty-store", None, None, NOW, {}, "missing", True, False, "no certificate yet; new CA 'MXOneEnterpriseCA'"),
    ("key-only", None, "key", NOW, {}, "missing", False, True,
     "no certificate yet; CA certificate re-made for the existing key"),
    ("kept", "cert", "key", NOW, {}, None, False, True, "CA kept, valid until 2036-11-21, 3650 day(s) left"),
    ("just-outside-window", "cert", "key", CA_END - 181 * DAY, {}, None, False, True, "CA kept"),
    ("expiring", "cert", "key", CA_END - 100 * DAY, {}, "expiring", False, True,
     "expires in 100 day(s) (2036-11-21); renew-before window 180 day(s); re-signed with the same key"),
    ("window-boundary", "cert", "key", CA_END - 180 * DAY, {}, "expiring", False, True, "re-signed"),
    ("expired", "cert", "key", CA_END + DAY, {}, "expiring", False, True, "expired"),
    ("own-window", "cert", "key", CA_END - 100 * DAY, dict(renew_before=90), None, False, True, "CA kept"),
    ("not-yet-valid", "future", "future_key", NOW, {}, "not_yet_valid", False, True,
     "starts only on 2026-11-26T11:55:00+00:00; peers and devices refuse it until then; re-signed with the same key"),
    ("forced", "cert", "key", NOW, dict(force=True), "forced", True, False, "renewal forced; new CA"),
    ("forced-over-a-broken-store", "garbage", None, NOW, dict(force=True), "forced", True, False, "new CA"),
]


@pytest.mark.parametrize("cert, key, now, kwargs, reason, new_key, same, words",
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_plan_ca(store, cert, key, now, kwargs, reason, new_key, same, words):
    authority, decision = plan_ca(store[cert], store[key], PASS, now, key_type="ec-p256", **kwargs)
    assert (decision.renew, decision.reason, decision.new_key) == (reason is not None, reason, new_key), decision
    assert words in decision.detail
    assert is_ca(authority.cert)
    if reason is None:
        assert pem_cert(authority.cert) == store[cert]  # kept as it is
        return
    assert authority.cert.not_valid_before_utc < now < authority.cert.not_valid_after_utc
    assert public_der(authority.key) == public_der(authority.cert.public_key())
    if same:  # the CA's identity is kept: its key, and the subject of the certificate it had
        assert public_der(authority.key) == public_der(serialization.load_pem_private_key(store[key], PASS.encode()))
        if store[cert]:
            assert authority.cert.subject == x509.load_pem_x509_certificate(store[cert]).subject
    else:
        assert common_name(authority.cert.subject) == DEFAULT_CA_COMMON_NAME


def test_every_ca_reason_is_a_renewal_reason():
    assert set(case[5] for case in CASES if case[5]) <= set(REASONS)
    assert DEFAULT_CA_RENEW_BEFORE_DAYS == 180


def test_a_plan_is_the_same_in_check_mode_and_for_real(store):
    # plan_ca reads bytes and returns objects: nothing is written, so check mode asks exactly this
    one = plan_ca(store["cert"], store["key"], PASS, CA_END - 100 * DAY)[1].as_dict()
    two = plan_ca(store["cert"], store["key"], PASS, CA_END - 100 * DAY)[1].as_dict()
    assert one == two


@pytest.mark.parametrize("cert, key, passphrase, file, field, words", [
    ("cert", None, PASS, "/ca/ca.key", "ca_key_path", "its key /ca/ca.key is missing; refusing to replace the CA"),
    ("cert", "key", "wrong", "/ca/ca.key", "ca_passphrase", "wrong passphrase"),
    (None, "key", "wrong", "/ca/ca.key", "ca_passphrase", "wrong passphrase"),
    ("cert", "other_key", PASS, "/ca/ca.key", None, "does not fit"),
    ("garbage", "key", PASS, "/ca/ca.crt", None, "not a readable X.509 certificate"),
])
def test_a_ca_is_never_replaced_silently(store, cert, key, passphrase, file, field, words):
    # what decide would renew for a server certificate (key missing, unreadable, mismatch) is a refusal here
    with pytest.raises(MxonePkiError) as info:
        plan_ca(store[cert], store[key], passphrase, NOW, cert_source="/ca/ca.crt", key_source="/ca/ca.key")
    assert (info.value.file, info.value.field) == (file, field)
    assert words in info.value.msg
    assert PASS not in str(info.value)
