"""The node scripts (module_utils/node_files.py) run with a real sh on a temporary directory: install, activate,
roll back exactly what was replaced since the last activation."""

import os
import stat
import subprocess

import pytest

from ansible_collections.mxone.pki.plugins.module_utils import node_files as nf


def sh(script, data=b""):
    proc = subprocess.run(["/bin/sh", "-c", script], input=data, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return nf.parse_output(proc.stdout.decode())


class Node(object):
    def __init__(self, tmp_path):
        self.certs = tmp_path / "certs"
        self.conf = tmp_path / "ip_telephony.conf"
        self.bundle, self.ca = str(self.certs / "eri_sn_cert.pem"), str(self.certs / "ca.pem")
        self.listed = nf.rollback_list(self.bundle)

    def install(self, bundle, ca, mode=None, rollback=True):
        rollback = self.listed if rollback else None
        files = [nf.NodeFile(self.bundle, bundle, 0o600, activation=True, rollback=rollback, root_owned=True),
                 nf.NodeFile(self.ca, ca, 0o644, rollback=rollback)]
        settings = [nf.Setting(str(self.conf), "TlsClientVerificationMode", mode)] if mode else []
        return sh(nf.install_script(files, settings=settings, rollback=rollback), nf.payload(files))[0]

    def activated(self):
        return sh(nf.activated_script(self.bundle))[0]

    def restore(self):
        return sh(nf.restore_script(self.bundle))[0]

    def read(self, path):
        with open(path, "rb") as handle:
            return handle.read()


def test_first_install_has_nothing_to_roll_back_to(tmp_path):
    node = Node(tmp_path)
    node.install(b"B1", b"CA1")
    assert node.restore() == {node.bundle: "no-previous", node.ca: "no-previous"}
    assert node.read(node.bundle) == b"B1"  # the only bundle there is stays


def test_rollback_restores_only_what_this_delivery_replaced(tmp_path):
    node = Node(tmp_path)
    node.install(b"B1", b"CA1")
    node.activated()
    node.install(b"B2", b"CA2")
    node.activated()  # ca.pem.previous is now CA1, from an older delivery
    statuses = node.install(b"B3", b"CA2")  # a renewal: the bundle changes, ca.pem does not
    assert statuses == {node.bundle: "content", node.ca: "unchanged"}
    assert node.restore() == {node.bundle: "restored"}
    assert node.read(node.bundle) == b"B2" and node.read(node.ca) == b"CA2"  # not the stale CA1


def test_previous_stays_the_activated_version_across_runs_that_never_activated(tmp_path):
    node = Node(tmp_path)
    node.install(b"B1", b"CA1")
    node.activated()
    node.install(b"B2", b"CA1")  # killed before activation
    node.install(b"B3", b"CA1")  # the next run issues again, still not activated
    assert node.restore() == {node.bundle: "restored"}
    assert node.read(node.bundle) == b"B1"  # what was running, not the never-activated B2


def test_config_lines_changed_by_the_run_roll_back_too(tmp_path):
    node = Node(tmp_path)
    node.install(b"B1", b"CA1")
    node.conf.write_text("Other: 1\nTlsClientVerificationMode: none\n")
    node.activated()
    node.install(b"B1", b"CA1", mode="mandatory")
    assert "TlsClientVerificationMode: mandatory" in node.conf.read_text()
    assert node.restore() == {str(node.conf): "restored"}
    assert node.conf.read_text() == "Other: 1\nTlsClientVerificationMode: none\n"


def test_activation_and_rollback_clear_the_list(tmp_path):
    node = Node(tmp_path)
    node.install(b"B1", b"CA1")
    node.activated()
    assert not (node.certs / nf.ROLLBACK_LIST).exists() and not (node.certs / nf.PENDING_MARKER).exists()
    node.install(b"B2", b"CA1")
    node.restore()
    assert not (node.certs / nf.ROLLBACK_LIST).exists() and not (node.certs / nf.PENDING_MARKER).exists()
    assert node.restore() == {}  # nothing left to roll back


def test_without_activation_the_old_previous_copy_is_kept_as_before(tmp_path):
    node = Node(tmp_path)
    node.install(b"B1", b"CA1", rollback=False)
    node.install(b"B2", b"CA1", rollback=False)
    assert node.read(node.bundle + nf.PREVIOUS_SUFFIX) == b"B1"
    assert not (node.certs / nf.ROLLBACK_LIST).exists()


def test_a_configuration_line_reports_its_value_before_the_change(tmp_path):
    node = Node(tmp_path)
    node.conf.write_text("TlsClientVerificationMode: optional\n")
    settings = [nf.Setting(str(node.conf), "TlsClientVerificationMode", "mandatory")]
    olds = {}
    proc = subprocess.run(["/bin/sh", "-c", nf.check_script([], settings=settings)], capture_output=True, check=False)
    statuses, dummy, error = nf.parse_output(proc.stdout.decode(), olds)
    assert error is None and statuses == {settings[0].label: "would-content"}
    assert olds == {settings[0].label: "optional"}


def owner_and_mode(path):
    info = os.stat(path)
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root (as on a service node)")
def test_the_bundle_is_root_owned_and_every_other_file_keeps_its_owner_group_and_mode(tmp_path):
    node = Node(tmp_path)
    node.install(b"B1", b"CA1", mode="none")
    node.activated()
    assert owner_and_mode(node.bundle) == (0, 0, 0o600)
    assert owner_and_mode(node.ca) == (0, 0, 0o644)  # a new file: its documented mode
    assert owner_and_mode(node.conf) == (0, 0, 0o644)
    for path in (node.bundle, node.ca, str(node.conf)):  # a site's own ownership, and a bundle gone astray
        os.chown(path, 4321, 4322)
        os.chmod(path, 0o640)
    assert node.install(b"B1", b"CA1") == {node.bundle: "owner", node.ca: "unchanged"}
    assert owner_and_mode(node.bundle) == (0, 0, 0o600)
    node.activated()
    assert node.install(b"B2", b"CA2", mode="optional") == {
        node.bundle: "content", node.ca: "content", "%s#TlsClientVerificationMode" % node.conf: "content"}
    assert owner_and_mode(node.bundle) == (0, 0, 0o600)
    assert owner_and_mode(node.ca) == (4321, 4322, 0o640)
    assert owner_and_mode(str(node.conf)) == (4321, 4322, 0o640)
    assert owner_and_mode(node.ca + nf.PREVIOUS_SUFFIX) == (4321, 4322, 0o640)
    assert node.restore()[node.ca] == "restored" and owner_and_mode(node.ca) == (4321, 4322, 0o640)


def test_check_mode_reports_a_bundle_with_another_owner(tmp_path):
    node = Node(tmp_path)
    node.install(b"B1", b"CA1")
    files = [nf.NodeFile(node.bundle, b"B1", 0o600, root_owned=True), nf.NodeFile(node.ca, b"CA1", 0o644)]
    assert sh(nf.check_script(files))[0] == {node.bundle: "unchanged", node.ca: "unchanged"}
    if os.geteuid() == 0:
        os.chown(node.bundle, 4321, 4321)
        assert sh(nf.check_script(files))[0] == {node.bundle: "would-owner", node.ca: "unchanged"}
