"""Role tasks that must stay twins."""

import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def task(role, name):
    with open(os.path.join(ROOT, "roles", role, "tasks", "main.yml")) as handle:
        return next(t for t in yaml.safe_load(handle) if t.get("name") == name)


def test_the_passphrase_check_is_one_line_and_the_same_in_both_roles():
    """mxone_ca and mxone_devices stop a run without mxone_ca_passphrase with the same one line."""
    ca, devices = task("mxone_ca", "Require the CA passphrase"), task("mxone_devices", "Require the CA passphrase")
    assert ca == devices
    assert "\n" not in ca["ansible.builtin.fail"]["msg"]
    assert "group_vars/all" in ca["ansible.builtin.fail"]["msg"] and "--extra-vars @" in ca["ansible.builtin.fail"]["msg"]
    for role in ("mxone_ca", "mxone_issue", "mxone_deliver", "mxone_devices"):
        with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")) as handle:
            option = yaml.safe_load(handle)["argument_specs"]["main"]["options"]["mxone_ca_passphrase"]
        assert option["no_log"] and not option.get("required"), role  # required: true would dump the spec first
