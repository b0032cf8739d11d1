"""manifest: the plan step over a staged store (CA -> certificates -> bundles -> manifest), without Ansible."""

import datetime
import hashlib

import pytest

from _fixtures import NOW
from ansible_collections.mxone.pki.plugins.module_utils.external import Staged
from ansible_collections.mxone.pki.plugins.module_utils.fleet import build_plan
from ansible_collections.mxone.pki.plugins.module_utils.manifest import build_manifest, delivery_jobs

PASS = "unit-test-passphrase"
HOSTVARS = {
    "a-lim1": dict(mxone_system="a", mxone_domain="a.example.net", mxone_lim=1, ansible_host="192.0.2.11"),
    "a-lim2": dict(mxone_system="a", mxone_domain="a.example.net", mxone_lim=2, ansible_host="192.0.2.12"),
    "b-lim1": dict(mxone_system="b", mxone_domain="b.example.net", mxone_lim=1, ansible_host="192.0.2.21",
                   mxone_encryption=False),
    "x-lim1": dict(mxone_system="x", mxone_domain="x.example.net", mxone_lim=1, ansible_host="192.0.2.31",
                   mxone_cert_mode="external"),
    "dl": dict(mxone_download_dir="/srv/tftp", ansible_host="192.0.2.50"),
}
HOSTS = sorted(HOSTVARS)
ISSUE = dict(key_type="ec-p256", key_policy="keep", digest="sha256", validity_days=364, renew_before=30, force=False)
CA = dict(key_type="ec-p256", renew_before=180)


def plan(groups=None):
    p = build_plan(groups or {"mxone_a": ["a-lim1", "a-lim2"], "mxone_b": ["b-lim1"]}, HOSTVARS, ["dl"],
                   pki_dir="/pki")
    p["selected_systems"] = sorted(p["systems"])
    return p


def step(files, p=None, check_mode=False, now=NOW, hosts=HOSTS, **kwargs):
    p = p or plan()
    store = Staged(files.get)
    manifest, warnings = build_manifest(store, p, [h for h in hosts if h in p["hosts"] or h == "dl"],
                                        sorted(p["certificates"]), now, PASS, check_mode, dict(ISSUE),
                                        ca_options=dict(CA), **kwargs)
    return store, manifest


def apply(files, store):
    files.update((path, content) for path, (content, _mode) in store.staged.items())
    return files


@pytest.fixture(scope="module")
def store_with_ca():
    """A store where the CA exists (a check run made it in memory; here it is written, as mxone_ca would)."""
    files = {}
    store, dummy = step(files, check_mode=True)
    return dict((k, v) for k, v in apply(files, store).items() if k.startswith("/pki/ca/"))


def test_a_check_run_on_a_new_fleet_works_everything_out_in_memory():
    files = {}
    store, manifest = step(files, check_mode=True)
    assert files == {}  # nothing read back from disk, nothing written: the caller commits only for real
    assert manifest["ca"]["reason"] == "missing" and manifest["ca"]["changed"]
    assert [(o["item"]["key"], o["reason"]) for o in manifest["certificates"]] == [("a", "missing"), ("b", "missing")]
    bundle = manifest["hosts"]["a-lim1"]["files"][0]
    assert bundle["path"] == "/etc/opt/eri_sn/certs/eri_sn_cert.pem" and bundle["mode"] == "0600"
    assert bundle["owner"] == "root" and len(bundle["sha256"]) == 64
    assert manifest["hosts"]["a-lim2"]["files"][0]["sha256"] == bundle["sha256"]  # one certificate per system
    ca = manifest["hosts"]["dl"]["files"][0]
    assert ca["path"] == "/srv/tftp/ca.pem" and ca["sha256"] == hashlib.sha256(
        store.read("/pki/ca/ca.pem")).hexdigest()
    assert "PRIVATE KEY" not in repr(manifest) and PASS not in repr(manifest)


def test_what_a_real_run_writes_hashes_to_the_manifest_and_a_second_run_keeps_it(store_with_ca):
    files = dict(store_with_ca)
    store, first = step(files)
    assert sorted(store.staged) == ["/pki/certs/a/server.key", "/pki/certs/a/server.pem",
                                    "/pki/certs/b/server.key", "/pki/certs/b/server.pem"]
    apply(files, store)
    store, second = step(files)
    assert store.staged == {}
    assert [o["changed"] for o in second["certificates"]] == [False, False]
    hashes = [dict((h, [f["sha256"] for f in e["files"]]) for h, e in m["hosts"].items()) for m in (first, second)]
    assert hashes[0] == hashes[1] and second["ca"]["changed"] is False
    assert first["hosts"]["a-lim1"]["files"][0]["why"] == "certificate a missing"
    assert second["hosts"]["a-lim1"]["files"][0]["why"] == "certificate a as kept in the store"


def test_renewal_reasons_come_from_the_renewal_decision(store_with_ca):
    files = dict(store_with_ca)
    store, dummy = step(files)
    apply(files, store)
    later = NOW + datetime.timedelta(days=340)
    store, manifest = step(files, now=later, check_mode=True)
    assert [(o["item"]["key"], o["reason"]) for o in manifest["certificates"]] == [("a", "expiring"), ("b", "expiring")]
    assert manifest["hosts"]["a-lim1"]["files"][0]["why"] == "certificate a expiring"


def test_systems_say_whether_they_activate_and_why_not(store_with_ca):
    files = dict(store_with_ca)
    dummy, manifest = step(files, check_mode=True)
    assert manifest["systems"]["a"]["activate"] is True and "a (missing)" in manifest["systems"]["a"]["why"]
    assert manifest["systems"]["b"] == dict(activate=False, hosts=["b-lim1"],
                                            why_not="mxone_encryption is false: files only, no activation")


def test_a_limit_on_part_of_a_system_whose_certificate_changes_stops_it(store_with_ca):
    p = plan()
    p["outside_limit"] = {"a": ["a-lim2"]}
    dummy, manifest = step(dict(store_with_ca), p=p, check_mode=True, hosts=["a-lim1", "b-lim1", "dl"])
    assert manifest["hosts"]["a-lim1"]["stop"].startswith("system a: the limit selects a-lim1 but not a-lim2")
    assert manifest["stops"] == [dict(reason="partial_limit", system="a", hosts=["a-lim1"],
                                      message=manifest["hosts"]["a-lim1"]["stop"])]
    dummy, manifest = step(dict(store_with_ca), p=p, check_mode=True, hosts=["a-lim1", "b-lim1", "dl"], partial_ok=True)
    assert manifest["hosts"]["a-lim1"]["stop"] is None and manifest["stops"] == []


def test_a_customer_pki_system_waits_and_its_lims_are_stopped(store_with_ca):
    p = plan({"mxone_a": ["a-lim1", "a-lim2"], "mxone_x": ["x-lim1"]})
    files = dict(store_with_ca)
    store, manifest = step(files, p=p)
    assert manifest["waiting"]["x"].startswith("system x: waiting for the customer's CA (missing")
    assert manifest["hosts"]["x-lim1"] == dict(system="x", stop=manifest["waiting"]["x"], files=[])
    assert [s["reason"] for s in manifest["stops"]] == ["waiting_for_customer_ca"]
    assert manifest["systems"]["x"]["activate"] is False
    # the enterprise CA is in use (system a): the phones' file is written and holds it
    assert manifest["download_ca"] == "/pki/download/ca.pem"
    assert "/pki/certs/x/server.csr" in store.staged


def test_delivery_jobs_carry_the_store_sources_and_the_wanted_hashes(store_with_ca):
    files = dict(store_with_ca)
    store, dummy = step(files)
    apply(files, store)
    dummy, manifest = step(files)
    jobs = dict((j["host"], j) for j in delivery_jobs(manifest))
    a1 = jobs["a-lim1"]
    assert a1["certificate"] == dict(cert_path="/pki/certs/a/server.pem", key_path="/pki/certs/a/server.key",
                                     chain_path="/pki/ca/ca.pem")
    assert a1["bundle_sha256"] == manifest["hosts"]["a-lim1"]["files"][0]["sha256"]
    assert a1["dest_dir"] == "/etc/opt/eri_sn/certs" and a1["activation"] is True
    assert jobs["dl"] == dict(host="dl", dest_dir="/srv/tftp", ca_path="/pki/ca/ca.pem",
                              ca_sha256=manifest["hosts"]["dl"]["files"][0]["sha256"])
    assert not any(k.startswith("pending_c") for j in jobs.values() for k in j)  # no pending flags
