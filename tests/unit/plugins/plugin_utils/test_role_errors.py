"""Through the collection's roles, errors name the inventory variable, not the module option (issue 14)."""

import glob
import os

import pytest
import yaml

from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError, name_variables
from ansible_collections.mxone.pki.plugins.plugin_utils.role_errors import ROLE_VARIABLES, for_role_user

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


def failed(error):
    return dict(failed=True, changed=False, msg=str(error), **error.context())


WRONG_CA = MxonePkiError("pki/ca/ca.key: wrong passphrase, or the file is not a private key", file="pki/ca/ca.key",
                         field="ca_passphrase")


@pytest.mark.parametrize("result, expected", [
    (failed(WRONG_CA),
     dict(failed=True, changed=False, file="pki/ca/ca.key", field="mxone_ca_passphrase",
          msg="pki/ca/ca.key: wrong passphrase, or the file is not a private key "
              "(field=mxone_ca_passphrase, file=pki/ca/ca.key)")),
    (failed(MxonePkiError("pki/certs/a/server.key is encrypted and no passphrase was given",
                          file="pki/certs/a/server.key", field="certificate.key_passphrase", host="a-lim1")),
     dict(failed=True, changed=False, file="pki/certs/a/server.key", field="mxone_ca_passphrase", host="a-lim1",
          msg="pki/certs/a/server.key is encrypted and no passphrase was given "
              "(field=mxone_ca_passphrase, file=pki/certs/a/server.key, host=a-lim1)")),
    (failed(MxonePkiError("x.pfx: wrong password, or not a PKCS#12 file", file="x.pfx", field="password")),
     dict(failed=True, changed=False, file="x.pfx", field="mxone_pfx_password",
          msg="x.pfx: wrong password, or not a PKCS#12 file (field=mxone_pfx_password, file=x.pfx)")),
    # an option the roles do not fill from one variable: as the module said it
    (failed(MxonePkiError("bad", field="renew_before")), failed(MxonePkiError("bad", field="renew_before"))),
    # not a failure, or no field: as it is
    (dict(changed=True, field="ca_passphrase"), dict(changed=True, field="ca_passphrase")),
    (dict(failed=True, msg="no field"), dict(failed=True, msg="no field")),
])
def test_name_variables(result, expected):
    assert name_variables(result, ROLE_VARIABLES) == expected


class Role(object):
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


class Task(object):
    def __init__(self, role=None):
        self._role = Role(role) if role else None


@pytest.mark.parametrize("role, named", [("mxone.pki.mxone_ca", True), ("mxone.pki.mxone_activate", True),
                                         ("acme.pbx.certs", False), (None, False)])
def test_only_the_collections_roles_get_variable_names(role, named):
    result = for_role_user(Task(role), failed(WRONG_CA))
    assert result["field"] == ("mxone_ca_passphrase" if named else "ca_passphrase")
    assert ("field=mxone_ca_passphrase" in result["msg"]) == named


def test_deliver_results_per_host_are_named_too():
    error = MxonePkiError("k: wrong passphrase", file="k", field="certificate.key_passphrase")
    fleet = dict(changed=False, failed_hosts=["a"], results={"a": failed(error), "b": dict(changed=False)})
    result = for_role_user(Task("mxone.pki.mxone_deliver"), fleet)
    assert result["results"]["a"]["field"] == "mxone_ca_passphrase" and result["results"]["b"] == dict(changed=False)


def _module_calls(data):
    """(module, args) of every task of a parsed tasks file, blocks and rescues included."""
    if isinstance(data, list):
        for item in data:
            yield from _module_calls(item)
    elif isinstance(data, dict):
        for key, value in data.items():
            if key.startswith("mxone.pki.") and isinstance(value, dict):
                yield key, value
            elif key in ("block", "rescue", "always"):
                yield from _module_calls(value)


def _flat(args, prefix=""):
    for key, value in args.items():
        if isinstance(value, dict):
            yield from _flat(value, prefix + key + ".")
        yield prefix + key, value


def test_every_role_fills_these_options_from_that_variable():
    """ROLE_VARIABLES holds for every task of every role; else an error would name the wrong variable."""
    seen = set()
    for path in glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml")) + \
            glob.glob(os.path.join(ROOT, "roles", "*", "handlers", "*.yml")):
        with open(path) as handle:
            for module, args in _module_calls(yaml.safe_load(handle)):
                for option, value in _flat(args):
                    if option in ROLE_VARIABLES:
                        seen.add(option)
                        assert ROLE_VARIABLES[option] in str(value), "%s: %s %s=%r" % (path, module, option, value)
    assert {"ca_passphrase", "key_passphrase", "client_key_passphrase", "pfx_passwords", "pkcs12_password"} <= seen
