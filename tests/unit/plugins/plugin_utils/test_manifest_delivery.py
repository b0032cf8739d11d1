"""node_delivery from the manifest: bytes must hash to the manifest's; a check run compares by hash alone."""

import hashlib

import pytest

from _fixtures import NOW, pem_cert, pem_key
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.plugin_utils.node_delivery import Material, manifest_node_files, reader_of


def job_and_material(server, enterprise_ca):
    files = {"/pki/certs/a/server.pem": pem_cert(server.cert), "/pki/certs/a/server.key": pem_key(server.key),
             "/pki/ca/ca.pem": pem_cert(enterprise_ca.cert)}
    job = dict(host="a-lim1", dest_dir="/etc/opt/eri_sn/certs", ca_path="/pki/ca/ca.pem", activation=True,
               certificate=dict(cert_path="/pki/certs/a/server.pem", key_path="/pki/certs/a/server.key",
                                chain_path="/pki/ca/ca.pem"),
               ca_sha256=hashlib.sha256(files["/pki/ca/ca.pem"]).hexdigest())
    material = Material(NOW, read=reader_of(files, "localhost"))
    bundle = material.bundle(job["certificate"], job["ca_path"], "eri_sn_cert.pem")[0]
    job["bundle_sha256"] = hashlib.sha256(bundle).hexdigest()
    return job, material


def test_files_whose_bytes_hash_to_the_manifest_are_sent(server, enterprise_ca):
    job, material = job_and_material(server, enterprise_ca)
    files, leaf = manifest_node_files(job, material, check_mode=False)
    assert [f.sha256 for f in files] == [job["bundle_sha256"], job["ca_sha256"]]
    assert all(f.content is not None for f in files) and leaf == server.cert


@pytest.mark.parametrize("check_mode", [False, True])
def test_other_bytes_are_refused_for_real_and_compared_by_hash_in_check_mode(server, enterprise_ca, check_mode):
    job, material = job_and_material(server, enterprise_ca)
    job["bundle_sha256"] = "0" * 64  # the plan step saw another certificate (or, in check mode, one not yet made)
    if not check_mode:
        with pytest.raises(MxonePkiError, match="do not hash to the manifest"):
            manifest_node_files(job, material, check_mode)
        return
    files, leaf = manifest_node_files(job, material, check_mode)
    assert files[0].content is None and files[0].sha256 == "0" * 64 and not files[0].probe_only
    assert files[1].content is not None and leaf is None
