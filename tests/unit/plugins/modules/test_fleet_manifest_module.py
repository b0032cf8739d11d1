"""fleet_manifest's glue, in-process over a real PKI store: check mode writes nothing, a real run writes what the
manifest hashes, a second run changes nothing."""

import datetime
import hashlib
import os

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.mxone.pki.plugins.module_utils.ca import create_ca
from ansible_collections.mxone.pki.plugins.module_utils.certs import dump_certificate
from ansible_collections.mxone.pki.plugins.module_utils.fleet import build_plan
from ansible_collections.mxone.pki.plugins.module_utils.keys import dump_private_key
from ansible_collections.mxone.pki.plugins.modules import fleet_manifest
from ansible_collections.mxone.pki.plugins.plugin_utils.in_process import InProcessModule, _Exit

PASS = "unit-test-passphrase"
HOSTVARS = {"a-lim1": dict(mxone_system="a", mxone_domain="a.example.net", mxone_lim=1, ansible_host="192.0.2.11"),
            "dl": dict(mxone_download_dir="/srv/tftp", ansible_host="192.0.2.50")}


def run(plan, check_mode):
    args = dict(plan=plan, play_hosts=["a-lim1", "dl"], selected=["a"], key_passphrase=PASS,
                issue=dict(key_type="ec-p256"), now="2026-11-24T12:00:00Z")
    validated = ArgumentSpecValidator(**fleet_manifest.module_kwargs()).validate(args)
    assert not validated.error_messages
    module = InProcessModule(validated.validated_parameters, check_mode, True)
    try:
        fleet_manifest.run(module)
    except _Exit as done:
        return done.result
    raise AssertionError("the module did not exit")


def files_under(root):
    return sorted(os.path.join(b, n) for b, _d, names in os.walk(root) for n in names)


def test_check_then_real_then_again(tmp_path):
    pki = str(tmp_path / "pki")
    plan = build_plan({"mxone_a": ["a-lim1"]}, HOSTVARS, ["dl"], pki_dir=pki)
    plan["selected_systems"] = ["a"]
    key, cert = create_ca(datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc), key_type="ec-p256")
    os.makedirs(os.path.join(pki, "ca"))
    for path, data in ((plan["ca"]["cert"], dump_certificate(cert)), (plan["ca"]["key"], dump_private_key(key, PASS))):
        with open(path, "wb") as handle:
            handle.write(data)
    before = files_under(pki)
    checked = run(plan, check_mode=True)
    assert checked["changed"] and files_under(pki) == before  # nothing written in check mode
    assert checked["results"][0]["reason"] == "missing" and checked["diff"]
    real = run(plan, check_mode=False)
    assert real["changed"] and sorted(real["changed_files"]) == sorted([
        plan["certificates"]["a"]["paths"]["key"], plan["certificates"]["a"]["paths"]["cert"]])
    ca_file = real["manifest"]["hosts"]["dl"]["files"][0]
    with open(plan["ca"]["cert"], "rb") as handle:
        assert ca_file["sha256"] == hashlib.sha256(handle.read()).hexdigest()
    again = run(plan, check_mode=False)
    assert not again["changed"] and again["results"][0]["reason"] is None
    assert [f["sha256"] for f in again["manifest"]["hosts"]["a-lim1"]["files"]] == \
        [f["sha256"] for f in real["manifest"]["hosts"]["a-lim1"]["files"]]
    assert PASS not in repr(real) and "PRIVATE KEY" not in repr(real)
