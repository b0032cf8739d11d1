# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vendor's activation order after new certificates, as one node script, and what its outcome means.

On one LIM of a changed system: ``media_encryption_enable -type <t>`` for each type, then
``data_backup``, then ``reload`` (the whole system, or the TLS units). Each step runs only if the
one before succeeded. The script prints a marker line with each step's exit code, then the step's
output, so the controller knows exactly which step ran and which failed, in one SSH round trip.
Plain Python: the action plugin (plugins/action/activate.py) and the unit tests use it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shlex
import uuid

RELOAD_UNITS_DEFAULT = "SIPLP,IPLP,TLP65,CSTServer"


def steps(media_encryption_types, reload_argv):
    """The commands, in the vendor's order, as argv lists."""
    media = [["media_encryption_enable", "-type", t] for t in media_encryption_types]
    return media + [["data_backup"], list(reload_argv)]


def reload_argv(scope, units=RELOAD_UNITS_DEFAULT):
    return ["reload", "--system"] if scope == "system" else ["reload", "-u", units]


def script(commands, token=None):
    """(sh script that runs ``commands`` in order, stopping at the first failure; its marker token)."""
    token = token or uuid.uuid4().hex
    lines = [
        "mxone_step() {",
        "  out=$(\"$@\" 2>&1 </dev/null); rc=$?",
        "  printf '@@%s %%s\\n' \"$rc\"" % token,
        "  [ -n \"$out\" ] && printf '%s\\n' \"$out\" | sed 's/^/|/'",
        "  return $rc",
        "}",
        " && ".join("mxone_step " + " ".join(shlex.quote(a) for a in argv) for argv in commands) or ":",
        "exit 0",
    ]
    return "\n".join(lines) + "\n", token


def parse(stdout, commands, token):
    """[{command, rc, output}] for the steps that ran, in order."""
    ran = []
    for line in stdout.splitlines():
        if line.startswith("@@%s " % token):
            index = len(ran)
            if index >= len(commands):
                break
            ran.append(dict(command=" ".join(commands[index]), rc=int(line.split()[1]), output=""))
        elif line.startswith("|") and ran:
            ran[-1]["output"] += line[1:] + "\n"
    return ran


def step_failure(ran, commands):
    """Why the commands did not all succeed, or None."""
    for step in ran:
        if step["rc"] != 0:
            return "%s failed (exit %d): %s" % (step["command"], step["rc"], step["output"].strip()[-500:])
    if len(ran) < len(commands):
        return "%s did not run (the connection ended early)" % " ".join(commands[len(ran)])
    return None


def tls_failure(groups_results):
    """Why the TLS check after reload failed (each LIM that did not answer), or None."""
    bad = [r for group in groups_results for r in group.get("results", []) if not r.get("ok")]
    if not bad:
        return None
    return "TLS check after reload failed: " + " ".join("%s: %s;" % (r.get("name"), r.get("error")) for r in bad)


def tls_count(groups_results):
    probes = [r for group in groups_results for r in group.get("results", [])]
    return sum(1 for r in probes if r.get("ok")), len(probes)


def failure_message(system, failure, rolled_back, reloaded, rereload_rc=None, tls_after=None):
    """The one message a failed activation ends with: what failed, what was rolled back, the state now."""
    message = "system %s: %s. Rolled back to the previous bundle on %s" % (
        system, failure, ", ".join(rolled_back) or "no LIM (none had a previous bundle)")
    if reloaded:
        message += "; reload after rollback: exit %s" % rereload_rc
        if tls_after is not None:
            ok, checked = tls_count(tls_after)
            message += "; TLS after rollback: %d/%d LIM(s) up" % (ok, checked)
    else:
        message += "; not reloaded, so the running system was not changed"
    return message + "."
