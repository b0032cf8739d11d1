"""validated_args: an action plugin's arguments typed and defaulted by its spec; failures never show a secret."""

import pytest

from ansible.plugins.action import ActionBase

from ansible_collections.mxone.pki.plugins.module_utils._argspecs import (
    activate_kwargs, deliver_kwargs, fleet_plan_kwargs, summary_kwargs)
from ansible_collections.mxone.pki.plugins.plugin_utils.action_args import validated_args

SECRET = "s3cret-Passphrase"


class _Task(object):
    def __init__(self, args):
        self.args = args


class _Action(object):
    """The part of an action plugin validate_argument_spec uses: the task's (templated) arguments."""
    validate_argument_spec = ActionBase.validate_argument_spec

    def __init__(self, args):
        self._task = _Task(args)
        self._load_name = "mxone.pki.test"


@pytest.mark.parametrize("kwargs, given, expected", [
    # defaults filled in, strings from templates typed
    (fleet_plan_kwargs, dict(lock="no", lock_timeout="60"),
     dict(lock=False, lock_timeout=60, lock_lease=1800, release=False, pki_host="localhost", pki_dir="pki",
          systems_group="mxone_systems")),
    (fleet_plan_kwargs, dict(release="true", pki_dir="/srv/pki", holder="h:1:ab"),
     dict(release=True, pki_dir="/srv/pki", holder="h:1:ab")),
    (deliver_kwargs, dict(restore="yes", targets=["lim1"]),
     dict(restore=True, activated=False, targets=["lim1"], public_copies={}, dest_dir="/etc/opt/eri_sn/certs")),
    (deliver_kwargs, dict(certificate=dict(cert_path="pki/s.pem", key_path="pki/s.key"), ca_path="pki/ca.pem"),
     dict(certificate=dict(cert_path="pki/s.pem", key_path="pki/s.key", key_passphrase=None, chain_path=None),
          bundle_name="eri_sn_cert.pem", ca_name="ca.pem", activation=False)),
    (deliver_kwargs, dict(report=dict(changed=True, msg="x")), dict(report=dict(changed=True, msg="x"))),
    (activate_kwargs, dict(max_failures="2", timeout="60", now="on"),
     dict(max_failures=2, timeout=60.0, now=True, parallel=1, systems=[], order=[])),
    (activate_kwargs, dict(licence=[dict(system="s1", leader="lim1")]), dict(licence=[dict(system="s1", leader="lim1")])),
    (summary_kwargs, dict(summary=[]), dict(summary=[], title="Per-system summary")),
])
def test_valid_arguments_are_typed_and_defaulted(kwargs, given, expected):
    args, failure = validated_args(_Action(given), kwargs())
    assert failure is None
    assert dict((k, args[k]) for k in expected) == expected


@pytest.mark.parametrize("kwargs, given, words", [
    (fleet_plan_kwargs, dict(lokc=True), ["Unsupported parameters", "lokc"]),
    (fleet_plan_kwargs, dict(lock_timeout="soon"), ["lock_timeout", "int"]),
    (deliver_kwargs, dict(certificate=dict(cert_path="a.pem")), ["key_path"]),
    (summary_kwargs, dict(), ["summary"]),
    (activate_kwargs, dict(now="maybe"), ["now", "bool"]),
])
def test_invalid_arguments_fail_naming_the_option(kwargs, given, words):
    args, failure = validated_args(_Action(given), kwargs())
    assert args is None and failure["failed"] is True and failure["changed"] is False
    for word in words:
        assert word in failure["msg"]


@pytest.mark.parametrize("kwargs, given", [
    # the passphrase given where a flag belongs too: the validator's message quotes the flag's value
    (deliver_kwargs, dict(key_passphrase=SECRET, activation=SECRET)),
    (deliver_kwargs, dict(certificate=dict(cert_path="a", key_path="b", key_passphrase=SECRET), restore=SECRET)),
    (activate_kwargs, dict(client_key_passphrase=SECRET, now=SECRET)),
])
def test_a_failure_never_shows_a_no_log_value(kwargs, given):
    args, failure = validated_args(_Action(given), kwargs())
    assert failure["failed"] is True
    assert SECRET not in repr(failure)
    assert "********" in failure["msg"]
