#!/usr/bin/env python
"""Issuing N per-LIM certificates (default 1,000): through mxone.pki's core versus bare ``cryptography``.

Both sides make the same certificate for LIM n of one domain, signed by the same CA (RSA 3072) with
SHA-256, and serialise it to PEM:
CN lim<n>.<domain>; SAN DNS lim<n>.<domain> + IP; CA:FALSE (critical); KeyUsage digitalSignature +
keyEncipherment (critical); EKU serverAuth + clientAuth; SKI; AKI = the CA's SKI; random serial;
notBefore now - 5 min; notAfter now + 364 days.

* ours: ``naming.lim_names(domain, n, ip)`` + ``issue.issue_server_certificate(ca, public_key, names, now)``
  + ``certs.dump_certificate`` (the path the server_cert module takes for a per-LIM certificate).
* bare: a minimal loop over ``cryptography.x509.CertificateBuilder`` (the CA's AKI computed once).

Two modes, each timed for both sides:

* ``sign``: the RSA 2048 server keys are made beforehand (untimed, the same keys for both sides), so
  only naming + building + signing + PEM is timed: the core's own overhead. (``issue_1000_*_s``)
* ``keygen``: each side also makes a fresh RSA 2048 key per certificate (``keys.generate_private_key``
  versus ``rsa.generate_private_key``): the whole job, dominated by key generation, whose time is
  random (prime search). (``issue_1000_keygen_*_s``)

The two sides alternate which goes first in each repetition. Prints one JSON object.
"""

import argparse
import datetime
import ipaddress
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

from ansible_collections.mxone.pki.plugins.module_utils import ca as core_ca  # noqa: E402
from ansible_collections.mxone.pki.plugins.module_utils import certs as core_certs  # noqa: E402
from ansible_collections.mxone.pki.plugins.module_utils import issue as core_issue  # noqa: E402
from ansible_collections.mxone.pki.plugins.module_utils import keys as core_keys  # noqa: E402
from ansible_collections.mxone.pki.plugins.module_utils import naming as core_naming  # noqa: E402

DOMAIN = "bench.mx.test"


def lim_ip(n):
    return "10.%d.%d.%d" % (n // 65536 % 256, n // 256 % 256, n % 256)


def ours(ca, keys, count, now, keygen):
    out = []
    for n in range(1, count + 1):
        key = core_keys.generate_private_key("rsa2048") if keygen else keys[n - 1]
        names = core_naming.lim_names(DOMAIN, n, lim_ip(n))
        cert = core_issue.issue_server_certificate(ca, key.public_key(), names, now)
        out.append(core_certs.dump_certificate(cert))
    return out


def bare(ca_key, ca_cert, keys, count, now, keygen):
    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
        ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value)
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    ku = x509.KeyUsage(True, False, True, False, False, False, False, False, False)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=364)
    out = []
    for n in range(1, count + 1):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if keygen else keys[n - 1]
        fqdn = "lim%d.%s" % (n, DOMAIN)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, fqdn)]))
                .issuer_name(ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(ku, critical=True)
                .add_extension(eku, critical=False)
                .add_extension(x509.SubjectAlternativeName(
                    [x509.DNSName(fqdn), x509.IPAddress(ipaddress.ip_address(lim_ip(n)))]), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .add_extension(aki, critical=False)
                .sign(ca_key, hashes.SHA256()))
        out.append(cert.public_bytes(serialization.Encoding.PEM))
    return out


def load_keys(count, cache):
    """``count`` RSA 2048 keys, kept in ``cache`` (PEM) so a rerun does not wait for them again."""
    keys = []
    if cache and os.path.exists(cache):
        with open(cache, "rb") as handle:
            blocks = handle.read().split(b"-----END PRIVATE KEY-----")
        for block in blocks[:count]:
            if b"BEGIN" in block:
                keys.append(serialization.load_pem_private_key(block + b"-----END PRIVATE KEY-----\n", None,
                                                               unsafe_skip_rsa_key_validation=True))
    while len(keys) < count:
        keys.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    if cache:
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        with open(cache + ".tmp", "wb") as handle:
            for key in keys:
                handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        os.chmod(cache + ".tmp", 0o600)
        os.replace(cache + ".tmp", cache)
    return keys


def check_same_shape(a, b):
    """The two sides' certificates for LIM 1 carry the same names and extensions."""
    ca_, cb = x509.load_pem_x509_certificate(a), x509.load_pem_x509_certificate(b)
    assert ca_.subject == cb.subject and ca_.issuer == cb.issuer, (ca_.subject, cb.subject)
    ea = dict((e.oid.dotted_string, (e.critical, e.value)) for e in ca_.extensions)
    eb = dict((e.oid.dotted_string, (e.critical, e.value)) for e in cb.extensions)
    assert ea == eb, (ea, eb)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", default="sign,keygen", help="comma-separated: sign, keygen")
    parser.add_argument("--key-cache", default=os.path.join(ROOT, "bench", ".cache", "rsa2048-keys.pem"),
                        help="PEM file of pre-made RSA 2048 keys for the sign mode ('' for none)")
    args = parser.parse_args()
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, ca_cert = core_ca.create_ca(now, key_type="rsa3072")
    ca = core_ca.CertificateAuthority(ca_key, ca_cert)
    modes = [m for m in args.modes.split(",") if m]
    keys = load_keys(args.count, args.key_cache or None) if "sign" in modes else []
    warm = keys[:5] or [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _i in range(5)]
    check_same_shape(ours(ca, warm, 1, now, False)[0], bare(ca_key, ca_cert, warm, 1, now, False)[0])
    ours(ca, warm, 5, now, False)
    bare(ca_key, ca_cert, warm, 5, now, False)
    result = {"count": args.count, "repeat": args.repeat, "key_type": "rsa2048", "ca_key_type": "rsa3072"}
    for mode in modes:
        keygen = mode == "keygen"
        times = {"ours": [], "bare": []}
        for i in range(args.repeat):
            order = ("ours", "bare") if i % 2 == 0 else ("bare", "ours")
            for side in order:
                started = time.perf_counter()
                if side == "ours":
                    made = ours(ca, keys, args.count, now, keygen)
                else:
                    made = bare(ca_key, ca_cert, keys, args.count, now, keygen)
                times[side].append(round(time.perf_counter() - started, 4))
                assert len(made) == args.count
        result[mode] = times
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
