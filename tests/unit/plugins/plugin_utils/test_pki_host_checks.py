"""The PKI host (mxone_pki_host): its check, the in-memory store reader, and the public copies the checks read."""

import pytest

from ansible_collections.mxone.pki.plugins.filter.mxone import public_path, verify_endpoints
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.fleet import build_plan
from ansible_collections.mxone.pki.plugins.plugin_utils.node_delivery import Material, reader_of, store_paths
from ansible_collections.mxone.pki.plugins.plugin_utils.pki_host import check_pki_host, is_remote, write_public_copy

HOSTS = {"pki1": object(), "lab1-lim1": object()}


@pytest.mark.parametrize("pki_host, pki_dir, problem", [
    ("localhost", "", None),                      # the controller, as before (its own default store)
    ("127.0.0.1", "relative/pki", None),
    ("pki1", "/srv/mxone-pki", None),
    ("pki2", "/srv/mxone-pki", "mxone_pki_host is 'pki2', which is not a host of the inventory"),
    ("pki1", "", "mxone_pki_dir must be set to an absolute path on that host"),
    ("pki1", "pki", "mxone_pki_dir must be set to an absolute path on that host"),
    ("", "/srv", "mxone_pki_host must name an inventory host"),
    (None, "/srv", "mxone_pki_host must name an inventory host"),
])
def test_check_pki_host(pki_host, pki_dir, problem):
    found = check_pki_host(pki_host, HOSTS, pki_dir)
    assert (found is None) if problem is None else (problem in found)


def test_is_remote():
    assert [is_remote(h) for h in ("localhost", "127.0.0.1", "::1", "pki1")] == [False, False, False, True]


def test_store_paths_and_the_reader_name_the_pki_host():
    job = dict(host="lab1-lim1", ca_path="/s/ca/ca.pem",
               certificate=dict(cert_path="/s/certs/lab1/server.pem", key_path="/s/certs/lab1/server.key",
                                chain_path=None))
    assert store_paths(job) == ["/s/ca/ca.pem", "/s/certs/lab1/server.pem", "/s/certs/lab1/server.key"]
    assert store_paths(dict(host="dl1", ca_path="/s/ca/ca.pem")) == ["/s/ca/ca.pem"]
    read = reader_of({"/s/ca/ca.pem": b"PEM", "/s/gone": None}, "pki1")
    assert read("/s/ca/ca.pem", "ca_path") == b"PEM"
    with pytest.raises(MxonePkiError) as error:
        Material(None, read=read).ca("/s/gone")
    assert "on the PKI host pki1" in str(error.value) and error.value.host == "pki1"


def test_the_tls_checks_read_the_public_copies_and_offer_no_client_key(tmp_path):
    plan = build_plan({"mxone_lab1": ["lab1-lim1"]}, {"lab1-lim1": dict(
        mxone_system="lab1", mxone_domain="lab1.example.net", mxone_lim=1, ansible_host="127.0.0.1",
        mxone_tls_client_verification="optional")}, pki_dir="/srv/pki")
    plan["selected_systems"] = ["lab1"]
    local = verify_endpoints(plan, ["lab1-lim1"])
    assert local[0]["ca_path"] == "/srv/pki/ca/ca.pem" and local[0]["client"]
    plan.update(pki_remote=True, public_copies={"/srv/pki/ca/ca.pem": "/ctl/pki-public/ca/ca.pem",
                                                "/srv/pki/certs/lab1/server.pem": "/ctl/pki-public/certs/lab1/server.pem"})
    remote = verify_endpoints(plan, ["lab1-lim1"])
    assert remote[0]["ca_path"] == "/ctl/pki-public/ca/ca.pem" and remote[0]["client"] is None
    assert remote[0]["endpoints"][0]["expected_cert"] == "/ctl/pki-public/certs/lab1/server.pem"
    assert public_path(plan, "/elsewhere") == "/elsewhere"


def test_a_public_copy_never_holds_a_key(tmp_path):
    target = str(tmp_path / "pub" / "ca.pem")
    write_public_copy(target, b"-----BEGIN CERTIFICATE-----\n")
    assert open(target, "rb").read() == b"-----BEGIN CERTIFICATE-----\n"
    with pytest.raises(MxonePkiError):
        write_public_copy(target, b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
