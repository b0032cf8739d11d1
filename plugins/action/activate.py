# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for mxone.pki.activate: one changed system's activation, TLS check and rollback.

Runs on the one LIM chosen for the system (the handler of mxone_activate). The commands go in
one round trip (module_utils/activation.py); the TLS check runs here on the controller; the
system's LIMs are marked activated, or get their previous bundle back, all at once
(plugin_utils/fleet_exec.py). The task fails, on this host, only when the system failed, with
one message that says what failed, what was rolled back and what runs now.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.mxone.pki.plugins.module_utils import activation
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.tls_probe import check_endpoints
from ansible_collections.mxone.pki.plugins.plugin_utils.fleet_exec import run_on_hosts, run_sh
from ansible_collections.mxone.pki.plugins.plugin_utils.node_delivery import activated, restore


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("system", "media_encryption_types", "reload", "reload_units", "lims", "changed_lims",
                             "tls_groups", "client_key_passphrase", "tls_retries", "tls_retry_delay"))

    def _commands(self, commands):
        text, token = activation.script(commands)
        res = run_sh(self, text)
        ran = activation.parse(to_text(res.get("stdout", "")), commands, token)
        failure = activation.step_failure(ran, commands)
        if failure and not ran and res.get("rc") not in (0, None):
            failure = "the activation commands could not start: %s" % to_text(res.get("stderr", "")).strip()[-300:]
        return ran, failure

    def _tls(self, args):
        results = []
        for group in args.get("tls_groups") or []:
            client = group.get("client") or {}
            try:
                results.append(check_endpoints(
                    group["endpoints"], ca_path=group["ca_path"], client_cert_path=client.get("cert"),
                    client_key_path=client.get("key"),
                    client_key_passphrase=args.get("client_key_passphrase") if client else None,
                    retries=int(args.get("tls_retries", 5)), retry_delay=float(args.get("tls_retry_delay", 1))))
            except MxonePkiError as error:
                results.append(dict(results=[dict(name=e.get("name"), ok=False, error=str(error))
                                             for e in group["endpoints"]]))
        return results

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        system = args["system"]
        reload_argv = activation.reload_argv(args.get("reload", "system"),
                                             args.get("reload_units") or activation.RELOAD_UNITS_DEFAULT)
        commands = activation.steps(args.get("media_encryption_types") or [], reload_argv)
        if self._play_context.check_mode:
            result.update(changed=True, system=system, commands=[], failure=None, rolled_back=[],
                          msg="system %s would run on %s: %s" % (system, task_vars.get("inventory_hostname"),
                                                                 ", ".join(" ".join(c) for c in commands)))
            return result
        ran, failure = self._commands(commands)
        reloaded = len(ran) == len(commands)  # the reload step ran (whatever its exit code)
        tls = []
        if not failure:
            tls = self._tls(args)
            failure = activation.tls_failure(tls)
        if not failure:
            marked = run_on_hosts(self, task_vars, list(args.get("lims") or []),
                                  lambda shell: activated(shell.run, {}, False))
            bad = sorted(h for h, r in marked.items() if r.get("failed"))
            if bad:
                failure = "marking the bundle as activated failed on %s: %s" % (
                    ", ".join(bad), marked[bad[0]].get("msg"))
        result.update(changed=True, system=system, commands=[dict(command=s["command"], rc=s["rc"]) for s in ran],
                      tls=tls, failure=failure, rolled_back=[])
        if not failure:
            ok, checked = activation.tls_count(tls)
            result["msg"] = "system %s: %s; TLS %d/%d LIM(s) up" % (
                system, ", ".join(s["command"] for s in ran), ok, checked)
            return result
        restored = run_on_hosts(self, task_vars, list(args.get("changed_lims") or []),
                                lambda shell: restore(shell.run, {}, False))
        rolled_back = sorted(h for h, r in restored.items() if r.get("changed"))
        rereload_rc, tls_after = None, None
        if reloaded:
            again, dummy = self._commands([reload_argv])
            rereload_rc = again[0]["rc"] if again else None
            result["commands"].extend(dict(command=s["command"], rc=s["rc"]) for s in again)
            tls_after = self._tls(args)
        result.update(failed=True, rolled_back=rolled_back, tls_after=tls_after,
                      msg=activation.failure_message(system, failure, rolled_back, reloaded, rereload_rc, tls_after))
        return result
