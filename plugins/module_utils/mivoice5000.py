# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MiVoice 5000 servers and gateways: the names of a system's certificate and its PKCS#12 file.

Facts from the vendor's call-encryption manual (MiVoice 5000 R7.2 and later):

- each system has its own certificate; all are signed by one common CA;
- CN is the PBX's IP address, the TEL interface's when TEL and ADMIN are
  separated (5300-series IP phones need the IP in the CN);
- SAN lists every IP address that reaches the PBX (TEL and ADMIN) and every
  FQDN of those interfaces;
- Extended Key Usage has TLS Web Server and TLS Web Client authentication;
- CA certificates carry CA:TRUE and, when Key Usage is set, Key Cert Sign;
- the certificate is imported as a password-protected PKCS#12 holding the
  private key and the CA certificates; a certificate that is not yet valid
  must never be installed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mxone.pki.plugins.module_utils._crypto import (
    ExtendedKeyUsageOID, hashes, pkcs12, serialization, x509)
from ansible_collections.mxone.pki.plugins.module_utils.certs import (
    common_name, is_ca, signed_by, validity_problem)
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.keys import key_fits_certificate, public_key_der
from ansible_collections.mxone.pki.plugins.module_utils.naming import Names, validate_domain, validate_ip

# PBKDF iterations: OpenSSL's default for the legacy algorithms, more for the modern ones.
LEGACY_KDF_ROUNDS = 2048
MODERN_KDF_ROUNDS = 20000

# DER-encoded algorithm OIDs, to tell how an existing PKCS#12 file is protected (the file's outer
# structure is not encrypted, only its bags are, so the algorithm identifiers can be read as they are).
_OID_PBES2 = bytes.fromhex("06092a864886f70d01050d")              # 1.2.840.113549.1.5.13
_OID_AES256_CBC = bytes.fromhex("060960864801650304012a")          # 2.16.840.1.101.3.4.1.42
_OID_PBE_SHA1_3DES = bytes.fromhex("060a2a864886f70d010c0103")    # 1.2.840.113549.1.12.1.3
_OID_PBE_SHA1_RC2_40 = bytes.fromhex("060a2a864886f70d010c0106")  # 1.2.840.113549.1.12.1.6


def system_names(tel_ips, admin_ips=None, tel_fqdns=None, admin_fqdns=None, prefix=""):
    """CN = the first TEL IP; SAN = every TEL and ADMIN IP and every TEL and ADMIN FQDN.

    Without network separation TEL and ADMIN are one interface: give its IP as
    the TEL IP. Wildcards are refused: a PBX is reached by its own names.
    """
    tel = [validate_ip(ip, field=prefix + "tel_ips") for ip in (tel_ips or [])]
    if not tel:
        raise MxonePkiError("at least one TEL IP address is required: it is the certificate's CN",
                            field=prefix + "tel_ips")
    admin = [validate_ip(ip, field=prefix + "admin_ips") for ip in (admin_ips or [])]
    dns = [validate_domain(name, field=prefix + "tel_fqdns") for name in (tel_fqdns or [])]
    dns += [validate_domain(name, field=prefix + "admin_fqdns") for name in (admin_fqdns or [])]
    return Names(tel[0], dns, tel + admin)


def _check_chain(cert, chain, source):
    if not chain:
        raise MxonePkiError("%s needs the CA certificate(s) that signed the system certificate" % source,
                            file=source)
    for child, parent in zip([cert] + list(chain), chain):
        if not signed_by(child, parent):
            raise MxonePkiError("%s: %r did not sign %r; give the CA chain closest first"
                                % (source, common_name(parent.subject), common_name(child.subject)), file=source)
    for ca in chain:
        if not is_ca(ca):
            raise MxonePkiError("%s: %r lacks Basic Constraints CA:TRUE; MiVoice 5000 refuses it as a CA"
                                % (source, common_name(ca.subject)), file=source)
        try:
            usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            continue
        if not usage.key_cert_sign:
            raise MxonePkiError("%s: %r has Key Usage without Key Cert Sign" % (source, common_name(ca.subject)),
                                file=source)


def check_system_certificate(key, cert, chain, now, source="PKCS#12"):
    """Refuse what MiVoice 5000 would refuse: not yet valid, expired, a CA as leaf, no server+client EKU."""
    if not key_fits_certificate(key, cert):
        raise MxonePkiError("%s: the private key does not fit the certificate" % source, file=source)
    if is_ca(cert):
        raise MxonePkiError("%s: %r is a CA certificate, not a system certificate"
                            % (source, common_name(cert.subject)), file=source)
    problem = validity_problem(cert, now)
    if problem:
        raise MxonePkiError("%s: the certificate is %s; MiVoice 5000 must never get a certificate that is not "
                            "valid now" % (source, problem), file=source)
    try:
        eku = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        eku = None
    if eku is not None and not {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= eku:
        raise MxonePkiError("%s: Extended Key Usage must have both TLS Web Server and TLS Web Client "
                            "authentication (multi-site links authenticate both ways)" % source, file=source)
    _check_chain(cert, chain, source)


def _encryption(password, legacy):
    secret = password.encode("utf-8") if isinstance(password, str) else password
    builder = serialization.PrivateFormat.PKCS12.encryption_builder()
    if legacy:
        builder = (builder.kdf_rounds(LEGACY_KDF_ROUNDS)
                   .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
                   .hmac_hash(hashes.SHA1()))
    else:
        builder = (builder.kdf_rounds(MODERN_KDF_ROUNDS)
                   .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
                   .hmac_hash(hashes.SHA256()))
    return builder.build(secret)


def build_pkcs12(key, cert, chain, password, now, legacy=False, source="PKCS#12"):
    """The password-protected PKCS#12 MiVoice 5000 imports: key, certificate, CA chain.

    ``legacy=True`` protects it with SHA1/3DES and a SHA-1 MAC, which older
    appliances need; otherwise PBES2 with AES-256-CBC and a SHA-256 MAC.
    The file is checked first (``check_system_certificate``).
    """
    if not password:
        raise MxonePkiError("a PKCS#12 password is required: MiVoice 5000 imports only a password-protected "
                            "file, and asks for the password", field="pkcs12_password")
    check_system_certificate(key, cert, chain, now, source=source)
    name = common_name(cert.subject).encode("utf-8")
    return pkcs12.serialize_key_and_certificates(name, key, cert, list(chain), _encryption(password, legacy))


def pkcs12_encryption(data):
    """How a PKCS#12 file is protected: 'aes', 'legacy' or 'unknown' (mixed, other, unreadable)."""
    modern = _OID_PBES2 in data and _OID_AES256_CBC in data
    legacy = _OID_PBE_SHA1_3DES in data or _OID_PBE_SHA1_RC2_40 in data
    if modern and not legacy:
        return "aes"
    if legacy and _OID_PBES2 not in data:
        return "legacy"
    return "unknown"


def read_pkcs12(data, password, source="PKCS#12"):
    """``(key, cert, cas)`` from a PKCS#12 file; an error naming ``source`` otherwise (never the password)."""
    secret = password.encode("utf-8") if isinstance(password, str) else password
    try:
        return pkcs12.load_key_and_certificates(data, secret)
    except (ValueError, TypeError):
        raise MxonePkiError("%s: wrong password, or not a PKCS#12 file" % source, file=source)


def pkcs12_matches(data, password, key, cert, chain, legacy):
    """True when ``data`` already is this key, certificate and chain, under this password and protection.

    PKCS#12 files carry random salts, so two builds of the same content never
    compare equal byte for byte; this is what decides whether to rewrite.
    """
    if data is None:
        return False
    try:
        have_key, have_cert, have_cas = read_pkcs12(data, password)
    except MxonePkiError:
        return False
    if have_key is None or have_cert is None:
        return False
    if public_key_der(have_key) != public_key_der(key) or have_cert != cert:
        return False
    if list(have_cas) != list(chain):
        return False
    return pkcs12_encryption(data) == ("legacy" if legacy else "aes")
