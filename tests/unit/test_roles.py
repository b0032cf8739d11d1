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


def _role_text(role, *parts):
    with open(os.path.join(ROOT, "roles", role, *parts)) as handle:
        return handle.read()


def test_mxone_devices_takes_its_defaults_from_the_device_table():
    """The kinds' windows and the device key defaults are device_cert's: the role passes them only when set."""
    from ansible_collections.mxone.pki.plugins.module_utils.devices import KINDS

    options = yaml.safe_load(_role_text("mxone_devices", "meta", "argument_specs.yml"))["argument_specs"]["main"][
        "options"]
    tasks = "".join(_role_text("mxone_devices", "tasks", name) for name in sorted(
        os.listdir(os.path.join(ROOT, "roles", "mxone_devices", "tasks"))))
    defaults = yaml.safe_load(_role_text("mxone_devices", "defaults", "main.yml"))
    role_vars = _role_text("mxone_devices", "vars", "main.yml")
    names = ["%s_renew_before" % kind["prefix"] for kind in KINDS.values()]
    names += ["mxone_devices_key_type", "mxone_devices_key_policy", "mxone_devices_validity_days"]
    for name in names:
        assert name in options and "default" not in options[name], name  # documented once, in device_cert
        assert name not in defaults and name not in role_vars, name
        assert "{{ %s | default(omit) }}" % name in tasks, name


def test_mxone_devices_keeps_its_ca_itself():
    """No include of mxone_ca and no made-up mxone_fleet: the role calls enterprise_ca."""
    main = yaml.safe_load(_role_text("mxone_devices", "tasks", "main.yml"))
    text = _role_text("mxone_devices", "tasks", "main.yml")
    assert "mxone_fleet" not in text and "mxone.pki.mxone_ca" not in text
    ca = next(t for t in main if "mxone.pki.enterprise_ca" in t)
    assert ca["run_once"] and ca["delegate_to"] == "localhost"
    assert ca["mxone.pki.enterprise_ca"]["ca_passphrase"] == "{{ mxone_ca_passphrase }}"
