# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the deliver and activate actions do on one node: install, restore, mark activated.

Each function takes ``run(script, in_data)`` (a shell on that node, plugin_utils/fleet_exec.py or
the action's own connection) and a job (the node's files and settings), and returns that node's
result. ``Material`` reads, builds and checks each CA file and bundle once per run, however many
nodes get it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import threading

from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.mxone.pki.plugins.module_utils.bundle import (
    CA_BUNDLE_NAME, SN_BUNDLE_NAME, build_sn_bundle, check_ca_bundle, check_sn_bundle)
from ansible_collections.mxone.pki.plugins.module_utils.certs import facts, load_certificate
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.files import KEY_MODE, PUBLIC_MODE
from ansible_collections.mxone.pki.plugins.module_utils.fleet import NODE_CERT_DIR
from ansible_collections.mxone.pki.plugins.module_utils.keys import load_private_key
from ansible_collections.mxone.pki.plugins.module_utils.node_files import (
    PREVIOUS_SUFFIX, NodeFile, Setting, activated_script, check_script, install_script, parse_output, payload,
    restore_script, rollback_list)
from ansible_collections.mxone.pki.plugins.module_utils.pem import certificate_ders


DEFAULT_DEST_DIR = NODE_CERT_DIR


def _read(path, field):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise MxonePkiError("cannot read %s: %s" % (path, exc.strerror), file=path, field=field)


def store_paths(job):
    """The PKI store files one node's job reads (CA file; certificate, key and chain)."""
    certificate = job.get("certificate") or {}
    return [p for p in (job.get("ca_path"), certificate.get("cert_path"), certificate.get("key_path"),
                        certificate.get("chain_path")) if p]


def reader_of(files, host):
    """``read(path, field)`` over files already read from the PKI host ``host`` ({path: bytes or None})."""
    def read(path, field):
        data = files.get(path)
        if data is None:
            raise MxonePkiError("cannot read %s on the PKI host %s: missing" % (path, host), file=path, field=field,
                                host=host)
        return data
    return read


def _chain(data, source):
    return [load_certificate(der, source=source) for der in certificate_ders(data, source=source)]


class Material(object):
    """Bundles and CA files read, built and checked once per run, whatever the number of nodes that get them."""

    def __init__(self, now, read=None):
        self.now = now
        # read(path, field) -> bytes: the controller's files by default; a PKI host's, read into memory, else.
        self._read = read or _read
        self._cache = {}
        self._lock = threading.Lock()  # the fleet's threads ask at once; the first builds, the others wait

    def _once(self, key, make):
        with self._lock:
            if key not in self._cache:
                try:
                    self._cache[key] = (make(), None)
                except MxonePkiError as error:
                    self._cache[key] = (None, error)
            value, error = self._cache[key]
        if error is not None:
            raise error
        return value

    def ca(self, ca_path):
        def make():
            data = self._read(ca_path, "ca_path")
            check_ca_bundle(data, source=ca_path)
            return data
        return self._once(("ca", ca_path), make)

    def bundle(self, certificate, ca_path, bundle_path):
        """(bundle bytes, leaf certificate) of a certificate in the PKI store."""
        cert_path, key_path = certificate.get("cert_path"), certificate.get("key_path")
        chain_path = certificate.get("chain_path") or ca_path

        def make():
            leaf = load_certificate(self._read(cert_path, "certificate.cert_path"), source=cert_path)
            key = load_private_key(self._read(key_path, "certificate.key_path"), certificate.get("key_passphrase"),
                                   source=key_path, field="certificate.key_passphrase", own_store=True)
            chain = _chain(self._read(chain_path, "certificate.chain_path"), chain_path)
            bundle = build_sn_bundle(key, leaf, chain)
            check_sn_bundle(bundle, self.now, source=bundle_path)  # never send what a node would refuse
            return bundle, leaf
        return self._once(("bundle", cert_path, key_path, chain_path), make)


def _as_planned(make, want, check_mode, path):
    """(content, leaf) built from the store when its bytes hash to the manifest's ``want``.

    A check run whose store does not hold the new content yet gets (None, None): the file is then compared on
    the node by the manifest's hash alone. A real run never writes other bytes than the manifest's.
    """
    try:
        content, leaf = make()
    except MxonePkiError:
        if check_mode:
            return None, None
        raise
    if hashlib.sha256(content).hexdigest() == want:
        return content, leaf
    if check_mode:
        return None, None
    raise MxonePkiError("refusing to write %s: its bytes from the PKI store do not hash to the manifest's (%s); "
                        "the store changed since the plan step, run again" % (path, want), file=path)


def manifest_node_files(job, material, check_mode):
    """(files, leaf) of a job made from the manifest (``bundle_sha256`` / ``ca_sha256``, no pending flags)."""
    bundle_path, ca_node_path = _node_paths(job)
    rollback = _rollback(job)
    files, leaf = [], None
    certificate = job.get("certificate")
    if certificate:
        content, leaf = _as_planned(lambda: material.bundle(certificate, job["ca_path"], bundle_path),
                                    job.get("bundle_sha256"), check_mode, bundle_path)
        files.append(NodeFile(bundle_path, content, KEY_MODE, activation=boolean(job.get("activation", False)),
                              rollback=rollback, root_owned=True, digest=job.get("bundle_sha256")))
    content = _as_planned(lambda: (material.ca(job["ca_path"]), None), job.get("ca_sha256"), check_mode,
                          ca_node_path)[0]
    files.append(NodeFile(ca_node_path, content, PUBLIC_MODE, rollback=rollback, digest=job.get("ca_sha256")))
    return files, leaf


def node_files(job, material, check_mode):
    """(files to compare and install, the leaf) for one node's job.

    In a check run where the controller would first (re)issue, the new
    content does not exist yet: those files are only looked at on the
    node (``NodeFile`` without content) and reported as changing.
    """
    if "ca_sha256" in job:
        return manifest_node_files(job, material, check_mode)
    dest_dir = job.get("dest_dir") or DEFAULT_DEST_DIR
    ca_path = job.get("ca_path")
    if not ca_path:
        raise MxonePkiError("ca_path is required", field="ca_path")
    pending, leaf = [], None
    certificate = job.get("certificate")
    bundle_path = os.path.join(dest_dir, job.get("bundle_name") or SN_BUNDLE_NAME)
    ca_node_path = os.path.join(dest_dir, job.get("ca_name") or CA_BUNDLE_NAME)
    pending_ca = check_mode and boolean(job.get("pending_ca", False))
    if check_mode and (pending_ca or boolean(job.get("pending_certificate", False))):
        if certificate:
            pending.append(NodeFile(bundle_path, None, KEY_MODE, root_owned=True))
        certificate = None
    if pending_ca:
        return pending + [NodeFile(ca_node_path, None, PUBLIC_MODE)], leaf
    files = []
    ca_data = material.ca(ca_path)
    rollback = _rollback(job)
    if certificate:
        bundle, leaf = material.bundle(certificate, ca_path, bundle_path)
        files.append(NodeFile(bundle_path, bundle, KEY_MODE, activation=boolean(job.get("activation", False)),
                              rollback=rollback, root_owned=True))
    files.append(NodeFile(ca_node_path, ca_data, PUBLIC_MODE, rollback=rollback))
    return pending + files, leaf


def _rollback(job):
    """The rollback list of a LIM whose system is activated after delivery (None elsewhere: nothing rolls back)."""
    if job.get("certificate") and boolean(job.get("activation", False)):
        return rollback_list(_node_paths(job)[0])
    return None


def _node_paths(job):
    dest_dir = job.get("dest_dir") or DEFAULT_DEST_DIR
    return (os.path.join(dest_dir, job.get("bundle_name") or SN_BUNDLE_NAME),
            os.path.join(dest_dir, job.get("ca_name") or CA_BUNDLE_NAME))


class Unreachable(Exception):
    """The node could not be reached: Ansible reports the host UNREACHABLE, not failed."""


def _run_script(run, script, data=None, old_values=None):
    """Run a node script; (statuses, current certificates, error or None). Raises Unreachable."""
    res = run(script, data)
    if res.get("unreachable"):
        raise Unreachable(res.get("msg"))
    statuses, current_certs, error = parse_output(to_text(res.get("stdout", "")), old_values)
    if res.get("rc") != 0 and not error:
        error = to_text(res.get("stderr", "")).strip()[-500:] or "rc=%s" % res.get("rc")
    return statuses, current_certs, error


def restore(run, job, check_mode):
    """Roll back: put back exactly the files replaced since the last activation (their .previous copies)."""
    paths = list(_node_paths(job))
    if check_mode:
        return dict(changed=True, files=dict((p, "would-restore") for p in paths))
    try:
        statuses, restored_certs, error = _run_script(run, restore_script(paths[0]))
    except Unreachable as exc:
        return dict(unreachable=True, changed=False, msg="restoring the previous files failed: unreachable: %s" % exc)
    if error:
        return dict(failed=True, changed=False, files=statuses, msg="restoring the previous files failed: %s" % error)
    result = dict(changed=any(s == "restored" for s in statuses.values()), files=statuses,
                  reason="; ".join("%s %s" % (os.path.basename(p), s) for p, s in sorted(statuses.items())))
    if restored_certs.get(paths[0]):
        try:  # the first certificate of the restored bundle is the server certificate that must come back
            result["restored_certificate"] = facts(load_certificate(
                certificate_ders(restored_certs[paths[0]])[0], source=paths[0] + PREVIOUS_SUFFIX))
        except (MxonePkiError, IndexError):
            result["restored_certificate"] = None
    return result


def activated(run, job, check_mode):
    """The activation ran: the installed bundle is the running one; drop the pending marker."""
    path = _node_paths(job)[0]
    if check_mode:
        return dict(changed=False, files={path: "would-activate"})
    try:
        statuses, dummy, error = _run_script(run, activated_script(path))
    except Unreachable as exc:
        return dict(unreachable=True, changed=False, msg="marking %s as activated failed: unreachable: %s" % (path, exc))
    if error:
        return dict(failed=True, changed=False, msg="marking %s as activated failed: %s" % (path, error))
    return dict(changed=False, files=statuses)


def deliver(run, job, material, check_mode, want_diff):
    """Compare and install one node's files in one round trip; the result for that node."""
    try:
        files, leaf = node_files(job, material, check_mode)
    except MxonePkiError as error:
        return dict(failed=True, changed=False, msg=str(error), **error.context())
    settings = [Setting(s["path"], s["key"], s["value"]) for s in (job.get("settings") or [])]
    if check_mode:
        script, data = check_script(files, show_certs=want_diff, settings=settings), None
    else:
        script, data = install_script(files, show_certs=want_diff, settings=settings,
                                      rollback=_rollback(job)), payload(files)
    old_values = {}
    try:
        statuses, current_certs, error = _run_script(run, script, data, old_values)
    except Unreachable as exc:
        return dict(unreachable=True, changed=False, msg="delivery to %s failed: unreachable: %s; nothing was "
                    "changed there" % (", ".join(f.path for f in files), exc))
    if error or len(statuses) != len(files) + len(settings):
        return dict(failed=True, changed=False, files=statuses,
                    msg="delivery to %s failed: %s; every file there is as it was or complete"
                    % (", ".join(f.path for f in files), error or "incomplete answer from the node"))
    changed = dict((path, status) for path, status in statuses.items() if not status.endswith("unchanged"))
    wanted = dict((s.label, s) for s in settings)
    result = dict(changed=bool(changed), files=statuses,
                  reason="; ".join(_change(p, s, wanted.get(p), old_values.get(p))
                                   for p, s in sorted(changed.items())) or None,
                  previous=[] if check_mode else [p.split("#")[0] + PREVIOUS_SUFFIX for p in changed
                                                  if not statuses[p].endswith("missing")])
    if want_diff and changed:
        result["diff"] = _diff(files, leaf, current_certs, changed, material.now, job.get("pending_facts"))
        result["diff"] += [dict(before="%s: %s\n" % (s.key, old_values.get(s.label) or "(not set)"),
                                after="%s: %s\n" % (s.key, s.value), before_header=s.path, after_header=s.path)
                           for s in settings if s.label in changed]
    return result


def _change(path, status, setting, old_value):
    """Why one file or configuration line changes, in a few words."""
    status = status.replace("would-", "")
    if setting is not None:
        return "%s %s %s -> %s" % (os.path.basename(setting.path), setting.key, old_value or "(not set)", setting.value)
    if status == "owner":
        return "%s owner -> root:root" % os.path.basename(path)
    return "%s %s" % (os.path.basename(path), status)


def _diff(files, leaf, current_certs, changed, now, pending_facts):
    diffs = []
    for f in files:
        if f.path not in changed:
            continue
        before = {}
        if current_certs.get(f.path):
            try:
                before = facts(load_certificate(current_certs[f.path].encode("ascii"), source=f.path), now)
            except MxonePkiError:
                before = {"unreadable": True}
        if f.content is None and f.mode == KEY_MODE:
            after = dict(pending_facts or {}) or {"pending": "certificate issued in this run"}
        elif f.content is None:
            after = {"pending": "CA certificate created in this run"}
        elif f.mode == KEY_MODE and leaf is not None:
            after = facts(leaf, now)
        else:
            after = facts(load_certificate(f.content, source=f.path), now)
        diffs.append(dict(before=before, after=after, before_header=f.path, after_header=f.path))
    return diffs
