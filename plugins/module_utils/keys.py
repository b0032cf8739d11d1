# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private keys: the supported kinds, generation, (de)serialisation, fit.

Key bytes never go into an exception message: errors say which file and
why (wrong passphrase, not a key), never what the file held.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mxone.pki.plugins.module_utils._crypto import (
    UnsupportedAlgorithm, cryptography, ec, hashes, rsa, serialization)
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError

# key_type option value -> (family, size or curve name)
KEY_TYPES = {
    "rsa2048": ("rsa", 2048),
    "rsa3072": ("rsa", 3072),
    "rsa4096": ("rsa", 4096),
    "ec-p256": ("ec", "secp256r1"),
}
DEFAULT_KEY_TYPE = "rsa2048"

# No sha1: the cryptography this collection pins (50) no longer signs with SHA-1 at all, so offering it
# would only offer a failure; old phone families that need SHA-1 certificates are out of reach.
DIGESTS = ("sha256", "sha384", "sha512")
DEFAULT_DIGEST = "sha256"


def hash_algorithm(digest):
    if str(digest).lower().replace("-", "") == "sha1":
        raise MxonePkiError("SHA-1 is not offered: the cryptography library no longer signs with it, and modern TLS "
                            "clients refuse SHA-1 certificates; choose one of %s" % ", ".join(DIGESTS), field="digest")
    if digest not in DIGESTS:
        raise MxonePkiError("unknown digest %r; choose one of %s" % (digest, ", ".join(DIGESTS)), field="digest")
    return getattr(hashes, digest.upper())()


def sign(builder, key, digest, what="certificate"):
    """``builder.sign`` with ``digest``; a digest the library refuses is an error naming ``digest``."""
    try:
        return builder.sign(key, hash_algorithm(digest))
    except UnsupportedAlgorithm:
        raise MxonePkiError("cryptography %s refuses to sign a %s with %s; choose sha256 or stronger"
                            % (cryptography.__version__, what, digest), field="digest")


def generate_private_key(key_type=DEFAULT_KEY_TYPE):
    try:
        family, size = KEY_TYPES[key_type]
    except KeyError:
        raise MxonePkiError("unknown key type %r; choose one of %s" % (key_type, ", ".join(sorted(KEY_TYPES))),
                            field="key_type")
    if family == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=size)
    return ec.generate_private_key(ec.SECP256R1())


def key_type_of(key):
    """The ``key_type`` name of a private or public key, or a description if unsupported."""
    public = key.public_key() if hasattr(key, "public_key") else key
    if isinstance(public, rsa.RSAPublicKey):
        return "rsa%d" % public.key_size
    if isinstance(public, ec.EllipticCurvePublicKey):
        return "ec-p256" if public.curve.name == "secp256r1" else "ec-%s" % public.curve.name
    return type(public).__name__


def _passphrase_bytes(passphrase):
    if passphrase is None or passphrase == "":
        return None
    return passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase


def dump_private_key(key, passphrase=None):
    """PKCS#8 PEM; encrypted (best available) when a passphrase is given."""
    secret = _passphrase_bytes(passphrase)
    encryption = (serialization.BestAvailableEncryption(secret) if secret
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def load_private_key(data, passphrase=None, source="private key", field=None, own_store=False):
    """Load a PEM or DER private key; errors name ``source`` and never echo the data.

    ``own_store``: the key is one this collection generated and keeps encrypted in its PKI store.
    Then the RSA consistency check (about 0.1 s for an RSA 3072 key, done on every load) is
    skipped, as cryptography allows for keys from a trusted source; keys from elsewhere
    (imports, bundles from nodes) are always checked.
    """
    secret = _passphrase_bytes(passphrase)
    loaders = (serialization.load_pem_private_key,) if b"-----BEGIN" in data else (
        serialization.load_der_private_key,)
    options = dict(unsafe_skip_rsa_key_validation=True) if own_store else {}
    for loader in loaders:
        try:
            return loader(data, password=secret, **options)
        except TypeError as exc:
            # cryptography says whether a password was missing or superfluous
            if "not encrypted" in str(exc):
                return loader(data, password=None, **options)
            raise MxonePkiError("%s is encrypted and no passphrase was given" % source, file=source, field=field)
        except ValueError:
            if secret is not None:
                raise MxonePkiError("%s: wrong passphrase, or the file is not a private key" % source,
                                    file=source, field=field)
            raise MxonePkiError("%s is not a readable private key" % source, file=source, field=field)
    raise MxonePkiError("%s is not a readable private key" % source, file=source, field=field)


def public_key_der(key):
    public = key.public_key() if hasattr(key, "public_key") else key
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_fits_certificate(key, cert):
    return public_key_der(key) == public_key_der(cert.public_key())


def public_key_fingerprint(key):
    digest = hashes.Hash(hashes.SHA256())
    digest.update(public_key_der(key))
    return ":".join("%02x" % b for b in digest.finalize())
