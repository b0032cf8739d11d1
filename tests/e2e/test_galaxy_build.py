"""The collection as Galaxy ships it: build, install from the tarball, document.

One build into a temporary directory serves the module. The tarball must hold
no key material, no virtual environment and no cache; installed from the
tarball alone (no checkout on the path), ``ansible-doc`` must list every
module in plugins/modules and every role in roles/, and render each module.
"""

import json
import os
import re
import subprocess
import tarfile

import pytest

from helpers import BIN, ROOT, ansible_env

# A PEM private key *block* (a BEGIN line followed by base64, possibly after the
# headers of an encrypted legacy key, or run together on one line). The words
# alone are fine: code and tests name them to look for keys.
KEY_BLOCK = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\s*"
                       rb"(?:Proc-Type:[^\n]*\n(?:DEK-Info:[^\n]*\n)?\s*)?[A-Za-z0-9+/]{40}")
# Files that are key material or PKI stores by their name alone.
KEY_NAMES = re.compile(r"(\.(key|p12|pfx|jks|keystore)$|(^|/)(id_rsa|id_ed25519|id_ecdsa)$)")
# Documented exceptions (path inside the tarball -> why). There should be none.
KEY_FIXTURES = {}
# Local environments, caches and run output that must never ship.
# Checked on file paths (a directory is caught by the files in it).
NEVER = re.compile(r"(^|/)(\.venv[^/]*|\.collections|\.ansible|\.cache|\.pytest_cache|__pycache__|\.git|"
                   r"\.lab|\.pki|pki|\.molecule)/|^demo/|^build/|\.pyc$|\.retry$|\.tar\.gz$|^tests/output/|"
                   r"^bench/results/history/")


def modules_in_checkout():
    return sorted(name[:-3] for name in os.listdir(os.path.join(ROOT, "plugins", "modules"))
                  if name.endswith(".py") and not name.startswith("_"))


def roles_in_checkout():
    return sorted(name for name in os.listdir(os.path.join(ROOT, "roles"))
                  if os.path.isdir(os.path.join(ROOT, "roles", name, "tasks")))


def run(cmd, env, cwd):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout + proc.stderr, proc.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("galaxy")
    out, installed = base / "dist", base / "collections"
    # ANSIBLE_COLLECTIONS_PATH names only the temporary install: the checkout is not on the path.
    env = ansible_env(ANSIBLE_COLLECTIONS_PATH=str(installed))
    rc, output = run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(out)],
                     env, ROOT)[:2]
    assert rc == 0, output
    tarballs = list(out.glob("mxone-pki-*.tar.gz"))
    assert len(tarballs) == 1, output
    build_output = output
    rc, output = run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--offline",
                      str(tarballs[0]), "-p", str(installed)], env, str(base))[:2]
    assert rc == 0, output
    return dict(tarball=str(tarballs[0]), env=env, cwd=str(base), build_output=build_output,
                installed=str(installed / "ansible_collections" / "mxone" / "pki"))


def test_the_build_is_clean(built):
    assert "WARNING" not in built["build_output"], built["build_output"]
    assert "Created collection for mxone.pki" in built["build_output"]


def test_the_tarball_holds_no_key_material_no_venv_and_no_cache(built):
    bad_names, key_files = [], []
    with tarfile.open(built["tarball"]) as tar:
        members = tar.getmembers()
        for member in members:
            name = member.name
            if NEVER.search(name) or KEY_NAMES.search(name):
                bad_names.append(name)
            if member.isfile() and name not in KEY_FIXTURES:
                if KEY_BLOCK.search(tar.extractfile(member).read()):
                    key_files.append(name)
    assert not bad_names, bad_names
    assert not key_files, "private key blocks in: %s" % key_files
    names = set(m.name for m in members)
    # ...and it is the collection: its plugins, roles and playbooks are all there.
    for module in modules_in_checkout():
        assert "plugins/modules/%s.py" % module in names
    for role in roles_in_checkout():
        assert "roles/%s/tasks/main.yml" % role in names
    assert {"MANIFEST.json", "FILES.json", "meta/runtime.yml", "playbooks/rollout.yml"} <= names


def test_meta_runtime_requires_the_ansible_core_we_pin(built):
    import yaml
    runtime = yaml.safe_load(open(os.path.join(built["installed"], "meta", "runtime.yml")))
    assert runtime["requires_ansible"].startswith(">=2.19")
    manifest = json.load(open(os.path.join(built["installed"], "MANIFEST.json")))
    assert manifest["collection_info"]["namespace"] == "mxone"
    assert manifest["collection_info"]["name"] == "pki"


def test_ansible_doc_lists_every_module_of_the_installed_tarball(built):
    rc, output, stdout = run([os.path.join(BIN, "ansible-doc"), "-l", "mxone.pki", "--json"],
                             built["env"], built["cwd"])
    assert rc == 0, output
    listed = sorted(name.split(".", 2)[2] for name in json.loads(stdout))
    assert listed == modules_in_checkout()


def test_ansible_doc_lists_every_role_of_the_installed_tarball(built):
    rc, output, stdout = run([os.path.join(BIN, "ansible-doc"), "-t", "role", "-l", "mxone.pki", "--json"],
                             built["env"], built["cwd"])
    assert rc == 0, output
    listed = sorted(name.split(".", 2)[2] for name in json.loads(stdout))
    assert listed == roles_in_checkout()


@pytest.mark.parametrize("module", modules_in_checkout())
def test_every_module_renders_with_ansible_doc(built, module):
    rc, output, stdout = run([os.path.join(BIN, "ansible-doc"), "mxone.pki.%s" % module],
                             built["env"], built["cwd"])
    assert rc == 0, output
    assert "[WARNING]" not in output and "[ERROR]" not in output, output
    assert "EXAMPLES" in stdout and "RETURN VALUES" in stdout, stdout[:2000]
