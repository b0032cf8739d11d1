"""scripts/demo passes the lab's address options to `tests/lab/lab up` (run in a copy with stand-ins)."""

import os
import shutil
import stat
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

FAKE_LAB = """#!/bin/sh
echo "$*" >> "$DEMO_LOG"
case "$1" in
  status) exit 1 ;;
  up) state=""; while [ $# -gt 0 ]; do [ "$1" = --state-dir ] && state=$2; shift; done
      mkdir -p "$state"; printf '{"systems": {"lab1": {}, "lab2": {}, "lab3": {}}}' > "$state/lab.json" ;;
  journal) echo "a journal line" ;;
esac
"""


def executable(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)


@pytest.fixture
def demo(tmp_path):
    """A checkout copy whose setup, lab and ansible-playbook only record how they were called."""
    tree = tmp_path / "checkout"
    shutil.copytree(os.path.join(ROOT, "scripts"), tree / "scripts")
    executable(str(tree / "scripts" / "setup"), "#!/bin/sh\necho setup >> \"$DEMO_LOG\"\n")
    executable(str(tree / "tests" / "lab" / "lab"), FAKE_LAB)
    executable(str(tree / ".venv" / "bin" / "ansible-playbook"), "#!/bin/sh\necho \"playbook $*\" >> \"$DEMO_LOG\"\n")
    os.symlink(sys.executable, str(tree / ".venv" / "bin" / "python"))
    log = tmp_path / "calls.log"

    def run(*args, env=None):
        environment = dict(os.environ)
        environment.pop("MXONE_LAB_DIR", None)
        environment.update(env or {}, DEMO_LOG=str(log))
        proc = subprocess.run(["bash", str(tree / "scripts" / "demo")] + list(args), capture_output=True, text=True,
                              env=environment, check=False)
        calls = log.read_text().splitlines() if log.exists() else []
        return proc, calls
    return run


def test_no_arguments_start_the_usual_lab(demo, tmp_path):
    proc, calls = demo(env={"MXONE_LAB_DIR": str(tmp_path / "state")})
    assert proc.returncode == 0, proc.stderr
    state = str(tmp_path / "state")
    assert calls[0] == "setup"
    assert calls[2] == ("up --systems 2 --lims 3 --download-servers 1 --state-dir %s --inventory %s/inventory/hosts.yml"
                        % (state, state))
    assert calls[3] == "playbook -i %s/inventory/hosts.yml playbooks/rollout.yml" % state
    assert [c.split()[1] for c in calls if c.startswith("journal")] == ["lab1", "lab2", "lab3"]
    assert "Run again:   ./scripts/demo " in proc.stdout


def test_address_options_go_to_lab_up(demo, tmp_path):
    state = str(tmp_path / "other")
    proc, calls = demo("--net", "127.43", "--ssh-port", "2322", "--http-port=8180", "--state-dir", state,
                       "--systems", "1", "--lims", "2")
    assert proc.returncode == 0, proc.stderr
    assert calls[1] == "status --state-dir %s" % state
    assert calls[2] == ("up --systems 1 --lims 2 --download-servers 1 --net 127.43 --ssh-port 2322 --http-port 8180 "
                        "--state-dir %s --inventory %s/inventory/hosts.yml" % (state, state))
    assert "Run again:   ./scripts/demo --state-dir %s" % state in proc.stdout
    assert "tests/lab/lab down --state-dir %s" % state in proc.stdout


@pytest.mark.parametrize("args, words", [(("--bogus",), "unknown option --bogus"), (("--net",), "--net needs a value")])
def test_bad_options_stop_before_setup(demo, args, words):
    proc, calls = demo(*args)
    assert proc.returncode == 2 and words in proc.stderr and "usage: scripts/demo" in proc.stderr
    assert calls == []


def test_help(demo):
    proc, calls = demo("--help")
    assert proc.returncode == 0 and "--ssh-port" in proc.stdout and calls == []


def test_lab_json_lists_the_systems():
    """The demo reads the system names from lab.json's "systems" (tests/lab/README.md, state directory)."""
    with open(os.path.join(ROOT, "tests", "lab", "README.md")) as handle:
        assert "STATE/lab.json              the lab: net, ports, systems {lab1: {number, domain}}" in handle.read()
