"""End to end: customer-PKI files as real CAs issue them, each through the whole drop-folder flow.

One lab (1 system x 2 LIMs + 1 download server, reload 0.5 s) serves the module.
The first run writes the CSR; then each row of a table of realistic files made at
test time (CA styles, containers, text oddities) is dropped, rolled out, and
checked by a real TLS handshake with host-name verification against that row's
root; after the public CA's row (CN copied into the SAN, no IP) a second run
changes nothing. The bad rows are tried on a system that already runs on a
good import: 0 bytes changed on every node, the old certificate still served.
Last, one LIM alone goes external with its IP as CN, beside the enterprise CA.
"""

import datetime
import os
import shutil
import socket
import ssl
import subprocess

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from helpers import ROOT, LabFleet, ansible_env, run_playbook

NET = "127.%d" % (120 + os.getpid() % 10)
SSH_PORT = 3422
HTTP_PORT = 8480
ROLLOUT = os.path.join(ROOT, "playbooks", "rollout.yml")
PFX_PASSWORD = "pfx-Table-7"
NOW = datetime.datetime.now(datetime.timezone.utc)
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")


def _name(cn, org):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class Ca(object):
    """A customer's root -> issuing CA, in one of the styles real CAs have.

    ``enterprise``: RSA, PKCS#1 v1.5, copies the CN into the SAN, adds key usage, both EKUs, key identifiers,
    a CRL distribution point, AIA and a policy. ``public``: an ECDSA chain (P-384 root, P-256 issuing CA),
    the CN and the DNS names of the CSR only, no IP. ``pss``: RSA-PSS signatures throughout.
    """

    def __init__(self, style):
        self.style = style
        self.org = {"enterprise": "Corp AD CS", "public": "Public Trust", "pss": "PSS Labs"}[style]
        if style == "public":
            self.root_key, self.inter_key = ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(
                ec.SECP256R1())
        else:
            self.root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.inter_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.root = self._ca("%s Root" % self.org, self.root_key, None, self.root_key)
        self.inter = self._ca("%s Issuing CA" % self.org, self.inter_key, self.root, self.root_key)

    def _sign(self, builder, key):
        if self.style == "pss":
            return builder.sign(key, hashes.SHA256(), rsa_padding=PSS)
        return builder.sign(key, hashes.SHA384() if self.style == "public" else hashes.SHA256())

    def _ca(self, cn, key, issuer, issuer_key):
        subject = _name(cn, self.org)
        builder = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(issuer.subject if issuer else subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(NOW - datetime.timedelta(days=1))
                   .not_valid_after(NOW + datetime.timedelta(days=3000))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0),
                                  critical=True)
                   .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                  critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        return self._sign(builder, issuer_key)

    def sign(self, csr_pem, dns_only=None):
        """The CSR signed as this CA does; ``dns_only``: these SAN DNS names instead (a CA that dropped some)."""
        csr = x509.load_pem_x509_csr(csr_pem)
        cn = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        asked = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = [cn] + [d for d in asked.get_values_for_type(x509.DNSName) if d != cn]
        ips = asked.get_values_for_type(x509.IPAddress)
        if dns_only is not None:
            dns = list(dns_only)
        san = [x509.DNSName(d) for d in dns]
        if self.style != "public":  # public CAs never sign private addresses
            san += [x509.IPAddress(ip) for ip in ips]
        builder = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(self.inter.subject)
                   .public_key(csr.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(NOW - datetime.timedelta(hours=1))
                   .not_valid_after(NOW + datetime.timedelta(days=397))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False),
                                  critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                         ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                   .add_extension(x509.SubjectAlternativeName(san), critical=False)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.inter_key.public_key()),
                                  critical=False)
                   .add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
                       AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier("http://ocsp.ca.test/"))]),
                       critical=False))
        if self.style == "enterprise":
            builder = (builder
                       .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                           [x509.UniformResourceIdentifier("http://pki.corp.test/CertEnroll/corp.crl")],
                           None, None, None)]), critical=False)
                       .add_extension(x509.CertificatePolicies([x509.PolicyInformation(
                           x509.ObjectIdentifier("1.3.6.1.4.1.311.21.8.1"), None)]), critical=False))
        return self._sign(builder, self.inter_key)


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def pfx(key, leaf, ca, modern):
    if modern:
        encryption = (serialization.PrivateFormat.PKCS12.encryption_builder()
                      .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
                      .build(PFX_PASSWORD.encode()))
    else:  # as Windows exports: 3DES, SHA-1 MAC
        encryption = (serialization.PrivateFormat.PKCS12.encryption_builder()
                      .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1())
                      .build(PFX_PASSWORD.encode()))
    return pkcs12.serialize_key_and_certificates(b"Lab Tele\xc3\xa5com", key, leaf, [ca.root, ca.inter], encryption)


def odd(data):
    """A UTF-8 BOM, CRLF line ends and OpenSSL's Bag Attributes / subject= / issuer= lines around each block."""
    blocks = [b"-----BEGIN" + chunk for chunk in data.split(b"-----BEGIN")[1:]]
    noisy = b"".join(b"Bag Attributes\n    localKeyID: 01 00 00 00\n    friendlyName: V\xc3\xa4xj\xc3\xb6 LIM\n"
                     b"subject=O = Lab Telecom, CN = *.lab1.mx.test\nissuer=CN = whoever\n" + block
                     for block in blocks)
    return b"\xef\xbb\xbf" + noisy.replace(b"\n", b"\r\n")


class Fleet(LabFleet):
    def __init__(self, base):
        super(Fleet, self).__init__(base)
        self.inventory = str(base / "external" / "hosts.yml")
        self.pki = str(base / "external" / "pki")
        self.csr = os.path.join(self.pki, "certs", "lab1", "server.csr")
        self.key = os.path.join(self.pki, "certs", "lab1", "server.key")
        self.drop = os.path.join(self.pki, "incoming", "lab1")
        self.cas = {}
        self.serving = None  # (leaf, root file) of the certificate the system runs on

    def make_external_inventory(self):
        target = os.path.dirname(self.inventory)
        shutil.copytree(os.path.join(os.path.dirname(self.lab_inventory), "group_vars"),
                        os.path.join(target, "group_vars"))
        data = yaml.safe_load(open(self.lab_inventory))
        group = data["all"]["children"]["mxone_systems"]["children"]["mxone_lab1"]
        group["vars"]["mxone_cert_mode"] = "external"
        with open(self.inventory, "w") as handle:
            handle.write(yaml.safe_dump(data))

    def ca(self, style):
        if style not in self.cas:
            self.cas[style] = Ca(style)
            with open(self.root_file(style), "wb") as handle:
                handle.write(pem(self.cas[style].root))
        return self.cas[style]

    def root_file(self, style):
        return str(self.base / ("root-%s.pem" % style))

    def rollout(self, *args):
        return run_playbook(ROLLOUT, inventory=self.inventory, args=("-e", "mxone_pfx_password=" + PFX_PASSWORD)
                            + args, env=ansible_env(ANSIBLE_HOST_KEY_CHECKING="false"))

    def drop_files(self, files):
        shutil.rmtree(self.drop, ignore_errors=True)
        os.makedirs(self.drop)
        for name, data in files.items():
            with open(os.path.join(self.drop, name), "wb") as handle:
                handle.write(data)

    def server_key(self):
        secrets = os.path.join(os.path.dirname(self.inventory), "group_vars", "all", "lab_secrets.yml")
        passphrase = yaml.safe_load(open(secrets))["mxone_ca_passphrase"]
        with open(self.key, "rb") as handle:
            return serialization.load_pem_private_key(handle.read(), passphrase.encode())

    def handshakes(self, root_file, retry_seconds=10, names=None):
        """Each LIM's (or those ``names``) served certificate, read by a TLS client that checks the chain and
        the LIM's name."""
        served = {}
        for node in self.lims():
            if names is not None and node["name"] not in names:
                continue
            context = ssl.create_default_context(cafile=root_file)
            deadline = datetime.datetime.now() + datetime.timedelta(seconds=retry_seconds)
            while True:
                try:
                    with socket.create_connection((node["ip"], 5061), timeout=5) as sock:
                        with context.wrap_socket(sock, server_hostname=node["fqdn"]) as tls:
                            served[node["name"]] = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
                    break
                except (ConnectionError, socket.timeout):
                    if datetime.datetime.now() > deadline:
                        raise
        return served


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("import-table"))
    with f.running(1, 2, 1, NET, SSH_PORT, HTTP_PORT, reload_seconds=0.5):
        f.make_external_inventory()
        run = f.rollout()
        assert run.rc != 0 and "waiting for the customer's CA" in run.output, run.output[-3000:]
        with open(f.csr, "rb") as handle:
            f.csr_pem = handle.read()
        yield f


# ------------------------------------------------------------------ good files: imported, deployed, served

def _enterprise_pem(f):
    ca = f.ca("enterprise")
    leaf = ca.sign(f.csr_pem)
    return leaf, {"server.pem": pem(leaf), "ca.pem": pem(ca.root) + pem(ca.inter)}


def _public_p7b_der(f):
    ca = f.ca("public")
    leaf = ca.sign(f.csr_pem)
    return leaf, {"server.p7b": pkcs7.serialize_certificates([ca.inter, leaf, ca.root], serialization.Encoding.DER)}


def _pss_p7b_pem(f):
    ca = f.ca("pss")
    leaf = ca.sign(f.csr_pem)
    return leaf, {"server.p7b": pkcs7.serialize_certificates([leaf, ca.root, ca.inter], serialization.Encoding.PEM)}


def _enterprise_pfx_legacy(f):
    ca = f.ca("enterprise")
    leaf = ca.sign(f.csr_pem)
    return leaf, {"server.pfx": pfx(f.server_key(), leaf, ca, modern=False)}


def _public_pfx_modern(f):
    ca = f.ca("public")
    leaf = ca.sign(f.csr_pem)
    return leaf, {"server.pfx": pfx(f.server_key(), leaf, ca, modern=True)}


def _pss_pem_oddities(f):
    ca = f.ca("pss")
    leaf = ca.sign(f.csr_pem)
    return leaf, {"server.pem": odd(pem(leaf)), "ca.pem": odd(pem(ca.inter) + pem(ca.root))}


def _enterprise_p7b_openssl_legacy_pfx(f):
    """``openssl pkcs12 -export -legacy`` (RC2-40 for the certificates, 3DES for the key, SHA-1 MAC)."""
    ca = f.ca("enterprise")
    leaf = ca.sign(f.csr_pem)
    work = f.base / "openssl-legacy"
    work.mkdir(exist_ok=True)
    (work / "key.pem").write_bytes(f.server_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (work / "leaf.pem").write_bytes(pem(leaf))
    (work / "chain.pem").write_bytes(pem(ca.inter) + pem(ca.root))
    made = subprocess.run(["openssl", "pkcs12", "-export", "-legacy", "-inkey", str(work / "key.pem"),
                           "-in", str(work / "leaf.pem"), "-certfile", str(work / "chain.pem"),
                           "-out", str(work / "server.pfx"), "-passout", "pass:" + PFX_PASSWORD],
                          capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip("openssl pkcs12 -legacy: %s" % made.stderr[:200])
    data = (work / "server.pfx").read_bytes()
    shutil.rmtree(str(work))  # the unencrypted key goes at once
    return leaf, {"server.pfx": data}


# (id, CA style, files, words the run must show, run again: the next run changes nothing - an accepted import whose
# SAN holds more than asked (every CA here copies the CN) and no IP does not flap into names_changed)
GOOD = [
    ("enterprise-cn-in-san-pem-and-ca-file", "enterprise", _enterprise_pem, [], False),
    ("public-ecdsa-no-ip-der-p7b", "public", _public_p7b_der, ["no SAN IP"], True),
    ("rsa-pss-pem-p7b", "pss", _pss_p7b_pem, [], False),
    ("enterprise-pfx-3des-sha1", "enterprise", _enterprise_pfx_legacy, [], False),
    ("public-pfx-aes256-pbes2", "public", _public_pfx_modern, ["no SAN IP"], False),
    ("enterprise-pfx-openssl-legacy-rc2", "enterprise", _enterprise_p7b_openssl_legacy_pfx, [], False),
    ("pss-pem-bom-crlf-bag-attributes", "pss", _pss_pem_oddities, [], False),
]


def _lines_outside_pem_blocks(data):
    """Every line that is neither in a PEM block nor one of its BEGIN/END lines.

    (Looking for "Bag" in the bundle instead failed once in CI: base64 can spell it.)
    """
    outside, inside = [], False
    for line in data.split(b"\n"):
        if line.startswith(b"-----BEGIN "):
            inside = True
        elif line.startswith(b"-----END "):
            inside = False
        elif not inside and line:
            outside.append(line)
    return outside


@pytest.mark.parametrize("case", GOOD, ids=[c[0] for c in GOOD])
def test_good_file_is_imported_deployed_and_served(fleet, case):
    """Imported, on every LIM, served with the chain and the LIM's name checked; only PEM blocks on the nodes."""
    style, make, words, run_again = case[1:]
    leaf, files = make(fleet)
    fleet.drop_files(files)
    run = fleet.rollout()
    assert run.rc == 0, run.output[-4000:]
    for word in words:
        assert word in run.output, run.output[-4000:]
    if "no SAN IP" in words:  # the warning names each LIM IP
        for node in fleet.lims():
            assert node["ip"] in run.output[run.output.index("no SAN IP"):], run.output[-4000:]
    root_file = fleet.root_file(style)
    for name, cert in fleet.handshakes(root_file).items():
        assert cert.serial_number == leaf.serial_number, name
    for node in fleet.status().values():  # only PEM blocks reach a node
        if node["kind"] == "lim":
            bundle = open(os.path.join(node["eri_sn"], "certs", "eri_sn_cert.pem"), "rb").read()
            assert b"\r" not in bundle and _lines_outside_pem_blocks(bundle) == [], bundle[:200]
            assert x509.load_pem_x509_certificates(bundle)[-1] == fleet.ca(style).root
    fleet.serving = (leaf, root_file)
    if run_again:
        again = fleet.rollout()
        assert again.rc == 0 and again.changed == 0, again.output[-4000:]
        assert "names_changed" not in again.output


# ------------------------------------------------------------------ bad files: refused, nothing changes

def _lim1_only(f):
    ca = f.ca("enterprise")
    leaf = ca.sign(f.csr_pem, dns_only=["lim1.lab1.mx.test"])
    return {"server.pem": pem(leaf), "ca.pem": pem(ca.inter) + pem(ca.root)}


def _wildcard_too_deep(f):
    ca = f.ca("pss")
    leaf = ca.sign(f.csr_pem, dns_only=["*.mx.test"])
    return {"server.p7b": pkcs7.serialize_certificates([leaf, ca.inter, ca.root], serialization.Encoding.DER)}


def _public_no_ip(f):
    ca = f.ca("public")
    leaf = ca.sign(f.csr_pem)
    return {"server.pfx": pfx(f.server_key(), leaf, ca, modern=True)}


# (id, files, extra args, words the refusal must show)
BAD = [
    ("lim2-missing", _lim1_only, (), ["not covered", "lim2.lab1.mx.test", "incoming/lab1/server.pem",
                                      "system lab1"]),
    ("wildcard-two-labels-up", _wildcard_too_deep, (), ["not covered", "lim1.lab1.mx.test", "lim2.lab1.mx.test",
                                                        "server.p7b"]),
    ("no-ip-with-mxone-import-require-ips", _public_no_ip, ("-e", "mxone_import_require_ips=true"),
     ["not covered", "SAN IP", "mxone_import_require_ips", "server.pfx"]),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_file_on_a_running_system_changes_nothing(fleet, case):
    case_id, make, extra, words = case
    assert fleet.serving, "a good import runs first"
    leaf, root_file = fleet.serving
    before = fleet.node_hashes()
    fleet.drop_files(make(fleet))
    run = fleet.rollout(*extra)
    assert run.rc != 0, run.output[-4000:]
    for word in words:
        assert word in run.output, "%r not in:\n%s" % (word, run.output[-4000:])
    if case_id.startswith("no-ip"):
        for node in fleet.lims():
            assert node["ip"] in run.output
    assert fleet.node_hashes() == before  # the download server's ca.pem included
    for name, cert in fleet.handshakes(root_file).items():
        assert cert.serial_number == leaf.serial_number, name


# ------------------------------------------------------------------ a certificate per LIM from the customer's CA

def test_one_lim_external_with_its_ip_as_cn_beside_the_enterprise_ca(fleet):
    """lab1-lim2 alone is external (a TLS SIP route that needs the customer's root) with its IP as CN (no DNS at
    the site); lab1-lim1 goes back to the enterprise CA. One CSR for lim2 only; then each LIM serves its own."""
    data = yaml.safe_load(open(fleet.inventory))
    group = data["all"]["children"]["mxone_systems"]["children"]["mxone_lab1"]
    group["vars"]["mxone_cert_mode"] = "system"
    group["hosts"]["lab1-lim2"].update(mxone_cert_mode="external", mxone_cert_common_name="ip")
    with open(fleet.inventory, "w") as handle:
        handle.write(yaml.safe_dump(data))
    # lim1 serves the customer's certificate still: replacing the fleet's CA is on purpose here
    first = fleet.rollout("-e", "mxone_ca_create=true")
    assert first.rc != 0 and "waiting for the customer's CA" in first.output, first.output[-4000:]
    csr_path = os.path.join(fleet.pki, "certs", "lab1-lim2", "server.csr")
    lim2 = fleet.status()["lab1-lim2"]
    with open(csr_path, "rb") as handle:
        csr_pem = handle.read()
    csr = x509.load_pem_x509_csr(csr_pem)
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == lim2["ip"]
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [lim2["fqdn"]]
    ca = fleet.ca("enterprise")
    leaf = ca.sign(csr_pem)
    shutil.rmtree(fleet.drop, ignore_errors=True)
    drop = os.path.join(fleet.pki, "incoming", "lab1-lim2")
    os.makedirs(drop, exist_ok=True)
    with open(os.path.join(drop, "server.pem"), "wb") as handle:
        handle.write(pem(leaf) + pem(ca.inter) + pem(ca.root))
    second = fleet.rollout("-e", "mxone_ca_create=true")
    assert second.rc == 0, second.output[-4000:]
    context = ssl.create_default_context(cafile=fleet.root_file("enterprise"))
    with socket.create_connection((lim2["ip"], 5061), timeout=5) as sock:
        with context.wrap_socket(sock, server_hostname=lim2["fqdn"]) as tls:
            served = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    assert served.serial_number == leaf.serial_number
    assert served.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == lim2["ip"]
    enterprise_ca = os.path.join(fleet.pki, "ca", "ca.pem")
    lim1 = fleet.handshakes(enterprise_ca, names=["lab1-lim1"])["lab1-lim1"]  # lim1 back on the enterprise CA
    assert lim1.issuer != leaf.issuer
