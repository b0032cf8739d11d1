"""The READMEs say what the scripts do and point inside the repository."""

import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read(*parts):
    with open(os.path.join(ROOT, *parts)) as handle:
        return handle.read()


def setup_paragraph():
    """README's list of what scripts/setup installs (from its first mention to the next heading)."""
    text = read("README.md")
    start = text.index("`scripts/setup` (called by both)")
    return text[start:text.index("\n#", start)]


def requirement_names(name):
    return [re.split(r"[=<> ]", line.strip())[0] for line in read(name).splitlines()
            if line.strip() and not line.startswith("#")]


def apt_packages():
    """Debian packages scripts/setup installs, itself or through scripts/install-kamailio."""
    setup = read("scripts", "setup")
    assert "bash scripts/install-kamailio" in setup and "bash scripts/dev-setup" in setup
    packages = re.findall(r"\+=\(([a-z0-9.+-]+)\)", setup)
    packages += re.search(r"apt-get install [^\n]*?--no-install-recommends ([a-z0-9 .+-]+?) >", read(
        "scripts", "install-kamailio")).group(1).split()
    return packages


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt"])
def test_readme_names_every_python_package_setup_installs(name):
    paragraph = setup_paragraph()
    for package in requirement_names(name):
        assert package in paragraph, "README does not say that scripts/setup installs %s (%s)" % (package, name)


def test_readme_names_every_system_package_setup_installs():
    paragraph = setup_paragraph()
    packages = apt_packages()
    assert {"openssh-server", "chromium", "kamailio-tls-modules"} <= set(packages)
    for package in packages:
        assert "`%s`" % package in paragraph, "README does not say that scripts/setup installs %s" % package


@pytest.mark.parametrize("path", [("README.md",), ("tests", "lab", "README.md")])
def test_docs_point_inside_the_repository(path):
    text = read(*path)
    assert "/work/" not in text and "INTERFACE.md" not in text
    for target in re.findall(r"`((?:inventories|tests|scripts|playbooks|roles|plugins)/[^`\s]+)`", text):
        target = re.split(r"[ :]", target)[0].rstrip("/")
        if "<" in target or "*" in target:
            continue
        assert os.path.exists(os.path.join(ROOT, target)), "%s names %s, which is not in the repository" % (
            "/".join(path), target)


def test_readme_shows_the_demo_address_options():
    text = read("README.md")
    assert "./scripts/demo --net 127.43 --ssh-port 2322 --http-port 8180 --state-dir" in text
    for option in ("--net", "--ssh-port", "--http-port", "--state-dir", "--systems", "--lims"):
        assert option in read("scripts", "demo")
