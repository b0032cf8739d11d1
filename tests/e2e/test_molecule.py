"""``molecule test`` of extensions/molecule/default against the lab.

molecule runs from the collection root (where it looks for extensions/molecule/);
its ephemeral directory (lab state, inventory, lab-vars.yml, PKI store) is a
temporary directory of this test. The lab is taken down in ``finally`` even when
molecule fails or hangs, and the test checks that nothing is left listening.
"""

import os
import re
import socket
import subprocess

import pytest

from helpers import BIN, LAB, RECAP, ROOT, ansible_env

# As in extensions/molecule/default/create.yml.
NET, SSH_PORT = "127.251", 2971

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")


def listening(ip, port):
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((ip, port)) == 0


def lab_recaps(stdout):
    """changed= per host of every PLAY RECAP that names lab hosts, in order (converge, idempotence, verify)."""
    recaps = []
    for block in stdout.split("PLAY RECAP")[1:]:
        changed = dict((m.group(1), int(m.group(3))) for m in RECAP.finditer(block))
        if any(host.startswith("lab") for host in changed):
            recaps.append(changed)
    return recaps


def test_molecule_test_converges_is_idempotent_verifies_and_leaves_no_lab(tmp_path):
    ephemeral = str(tmp_path / "eph")
    env = ansible_env(MOLECULE_EPHEMERAL_DIRECTORY=ephemeral, NO_COLOR="1", TERM="dumb")
    try:
        proc = subprocess.run([os.path.join(BIN, "molecule"), "test"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=900, check=False)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output[-8000:]
        for step in ("create", "syntax", "converge", "idempotence", "verify", "destroy"):
            # "default > idempotence] Executed: Successful", or "default ➜ idempotence: ..." on a terminal
            assert re.search(r"\b%s\W+Executed: Successful" % step, output), step
        converge, idempotence, verify = lab_recaps(proc.stdout)
        assert sum(converge.values()) > 0, "the first converge changed nothing: %s" % converge
        assert set(idempotence) == set(converge) and sum(idempotence.values()) == 0, idempotence
        assert sum(verify.values()) == 0, verify
        assert "PRIVATE KEY" not in output and "mxone_ca_passphrase" not in output
    finally:
        subprocess.run([LAB, "down", "--state-dir", os.path.join(ephemeral, "lab")], capture_output=True,
                       timeout=120, check=False)
    assert not listening("%s.1.1" % NET, SSH_PORT), "a lab node still answers"
    assert not os.path.exists(os.path.join(ephemeral, "lab-vars.yml"))
    assert not os.path.exists(os.path.join(ephemeral, "pki"))
