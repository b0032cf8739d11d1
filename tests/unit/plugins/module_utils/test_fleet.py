"""The fleet plan and the delivery jobs made from it (module_utils/fleet.py)."""

import pytest

from ansible_collections.mxone.pki.plugins.module_utils.fleet import FleetError, build_plan, delivery_targets

HOSTVARS = {
    "a-lim1": dict(mxone_system="a", mxone_domain="a.example.net", mxone_lim=1, ansible_host="192.0.2.11"),
    "a-lim2": dict(mxone_system="a", mxone_domain="a.example.net", mxone_lim=2, ansible_host="192.0.2.12",
                   mxone_tls_client_verification="mandatory"),
    "b-lim1": dict(mxone_system="b", mxone_domain="b.example.net", mxone_lim=1, ansible_host="192.0.2.21",
                   mxone_encryption=False),
    "dl": dict(mxone_download_dir="/srv/tftp", ansible_host="192.0.2.50"),
}


def plan(**extra):
    p = build_plan({"mxone_a": ["a-lim2", "a-lim1"], "mxone_b": ["b-lim1"]}, HOSTVARS, ["dl"], pki_dir="/pki")
    p["selected_systems"] = extra.get("selected", ["a", "b"])
    return p


def by_host(targets):
    return dict((t["host"], t) for t in targets)


def test_plan_orders_lims_and_names_the_leader():
    p = plan()
    assert p["systems"]["a"]["hosts"] == ["a-lim1", "a-lim2"] and p["systems"]["a"]["leader"] == "a-lim1"
    assert p["hosts"]["a-lim2"]["fqdn"] == "lim2.a.example.net"


def test_plan_reports_every_problem_with_host_and_variable():
    bad = dict(HOSTVARS, **{"a-lim2": dict(HOSTVARS["a-lim2"], mxone_lim=1)})
    with pytest.raises(FleetError) as err:
        build_plan({"mxone_a": ["a-lim1", "a-lim2"]}, bad, [], pki_dir="/pki")
    assert "a-lim1, a-lim2: mxone_lim: LIM number 1 is used by 2 hosts of system group mxone_a" in str(err.value)


def test_each_lim_gets_its_systems_certificate_and_settings():
    targets = by_host(delivery_targets(plan(), ["a-lim1", "a-lim2", "b-lim1", "dl"]))
    a2 = targets["a-lim2"]
    assert a2["certificate"]["cert_path"] == "/pki/certs/a/server.pem"
    assert a2["ca_path"] == a2["certificate"]["chain_path"]
    assert a2["activation"] is True and targets["b-lim1"]["activation"] is False
    settings = dict((s["key"], s["value"]) for s in a2["settings"])
    assert settings == {"TlsEnabled": "yes", "TlsClientVerificationMode": "mandatory"}
    assert targets["dl"] == dict(host="dl", dest_dir="/srv/tftp", ca_path="/pki/ca/ca.pem", pending_ca=False)


def test_only_live_hosts_of_selected_systems_are_served():
    targets = by_host(delivery_targets(plan(selected=["a"]), ["a-lim1", "b-lim1", "dl"]))
    assert sorted(targets) == ["a-lim1", "dl"]


def test_check_mode_pending_material_comes_from_the_issue_results():
    issue = [dict(item=dict(key="a"), changed=True, reason="expiring", detail="in 3 days", certificate={"serial": "1f"})]
    targets = by_host(delivery_targets(plan(), ["a-lim1", "b-lim1"], issue, ca_pending=False))
    assert targets["a-lim1"]["pending_certificate"] is True and targets["b-lim1"]["pending_certificate"] is False
    assert targets["a-lim1"]["pending_facts"] == dict(serial="1f", reason="expiring", detail="in 3 days")


def test_waiting_systems_get_a_stop_and_download_servers_can_be_left_alone():
    targets = by_host(delivery_targets(plan(), ["a-lim1", "b-lim1", "dl"], waiting={"a": "system a: waiting"},
                                       no_download_ca=True))
    assert targets["a-lim1"] == dict(host="a-lim1", stop="system a: waiting")
    assert "dl" not in targets and "certificate" in targets["b-lim1"]


def test_download_servers_get_the_union_file_when_given():
    targets = by_host(delivery_targets(plan(), ["dl"], download_ca="/pki/download/ca.pem",
                                       pending_ca_paths=["/pki/download/ca.pem"]))
    assert targets["dl"]["ca_path"] == "/pki/download/ca.pem" and targets["dl"]["pending_ca"] is True


def test_two_lims_with_one_address_are_refused_naming_both():
    groups = {"mxone_a": ["a1", "a2"], "mxone_b": ["b1"]}
    hostvars = {"a1": dict(mxone_system="a", mxone_domain="a.example.net", mxone_lim=1, ansible_host="192.0.2.1"),
                "a2": dict(mxone_system="a", mxone_domain="a.example.net", mxone_lim=2, ansible_host="192.0.2.2"),
                "b1": dict(mxone_system="b", mxone_domain="b.example.net", mxone_lim=1, ansible_host="192.0.2.9",
                           mxone_lim_ip="192.0.2.2")}
    with pytest.raises(FleetError) as error:
        build_plan(groups, hostvars)
    assert ("a2, b1", "mxone_lim_ip", "192.0.2.2 is the address of 2 LIMs; each LIM has its own address (it goes "
            "into the certificate, and the LIM is reached there)") in error.value.problems


def test_two_hosts_behind_one_ssh_address_and_port_are_refused():
    groups = {"mxone_a": ["a1", "a2"]}
    hostvars = {"a1": dict(mxone_system="a", mxone_domain="a.example.net", mxone_lim=1, ansible_host="mgmt",
                           mxone_lim_ip="192.0.2.1"),
                "a2": dict(mxone_system="a", mxone_domain="a.example.net", mxone_lim=2, ansible_host="mgmt",
                           mxone_lim_ip="192.0.2.2"),
                "dl": dict(mxone_download_dir="/srv/tftp", ansible_host="mgmt", ansible_port=2200)}
    with pytest.raises(FleetError) as error:
        build_plan(groups, hostvars, ["dl"])
    assert [p[:2] for p in error.value.problems] == [("a1, a2", "ansible_host")]
    assert "mgmt port 22 is where 2 hosts are reached" in error.value.problems[0][2]
    hostvars["a2"]["ansible_port"] = 2201  # one bastion, a port per node: fine
    assert build_plan(groups, hostvars, ["dl"])["hosts"]["a2"]["ip"] == "192.0.2.2"


def test_a_limit_that_selects_part_of_a_changing_system_stops_it():
    plan = build_plan({"mxone_a": ["a1", "a2"]}, {
        "a1": dict(mxone_system="a", mxone_domain="a.example.net", mxone_lim=1, ansible_host="192.0.2.1"),
        "a2": dict(mxone_system="a", mxone_domain="a.example.net", mxone_lim=2, ansible_host="192.0.2.2")})
    plan.update(selected_systems=["a"], outside_limit={"a": ["a2"]})
    issued = [dict(item=dict(key="a"), changed=True, reason="names_changed")]
    (target,) = delivery_targets(plan, ["a1"], issued)
    assert target["stop"].startswith("system a: the limit selects a1 but not a2, and certificate a (names_changed) "
                                     "changes; reload acts on every LIM of the system, so nothing is delivered")
    assert "-l mxone_a" in target["stop"] and "mxone_activate_partial: true" in target["stop"]
    assert "stop" not in delivery_targets(plan, ["a1"], issued, partial_ok=True)[0]
    assert "stop" not in delivery_targets(plan, ["a1"], [])[0]  # nothing changes: re-delivering one LIM is safe
    assert "the enterprise CA" in delivery_targets(plan, ["a1"], [], ca_pending=True)[0]["stop"]


@pytest.mark.parametrize("window, zone, expected", [
    ("25:00-03:00", None,
     "mxone_a: mxone_activate_window: '25:00-03:00' is not a daily window HH:MM-HH:MM (for example '22:00-04:30')"),
    ("22:00-04:30", "Europe/Stokholm", "mxone_a: mxone_activate_timezone: 'Europe/Stokholm' is not a known time zone"),
])
def test_a_bad_window_names_its_variable_once(window, zone, expected):
    bad = dict((h, dict(v, mxone_activate_window=window, mxone_activate_timezone=zone)) for h, v in HOSTVARS.items()
               if h.startswith("a-"))
    with pytest.raises(FleetError) as err:
        build_plan({"mxone_a": ["a-lim1", "a-lim2"]}, bad, [], pki_dir="/pki")
    assert expected in str(err.value)
    assert str(err.value).count("mxone_activate_") == 1


def _two_lims(**lim2):
    hostvars = {"a-lim1": dict(mxone_system="a", mxone_domain="a.example.net", mxone_lim=1, ansible_host="192.0.2.11"),
                "a-lim2": dict(mxone_system="a", mxone_domain="a.example.net", mxone_lim=2, ansible_host="192.0.2.12",
                               **lim2)}
    return build_plan({"mxone_a": ["a-lim1", "a-lim2"]}, hostvars, [], pki_dir="/pki")


def test_external_on_one_lim_gives_that_lim_its_own_csr():
    """A certificate per LIM from the customer's CA (a TLS SIP route that needs a certain root CA)."""
    p = _two_lims(mxone_cert_mode="external")
    certs = p["certificates"]
    assert sorted(certs) == ["a", "a-lim2"]
    assert (certs["a"]["mode"], certs["a"]["hosts"]) == ("system", ["a-lim1"])
    own = certs["a-lim2"]
    assert (own["mode"], own["lim"], own["hosts"]) == ("external", 2, ["a-lim2"])
    assert own["names"] == {"common_name": "lim2.a.example.net", "dns": ["lim2.a.example.net"], "ips": ["192.0.2.12"]}
    assert own["paths"]["csr"] == "/pki/certs/a-lim2/server.csr"
    assert own["paths"]["chain"] == "/pki/certs/a-lim2/chain.pem"
    assert p["hosts"]["a-lim2"]["certificate"] == "a-lim2" and p["hosts"]["a-lim1"]["certificate"] == "a"


def test_external_on_every_lim_is_one_shared_certificate():
    hostvars = dict((h, dict(v, mxone_cert_mode="external")) for h, v in HOSTVARS.items() if h.startswith("a-"))
    certs = build_plan({"mxone_a": ["a-lim1", "a-lim2"]}, hostvars, [], pki_dir="/pki")["certificates"]
    assert list(certs) == ["a"] and certs["a"]["mode"] == "external" and certs["a"]["lim"] is None


def test_import_require_ips_is_a_system_setting():
    assert _two_lims()["certificates"]["a"]["import_require_ips"] is False
    with pytest.raises(FleetError) as err:
        _two_lims(mxone_import_require_ips=True)
    assert "mxone_import_require_ips: differs from a-lim1 in system group mxone_a; it is system-wide" in str(err.value)
    with pytest.raises(FleetError) as err:
        build_plan({"mxone_a": ["a-lim1"]}, {"a-lim1": dict(HOSTVARS["a-lim1"], mxone_import_require_ips="maybe")}, [],
                   pki_dir="/pki")
    assert "mxone_import_require_ips: 'maybe' is not a boolean" in str(err.value)


def test_ip_as_common_name_per_lim_and_refused_on_a_shared_certificate():
    p = _two_lims(mxone_cert_mode="lim", mxone_cert_common_name="ip")
    assert p["certificates"]["a-lim2"]["names"]["common_name"] == "192.0.2.12"
    assert p["certificates"]["a-lim2"]["common_name"] == "ip"
    assert p["certificates"]["a"]["names"]["common_name"] == "*.a.example.net"
    with pytest.raises(FleetError) as err:
        _two_lims(mxone_cert_common_name="ip")
    assert "mxone_cert_common_name: mixes ip and name" in str(err.value)
    hostvars = dict((h, dict(v, mxone_cert_common_name="ip")) for h, v in HOSTVARS.items() if h.startswith("a-"))
    with pytest.raises(FleetError) as err:
        build_plan({"mxone_a": ["a-lim1", "a-lim2"]}, hostvars, [], pki_dir="/pki")
    assert "mxone_cert_common_name: ip (the IP address as CN) needs a certificate for one LIM" in str(err.value)
