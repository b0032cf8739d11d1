"""playbooks/devices.yml across the kinds that have no peer here: MiVoice 5000, TA7100, OpenSIPS (config only),
Mitel Connect and a phones' download server. Every file is parsed back as the device would read it.

The SIP proxy host and the download server are this machine (ansible_connection local, directories under
tmp); MiVoice 5000, TA7100 and Connect hosts are never contacted. The Kamailio proxy, which does run here,
is tested against the real thing in test_sip_proxy_kamailio.py.
"""

import datetime
import os
import subprocess

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from helpers import ROOT, run_playbook, snapshot

from ansible_collections.mxone.pki.plugins.module_utils.connect import check_import_text
from ansible_collections.mxone.pki.plugins.module_utils.dgw import check_host_pem
from ansible_collections.mxone.pki.plugins.module_utils.phones import parse_mitel6000, parse_mivoice5300
from ansible_collections.mxone.pki.plugins.module_utils.sip_proxy import parse_opensips_modparams

PLAYBOOK = os.path.join(ROOT, "playbooks", "devices.yml")
PASS = "devices-passphrase-1"
P12_PASS = {"pbx1": "p12-Secret-1"}
MACS = ["00:08:5d:1a:2b:3c"]


def inventory(base):
    local = {"ansible_connection": "local"}
    return {"all": {
        "children": {
            "mivoice5000_systems": {"hosts": {
                "pbx1": {"mivoice5000_tel_ips": ["10.148.65.84"], "mivoice5000_admin_ips": ["10.148.66.84"],
                         "mivoice5000_tel_fqdns": ["pbx1.tel.example.net"],
                         "mivoice5000_admin_fqdns": ["pbx1.adm.example.net"],
                         "mivoice5000_pkcs12_legacy": True,  # the AES default is checked in test_device_cert.py
                         "mivoice5000_pkcs12_password": P12_PASS["pbx1"]}}},
            "ta7100_gateways": {"hosts": {
                "ta1": {"ta7100_common_name": "ta1.example.net", "ta7100_ips": ["10.148.70.20"]}}},
            "sip_proxies": {"hosts": {
                "opensips1": dict(local, sip_proxy_software="opensips", sip_proxy_common_name="sip.example.net",
                                  sip_proxy_tls_dir=str(base / "opensips"), sip_proxy_reload=False,
                                  sip_proxy_verify=False)}},
            "mitel_connect": {"hosts": {
                "mr1": {"connect_common_name": "*.example.com", "connect_alt_names": ["mr.example.com"],
                        "connect_csr_subject": {"country": "US", "state": "California",
                                                "organization": "Example Corp"}}}},
            "mxone_download_servers": {"hosts": {
                "dl1": dict(local, mxone_download_dir=str(base / "dl1"), phones_time_server="10.148.65.84"),
                "dl2": dict(local, mxone_download_dir=str(base / "dl2"), phones_time_server="ntp.example.net",
                            phones_models=["mitel6000"], phones_bothway=True, phones_client_cert_mode="per_phone",
                            phones_macs=MACS)}},
        },
        "vars": {"mxone_pki_dir": str(base / "pki")},
    }}


def write_inventory(base, data):
    path = base / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def devices(inventory_path, *args, **extra):
    extra_vars = {"mxone_ca_passphrase": PASS}
    extra_vars.update(extra)
    return run_playbook(PLAYBOOK, extra_vars, args, inventory=inventory_path)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """A mixed fleet after a --check --diff run on an empty store, then a real run, then one more."""
    base = tmp_path_factory.mktemp("devices")
    for name in ("dl1", "dl2"):
        (base / name).mkdir()
    path = write_inventory(base, inventory(base))
    check = devices(path, "--check", "--diff")
    assert check.rc == 0, check.output
    written_by_check = [p for p in snapshot(str(base)) if not p.endswith("hosts.yml")]
    first = devices(path)
    assert first.rc == 0, first.output
    second = devices(path)
    return dict(base=base, inventory=path, check=check, written_by_check=written_by_check, first=first,
                second=second, pki=base / "pki", now=datetime.datetime.now(datetime.timezone.utc))


def test_check_mode_writes_nothing_and_says_what_would_change(fleet):
    assert fleet["written_by_check"] == []
    assert fleet["check"].changed > 0
    assert "BEGIN" not in fleet["check"].output  # diffs are parsed facts, never PEM (no key)
    assert P12_PASS["pbx1"] not in fleet["check"].output and PASS not in fleet["check"].output


def test_second_run_changes_nothing(fleet):
    assert fleet["first"].changed > 0
    assert fleet["second"].rc == 0, fleet["second"].output
    assert fleet["second"].changed == 0, fleet["second"].output
    for secret in list(P12_PASS.values()) + [PASS]:
        assert secret not in fleet["first"].output


def load_p12(fleet, host):
    data = (fleet["pki"] / "devices" / host / ("%s.p12" % host)).read_bytes()
    return pkcs12.load_key_and_certificates(data, P12_PASS[host].encode())


def ca_cert(fleet):
    return x509.load_pem_x509_certificate((fleet["pki"] / "ca" / "ca.pem").read_bytes())


def test_mivoice5000_pkcs12_key_leaf_chain_and_names(fleet):
    host, cn = "pbx1", "10.148.65.84"
    ips, dns = ["10.148.65.84", "10.148.66.84"], ["pbx1.adm.example.net", "pbx1.tel.example.net"]
    key, cert, cas = load_p12(fleet, host)
    assert cas == [ca_cert(fleet)]
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(serialization.Encoding.DER, public) == \
        cert.public_key().public_bytes(serialization.Encoding.DER, public)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == cn
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(str(ip) for ip in san.get_values_for_type(x509.IPAddress)) == ips
    assert sorted(san.get_values_for_type(x509.DNSName)) == dns
    assert set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == {
        ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    # never a certificate that is not yet valid
    assert cert.not_valid_before_utc <= fleet["now"]
    assert cert.not_valid_before_utc <= datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=4)
    assert os.stat(fleet["pki"] / "devices" / host / ("%s.p12" % host)).st_mode & 0o777 == 0o600


def test_mivoice5000_legacy_pkcs12_reads_with_openssl_legacy(fleet):
    path = str(fleet["pki"] / "devices" / "pbx1" / "pbx1.p12")
    out = subprocess.run(["openssl", "pkcs12", "-legacy", "-in", path, "-passin", "pass:" + P12_PASS["pbx1"],
                          "-info", "-nodes"], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "pbeWithSHA1And3-KeyTripleDES-CBC" in out.stderr and "MAC: sha1" in out.stderr
    assert out.stdout.count("BEGIN CERTIFICATE") == 2 and "BEGIN PRIVATE KEY" in out.stdout


def test_ta7100_host_pem_and_other_certificates(fleet):
    directory = fleet["pki"] / "devices" / "ta1"
    data = (directory / "ta1-host.pem").read_bytes()
    assert data.startswith(b"-----BEGIN RSA PRIVATE KEY-----\n")
    key, cert = check_host_pem(data)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "ta1.example.net"
    assert os.stat(directory / "ta1-host.pem").st_mode & 0o777 == 0o600
    assert x509.load_der_x509_certificate((directory / "ca.der").read_bytes()) == ca_cert(fleet)
    assert x509.load_pem_x509_certificates((directory / "ca.pem").read_bytes()) == [ca_cert(fleet)]


def test_opensips_tls_mgm_delivered_and_pointing_at_the_delivered_files(fleet):
    text = (fleet["base"] / "opensips" / "tls_mgm.cfg").read_text()
    domains, kinds = parse_opensips_modparams(text)
    assert kinds == {"mxone": "server_domain", "mxone-client": "client_domain"}
    for values in domains.values():
        for param in ("certificate", "private_key", "ca_list"):
            assert os.path.isfile(values[param]), values[param]
    server = domains["mxone"]
    cert = x509.load_pem_x509_certificate(open(server["certificate"], "rb").read())
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == ["sip.example.net"]
    assert os.stat(server["private_key"]).st_mode & 0o777 == 0o600
    assert x509.load_pem_x509_certificates(open(server["ca_list"], "rb").read()) == [ca_cert(fleet)]


def test_connect_import_text_and_csr(fleet):
    directory = fleet["pki"] / "devices" / "mr1"
    data = (directory / "mr1-import.txt").read_bytes()
    labels = [line for line in data.decode().splitlines() if line.startswith("-----BEGIN")]
    assert labels == ["-----BEGIN CERTIFICATE-----", "-----BEGIN RSA PRIVATE KEY-----", "-----BEGIN CERTIFICATE-----"]
    cert, _key, chain = check_import_text(data)
    assert chain == [ca_cert(fleet)]
    csr = x509.load_pem_x509_csr((directory / "mr1.csr").read_bytes())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.STATE_OR_PROVINCE_NAME)[0].value == "California"
    assert sorted(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName)) == ["*.example.com", "mr.example.com"]
    assert csr.public_key().public_numbers() == cert.public_key().public_numbers()


def test_download_server_gets_ca_and_fragments(fleet):
    dl1 = fleet["base"] / "dl1"
    assert sorted(os.listdir(dl1)) == ["ca.pem", "mxone-tls-5300.cfg", "mxone-tls-6000.cfg"]
    assert (dl1 / "ca.pem").read_bytes() == (fleet["pki"] / "ca" / "ca.pem").read_bytes()
    values = parse_mitel6000((dl1 / "mxone-tls-6000.cfg").read_text())
    assert values["sip transport protocol"] == "4" and values["sips trusted certificates"] == "ca.pem"
    assert values["time server1"] == "10.148.65.84" and values["sip proxy port"] == "5061"
    assert parse_mivoice5300((dl1 / "mxone-tls-5300.cfg").read_text())["SIP_TRANS_PROTO"] == "TLS"


def test_download_server_bothway_per_phone(fleet):
    dl2 = fleet["base"] / "dl2"
    assert sorted(os.listdir(dl2)) == [
        "00085D1A2B3C-tls.cfg", "00085D1A2B3C.crt", "00085D1A2B3C.key", "ca.pem", "mxone-tls-6000.cfg"]
    assert "sips root and intermediate certificates: ca.pem" in (dl2 / "mxone-tls-6000.cfg").read_text()
    for mac in ("00085D1A2B3C",):
        cert = x509.load_pem_x509_certificate((dl2 / ("%s.crt" % mac)).read_bytes())
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == mac
        assert ExtendedKeyUsageOID.CLIENT_AUTH in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        key = serialization.load_pem_private_key((dl2 / ("%s.key" % mac)).read_bytes(), None)
        assert key.public_key().public_numbers() == cert.public_key().public_numbers()
        assert os.stat(dl2 / ("%s.key" % mac)).st_mode & 0o777 == 0o600
        assert parse_mitel6000((dl2 / ("%s-tls.cfg" % mac)).read_text()) == {
            "sips local certificate": "%s.crt" % mac, "sips private key": "%s.key" % mac}


def test_bad_inventory_fails_naming_the_variable_and_writes_nothing(tmp_path):
    data = inventory(tmp_path)
    groups = data["all"]["children"]
    for group in ("ta7100_gateways", "sip_proxies", "mxone_download_servers"):
        del groups[group]
    groups["mitel_connect"]["hosts"]["mr1"]["connect_csr_subject"]["state"] = "CA"
    del groups["mivoice5000_systems"]["hosts"]["pbx1"]["mivoice5000_tel_ips"]
    run = devices(write_inventory(tmp_path, data))
    assert run.rc != 0
    assert run.recap["mr1"]["failed"] == 1 and run.recap["pbx1"]["failed"] == 1
    assert "csr_subject.state" in run.output and "full state" in run.output
    assert "pbx1: mivoice5000_tel_ips" in run.output
    assert not os.path.exists(tmp_path / "pki" / "devices" / "mr1" / "mr1-import.txt")
    assert not os.path.exists(tmp_path / "pki" / "devices" / "pbx1" / "pbx1.p12")
