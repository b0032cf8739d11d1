# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one guarded import of ``cryptography``.

Every other file in module_utils takes the library's names from here, so
that a controller without ``cryptography`` gets one clear error from the
module (see ``require_cryptography``) instead of an ImportError traceback.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

# The names the rest of module_utils takes from here (re-exported, hence "used").
__all__ = (
    "CRYPTOGRAPHY_IMPORT_ERROR", "ExtendedKeyUsageOID", "HAS_CRYPTOGRAPHY", "InvalidSignature",
    "MINIMAL_CRYPTOGRAPHY_VERSION", "NameOID", "UnsupportedAlgorithm", "cryptography", "ec", "hashes",
    "cryptography_too_old", "padding", "pkcs7", "pkcs12", "require_cryptography", "rsa", "serialization", "x509",
)

# The floor, checked at run time by require_cryptography(). 42: the *_utc validity accessors the code reads.
# The modules' documentation states it once, in plugins/doc_fragments/cryptography.py (mxone.pki.cryptography):
# keep the two equal (tests/unit/plugins/module_utils/test_crypto_dep.py compares them); CI runs the unit
# tests on exactly this version (scripts/test-floor).
MINIMAL_CRYPTOGRAPHY_VERSION = "42.0.0"

try:
    import cryptography
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:  # pragma: no cover - exercised by ansible-test's import test
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()
    cryptography = x509 = hashes = serialization = None
    ec = padding = rsa = pkcs7 = pkcs12 = None
    ExtendedKeyUsageOID = NameOID = None

    class InvalidSignature(Exception):
        pass

    class UnsupportedAlgorithm(Exception):
        pass
else:
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None


def _version_tuple(version):
    parts = []
    for part in str(version).split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def cryptography_too_old(version, minimal=MINIMAL_CRYPTOGRAPHY_VERSION):
    """True when ``version`` (a cryptography version string) is below ``minimal``."""
    return _version_tuple(version) < _version_tuple(minimal)


def require_cryptography(module):
    """Fail the AnsibleModule with one clear message when cryptography is missing or older than the floor.

    The module may run on a PKI host (``mxone_pki_host``): the message names the Python it ran with.
    """
    import sys

    if HAS_CRYPTOGRAPHY and cryptography_too_old(cryptography.__version__):
        module.fail_json(
            msg="cryptography %s is too old for mxone.pki (>= %s needed) on the host that runs this module "
                "(the PKI host, mxone_pki_host; the controller by default), Python %s: install a newer one "
                "there (pip install 'cryptography>=%s', e.g. in a venv named by ansible_python_interpreter)"
                % (cryptography.__version__, MINIMAL_CRYPTOGRAPHY_VERSION, sys.executable,
                   MINIMAL_CRYPTOGRAPHY_VERSION))
    if not HAS_CRYPTOGRAPHY:
        from ansible.module_utils.basic import missing_required_lib

        module.fail_json(
            msg=missing_required_lib("cryptography >= %s" % MINIMAL_CRYPTOGRAPHY_VERSION)
            + " This module runs on the PKI host (mxone_pki_host; the controller by default).",
            exception=CRYPTOGRAPHY_IMPORT_ERROR,
        )
