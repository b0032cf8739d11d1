"""The activation script and what its output means (module_utils/activation.py), run with a real sh."""

import subprocess

import pytest

from ansible_collections.mxone.pki.plugins.module_utils import activation
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError


def run_sh(text, path):
    return subprocess.run(["/bin/sh", "-c", text], capture_output=True, text=True, env={"PATH": path},
                          check=False).stdout


def fake_commands(tmp_path, failing=()):
    """Stand-ins for the MX-ONE commands that log their argv and fail when asked."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("media_encryption_enable", "data_backup", "reload"):
        code = 1 if name in failing else 0
        (bindir / name).write_text('#!/bin/sh\necho "%s $*" >> %s/log\necho "%s said: $*" >&2\nexit %d\n'
                                   % (name, tmp_path, name, code))
        (bindir / name).chmod(0o755)
    return "%s:/usr/bin:/bin" % bindir


def test_steps_follow_the_vendor_order():
    argv = activation.steps(["extension", "route"], activation.reload_argv("system"))
    assert argv == [["media_encryption_enable", "-type", "extension"], ["media_encryption_enable", "-type", "route"],
                    ["data_backup"], ["reload", "--system"]]
    assert activation.reload_argv("units") == ["reload", "-u", "SIPLP,IPLP,TLP65,CSTServer"]


def test_all_steps_run_in_one_script(tmp_path):
    commands = activation.steps(["extension"], ["reload", "--system"])
    text, token = activation.script(commands)
    ran = activation.parse(run_sh(text, fake_commands(tmp_path)), commands, token)
    assert [(s["command"], s["rc"]) for s in ran] == [
        ("media_encryption_enable -type extension", 0), ("data_backup", 0), ("reload --system", 0)]
    assert [line.strip() for line in (tmp_path / "log").read_text().splitlines()] == [
        "media_encryption_enable -type extension", "data_backup", "reload --system"]
    assert activation.step_failure(ran, commands) is None


def test_a_failing_step_stops_the_rest_and_is_named_with_its_output(tmp_path):
    commands = activation.steps(["extension"], ["reload", "--system"])
    text, token = activation.script(commands)
    ran = activation.parse(run_sh(text, fake_commands(tmp_path, failing=("data_backup",))), commands, token)
    assert [s["rc"] for s in ran] == [0, 1]
    assert "reload" not in (tmp_path / "log").read_text()
    assert activation.step_failure(ran, commands) == "data_backup failed (exit 1): data_backup said:"


def test_output_that_looks_like_a_marker_stays_output(tmp_path):
    commands = [["data_backup"], ["reload", "--system"]]
    text, token = activation.script(commands)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "data_backup").write_text("#!/bin/sh\necho '@@0123 0'\nexit 3\n")
    (bindir / "data_backup").chmod(0o755)
    ran = activation.parse(run_sh(text, "%s:/usr/bin:/bin" % bindir), commands, token)
    assert ran == [dict(command="data_backup", rc=3, output="@@0123 0\n")]


def test_a_connection_that_ends_early_is_a_failure():
    commands = activation.steps([], ["reload", "--system"])
    assert activation.step_failure([], commands) == "data_backup did not run (the connection ended early)"


def test_failure_message_says_what_was_rolled_back_and_what_runs_now():
    after = dict(back={"a-lim1": 2.0, "a-lim2": 2.1}, failed={}, elapsed=2.1)
    message = activation.failure_message("a", "reload --system failed (exit 1): boom", ["a-lim1", "a-lim2"], True, 0,
                                         after)
    assert message == ("system a: reload --system failed (exit 1): boom. Rolled back to the previous bundle on "
                       "a-lim1, a-lim2; reload after rollback: exit 0; TLS after rollback: 2/2 LIM(s) up.")
    after = dict(back={"a-lim1": 2.0}, failed={"a-lim2": "not back after 900 s (connection refused)"}, elapsed=900)
    assert activation.failure_message("a", "x", ["a-lim1"], True, 0, after).endswith(
        "TLS after rollback: 1/2 LIM(s) up (a-lim2 not back after 900 s (connection refused)).")
    message = activation.failure_message("a", "data_backup failed (exit 1): x", [], False)
    assert message.endswith("no LIM (none had a previous bundle); not reloaded, so the running system was not changed.")


class Lims(object):
    """Fake LIMs after a reload: each is down until its time, then serves its certificate; a fake clock."""

    def __init__(self, back_at, serving, verified=None):
        self.now = 0.0
        self.back_at = back_at
        self.serving = serving
        self.verified = verified or {}
        self.probes = 0

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds

    def probe(self, names):
        self.probes += 1
        results = {}
        for name in names:
            if self.now < self.back_at[name]:
                results[name] = dict(name=name, ok=False, error="connection refused", certificate=None)
            else:
                results[name] = dict(name=name, ok=self.verified.get(name, True), error=None if self.verified.get(
                    name, True) else "certificate verify failed", certificate=dict(
                        sha256_fingerprint=self.serving[name], serial="5e", not_after="2027-11-29"))
        return results


def wait(lims, expected, timeout=900, **kw):
    lines = []
    waited = activation.wait_for_lims(lims.probe, expected, timeout, lims.clock, lims.sleep, lines.append, **kw)
    return waited, lines


def test_waits_for_every_lim_with_backoff_and_reports_when_each_came_back():
    lims = Lims({"a": 20, "b": 95}, {"a": "NEW", "b": "NEW"})
    waited, lines = wait(lims, {"a": "NEW", "b": "NEW"})
    assert waited["failed"] == {}
    assert 20 <= waited["back"]["a"] <= 20.5 and 95 <= waited["back"]["b"] <= 95.5  # polled at most 0.5 s apart
    assert lims.probes < 200  # backoff to 0.5 s: not a busy loop
    assert len(lines) == 3 and lines[0].startswith("1/2 LIM(s) serve the new certificate (a after")
    assert "waiting for b (3" in lines[0]


def test_a_lim_back_with_the_old_certificate_is_a_failure_that_says_so():
    lims = Lims({"a": 5, "b": 5}, {"a": "NEW", "b": "OLD"})
    waited, dummy = wait(lims, {"a": "NEW", "b": "NEW"})
    assert list(waited["failed"]) == ["b"]
    assert waited["failed"]["b"] == ("came back after reload but serves a certificate other than the new certificate "
                                     "(serial 5e, valid until 2027-11-29)")
    assert waited["elapsed"] < 10  # no waiting for the deadline once it is known


def test_a_bundle_that_fails_the_check_is_a_failure():
    lims = Lims({"a": 3}, {"a": "NEW"}, verified={"a": False})
    waited, dummy = wait(lims, {"a": "NEW"})
    assert waited["failed"]["a"].endswith("serves a certificate that fails the check: certificate verify failed")


def test_the_old_listener_before_it_went_down_is_not_a_failure_until_the_deadline():
    lims = Lims({"a": 0}, {"a": "OLD"})  # never seen down: maybe the old listener not yet stopped
    waited, dummy = wait(lims, {"a": "NEW"}, timeout=60)
    assert waited["elapsed"] >= 60
    assert waited["failed"]["a"].startswith("after 60 s still serves a certificate other than the new certificate")
    assert waited["failed"]["a"].endswith("it never went down after reload")


def test_deadline_passed_names_the_missing_lims():
    lims = Lims({"a": 1, "b": 10 ** 6}, {"a": "NEW", "b": "NEW"})
    waited, lines = wait(lims, {"a": "NEW", "b": "NEW"}, timeout=120)
    assert waited["back"].keys() == {"a"}
    assert waited["failed"] == {"b": "not back after 120 s (connection refused)"}
    assert activation.wait_failure(waited) == "TLS after reload: b not back after 120 s (connection refused)"
    assert lines  # progress was printed while waiting


def test_the_command_path_finds_commands_that_are_not_on_path(tmp_path):
    # as under sudo's secure_path or `su -`: the vendor directory is not on PATH
    commands = activation.steps([], ["reload", "--system"])
    vendor_dir = fake_commands(tmp_path).split(":")[0]
    text, token = activation.script(commands, command_path=vendor_dir)
    ran = activation.parse(run_sh(text, "/usr/bin:/bin"), commands, token)
    assert [(s["command"], s["rc"]) for s in ran] == [("data_backup", 0), ("reload --system", 0)]


def test_a_command_not_found_names_the_command_path(tmp_path):
    commands = [["data_backup"]]
    text, token = activation.script(commands, command_path=str(tmp_path / "nowhere"))
    ran = activation.parse(run_sh(text, "/usr/bin:/bin"), commands, token)
    failure = activation.step_failure(ran, commands, str(tmp_path / "nowhere"))
    assert failure.startswith("data_backup failed (exit 127, command not found: mxone_command_path is '%s'"
                              % (tmp_path / "nowhere"))


@pytest.mark.parametrize("value, expected", [
    (None, "/opt/eri_sn/bin"),
    ("/opt/mxone/bin/", "/opt/mxone/bin"),
    ("/usr/local/sbin", "/usr/local/sbin"),
    ("", ""),
    ("opt/eri_sn/bin", "must be an absolute directory path"),
    ("/opt/a:/opt/b", "must be an absolute directory path"),
    ("/opt/eri_sn/bin\n", "must be an absolute directory path"),
    (["/opt/eri_sn/bin"], "must be a directory path (a string)"),
])
def test_command_path_values(value, expected):
    if expected.startswith("/") or expected == "":
        assert activation.validate_command_path(value) == expected
        return
    with pytest.raises(MxonePkiError) as error:
        activation.validate_command_path(value)
    assert expected in str(error.value) and error.value.field == "mxone_command_path"
