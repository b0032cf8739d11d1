"""mxone.pki.device_cert through one real ansible-playbook run on localhost (playbooks/device_cert.yml here).

Check mode writes nothing, a second run changes nothing, the 14-day MiVoice 5000 threshold gives a warning
and renews, a certificate that is not yet valid is re-issued, the PKCS#12 protection switches, and refusals
name their field. Secrets never appear in the results.
"""

import datetime
import json
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from helpers import run_playbook

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks", "device_cert.yml")
PASS = "device-passphrase-1"
P12 = "p12-Password-9"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    work = tmp_path_factory.mktemp("device_cert")
    start = datetime.datetime.now(datetime.timezone.utc)
    future = (start + datetime.timedelta(days=2)).replace(microsecond=0).isoformat()
    run = run_playbook(PLAYBOOK, {"work": str(work), "passphrase": PASS, "p12_password": P12, "future": future})
    assert run.rc == 0, run.output
    with open(str(work / "results.json")) as handle:
        data = json.load(handle)
    return dict(work=work, run=run, start=start, **data)


def test_check_mode_then_issue_then_nothing(results):
    check, issue, again = results["pbx_check"], results["pbx_issue"], results["pbx_again"]
    assert check["changed"] and check["reason"] == "missing" and check["files"]["pkcs12"].endswith("/pbx/pbx.p12")
    assert issue["changed"] and issue["reason"] == "missing" and issue["new_key"]
    assert not again["changed"] and again["reason"] is None and again["changed_files"] == []
    assert again["certificate"]["serial"] == issue["certificate"]["serial"]
    assert issue["days_left"] == 363 and issue["warning"] is None and issue["pkcs12_encryption"] == "aes"
    assert issue["certificate"]["common_name"] == "10.148.65.84"
    assert issue["certificate"]["ips"] == ["10.148.65.84", "10.148.66.84"]
    assert issue["certificate"]["dns"] == ["pbx.tel.example.net"]


def test_issued_certificate_is_valid_at_once(results):
    cert = x509.load_pem_x509_certificate((results["work"] / "pbx" / "cert.pem").read_bytes())
    assert cert.not_valid_before_utc <= results["start"]
    assert results["start"] - cert.not_valid_before_utc < datetime.timedelta(minutes=10)


def test_pkcs12_modes_and_content(results):
    path = results["work"] / "pbx" / "pbx.p12"
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(results["work"] / "pbx" / "key.pem").st_mode & 0o777 == 0o600
    legacy = results["pbx_legacy"]
    assert legacy["changed"] and legacy["reason"] == "files" and not legacy["renew"]
    assert legacy["changed_files"] == [str(path)] and legacy["pkcs12_encryption"] == "legacy"
    key, cert, cas = pkcs12.load_key_and_certificates(path.read_bytes(), P12.encode())
    assert cert.serial_number == int(results["pbx_issue"]["certificate"]["serial"], 16)
    assert [c.subject.rfc4514_string() for c in cas] == ["CN=MXOneEnterpriseCA"]


def test_fourteen_day_warning_and_renewal(results):
    kept, check = results["short_issue"], results["short_check"]
    assert kept["days_left"] == 9
    assert "in 9 day(s) (threshold 14 days)" in kept["warning"]
    assert "voice is no longer encrypted" in kept["warning"]
    assert check["changed"] and check["renew"] and check["reason"] == "expiring"
    assert "renew-before window 14 day(s)" in check["detail"]
    assert "would be issued: upload" in check["warning"] and "short.p12" in check["warning"]
    assert "[WARNING]" in results["run"].output and "threshold 14 days" in results["run"].output


def test_a_certificate_that_is_not_yet_valid_is_reissued(results):
    future, early = results["ta_future"], results["ta_early"]
    assert future["certificate"]["not_before"] > results["start"].isoformat()
    assert early["changed"] and early["reason"] == "not_yet_valid" and early["renew"]
    assert early["certificate"]["not_before"] <= datetime.datetime.now(datetime.timezone.utc).isoformat()
    assert early["files"]["host_pem"].endswith("/ta/ta-host.pem")
    assert (results["work"] / "ta" / "ta-host.pem").read_bytes().startswith(b"-----BEGIN EC PRIVATE KEY-----")


@pytest.mark.parametrize("name, field, text", [
    ("pbx_nopass", "pkcs12_password", "password-protected PKCS#12"),
    ("connect_abbrev", "csr_subject.state", "full state"),
    ("connect_ec", "key_type", "RSA private key"),
])
def test_refusals_name_the_field(results, name, field, text):
    result = results[name]
    assert result["failed"] and result["field"] == field and text in result["msg"]


def test_refused_connect_wrote_no_device_file(results):
    assert not (results["work"] / "mr" / "mr-import.txt").exists()
    assert not (results["work"] / "mr-ec" / "mr-import.txt").exists()


def test_secrets_never_in_results_or_output(results):
    blob = json.dumps({k: v for k, v in results.items() if k.startswith(("pbx", "short", "ta", "connect"))})
    for secret in (PASS, P12):
        assert secret not in blob
        assert secret not in results["run"].output
    assert "BEGIN" not in blob
