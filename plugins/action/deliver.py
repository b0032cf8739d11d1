# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for mxone.pki.deliver: eri_sn_cert.pem and ca.pem to a node in one round trip.

The bundle is built in memory on the controller from the PKI store (the
key decrypted only here), checked as the node would check it, and sent on
the SSH channel's stdin to a small sh script (module_utils/node_files.py)
that installs it atomically and keeps the previous file. No module, no
Python on the node, no temporary copy of the key on the controller.

With ``targets`` (run_once), one action serves the whole fleet: each
certificate's bundle is built and checked once, then every node gets its
files from a thread pool (plugin_utils/fleet_exec.py): per-system work once
per system, one round trip per node, no worker process per node.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.mxone.pki.plugins.plugin_utils.fleet_exec import run_on_hosts, run_sh
from ansible_collections.mxone.pki.plugins.module_utils._argspecs import CONTROLLER
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.manifest import delivery_jobs
from ansible_collections.mxone.pki.plugins.plugin_utils.action_args import SpecAction
from ansible_collections.mxone.pki.plugins.plugin_utils.node_delivery import (
    Material, activated, deliver, reader_of, restore, store_paths)
from ansible_collections.mxone.pki.plugins.plugin_utils.pki_host import (
    is_remote, read_store_files, write_public_copy)
from ansible_collections.mxone.pki.plugins.plugin_utils.role_errors import for_role_user


class ActionModule(SpecAction):
    MODULE = "deliver"
    _JOB_ARGS = ("certificate", "ca_path", "dest_dir", "bundle_name", "ca_name", "pending_certificate",
                 "pending_ca", "pending_facts", "settings", "activation")

    def _operation(self, args, material, check_mode, want_diff):
        if args["restore"]:
            return lambda run, job: restore(run, job, check_mode)
        if args["activated"]:
            return lambda run, job: activated(run, job, check_mode)
        return lambda run, job: deliver(run, job, material, check_mode, want_diff)

    def _run_here(self, script, data=None):
        return run_sh(self, script, data)

    def run_validated(self, result, args, task_vars):
        check_mode = bool(self._play_context.check_mode)
        try:
            material = self._material(args, task_vars)
        except MxonePkiError as error:
            result.update(failed=True, msg=str(error), **error.context())
            return for_role_user(self._task, result)
        operation = self._operation(args, material, check_mode, bool(self._play_context.diff))
        if args.get("targets") is None and args.get("manifest") is None:
            job = dict((k, args[k]) for k in self._JOB_ARGS if k in args)
            result.update(operation(self._run_here, job))
            return for_role_user(self._task, result)
        return for_role_user(self._task, self._run_fleet(result, args, task_vars, material, operation))

    def _material(self, args, task_vars):
        """Where bundles come from: the controller's store, or the PKI host's files read into memory once."""
        now = datetime.datetime.now(datetime.timezone.utc)
        pki_host = args["pki_host"] or CONTROLLER  # an empty mxone_pki_host is the controller too
        if not is_remote(pki_host) or args["restore"] or args["activated"]:
            return Material(now)
        jobs = [dict(host=j) if isinstance(j, str) else j for j in self._targets(args, task_vars)] \
            if args.get("targets") is not None or args.get("manifest") is not None else [args]
        files = read_store_files(self, task_vars, pki_host, [p for job in jobs if not job.get("stop")
                                                             for p in store_paths(job)])
        # Public certificates only (CA, server certificates): the TLS checks on the controller read these copies.
        for path, copy in (args.get("public_copies") or {}).items():
            if files.get(path) is not None:
                write_public_copy(copy, files[path])
        return Material(now, read=reader_of(files, pki_host))

    @staticmethod
    def _targets(args, task_vars):
        """The jobs: from the manifest (the hosts still in the play), else the ``targets`` given."""
        if args.get("manifest") is None:
            return args.get("targets") or []
        live = set((task_vars or {}).get("ansible_play_hosts") or args["manifest"]["hosts"])
        return [job for job in delivery_jobs(args["manifest"]) if job["host"] in live]

    def _run_fleet(self, result, args, task_vars, material, operation):
        """Every target host at once; per host results, and a per-host failure never hides the others."""
        jobs = {}
        for job in self._targets(args, task_vars):
            job = dict(host=job) if isinstance(job, str) else dict(job)
            if job.get("certificate") and args.get("key_passphrase") is not None:
                job["certificate"] = dict(job["certificate"], key_passphrase=args["key_passphrase"])
            jobs[job["host"]] = job
        stopped = dict((host, dict(failed=True, changed=False, msg=job["stop"]))
                       for host, job in jobs.items() if job.get("stop"))
        by_host = run_on_hosts(self, task_vars, sorted(h for h in jobs if h not in stopped),
                               lambda shell: operation(shell.run, jobs[shell.host]))
        by_host.update(stopped)
        changed_hosts = sorted(h for h, r in by_host.items() if r.get("changed"))
        failed_hosts = sorted(h for h, r in by_host.items() if r.get("failed") or r.get("unreachable"))
        # Diffs stay in each host's result: the per-host report shows them (report=...).
        result.update(changed=bool(changed_hosts), results=by_host, changed_hosts=changed_hosts,
                      failed_hosts=failed_hosts)
        return result
