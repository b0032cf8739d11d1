"""Words about the inventory beyond its errors (module_utils/variables.py): unknown variables, no download servers."""

import glob
import os
import re

import pytest
import yaml

from ansible_collections.mxone.pki.plugins.action.fleet_plan import known_variables
from ansible_collections.mxone.pki.plugins.module_utils import fleet
from ansible_collections.mxone.pki.plugins.module_utils.variables import (
    PLAYBOOK_VARIABLES, SET_BY_THE_COLLECTION, no_download_servers_warning, places, spec_options, suggestion,
    unknown_variable_warnings)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
KNOWN = known_variables()
GROUPS = [("system group mxone_sthlm", ["sthlm-lim1", "sthlm-lim2"]), ("system group mxone_malmo", ["malmo-lim1"]),
          ("group mxone_download_servers", ["dl"])]
FLEET = ["sthlm-lim1", "sthlm-lim2", "malmo-lim1", "dl"]


@pytest.mark.parametrize("name, expected", [
    ("mxone_tls_client_verfication", "mxone_tls_client_verification"),
    ("mxone_extra_dsn", "mxone_extra_dns"),
    ("mxone_extra_ip", "mxone_extra_ips"),
    ("mxone_lmi", "mxone_lim"),
    ("mxone_ca_pasphrase", "mxone_ca_passphrase"),
    ("mxone_activate_windows", "mxone_activate_window"),
    ("mxone_pki_directory", "mxone_pki_dir"),
    ("mxone_download_directory", "mxone_download_dir"),
    ("mxone_issue_renew_befor", "mxone_issue_renew_before"),
    ("mxone_timezone", "mxone_activate_timezone"),
    ("mxone_certmode", "mxone_cert_mode"),
    ("mxone_site_owner", None),
    ("mxone_notes", None),
    ("mxone_tz", None),
    ("mxone_ip", None),
])
def test_suggestion(name, expected):
    assert suggestion(name, KNOWN) == expected


@pytest.mark.parametrize("hosts, extra, expected", [
    (["sthlm-lim1", "sthlm-lim2"], False, ["system group mxone_sthlm"]),
    (["sthlm-lim2"], False, ["host sthlm-lim2"]),
    (["sthlm-lim1", "sthlm-lim2", "malmo-lim1"], False, ["system group mxone_sthlm", "system group mxone_malmo"]),
    (["sthlm-lim1", "sthlm-lim2", "dl"], False, ["system group mxone_sthlm", "group mxone_download_servers"]),
    (["sthlm-lim1", "malmo-lim1"], False, ["system group mxone_malmo", "host sthlm-lim1"]),
    (FLEET, False, ["every host of the fleet"]),
    (FLEET, True, ["--extra-vars"]),
])
def test_places(hosts, extra, expected):
    assert places(hosts, GROUPS, extra) == expected


def test_places_of_a_fleet_of_one_group_name_the_group():
    assert places(["a", "b"], [("system group mxone_a", ["a", "b"]), ("group mxone_download_servers", [])]) == [
        "system group mxone_a"]


@pytest.mark.parametrize("names_by_host, extra, expected", [
    # the typos, each where it is set, once
    ({"sthlm-lim1": ["mxone_extra_dsn", "mxone_lim"], "sthlm-lim2": ["mxone_extra_dsn"], "malmo-lim1": [], "dl": []},
     (), ["mxone_extra_dsn (system group mxone_sthlm): mxone.pki reads no such variable, so it has no effect; "
          "did you mean mxone_extra_dns?"]),
    ({"sthlm-lim2": ["mxone_tls_client_verfication"]}, (),
     ["mxone_tls_client_verfication (host sthlm-lim2): mxone.pki reads no such variable, so it has no effect; "
      "did you mean mxone_tls_client_verification?"]),
    # one variable in two places: one warning per place
    ({"sthlm-lim1": ["mxone_extra_dsn"], "sthlm-lim2": ["mxone_extra_dsn"], "dl": ["mxone_extra_dsn"]}, (),
     ["mxone_extra_dsn (system group mxone_sthlm): mxone.pki reads no such variable, so it has no effect; "
      "did you mean mxone_extra_dns?",
      "mxone_extra_dsn (group mxone_download_servers): mxone.pki reads no such variable, so it has no effect; "
      "did you mean mxone_extra_dns?"]),
    # nothing close: no guess
    (dict((h, ["mxone_site_owner"]) for h in FLEET), (),
     ["mxone_site_owner (every host of the fleet): mxone.pki reads no such variable, so it has no effect"]),
    (dict((h, ["mxone_ca_creat"]) for h in FLEET), ("mxone_ca_creat",),
     ["mxone_ca_creat (--extra-vars): mxone.pki reads no such variable, so it has no effect; "
      "did you mean mxone_ca_create?"]),
    # known names of every kind, names set by the collection itself, and other prefixes: no word
    ({"sthlm-lim1": ["mxone_lim", "mxone_cert_mode", "mxone_pki_dir", "mxone_ca_passphrase", "mxone_ca_create",
                     "mxone_activate_partial", "mxone_renew_summary_path", "mxone_issue_renew_before",
                     "mxone_verify_ports", "mxone_devices_key_type", "mxone_fleet", "mxone_issue_result",
                     "__mxone_issue_scratch", "ansible_host", "sip_proxy_dns", "mxone"]}, (), []),
])
def test_unknown_variable_warnings(names_by_host, extra, expected):
    assert unknown_variable_warnings(names_by_host, GROUPS, KNOWN, extra) == expected


def test_spec_options_reads_every_entry_point():
    specs = {"argument_specs": {"main": {"options": {"mxone_a": {}, "mxone_b": {}}},
                                "inventory": {"options": {"mxone_c": {"options": {"sub": {}}}}},
                                "empty": {}}}
    assert spec_options(specs) == {"mxone_a", "mxone_b", "mxone_c"}
    assert spec_options(None) == set()


@pytest.mark.parametrize("exists, start", [
    (False, "the inventory has no group mxone_download_servers: phones get no ca.pem from this run."),
    (True, "group mxone_download_servers has no host: phones get no ca.pem from this run."),
])
def test_no_download_servers_warning(exists, start):
    text = no_download_servers_warning("mxone_download_servers", exists)
    assert text.startswith(start)
    assert "mxone_download_dir" in text and "inventories/example/hosts.yml" in text


def test_known_variables_come_from_the_plan_and_every_role_spec():
    assert set(fleet.LIM_VARS) | set(fleet.DOWNLOAD_VARS) <= KNOWN
    for path in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")):
        with open(path) as handle:
            assert spec_options(yaml.safe_load(handle)) <= KNOWN, path
    assert {"mxone_pki_dir", "mxone_ca_passphrase", "mxone_ca_create", "mxone_activate_partial"} <= KNOWN


def _tokens():
    """Every mxone_* name written in the roles and playbooks, with a file it is in."""
    found = {}
    for path in glob.glob(os.path.join(ROOT, "roles", "**", "*.yml"), recursive=True) + \
            glob.glob(os.path.join(ROOT, "playbooks", "*.yml")):
        with open(path) as handle:
            for name in re.findall(r"(?<![\w.])mxone_[a-z0-9_]*[a-z0-9]", handle.read()):
                found.setdefault(name, os.path.relpath(path, ROOT))
    return found


# mxone_* words in roles and playbooks that are not variables: groups, roles, a file name, the doc's typo; and
# the report's Prometheus metrics, all mxone_pki_* (mxone_pki_dir is the one variable of that prefix).
NOT_VARIABLES = {"mxone_systems", "mxone_download_servers", "mxone_sthlm", "mxone_pki", "mxone_extra_dsn",
                 "mxone_admin"}  # the MX-ONE maintenance account, named in docs
METRIC_PREFIX = "mxone_pki_"


def test_every_name_the_roles_and_playbooks_read_is_known():
    """A variable read by a role or playbook but missing from the known names would be warned about wrongly."""
    roles = set(os.listdir(os.path.join(ROOT, "roles")))
    known = KNOWN | set(PLAYBOOK_VARIABLES) | set(SET_BY_THE_COLLECTION) | NOT_VARIABLES | roles
    unknown = dict((name, path) for name, path in _tokens().items()
                   if name not in known and not name.startswith(METRIC_PREFIX))
    assert not unknown, "add these to an argument spec or to module_utils/variables.py: %s" % unknown


def test_the_short_lists_hold_no_stale_name():
    tokens = _tokens()
    for name in PLAYBOOK_VARIABLES + SET_BY_THE_COLLECTION:
        assert name in tokens and name not in KNOWN, name


def test_the_plan_action_gathers_names_only_and_warns_once():
    """fleet_plan's gathering: names of the fleet's hosts (values never read), then the download servers' word."""
    from ansible_collections.mxone.pki.plugins.action.fleet_plan import _words

    class NamesOnly(dict):
        def __getitem__(self, key):
            raise AssertionError("a value was read: %s" % key)

    variables = {"a-lim1": NamesOnly(mxone_lim=1, mxone_extra_dsn=[]), "a-lim2": NamesOnly(mxone_lim=2)}
    warnings = _words(variables, {"mxone_a": ["a-lim1", "a-lim2"]}, "mxone_download_servers", [], False, [])
    assert warnings == [
        "mxone_extra_dsn (host a-lim1): mxone.pki reads no such variable, so it has no effect; "
        "did you mean mxone_extra_dns?",
        no_download_servers_warning("mxone_download_servers", False)]
    variables["dl"] = NamesOnly(mxone_download_dir="/srv")
    assert _words(variables, {"mxone_a": ["a-lim1", "a-lim2"]}, "mxone_download_servers", ["dl"], True, []) == \
        warnings[:1]
