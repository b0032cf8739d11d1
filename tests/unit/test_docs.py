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


INVENTORY_VARIABLES = ("mxone_system", "mxone_domain", "mxone_lim", "mxone_lim_ip", "mxone_extra_dns",
                       "mxone_extra_ips", "mxone_cert_mode", "mxone_cert_common_name", "mxone_encryption",
                       "mxone_media_encryption_types", "mxone_reload", "mxone_tls", "mxone_tls_client_verification", "mxone_activate_window",
                       "mxone_activate_timezone", "mxone_command_path", "mxone_import_require_ips",
                       "mxone_download_dir", "mxone_download_url", "mxone_pki_host", "mxone_pki_dir",
                       "mxone_ca_passphrase", "mxone_ca_create", "mxone_activate_partial")


def plan_inventory_spec():
    import yaml
    with open(os.path.join(ROOT, "roles", "mxone_plan", "meta", "argument_specs.yml")) as handle:
        return yaml.safe_load(handle)["argument_specs"]["inventory"]["options"]


def test_the_plans_argument_spec_documents_the_inventory_variables():
    from ansible_collections.mxone.pki.plugins.module_utils import fleet
    options = plan_inventory_spec()
    assert tuple(options) == INVENTORY_VARIABLES
    assert set(n for n in fleet.LIM_VARS + fleet.DOWNLOAD_VARS if n.startswith("mxone_")) <= set(options)
    for name, option in options.items():
        assert option.get("description") and option.get("type"), name
        assert not option.get("required"), "%s: the plan checks it; the spec must not refuse first" % name
    # the plan's own choices, twins of fleet.py
    assert options["mxone_cert_mode"]["choices"] == list(fleet.CERT_MODES)
    assert options["mxone_media_encryption_types"]["choices"] == list(fleet.MEDIA_ENCRYPTION_TYPES)
    assert options["mxone_reload"]["choices"] == list(fleet.RELOAD_SCOPES)
    assert options["mxone_tls_client_verification"]["choices"] == list(fleet.TLS_CLIENT_VERIFICATION)
    assert options["mxone_ca_passphrase"]["no_log"] is True and "Vault" in " ".join(
        options["mxone_ca_passphrase"]["description"])


def test_the_inventory_entry_point_is_documentation_only():
    """No task file runs it, so no play validates it (the plan's messages, not an argument-spec dump)."""
    assert not os.path.exists(os.path.join(ROOT, "roles", "mxone_plan", "tasks", "inventory.yml"))


def test_readme_tables_the_inventory_variables():
    text = read("README.md")
    table = text[text.index("## Inventory variables"):text.index("## Modules")]
    for name in INVENTORY_VARIABLES:
        assert "\n| `%s` |" % name in table, name
