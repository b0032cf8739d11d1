"""The activation script and what its output means (module_utils/activation.py), run with a real sh."""

import subprocess

from ansible_collections.mxone.pki.plugins.module_utils import activation


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


def test_tls_failure_lists_each_lim_that_did_not_answer():
    groups = [dict(results=[dict(name="a-lim1", ok=True), dict(name="a-lim2", ok=False, error="connection refused")])]
    assert activation.tls_failure(groups) == "TLS check after reload failed: a-lim2: connection refused;"
    assert activation.tls_count(groups) == (1, 2)
    assert activation.tls_failure([dict(results=[dict(name="x", ok=True)])]) is None


def test_failure_message_says_what_was_rolled_back_and_what_runs_now():
    after = [dict(results=[dict(name="a-lim1", ok=True), dict(name="a-lim2", ok=True)])]
    message = activation.failure_message("a", "reload --system failed (exit 1): boom", ["a-lim1", "a-lim2"], True, 0,
                                         after)
    assert message == ("system a: reload --system failed (exit 1): boom. Rolled back to the previous bundle on "
                       "a-lim1, a-lim2; reload after rollback: exit 0; TLS after rollback: 2/2 LIM(s) up.")
    message = activation.failure_message("a", "data_backup failed (exit 1): x", [], False)
    assert message.endswith("no LIM (none had a previous bundle); not reloaded, so the running system was not changed.")
