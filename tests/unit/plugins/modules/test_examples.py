"""The modules' EXAMPLES use the PKI store's own layout (module_utils/fleet.py), not a layout of their own."""

import importlib
import posixpath

import pytest
import yaml

from ansible_collections.mxone.pki.plugins.module_utils.devices import device_paths
from ansible_collections.mxone.pki.plugins.module_utils.fleet import ca_paths, certificate_paths, download_ca_path

MODULES = ("server_cert", "cert_request", "cert_import", "cert_info", "deliver", "enterprise_ca", "device_cert")
# The customer-PKI drop folder <pki>/incoming/<id>/ (module_utils/external.py reads these).
DROP_FILES = ("server.pem", "ca.pem", "server.p7b", "server.pfx")


def store_paths(path):
    """Every path the store layout has for the certificate, device or drop folder that ``path`` names."""
    parts = path.split("/")
    known = set(ca_paths("pki").values()) | {download_ca_path("pki")}
    if len(parts) > 2 and parts[1] == "certs":
        for mode in ("system", "lim", "external"):
            known.update(certificate_paths("pki", parts[2], mode).values())
    if len(parts) > 2 and parts[1] == "devices":
        known.update(v for v in device_paths("pki", parts[2]).values() if isinstance(v, str))
    if len(parts) > 2 and parts[1] == "incoming":
        known.update(posixpath.join("pki", "incoming", parts[2], name) for name in DROP_FILES)
    return known


def values(data):
    if isinstance(data, dict):
        for value in data.values():
            yield from values(value)
    elif isinstance(data, list):
        for value in data:
            yield from values(value)
    elif isinstance(data, str):
        yield data


@pytest.mark.parametrize("name", MODULES)
def test_example_paths_match_the_store_layout(name):
    module = importlib.import_module("ansible_collections.mxone.pki.plugins.modules.%s" % name)
    tasks = yaml.safe_load(module.EXAMPLES)
    paths = [v.replace("{{ playbook_dir }}/", "") for task in tasks for v in values(task)]
    paths = [v for v in paths if v.startswith("pki/")]
    assert paths
    for path in paths:
        if path.startswith("pki/devices/") and path.count("/") == 2:
            continue  # a device's directory itself (dest_dir)
        assert path in store_paths(path), "%s EXAMPLES: %s is not where the PKI store keeps it" % (name, path)


def test_server_cert_examples_name_the_certificate_ids():
    from ansible_collections.mxone.pki.plugins.modules import server_cert
    tasks = yaml.safe_load(server_cert.EXAMPLES)
    assert [t["mxone.pki.server_cert"]["cert_path"] for t in tasks] == [
        certificate_paths("pki", "sthlm", "system")["cert"], certificate_paths("pki", "sthlm-lim2", "lim")["cert"]]
    assert all(t["mxone.pki.server_cert"]["key_passphrase"] for t in tasks)
