"""coverage: an imported certificate covers the wanted names (RFC 6125 wildcards), or it is refused, and why."""

import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from _fixtures import DAY, DOMAIN, LIM_DNS, LIM_IPS, LIMS, NOW
from ansible_collections.mxone.pki.plugins.module_utils.coverage import cover, dns_matches, presented_names
from ansible_collections.mxone.pki.plugins.module_utils.naming import lim_names, system_names
from ansible_collections.mxone.pki.plugins.module_utils.renewal import Existing, Wanted, decide


@pytest.mark.parametrize("presented, wanted, matches", [
    ("lim1.mx.corp.net", "lim1.mx.corp.net", True),
    ("LIM1.MX.corp.net", "lim1.mx.corp.net", True),
    ("lim1.mx.corp.net.", "lim1.mx.corp.net", True),
    ("*.mx.corp.net", "lim1.mx.corp.net", True),
    ("*.mx.corp.net", "a.lim1.mx.corp.net", False),      # one label deep only
    ("*.mx.corp.net", "mx.corp.net", False),             # the wildcard is a whole label, never empty
    ("*.corp.net", "lim1.mx.corp.net", False),
    ("*.net", "corp.net", False),                        # no wildcard for a top-level domain
    ("lim*.mx.corp.net", "lim1.mx.corp.net", False),     # partial-label wildcards are not honoured
    ("*.*.corp.net", "lim1.mx.corp.net", False),
    ("*.mx.corp.net", "*.mx.corp.net", True),            # a wanted wildcard: only the same wildcard
    ("*.corp.net", "*.mx.corp.net", False),
    ("lim1.mx.corp.net", "lim2.mx.corp.net", False),
])
def test_dns_matches(presented, wanted, matches):
    assert dns_matches(presented, wanted) is matches


def _cert(keys, dns=(), ips=(), cn="*." + DOMAIN, san=True):
    key = keys["leaf"]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
               .serial_number(1).not_valid_before(NOW - DAY).not_valid_after(NOW + 364 * DAY))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]), critical=False)
    return builder.sign(key, hashes.SHA256())


WANTED = system_names(DOMAIN, LIMS, extra_dns=["malmo.corp.net"])
ALL_DNS = sorted(LIM_DNS) + ["malmo.corp.net"]

# (id, dns, ips, require_ips, accepted, missing_dns, missing_ips, extra_dns, extra_ips)
CASES = [
    ("exactly-what-was-asked", ALL_DNS, sorted(LIM_IPS), False, True, [], [], [], []),
    ("enterprise-ca-copies-cn-into-san", ["*." + DOMAIN] + ALL_DNS, sorted(LIM_IPS), False, True, [], [],
     ["*." + DOMAIN], []),
    ("wildcard-covers-every-lim", ["*." + DOMAIN, "malmo.corp.net"], sorted(LIM_IPS), False, True, [], [],
     ["*." + DOMAIN], []),
    ("public-ca-no-ips-warns", ["*." + DOMAIN, "malmo.corp.net"], [], False, True, [], sorted(LIM_IPS),
     ["*." + DOMAIN], []),
    ("public-ca-no-ips-refused-when-required", ["*." + DOMAIN, "malmo.corp.net"], [], True, False, [],
     sorted(LIM_IPS), ["*." + DOMAIN], []),
    ("extra-names-and-ips-reported", ALL_DNS + ["www.corp.net"], sorted(LIM_IPS) + ["192.0.2.9"], True, True,
     [], [], ["www.corp.net"], ["192.0.2.9"]),
    ("one-lim-missing", sorted(LIM_DNS)[:2] + ["malmo.corp.net"], sorted(LIM_IPS), False, False,
     ["lim3.mx.corp.net"], [], [], []),
    ("extra-dns-missing", sorted(LIM_DNS), sorted(LIM_IPS), False, False, ["malmo.corp.net"], [], [], []),
    ("wildcard-too-deep", ["*.corp.net"], sorted(LIM_IPS), False, False, sorted(LIM_DNS), [], ["*.corp.net"], []),
    ("one-ip-missing", ALL_DNS, ["10.0.0.1", "10.0.0.2"], False, True, [], ["10.0.0.3"], [], []),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_cover_table(keys, case):
    dns, ips, require_ips, accepted, missing_dns, missing_ips, extra_dns, extra_ips = case[1:]
    got = cover(_cert(keys, dns, ips), WANTED, require_ips=require_ips)
    assert got.accepted is accepted
    assert (got.missing_dns, got.missing_ips, got.extra_dns, got.extra_ips) == (
        missing_dns, missing_ips, extra_dns, extra_ips)
    refusal = got.refusal("pki/incoming/sthlm/server.pem", "sthlm")
    if accepted:
        assert refusal is None
        assert bool(got.warnings()) is bool(missing_ips)
        for ip in missing_ips:
            assert ip in got.warnings()[0]
    else:
        assert refusal.startswith("pki/incoming/sthlm/server.pem for system sthlm: not covered: ")
        for name in missing_dns:
            assert name in refusal
        assert "removed" not in refusal and "added" not in refusal
        assert not got.warnings() or not require_ips


def test_cn_counts_only_without_san(keys):
    wanted = lim_names(DOMAIN, 1)  # lim1.mx.corp.net, no IP
    assert presented_names(_cert(keys, cn="lim1." + DOMAIN, san=False)) == (frozenset(["lim1." + DOMAIN]),
                                                                            frozenset())
    assert cover(_cert(keys, cn="lim1." + DOMAIN, san=False), wanted).accepted
    # with a SAN, the CN is not looked at
    assert not cover(_cert(keys, dns=["other." + DOMAIN], cn="lim1." + DOMAIN), wanted).accepted
    assert presented_names(_cert(keys, cn="10.0.0.1", san=False)) == (frozenset(), frozenset(["10.0.0.1"]))


def test_warning_names_the_ips_and_the_variable(keys):
    got = cover(_cert(keys, ["*." + DOMAIN, "malmo.corp.net"]), WANTED)
    assert got.warnings() == ["the certificate has no SAN IP 10.0.0.1, 10.0.0.2, 10.0.0.3: peers that connect by "
                              "IP address will fail the name check (set mxone_import_require_ips: true to refuse "
                              "such files)"]


def test_refusal_wording(keys):
    got = cover(_cert(keys, ["lim1." + DOMAIN], []), WANTED, require_ips=True)
    assert got.refusal("server.pem", "sthlm") == (
        "server.pem for system sthlm: not covered: the certificate lacks SAN DNS lim2.mx.corp.net, "
        "lim3.mx.corp.net, malmo.corp.net and SAN IP 10.0.0.1, 10.0.0.2, 10.0.0.3 (mxone_import_require_ips is "
        "true); have the CSR signed again with these names in the SAN")


# The same rule decides renewals of imported certificates: an accepted import does not flap into names_changed.
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_renewal_with_cover_agrees_with_the_import(keys, case):
    dns, ips, require_ips, accepted, missing_dns = case[1:6]
    cert = _cert(keys, dns, ips)
    decision = decide(Existing(cert, None, key_checked=False),
                      Wanted(WANTED, match="cover", require_ips=require_ips), NOW)
    if accepted:
        assert decision.renew is False, decision
    else:
        assert (decision.renew, decision.reason) == (True, "names_changed")
        for name in missing_dns:
            assert name in decision.detail


def test_renewal_exact_is_unchanged(keys):
    """Own certificates keep the equality rule: the CN copied into the SAN is a reason to reissue."""
    cert = _cert(keys, ["*." + DOMAIN] + ALL_DNS, sorted(LIM_IPS))
    decision = decide(Existing(cert, None, key_checked=False), Wanted(WANTED), NOW)
    assert decision.reason == "names_changed"


def test_renewal_cover_still_renews_when_expiring(keys):
    cert = _cert(keys, ["*." + DOMAIN, "malmo.corp.net"], sorted(LIM_IPS))
    decision = decide(Existing(cert, None, key_checked=False), Wanted(WANTED, match="cover"), NOW + 350 * DAY)
    assert decision.reason == "expiring"
