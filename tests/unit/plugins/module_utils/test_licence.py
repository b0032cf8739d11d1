"""Reading VOIP-SECURITY from license_status (module_utils/licence.py): the usual layouts, and fail closed."""

import pytest

from ansible_collections.mxone.pki.plugins.module_utils.licence import (
    licence_problem, result_problem, stopped_systems, voip_security)

LAB_TABLE = """License status for system s1
License type: permanent

Feature             Licensed  Allowed  Used
IP-EXTENSION        yes       500      0
VOIP-SECURITY       %s        -        -
"""


@pytest.mark.parametrize("output,expected", [
    (LAB_TABLE % "yes", True),
    (LAB_TABLE % "no", False),
    ("VOIP-SECURITY\tyes\t-\t-\n", True),
    ("voip-security: YES\n", True),
    ("VOIP-SECURITY = no\n", False),
    ("VOIP_SECURITY  Yes  1  0\n", True),
    ("VOIP-SECURITY  not licensed\n", False),
    ("  VOIP-SECURITY|yes|10|2\n", True),
])
def test_layouts(output, expected):
    assert voip_security(output)[0] is expected


@pytest.mark.parametrize("output,message", [
    ("Feature Licensed\nIP-EXTENSION yes\n", "no VOIP-SECURITY line"),
    ("", "no VOIP-SECURITY line"),
    ("VOIP-SECURITY   maybe\n", "cannot read the VOIP-SECURITY line of license_status: 'VOIP-SECURITY   maybe'"),
    ("VOIP-SECURITY\n", "cannot read"),
    ("VOIP-SECURITY yes\nVOIP-SECURITY no\n", "different answers"),
])
def test_unclear_output_fails_closed_and_quotes_it(output, message):
    with pytest.raises(ValueError) as error:
        voip_security(output)
    assert message in str(error.value)


def test_problem_names_system_node_and_licence():
    assert licence_problem("sthlm", "sthlm-lim1", LAB_TABLE % "yes") is None
    text = licence_problem("sthlm", "sthlm-lim1", LAB_TABLE % "no")
    assert text.startswith("system sthlm: license_status on sthlm-lim1 shows 'VOIP-SECURITY       no        -        -'")
    assert "VOIP-SECURITY licence" in text and "nothing was changed" in text
    not_found = licence_problem("sthlm", "sthlm-lim1", "license_status: not found", rc=127)
    assert "failed (exit 127 (command not found: set mxone_command_path" in not_found
    assert "failed (exit 1)" in licence_problem("sthlm", "sthlm-lim1", "no licence server", rc=1)
    assert "cannot read" in licence_problem("sthlm", "sthlm-lim1", "VOIP-SECURITY ???")


def test_a_raw_result_is_judged_as_the_filter_does():
    yes = dict(rc=0, stdout="VOIP-SECURITY   yes\n", stderr="")
    assert result_problem(yes, "lab1", "lab1-lim1") == ""
    no = result_problem(dict(rc=0, stdout="VOIP-SECURITY   no\n", stderr=""), "lab1", "lab1-lim1")
    assert no.startswith("system lab1: license_status on lab1-lim1 shows 'VOIP-SECURITY   no'")
    down = result_problem(dict(rc=None, unreachable=True, msg="connection refused"), "lab1", "lab1-lim1")
    assert "could not run on lab1-lim1 (connection refused)" in down
    assert "no result" in result_problem({}, "lab1", "lab1-lim1")  # not asked: its leader is not in the play
    failed = result_problem(dict(rc=127, stdout="", stderr="sh: license_status: not found"), "lab1", "lab1-lim1")
    assert "exit 127" in failed and "mxone_command_path" in failed


def test_stopped_systems_are_those_with_a_problem_or_no_answer_in_their_order():
    systems = [dict(system=s, leader=s + "-lim1") for s in ("lab2", "lab1", "lab3")]
    answers = {"lab1": dict(rc=0, stdout="VOIP-SECURITY yes", stderr=""),
               "lab2": dict(rc=0, stdout="VOIP-SECURITY no", stderr="")}
    assert stopped_systems(systems, answers) == ["lab2", "lab3"]
    answers["lab3"] = dict(rc=0, stdout="VOIP-SECURITY: yes", stderr="")
    answers["lab2"] = dict(rc=0, stdout="VOIP-SECURITY: yes", stderr="")
    assert stopped_systems(systems, answers) == []
