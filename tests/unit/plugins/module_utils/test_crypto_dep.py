"""The cryptography floor, checked at run time (module_utils/_crypto.py): a PKI host may have an old one."""

import pytest

from ansible_collections.mxone.pki.plugins.module_utils._crypto import (
    MINIMAL_CRYPTOGRAPHY_VERSION, cryptography_too_old)


@pytest.mark.parametrize("version, too_old", [
    ("38.0.4", True),   # Debian 12's python3-cryptography
    ("41.0.7", True),
    ("42.0.0", False),
    ("50.0.2", False),
    ("100.0", False),
    ("42.0.0rc1", False),
])
def test_cryptography_too_old(version, too_old):
    assert MINIMAL_CRYPTOGRAPHY_VERSION == "42.0.0"
    assert cryptography_too_old(version) is too_old
