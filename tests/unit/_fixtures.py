"""Shared unit-test helpers and fixtures: a fixed clock, keys made once, a small PKI factory.

The factory signs with ``cryptography`` directly, not with the collection's
code, so the code under test is checked against an independent issuer.
Every key is generated at test time and shared for the whole session;
RSA generation is the slow part of this suite, so keys are cached by name.
"""

import datetime
import ipaddress
import os
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 24, 12, tzinfo=UTC)
DAY = datetime.timedelta(days=1)
DOMAIN = "mx.corp.net"
LIMS = [{"lim": 1, "ip": "10.0.0.1"}, {"lim": 2, "ip": "10.0.0.2"}, {"lim": 3, "ip": "10.0.0.3"}]
LIM_DNS = {"lim1.mx.corp.net", "lim2.mx.corp.net", "lim3.mx.corp.net"}
LIM_IPS = {"10.0.0.1", "10.0.0.2", "10.0.0.3"}


# --------------------------------------------------------------------- helpers


def pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def der_cert(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def pem_key(key, passphrase=None, fmt=serialization.PrivateFormat.PKCS8):
    encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption)


def public_der(key):
    public = key.public_key() if hasattr(key, "public_key") else key
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def cn_of(cert):
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def run_together(pem):
    """The same PEM, with every BEGIN/END marker glued to its neighbour line.

    ``...-----END CERTIFICATE----------BEGIN CERTIFICATE-----MIIB...``: what
    some CAs deliver and MX-ONE's TLS programs cannot read.
    """
    text = pem.decode("ascii") if isinstance(pem, bytes) else pem
    out = text.replace("-----\n-----BEGIN", "----------BEGIN").replace("-----\n", "-----")
    out = out.replace("\n-----END", "-----END")
    return out.encode("ascii")


def openssl(*args, **kwargs):
    """Run the openssl CLI (an independent checker); returns the CompletedProcess."""
    return subprocess.run(("openssl",) + args, capture_output=True, text=True, timeout=60, check=False, **kwargs)


def attime(now=NOW):
    return str(int(now.timestamp()))


def write(tmp_path, name, data):
    path = os.path.join(str(tmp_path), name)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


# ------------------------------------------------------------------------ keys


class KeyRing(object):
    """Keys made on first use and then shared: ``keys["root"]``, ``keys.get("x", "ec-p256")``."""

    def __init__(self):
        self._keys = {}

    def get(self, name, key_type="rsa2048"):
        if name not in self._keys:
            if key_type == "ec-p256":
                self._keys[name] = ec.generate_private_key(ec.SECP256R1())
            else:
                self._keys[name] = rsa.generate_private_key(public_exponent=65537,
                                                            key_size=int(key_type[3:]))
        return self._keys[name]

    __getitem__ = get


@pytest.fixture(scope="session")
def keys():
    return KeyRing()


# ------------------------------------------------------------------ PKI factory


class Node(object):
    """A certificate and the key that belongs to it."""

    def __init__(self, cert, key):
        self.cert = cert
        self.key = key

    @property
    def pem(self):
        return pem_cert(self.cert)

    def __repr__(self):
        return "Node(%r)" % cn_of(self.cert)


def name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Corp"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class PkiFactory(object):
    """Build CA and server certificates with plain ``cryptography`` at the fixed clock."""

    def __init__(self, keys, now=NOW):
        self.keys = keys
        self.now = now

    def _builder(self, subject, issuer_name, public_key, not_before, not_after):
        return (x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(issuer_name)
                .public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(not_before)
                .not_valid_after(not_after))

    def ca(self, common_name, key_name, issuer=None, days=(-30, 3000), signing_key=None):
        """A root (``issuer=None``) or an intermediate under ``issuer``."""
        key = self.keys[key_name]
        subject = name(common_name)
        issuer_name = issuer.cert.subject if issuer else subject
        issuer_key = signing_key or (issuer.key if issuer else key)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        builder = (self._builder(subject, issuer_name, key.public_key(),
                                 self.now + days[0] * DAY, self.now + days[1] * DAY)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                  critical=True)
                   .add_extension(ski, critical=False))
        if issuer:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.cert.public_key()), critical=False)
        return Node(builder.sign(issuer_key, hashes.SHA256()), key)

    def leaf(self, issuer, key_name, common_name="*." + DOMAIN, dns=None, ips=None, days=(-1, 364),
             key_type="rsa2048", self_signed=False):
        key = self.keys.get(key_name, key_type)
        subject = name(common_name)
        dns = sorted(LIM_DNS) if dns is None else dns
        ips = sorted(LIM_IPS) if ips is None else ips
        san = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        issuer_name = subject if self_signed else issuer.cert.subject
        builder = (self._builder(subject, issuer_name, key.public_key(),
                                 self.now + days[0] * DAY, self.now + days[1] * DAY)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                         ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                   .add_extension(x509.SubjectAlternativeName(san), critical=False))
        return Node(builder.sign(key if self_signed else issuer.key, hashes.SHA256()), key)


class Pki(object):
    """The shared test PKI.

    root -> int1 -> int2 -> leaf          (the usual customer chain)
    root -> leaf_root                     (no intermediate)
    root -> expired_leaf, future_leaf     (out of their dates at NOW)
    foreign_root -> foreign_int, foreign_leaf
    self_signed_leaf                      (no CA at all)
    """

    def __init__(self, factory):
        self.factory = factory
        self.root = factory.ca("Corp Root CA", "root")
        self.int1 = factory.ca("Corp Issuing CA 1", "int1", issuer=self.root)
        self.int2 = factory.ca("Corp Issuing CA 2", "int2", issuer=self.int1)
        self.leaf = factory.leaf(self.int2, "leaf")
        self.leaf_root = factory.leaf(self.root, "leaf_root")
        self.expired_leaf = factory.leaf(self.root, "leaf_root", days=(-400, -1))
        self.future_leaf = factory.leaf(self.root, "leaf_root", days=(2, 366))
        self.foreign_root = factory.ca("Foreign Root CA", "foreign_root")
        self.foreign_int = factory.ca("Foreign Issuing CA", "foreign_int", issuer=self.foreign_root)
        self.foreign_leaf = factory.leaf(self.foreign_root, "foreign_leaf")
        self.self_signed_leaf = factory.leaf(None, "leaf", self_signed=True)

    @property
    def chain(self):
        """The leaf's chain in ``eri_sn_cert.pem`` order: closest first, root last."""
        return [self.int2.cert, self.int1.cert, self.root.cert]


@pytest.fixture(scope="session")
def factory(keys):
    return PkiFactory(keys)


@pytest.fixture(scope="session")
def pki(factory):
    return Pki(factory)


@pytest.fixture(scope="session")
def enterprise_ca():
    """The collection's own CA, made once with ``ca.create_ca`` at NOW."""
    from ansible_collections.mxone.pki.plugins.module_utils.ca import CertificateAuthority, create_ca

    key, cert = create_ca(NOW)
    return CertificateAuthority(key, cert)


@pytest.fixture(scope="session")
def system_names_3():
    from ansible_collections.mxone.pki.plugins.module_utils.naming import system_names

    return system_names(DOMAIN, LIMS)


@pytest.fixture(scope="session")
def server(enterprise_ca, keys, system_names_3):
    """A server certificate for the 3-LIM system, issued by the enterprise CA at NOW."""
    from ansible_collections.mxone.pki.plugins.module_utils.issue import issue_server_certificate

    key = keys["server"]
    return Node(issue_server_certificate(enterprise_ca, key.public_key(), system_names_3, NOW), key)
