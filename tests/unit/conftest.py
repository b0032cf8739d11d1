"""Unit-test fixtures live in ``_fixtures.py`` (importable by the tests for NOW, helpers)."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from _fixtures import enterprise_ca, factory, keys, pki, server, system_names_3  # noqa: E402,F401

# Imported for pytest, which finds fixtures by name in the conftest module.
__all__ = ("enterprise_ca", "factory", "keys", "pki", "server", "system_names_3")
