"""The execution environment for AWX / AAP, checked without a container engine.

scripts/ee-context builds the collection tarball and runs ``ansible-builder
create``; the context must install this collection and pin the ansible-core
the project tests with. ``ansible-builder introspect`` over the installed
tarball (what the image build runs in its builder stage) must find the
collection's controller needs, and only those.
"""

import json
import os
import subprocess
import tarfile

import pytest
import yaml
from packaging.requirements import Requirement

from helpers import BIN, ROOT, ansible_env

CONTEXT = os.path.join(ROOT, "build", "ee", "context")


def pins():
    """requirements.txt: the project's pinned versions, by package name."""
    result = {}
    for line in open(os.path.join(ROOT, "requirements.txt")):
        line = line.split("#")[0].strip()
        if line:
            req = Requirement(line)
            result[req.name.lower()] = str(req.specifier).lstrip("=")
    return result


@pytest.fixture(scope="module")
def context():
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "ee-context")], cwd=ROOT, env=ansible_env(),
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return CONTEXT


def test_the_context_installs_this_collection_from_its_tarball(context):
    galaxy = yaml.safe_load(open(os.path.join(context, "_build", "requirements.yml")))
    assert galaxy["collections"] == [{"name": "collections/mxone-pki.tar.gz", "type": "file"}]
    tarball = os.path.join(context, "_build", "collections", "mxone-pki.tar.gz")
    version = yaml.safe_load(open(os.path.join(ROOT, "galaxy.yml")))["version"]
    with tarfile.open(tarball) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == ("mxone", "pki", version)


def test_the_image_pins_the_ansible_core_the_project_tests_with(context):
    containerfile = open(os.path.join(context, "Containerfile")).read()
    assert "ansible-core==%s" % pins()["ansible-core"] in containerfile
    assert 'PYCMD="/usr/bin/python3.11"' in containerfile
    assert "ansible-galaxy collection install" in containerfile and "introspect" in containerfile


def test_the_image_pins_the_ansible_runner_the_project_tests_with():
    definition = yaml.safe_load(open(os.path.join(ROOT, "execution-environment.yml")))
    assert definition["dependencies"]["ansible_runner"]["package_pip"] == "ansible-runner==%s" % pins()["ansible-runner"]


def test_introspection_finds_the_collections_controller_needs_and_no_dev_tools(context, tmp_path):
    installed = tmp_path / "collections"
    env = ansible_env(ANSIBLE_COLLECTIONS_PATH=str(installed))
    proc = subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--offline",
                           os.path.join(context, "_build", "collections", "mxone-pki.tar.gz"), "-p", str(installed)],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pip_out, bindep_out = tmp_path / "requirements.txt", tmp_path / "bindep.txt"
    proc = subprocess.run([os.path.join(BIN, "ansible-builder"), "introspect", str(installed),
                           "--write-pip", str(pip_out), "--write-bindep", str(bindep_out)],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    python = [Requirement(line.split("#")[0]) for line in pip_out.read_text().splitlines()
              if line.split("#")[0].strip()]
    assert [r.name for r in python] == ["cryptography"], python
    # The version the project pins (and tests) satisfies what the image will install.
    assert python[0].specifier.contains(pins()["cryptography"])
    system = bindep_out.read_text()
    for package in ("openssh-clients [platform:rpm]", "openssh-client [platform:dpkg]", "openssl"):
        assert package in system, system
    for dev_tool in ("pytest", "molecule", "antsibull", "ansible-builder"):
        assert dev_tool not in pip_out.read_text() + system
