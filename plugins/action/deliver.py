# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for mxone.pki.deliver: eri_sn_cert.pem and ca.pem to a node in one round trip.

The bundle is built in memory on the controller from the PKI store (the
key decrypted only here), checked as the node would check it, and sent on
the SSH channel's stdin to a small sh script (module_utils/node_files.py)
that installs it atomically and keeps the previous file. No module, no
Python on the node, no temporary copy of the key on the controller.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os

from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.mxone.pki.plugins.module_utils.bundle import (
    CA_BUNDLE_NAME, SN_BUNDLE_NAME, build_sn_bundle, check_ca_bundle, check_sn_bundle)
from ansible_collections.mxone.pki.plugins.module_utils.certs import facts, load_certificate
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.files import KEY_MODE, PUBLIC_MODE
from ansible_collections.mxone.pki.plugins.module_utils.keys import load_private_key
from ansible_collections.mxone.pki.plugins.module_utils.node_files import (
    PREVIOUS_SUFFIX, NodeFile, Setting, activated_script, check_script, install_script, parse_output, payload, restore_script)

DEFAULT_DEST_DIR = "/etc/opt/eri_sn/certs"


def _read(path, field):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise MxonePkiError("cannot read %s: %s" % (path, exc.strerror), file=path, field=field)


def _chain(data, source):
    return [load_certificate(b, source=source) for b in _split_certs(data)]


def _split_certs(data):
    marker = b"-----END CERTIFICATE-----"
    return [part + marker + b"\n" for part in data.split(marker) if b"-----BEGIN CERTIFICATE-----" in part]


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("certificate", "ca_path", "dest_dir", "bundle_name", "ca_name", "pending_certificate",
                             "pending_ca", "pending_facts", "restore", "settings", "activation", "activated"))

    def _node_files(self, args, now, check_mode):
        """(files to compare and install, the leaf, paths a check run can only say will change).

        In a check run where the controller would first (re)issue, the new
        content does not exist yet: those files are only looked at on the
        node (``NodeFile`` without content) and reported as changing.
        """
        dest_dir = args.get("dest_dir") or DEFAULT_DEST_DIR
        ca_path = args.get("ca_path")
        if not ca_path:
            raise MxonePkiError("ca_path is required", field="ca_path")
        files, pending, leaf = [], [], None
        certificate = args.get("certificate")
        bundle_path = os.path.join(dest_dir, args.get("bundle_name") or SN_BUNDLE_NAME)
        ca_node_path = os.path.join(dest_dir, args.get("ca_name") or CA_BUNDLE_NAME)
        pending_ca = check_mode and boolean(args.get("pending_ca", False))
        if check_mode and (pending_ca or boolean(args.get("pending_certificate", False))):
            if certificate:
                pending.append(NodeFile(bundle_path, None, KEY_MODE))
            certificate = None
        if pending_ca:
            return pending + [NodeFile(ca_node_path, None, PUBLIC_MODE)], leaf
        ca_data = _read(ca_path, "ca_path")
        check_ca_bundle(ca_data, source=ca_path)
        if certificate:
            cert_path, key_path = certificate.get("cert_path"), certificate.get("key_path")
            chain_path = certificate.get("chain_path") or ca_path
            leaf = load_certificate(_read(cert_path, "certificate.cert_path"), source=cert_path)
            key = load_private_key(_read(key_path, "certificate.key_path"), certificate.get("key_passphrase"),
                                   source=key_path, field="certificate.key_passphrase")
            chain = _chain(_read(chain_path, "certificate.chain_path"), chain_path)
            bundle = build_sn_bundle(key, leaf, chain)
            check_sn_bundle(bundle, now, source=bundle_path)  # never send what a node would refuse
            files.append(NodeFile(bundle_path, bundle, KEY_MODE, activation=boolean(args.get("activation", False))))
        files.append(NodeFile(ca_node_path, ca_data, PUBLIC_MODE))
        return pending + files, leaf

    def _restore(self, result):
        """Roll back: put the .previous copies of eri_sn_cert.pem and ca.pem back in place."""
        args = self._task.args
        dest_dir = args.get("dest_dir") or DEFAULT_DEST_DIR
        paths = [os.path.join(dest_dir, args.get("bundle_name") or SN_BUNDLE_NAME),
                 os.path.join(dest_dir, args.get("ca_name") or CA_BUNDLE_NAME)]
        if self._play_context.check_mode:
            result.update(changed=True, files=dict((p, "would-restore") for p in paths))
            return result
        res = self._low_level_execute_command(restore_script(paths), sudoable=True, executable="/bin/sh")
        statuses, _, error = parse_output(to_text(res.get("stdout", "")))
        if res.get("rc") != 0 or error:
            result.update(failed=True, files=statuses, msg="restoring the previous files failed: %s"
                          % (error or to_text(res.get("stderr", "")).strip()[-500:]))
            return result
        result.update(changed=any(s == "restored" for s in statuses.values()), files=statuses,
                      reason="; ".join("%s %s" % (os.path.basename(p), s) for p, s in sorted(statuses.items())))
        return result

    def _activated(self, result):
        """The activation ran: the installed bundle is the running one; drop the pending marker."""
        args = self._task.args
        path = os.path.join(args.get("dest_dir") or DEFAULT_DEST_DIR, args.get("bundle_name") or SN_BUNDLE_NAME)
        if self._play_context.check_mode:
            result.update(changed=False, files={path: "would-activate"})
            return result
        res = self._low_level_execute_command(activated_script(path), sudoable=True, executable="/bin/sh")
        statuses, _, error = parse_output(to_text(res.get("stdout", "")))
        if res.get("rc") != 0 or error:
            result.update(failed=True, msg="marking %s as activated failed: %s" % (path, error or res.get("stderr")))
            return result
        result.update(changed=False, files=statuses)
        return result

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        if boolean(self._task.args.get("restore", False)):
            return self._restore(result)
        if boolean(self._task.args.get("activated", False)):
            return self._activated(result)
        now = datetime.datetime.now(datetime.timezone.utc)
        check_mode = bool(self._play_context.check_mode)
        want_diff = bool(self._play_context.diff)
        try:
            files, leaf = self._node_files(self._task.args, now, check_mode)
        except MxonePkiError as error:
            result.update(failed=True, msg=str(error), **error.context())
            return result
        settings = [Setting(s["path"], s["key"], s["value"]) for s in (self._task.args.get("settings") or [])]
        if check_mode:
            script, data = check_script(files, show_certs=want_diff, settings=settings), None
        else:
            script, data = install_script(files, show_certs=want_diff, settings=settings), payload(files)
        res = self._low_level_execute_command(script, in_data=data, sudoable=True, executable="/bin/sh")
        statuses, current_certs, error = parse_output(to_text(res.get("stdout", "")))
        if res.get("rc") != 0 or error or len(statuses) != len(files) + len(settings):
            result.update(failed=True, changed=False, files=statuses, rc=res.get("rc"),
                          msg="delivery to %s failed: %s; every file there is as it was or complete"
                          % (", ".join(f.path for f in files),
                             error or to_text(res.get("stderr", "")).strip()[-500:] or "rc=%s" % res.get("rc")))
            return result
        changed = dict((path, status) for path, status in statuses.items() if not status.endswith("unchanged"))
        result.update(changed=bool(changed), files=statuses,
                      reason="; ".join("%s %s" % (os.path.basename(p), s.replace("would-", ""))
                                       for p, s in sorted(changed.items())) or None,
                      previous=[p.split("#")[0] + PREVIOUS_SUFFIX for p in changed if not statuses[p].endswith("missing")])
        if check_mode:
            result["previous"] = []
        if want_diff and changed:
            result["diff"] = self._diff(files, leaf, current_certs, changed, now,
                                        self._task.args.get("pending_facts"))
        return result

    @staticmethod
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
            if f.probe_only and f.mode == KEY_MODE:
                after = dict(pending_facts or {}) or {"pending": "certificate issued in this run"}
            elif f.probe_only:
                after = {"pending": "CA certificate created in this run"}
            elif f.mode == KEY_MODE and leaf is not None:
                after = facts(leaf, now)
            else:
                after = facts(load_certificate(f.content, source=f.path), now)
            diffs.append(dict(before=before, after=after, before_header=f.path, after_header=f.path))
        return diffs
