"""The cryptography floor, checked at run time (module_utils/_crypto.py): a PKI host may have an old one."""

import glob
import importlib
import os

import pytest
import yaml

from ansible_collections.mxone.pki.plugins.doc_fragments.cryptography import ModuleDocFragment
from ansible_collections.mxone.pki.plugins.module_utils._crypto import (
    MINIMAL_CRYPTOGRAPHY_VERSION, cryptography_too_old)

MODULES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "plugins", "modules")


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


def _docs():
    """(name, DOCUMENTATION, source) of every module."""
    for path in sorted(glob.glob(os.path.join(MODULES, "*.py"))):
        name = os.path.basename(path)[:-3]
        module = importlib.import_module("ansible_collections.mxone.pki.plugins.modules." + name)
        with open(path) as handle:
            source = handle.read()
        yield name, yaml.safe_load(module.DOCUMENTATION), source


def test_the_doc_fragment_states_the_floor_the_code_checks():
    assert yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["requirements"] == [
        "cryptography >= %s" % MINIMAL_CRYPTOGRAPHY_VERSION]


def test_every_module_that_checks_the_floor_documents_it_through_the_fragment():
    checked = []
    for name, doc, source in _docs():
        fragments = doc.get("extends_documentation_fragment") or []
        assert not any("cryptography" in r for r in doc.get("requirements") or []), \
            "%s states the cryptography floor itself; extend mxone.pki.cryptography instead" % name
        if "require_cryptography(module)" in source:
            assert "mxone.pki.cryptography" in fragments, name
            checked.append(name)
    assert len(checked) >= 8
