"""No secret leaks, and key files are locked down (issue 6, part 3); two runs at once (part 4).

The rollout runs at -vvvv, with --diff, and with a task that fails, becoming root with su (root's
password) and once with sudo (the account's own password); every byte of output, the Ansible log, the
retry files and the controller's temporary directories is scanned for key material: any PRIVATE KEY
block, any line of the base64 body of any key involved (the CA key, decrypted and as stored, and every
server key as it sits on a node), the CA passphrase and every password of the nodes' accounts.
"""

import base64
import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from helpers import LAB, ROOT, ansible_env, lab, run_playbook

NET = "127.%d" % (20 + os.getpid() % 10)
SSH_PORT, HTTP_PORT = 3022, 8780
ROLLOUT = os.path.join(ROOT, "playbooks", "rollout.yml")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    base = tmp_path_factory.mktemp("secrets")
    state, inventory = str(base / "state"), str(base / "inventory" / "hosts.yml")
    pki = str(base / "inventory" / "pki")
    controller_tmp = base / "controller-tmp"
    controller_tmp.mkdir()
    log, retry = base / "ansible.log", base / "retry"
    lab(state, "up", "--systems", "1", "--lims", "2", "--download-servers", "1", "--inventory", inventory,
        "--net", NET, "--ssh-port", str(SSH_PORT), "--http-port", str(HTTP_PORT))
    env = ansible_env(ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_LOG_PATH=str(log), ANSIBLE_RETRY_FILES_ENABLED="true",
                      ANSIBLE_RETRY_FILES_SAVE_PATH=str(retry), ANSIBLE_LOCAL_TEMP=str(controller_tmp),
                      TMPDIR=str(controller_tmp), ANSIBLE_KEEP_REMOTE_FILES="false")
    try:
        outputs = []
        first = run_playbook(ROLLOUT, inventory=inventory, args=("-vvvv", "--diff"), env=env)
        assert first.rc == 0, first.output[-3000:]
        outputs.append(first.output)
        lab(state, "fault", "lab1", "reload-fails")  # a task that fails, and a rollback
        failing = run_playbook(ROLLOUT, inventory=inventory, args=("-vvvv", "--diff", "-e", "mxone_issue_force=true"),
                               env=env)
        assert failing.rc != 0
        outputs.append(failing.output)
        check = run_playbook(ROLLOUT, inventory=inventory, args=("-vvvv", "--check", "--diff",
                                                                 "-e", "mxone_issue_force=true"), env=env)
        outputs.append(check.output)
        with open(os.path.join(state, "passwords.json")) as handle:
            passwords = json.load(handle)
        sudo_vars = base / "sudo.yml"  # sudo asks for the account's own password
        sudo_vars.write_text(yaml.safe_dump(dict(ansible_become_method="sudo",
                                                 ansible_become_password=passwords["ops1"])))
        sudo_vars.chmod(0o600)
        sudo = run_playbook(ROLLOUT, inventory=inventory, args=("-vvvv", "--diff", "-e", "mxone_issue_force=true",
                                                                "-e", "@%s" % sudo_vars), env=env)
        assert sudo.rc == 0, sudo.output[-3000:]
        outputs.append(sudo.output)
        status = json.loads(lab(state, "status", "--json"))
        yield dict(outputs=outputs, log=log, retry=retry, controller_tmp=controller_tmp, pki=pki, status=status,
                   inventory=inventory, passwords=passwords)
    finally:
        subprocess.run([LAB, "down", "--state-dir", state], capture_output=True, check=False)


def passphrase(scanned):
    with open(os.path.join(os.path.dirname(scanned["inventory"]), "group_vars", "all", "lab_secrets.yml")) as handle:
        return yaml.safe_load(handle)["mxone_ca_passphrase"]


def key_lines(pem):
    """The base64 lines of every key block in ``pem`` (any one of them in a log is a leak)."""
    lines = set()
    for body in re.findall(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----(.*?)-----END", pem, re.S):
        lines.update(line.strip() for line in body.split() if len(line.strip()) >= 40)
    return lines


def secrets(scanned):
    """Every secret of this fleet as byte strings to look for."""
    secret = passphrase(scanned)
    found = {secret.encode()} | set(password.encode() for password in scanned["passwords"].values())
    ca_key_file = open(os.path.join(scanned["pki"], "ca", "ca.key"), "rb").read()
    found |= key_lines(ca_key_file)
    ca_key = serialization.load_pem_private_key(ca_key_file, secret.encode())
    found |= key_lines(ca_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    der = ca_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())
    found.add(base64.b64encode(der)[100:160])  # a run of the key's base64 in any wrapping
    for node in scanned["status"]:
        for base, _dirs, files in os.walk(node["root"]):
            for name in files:
                found |= key_lines(open(os.path.join(base, name), "rb").read())
    return found


def corpus(scanned):
    """Everything a run leaves outside the PKI store and the nodes: output, log, retry files, temp dirs."""
    items = [("output %d" % i, out.encode()) for i, out in enumerate(scanned["outputs"])]
    for root in (scanned["log"].parent / "retry", scanned["controller_tmp"]):
        for base, _dirs, files in os.walk(root):
            for name in files:
                path = os.path.join(base, name)
                items.append((path, open(path, "rb").read()))
    items.append((str(scanned["log"]), scanned["log"].read_bytes()))
    return items


def test_the_scan_has_something_to_scan(scanned):
    assert scanned["log"].stat().st_size > 10000
    assert any(scanned["retry"].glob("*.retry")), "the failing run left no retry file"
    assert len(secrets(scanned)) > 20


def test_no_private_key_block_in_any_output_log_retry_or_temp_file(scanned):
    leaks = [where for where, data in corpus(scanned) if b"PRIVATE KEY-----" in data]
    assert leaks == []


def test_no_key_material_nor_the_passphrase_anywhere(scanned):
    wanted = secrets(scanned)
    leaks = sorted(set(where for where, data in corpus(scanned) for secret in wanted if secret in data))
    assert leaks == [], "key material or the passphrase found in: %s" % leaks


def test_key_files_are_0600_on_the_controller_and_on_the_nodes(scanned):
    for name in ("ca/ca.key", "certs/lab1/server.key"):
        assert os.stat(os.path.join(scanned["pki"], name)).st_mode & 0o777 == 0o600, name
    for node in scanned["status"]:
        for base, _dirs, files in os.walk(node["root"]):
            for name in files:
                path = os.path.join(base, name)
                if b"PRIVATE KEY" in open(path, "rb").read():
                    assert os.stat(path).st_mode & 0o777 == 0o600, path


def test_the_ca_key_is_encrypted_at_rest_and_never_on_a_node(scanned):
    stored = open(os.path.join(scanned["pki"], "ca", "ca.key"), "rb").read()
    assert stored.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    ca_key = serialization.load_pem_private_key(stored, passphrase(scanned).encode())
    ca_public = ca_key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    for node in scanned["status"]:
        for base, _dirs, files in os.walk(node["root"]):
            for name in files:
                data = open(os.path.join(base, name), "rb").read()
                for block in re.findall(rb"-----BEGIN PRIVATE KEY-----.*?-----END PRIVATE KEY-----", data, re.S):
                    key = serialization.load_pem_private_key(block, None)
                    assert key.public_key().public_bytes(
                        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != ca_public


def test_ca_pem_holds_no_private_key(scanned):
    for node in scanned["status"]:
        for base, _dirs, files in os.walk(node["root"]):
            for name in files:
                if name.startswith("ca.pem"):
                    assert b"PRIVATE KEY" not in open(os.path.join(base, name), "rb").read()


def test_two_rollouts_at_once_share_one_ca_and_one_certificate_per_system(tmp_path):
    state, inventory = str(tmp_path / "state"), str(tmp_path / "inventory" / "hosts.yml")
    lab(state, "up", "--systems", "2", "--lims", "2", "--download-servers", "0", "--inventory", inventory,
        "--net", "127.%d" % (30 + os.getpid() % 10), "--ssh-port", str(SSH_PORT + 1))
    try:
        env = ansible_env(ANSIBLE_HOST_KEY_CHECKING="false")
        cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory, ROLLOUT]
        runs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                for _run in range(2)]
        outputs = [r.communicate(timeout=600)[0] for r in runs]
        assert [r.returncode for r in runs] == [0, 0], outputs
        assert any("waited" in out for out in outputs), "neither run waited for the other's lock"
        pki = os.path.join(os.path.dirname(inventory), "pki")
        from cryptography import x509
        ca = x509.load_pem_x509_certificate(open(os.path.join(pki, "ca", "ca.pem"), "rb").read())
        for node in json.loads(lab(state, "status", "--json")):
            bundle = open(os.path.join(node["eri_sn"], "certs", "eri_sn_cert.pem"), "rb").read()
            certs = x509.load_pem_x509_certificates(bundle)
            issued = x509.load_pem_x509_certificate(open(os.path.join(pki, "certs", node["system"], "server.pem"),
                                                         "rb").read())
            assert certs[0] == issued and certs[-1] == ca  # the one certificate of its system, from the one CA
        for system in ("lab1", "lab2"):
            journal = [e["command"] for e in json.loads(lab(state, "journal", system, "--json"))
                       if e.get("command") not in (None, "license_status")]  # each run reads the licence
            assert journal == ["media_encryption_enable -type extension", "data_backup", "reload --system"]
        assert not os.path.exists(os.path.join(pki, ".run.lock"))
    finally:
        subprocess.run([LAB, "down", "--state-dir", state], capture_output=True, check=False)
