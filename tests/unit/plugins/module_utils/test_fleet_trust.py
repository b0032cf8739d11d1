"""The CA interlock's decision and words (module_utils/fleet_trust.py)."""

from ansible_collections.mxone.pki.plugins.module_utils.fleet_trust import existing_cas, interlock_message

OLD_CA = dict(subject="CN=MXOneEnterpriseCA", sha256_fingerprint="ab:cd", not_after="2036-01-01T00:00:00+00:00")


def test_a_fresh_fleet_trusts_nothing_and_the_ca_may_be_made():
    assert existing_cas({"a1": []}, {"a1": None}) == []
    assert interlock_message([], "/srv/pki") is None


def test_what_the_lims_serve_and_hold_is_named_with_its_fingerprint():
    leaf = dict(issuer="CN=MXOneEnterpriseCA", subject="CN=*.a.example.net")
    cas = existing_cas({"a1": [OLD_CA], "a2": [OLD_CA]}, {"a1": leaf, "a2": None})
    assert cas == [dict(OLD_CA, in_ca_pem=["a1", "a2"], served_by=["a1"])]
    message = interlock_message(cas, "/srv/pki")
    assert message.startswith("the PKI store /srv/pki holds no enterprise CA, but the fleet already trusts this CA: "
                              "CN=MXOneEnterpriseCA (SHA-256 ab:cd, valid until 2036-01-01T00:00:00+00:00), served "
                              "by a1 and in the ca.pem of a1, a2.")
    assert "mxone_ca_create: true" in message and message.endswith("Nothing was changed.")


def test_a_served_chain_without_its_ca_file_still_counts():
    cas = existing_cas({}, {"b1": dict(issuer="CN=Corp Issuing CA 2")})
    assert interlock_message(cas, "pki").count("CN=Corp Issuing CA 2, served by b1") == 1
