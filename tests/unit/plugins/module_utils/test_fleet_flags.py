"""Inventory flags (mxone_encryption, mxone_tls, mxone_import_require_ips) follow Ansible's own boolean rules."""

import pytest

from ansible.module_utils.parsing.convert_bool import BOOLEANS_FALSE, BOOLEANS_TRUE

from ansible_collections.mxone.pki.plugins.module_utils.fleet import FleetError, _as_bool, build_plan


@pytest.mark.parametrize("value, default, expected", [
    (None, True, True),      # unset: the field's default
    (None, False, False),
    (True, False, True),
    (False, True, False),
    ("yes", False, True),
    ("Yes ", False, True),
    ("on", False, True),
    ("y", False, True),      # Ansible's spellings that the old reader refused
    ("t", False, True),
    ("1", False, True),
    (1, False, True),
    (1.0, False, True),
    ("no", True, False),
    ("OFF", True, False),
    ("n", True, False),
    ("f", True, False),
    ("0", True, False),
    (0, True, False),
])
def test_as_bool(value, default, expected):
    assert _as_bool(value, default) is expected


@pytest.mark.parametrize("value", ["maybe", "", "2", 2, "enabled", [True], {"a": 1}, 0.5])
def test_not_a_boolean(value):
    with pytest.raises(ValueError) as error:
        _as_bool(value, True)
    assert "%r is not a boolean" % (value,) in str(error.value)


@pytest.mark.parametrize("value", sorted(BOOLEANS_TRUE | BOOLEANS_FALSE, key=repr))
def test_every_ansible_boolean_is_read_as_ansible_reads_it(value):
    assert _as_bool(value, None) is (value in BOOLEANS_TRUE)


def test_the_error_names_group_and_field():
    hosts = {"lim1": dict(mxone_lim=1, ansible_host="192.0.2.1", mxone_system="s1", mxone_domain="s1.example.net",
                          mxone_encryption="y", mxone_tls="maybe")}
    with pytest.raises(FleetError) as error:
        build_plan({"mxone_s1": ["lim1"]}, hosts, [])
    assert error.value.problems == [("mxone_s1", "mxone_tls", "'maybe' is not a boolean (yes/no, true/false, "
                                     "on/off, y/n, t/f or 1/0)")]
