# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for mxone.pki.activate: the changed systems' activations, rolling, each waited for and checked.

One run_once task (the handler of mxone_activate) activates every changed system: in inventory order
(or ``order``), ``parallel`` systems at a time, no new system after more than ``max_failures`` have
failed, and only inside each system's maintenance window (module_utils/rolling.py). Per system: the
vendor's commands in one round trip on one LIM (module_utils/activation.py), then a wait until every
LIM serves the new certificate, polled from the controller with backoff up to ``timeout``; then the
LIMs are marked activated, or get their previous bundle back, reload again and are waited for again.
With ``report``, a host turns its system's part of that result into its own (failed or not).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import shlex
import time

from ansible.module_utils.common.text.converters import to_text
from ansible.utils.display import Display

from ansible_collections.mxone.pki.plugins.module_utils import activation, licence, rolling
from ansible_collections.mxone.pki.plugins.module_utils.certs import facts, load_certificate
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.tls_probe import Checker, parse_endpoints
from ansible_collections.mxone.pki.plugins.plugin_utils.action_args import SpecAction
from ansible_collections.mxone.pki.plugins.plugin_utils.fleet_exec import host_shell, run_on_hosts
from ansible_collections.mxone.pki.plugins.plugin_utils.node_delivery import activated, restore

display = Display()

# Rollback reloads: a reload may still be settling on the LIMs that came back; try again after these pauses.
REROLL_PAUSES = (2, 5, 10)


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def _command_path(entry):
    """Where the vendor commands are on this system's nodes (an entry made by hand may not say)."""
    return entry.get("command_path", activation.COMMAND_PATH_DEFAULT)


def _stamp(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec="seconds")


class SystemProber(object):
    """Probes the LIMs of one system on 5061, each against its chain (and with its client certificate)."""

    def __init__(self, tls_groups, passphrase):
        self._by_name = {}
        for group in tls_groups:
            client = group.get("client") or {}
            checker = Checker(ca_path=group["ca_path"], client_cert_path=client.get("cert"),
                              client_key_path=client.get("key"),
                              client_key_passphrase=passphrase if client else None)
            # the wait compares fingerprints itself (the new certificate, or the previous one after a rollback)
            endpoints = [dict((k, v) for k, v in e.items() if k != "expected_cert") for e in group["endpoints"]]
            for endpoint in parse_endpoints(endpoints):
                self._by_name.setdefault(endpoint.name, (checker, endpoint))

    def __call__(self, names):
        results = {}
        for name in names:
            if name not in self._by_name:
                results[name] = dict(ok=False, error="no TLS endpoint known for %s" % name, certificate=None)
        by_checker = {}
        for name in names:
            if name in self._by_name:
                checker, endpoint = self._by_name[name]
                by_checker.setdefault(id(checker), (checker, []))[1].append(endpoint)
        for checker, endpoints in by_checker.values():
            for result in checker.probe(endpoints):
                results[result["name"]] = result
        return results


class ActionModule(SpecAction):
    MODULE = "activate"
    _requires_connection = False

    def run_validated(self, result, args, task_vars):
        self._task_vars = task_vars
        self._args = args
        if args.get("licence") is not None:
            answers = self._read_licences(args["licence"], task_vars.get("ansible_play_hosts") or [])
            result.update(changed=False, licence=answers, stopped=licence.stopped_systems(args["licence"], answers))
            return result
        systems = dict((entry["system"], entry) for entry in args["systems"])
        try:
            order = rolling.activation_order([entry["system"] for entry in args["systems"]], args["order"])
            parallel = rolling.parallel_count(args["parallel"], len(order))
            windows = dict((s, rolling.Window(e["window"], e.get("timezone")) if e.get("window") else None)
                           for s, e in systems.items())
        except MxonePkiError as error:
            result.update(failed=True, msg=str(error), **error.context())
            return result

        def hold(system, now):
            window = windows[system]
            if window is None or args["now"]:
                return None
            is_open, when = window.state(now)
            if is_open:
                return None
            return "not activated: outside the maintenance window %s; it opens at %s (activation stays pending " \
                   "until a run inside it, or mxone_activate_now)" % (window, when.isoformat(timespec="minutes"))

        check_mode = bool(self._play_context.check_mode)
        if check_mode:
            outcome = dict((s, self._would(systems[s], hold(s, _utcnow()))) for s in order)
        else:
            outcome = rolling.run_rolling(order, lambda s: self._guarded(systems[s]), parallel,
                                          args["max_failures"], hold, _utcnow)
        by_system = dict((s, dict(outcome[s], system=s, host=systems[s]["host"])) for s in order)
        result.update(changed=any(r.get("state") in ("activated", "failed", "would-activate")
                                  for r in by_system.values()),
                      systems=by_system, order=order, parallel=parallel,
                      by_host=dict((r["host"], self._host_report(r)) for r in by_system.values()),
                      msg="; ".join("%s: %s" % (s, by_system[s].get("msg") or by_system[s].get("reason"))
                                    for s in order) or "no system to activate")
        return result

    # ---------------------------------------------------------------- one system

    def _would(self, entry, held):
        commands = self._commands_of(entry)
        if held:
            return dict(state=rolling.PENDING, failed=False, reason=held, commands=[])
        return dict(state="would-activate", failed=False, commands=[],
                    would_run=[" ".join(c) for c in commands],
                    msg="would run on %s: %s, then wait up to %d s for every LIM to serve the new certificate" % (
                        entry["host"], ", ".join(" ".join(c) for c in commands), self._args["timeout"]))

    def _commands_of(self, entry):
        reload_argv = activation.reload_argv(entry.get("reload") or "system", self._args["reload_units"])
        return activation.steps(entry.get("media_encryption_types") or [], reload_argv)

    def _guarded(self, entry):
        try:
            return self._activate(entry)
        except Exception as exc:  # one system's surprise is that system's failure, never the others'
            return dict(state="failed", failed=True, commands=[], rolled_back=[],
                        failure="%s: %s" % (type(exc).__name__, to_text(exc)),
                        msg="system %s: activation stopped: %s: %s" % (entry["system"], type(exc).__name__,
                                                                       to_text(exc)))

    def _say(self, system, text):
        display.display("mxone.pki.activate: system %s: %s" % (system, text))

    def _run_commands(self, shell, commands, command_path):
        text, token = activation.script(commands, command_path=command_path)
        res = shell.run(text)
        ran = activation.parse(to_text(res.get("stdout", "")), commands, token)
        failure = activation.step_failure(ran, commands, command_path)
        if failure and not ran:
            failure = "the activation commands could not start on %s: %s" % (
                shell.host, to_text(res.get("msg") or res.get("stderr", "")).strip()[-300:])
        return ran, failure

    def _read_licences(self, systems, play_hosts):
        """``license_status`` on each system's leader that is in the play, every leader at once: {system: the
        command's result}; a system whose leader is not in the play gets no entry (it could not be asked).

        One raw round trip per leader, read-only, from this one task: a task on every host that skips all
        but the leaders costs a worker per host, which at a thousand LIMs is minutes."""
        live = set(play_hosts)
        leaders = dict((entry["leader"], entry) for entry in systems if entry["leader"] in live)

        def work(shell):
            path = _command_path(leaders[shell.host])
            # mxone_command_path first on PATH: sudo's secure_path and su - drop the login PATH
            return shell.run(("PATH=%s:\"$PATH\" " % shlex.quote(path) if path else "") + "license_status")

        answers = self._on_hosts(sorted(leaders), work)
        return dict((entry["system"], answers[entry["leader"]]) for entry in leaders.values())

    def _on_hosts(self, hosts, work):
        return run_on_hosts(self, self._task_vars, hosts, work)

    def _wait(self, entry, prober, expected, what):
        system = entry["system"]
        self._say(system, "waiting for %d LIM(s) to serve %s (up to %d s)" % (len(expected), what,
                                                                              self._args["timeout"]))
        waited = activation.wait_for_lims(
            prober, expected, self._args["timeout"], time.monotonic, time.sleep,
            progress=lambda text: self._say(system, text), what=what,
            progress_every=self._args["progress_interval"])
        if waited["failed"]:
            self._say(system, activation.wait_failure(waited, what))
        else:
            self._say(system, "every LIM serves %s after %s s" % (what, waited["elapsed"]))
        return waited

    def _activate(self, entry):
        system = entry["system"]
        commands = self._commands_of(entry)
        expected = dict((host, facts(load_certificate(_read(path), source=path))["sha256_fingerprint"])
                        for host, path in entry.get("expected", {}).items())
        prober = SystemProber(entry.get("tls_groups") or [], self._args.get("client_key_passphrase"))
        shell = host_shell(self, entry["host"], self._task_vars)
        started = time.time()
        self._say(system, "on %s: %s" % (entry["host"], ", ".join(" ".join(c) for c in commands)))
        try:
            # The reload goes in a round trip of its own, so the outage is measured from the moment its order
            # left the controller: a bound that holds, where the return of one round trip for all three
            # commands came a teardown (ssh, su) after the reload had begun, and read the outage short.
            ran, failure = self._run_commands(shell, commands[:-1], _command_path(entry))
            reloaded_at = time.time()
            if not failure:
                ran_reload, failure = self._run_commands(shell, commands[-1:], _command_path(entry))
                ran += ran_reload
            reloaded = len(ran) == len(commands)  # the reload step ran (whatever its exit code)
            waited = None
            if not failure and expected:
                waited = self._wait(entry, prober, expected, "the new certificate")
                failure = activation.wait_failure(waited)
            outcome = dict(commands=[dict(command=s["command"], rc=s["rc"]) for s in ran], waited=waited,
                           started=_stamp(started))
            if reloaded and waited is not None:
                back = reloaded_at + max(list(waited["back"].values()) or [0])
                outcome["outage"] = dict(start=_stamp(reloaded_at), end=_stamp(back),
                                         seconds=round(back - reloaded_at, 1))
            if not failure:
                marked = self._on_hosts(list(entry.get("lims") or []), lambda sh: activated(sh.run, {}, False))
                bad = sorted(h for h, r in marked.items() if r.get("failed") or r.get("unreachable"))
                if bad:
                    failure = "marking the bundle as activated failed on %s: %s" % (", ".join(bad),
                                                                                    marked[bad[0]].get("msg"))
            if not failure:
                outcome.update(state="activated", failed=False, failure=None, rolled_back=[], msg=(
                    "%s; %d LIM(s) serve the new certificate%s" % (
                        ", ".join(s["command"] for s in ran), len(expected),
                        "; outage %s s" % outcome["outage"]["seconds"] if "outage" in outcome else "")))
                return outcome
            return self._roll_back(entry, shell, outcome, failure, reloaded, expected, prober)
        finally:
            shell.close()

    def _roll_back(self, entry, shell, outcome, failure, reloaded, expected, prober):
        system = entry["system"]
        self._say(system, "%s; rolling back" % failure)
        restored = self._on_hosts(list(entry.get("changed_lims") or []), lambda sh: restore(sh.run, {}, False))
        rolled_back = sorted(h for h, r in restored.items() if r.get("changed"))
        old = dict(expected)
        for host in rolled_back:
            served = restored[host].get("restored_certificate") or {}
            if served.get("sha256_fingerprint"):
                old[host] = served["sha256_fingerprint"]
        rereload_rc, after = None, None
        if reloaded:
            reload_argv = self._commands_of(entry)[-1]
            for pause in (0,) + REROLL_PAUSES:
                time.sleep(pause)
                again, dummy = self._run_commands(shell, [reload_argv], _command_path(entry))
                outcome["commands"].extend(dict(command=s["command"], rc=s["rc"]) for s in again)
                rereload_rc = again[0]["rc"] if again else None
                if rereload_rc == 0:
                    break
            if rereload_rc == 0 and old:
                after = self._wait(entry, prober, old, "the previous certificate")
        outcome.update(state="failed", failed=True, failure=failure, rolled_back=rolled_back, waited_after=after,
                       msg=activation.failure_message(system, failure, rolled_back, reloaded, rereload_rc, after))
        return outcome

    @staticmethod
    def _host_report(entry):
        """What the system's runner host shows: failed for a failed or stopped system."""
        state = entry.get("state")
        text = entry.get("msg") or entry.get("reason")
        if state == "failed":
            return dict(changed=True, failed=True, msg=text, system=entry["system"])
        if state == rolling.STOPPED:
            return dict(changed=False, failed=True, msg="system %s: %s" % (entry["system"], text),
                        system=entry["system"])
        return dict(changed=state in ("activated", "would-activate"), msg="system %s: %s" % (entry["system"], text),
                    system=entry["system"])


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise MxonePkiError("cannot read %s: %s" % (path, exc.strerror), file=path, field="systems.expected")
