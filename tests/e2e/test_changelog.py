"""The changelog: every fragment lints, and the next release still works.

The release runs on a copy of the collection (the checkout is never
touched): with a new fragment and a raised version, antsibull-changelog must
put that fragment (and any other not released yet) under the new version,
keep the released ones where they are, and keep every fragment file
(keep_fragments in changelogs/config.yaml).
"""

import os
import shutil
import subprocess

import yaml

from helpers import BIN, ROOT, ansible_env


def changelog(args, cwd):
    proc = subprocess.run([os.path.join(BIN, "antsibull-changelog")] + args, cwd=cwd, env=ansible_env(),
                          capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def test_every_fragment_lints():
    rc, output = changelog(["lint"], ROOT)
    assert rc == 0 and output.strip() == "", output


def test_a_new_fragment_goes_into_the_next_release_and_nothing_is_deleted(tmp_path):
    copy = tmp_path / "ansible_collections" / "mxone" / "pki"
    for name in ("changelogs", "plugins", "roles", "playbooks", "meta"):
        shutil.copytree(os.path.join(ROOT, name), str(copy / name),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("galaxy.yml", "CHANGELOG.rst"):
        shutil.copy(os.path.join(ROOT, name), str(copy / name))
    galaxy = yaml.safe_load((copy / "galaxy.yml").read_text())
    released = yaml.safe_load((copy / "changelogs" / "changelog.yaml").read_text())["releases"]
    current = galaxy["version"]
    assert current in released, "galaxy.yml's version has no release in changelogs/changelog.yaml"
    galaxy["version"] = "99.0.0"
    (copy / "galaxy.yml").write_text(yaml.safe_dump(galaxy))
    fragments = sorted(os.listdir(str(copy / "changelogs" / "fragments")))
    (copy / "changelogs" / "fragments" / "99-test.yml").write_text(
        '---\nbugfixes:\n  - "tls_check - a fix made by the changelog test (issue 99)."\n')

    rc, output = changelog(["lint"], str(copy))
    assert rc == 0, output
    rc, output = changelog(["release"], str(copy))
    assert rc == 0, output

    text = (copy / "CHANGELOG.rst").read_text()
    new, older = text.partition("\nv99.0.0\n")[2].split("\nv%s\n" % current, 1)
    assert "a fix made by the changelog test" in new and "(issue 3)" not in new
    assert "a fix made by the changelog test" not in older
    for version in released:
        assert "\nv%s\n" % version in text
    releases = yaml.safe_load((copy / "changelogs" / "changelog.yaml").read_text())["releases"]
    # The new release takes the new fragment and any not released yet, never a released one.
    known = set(name for release in released.values() for name in release.get("fragments", []))
    assert releases["99.0.0"]["fragments"] == sorted(set(fragments) - known | {"99-test.yml"})
    assert sorted(os.listdir(str(copy / "changelogs" / "fragments"))) == sorted(fragments + ["99-test.yml"])
