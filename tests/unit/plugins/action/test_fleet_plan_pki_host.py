"""fleet_plan with a PKI host: which public certificates are copied to the controller, which LIMs the CA
interlock surveys (an external system's are not: a customer CA signs them)."""

import pytest

from ansible_collections.mxone.pki.plugins.action.fleet_plan import interlock_lims, public_copies
from ansible_collections.mxone.pki.plugins.filter.mxone import verify_endpoints
from ansible_collections.mxone.pki.plugins.module_utils.fleet import build_plan


def plan_of(**systems):
    """``systems``: name -> mxone_cert_mode (two LIMs each)."""
    hostvars, groups = {}, {}
    for index, (name, mode) in enumerate(sorted(systems.items())):
        hosts = dict(("%s-lim%d" % (name, n), dict(mxone_system=name, mxone_domain=name + ".example.net",
                                                   mxone_lim=n, mxone_cert_mode=mode,
                                                   ansible_host="127.0.%d.%d" % (index, n))) for n in (1, 2))
        hostvars.update(hosts)
        groups["mxone_" + name] = sorted(hosts)
    return build_plan(groups, hostvars, [], pki_dir="/srv/pki")


def test_public_copies_hold_the_ca_every_certificate_and_every_chain():
    plan = plan_of(a="system", b="external")
    assert public_copies(plan, "/ctl/pki-public") == {
        "/srv/pki/ca/ca.pem": "/ctl/pki-public/ca/ca.pem",
        "/srv/pki/certs/a/server.pem": "/ctl/pki-public/certs/a/server.pem",
        "/srv/pki/certs/b/server.pem": "/ctl/pki-public/certs/b/server.pem",
        "/srv/pki/certs/b/chain.pem": "/ctl/pki-public/certs/b/chain.pem",
    }


def test_an_external_systems_tls_check_trusts_the_public_copy_of_its_chain():
    plan = plan_of(b="external")
    plan.update(selected_systems=["b"], pki_remote=True, public_copies=public_copies(plan, "/ctl/pki-public"))
    group, = verify_endpoints(plan, ["b-lim1", "b-lim2"])
    assert group["ca_path"] == "/ctl/pki-public/certs/b/chain.pem"
    assert [e["expected_cert"] for e in group["endpoints"]] == ["/ctl/pki-public/certs/b/server.pem"] * 2


@pytest.mark.parametrize("modes, selected, surveyed", [
    (dict(a="system"), ["a-lim1", "a-lim2"], ["a-lim1", "a-lim2"]),
    (dict(a="system"), ["a-lim2"], ["a-lim2"]),
    (dict(a="system", b="external"), ["a-lim1", "b-lim1", "b-lim2"], ["a-lim1"]),
    (dict(b="external"), ["b-lim1", "b-lim2"], []),  # all external: no survey at all
])
def test_the_interlock_surveys_the_selected_lims_an_enterprise_ca_signs(modes, selected, surveyed):
    found = interlock_lims(plan_of(**modes), set(selected))
    assert [lim["host"] for lim in found] == surveyed
    assert all(set(lim) == {"host", "ip", "fqdn"} for lim in found)
