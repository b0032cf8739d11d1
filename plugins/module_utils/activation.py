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

from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError

RELOAD_UNITS_DEFAULT = "SIPLP,IPLP,TLP65,CSTServer"
# Where the vendor commands live on a service node. The documents name no directory; this one follows the
# /etc/opt/eri_sn layout they do name. It goes first on PATH because sudo's secure_path and `su -` drop
# the login PATH that finds the commands.
COMMAND_PATH_DEFAULT = "/opt/eri_sn/bin"


def validate_command_path(value, field="mxone_command_path"):
    """The directory of the vendor commands (None: the default; "": only the PATH the node gives), or raise."""
    if value is None:
        return COMMAND_PATH_DEFAULT
    if not isinstance(value, str):
        raise MxonePkiError("must be a directory path (a string), not %r" % (value,), field=field)
    if value == "":
        return ""
    if not value.startswith("/") or ":" in value or any(ord(c) < 32 for c in value):
        raise MxonePkiError("%r must be an absolute directory path without ':' or control characters "
                            "(where license_status, media_encryption_enable, data_backup and reload are on "
                            "the service node)" % (value,), field=field)
    return value.rstrip("/") or "/"


def path_prefix(command_path):
    """The shell line that puts ``command_path`` first on PATH (nothing for "")."""
    if not command_path:
        return ""
    return "PATH=%s:\"$PATH\"; export PATH\n" % shlex.quote(command_path)


def steps(media_encryption_types, reload_argv):
    """The commands, in the vendor's order, as argv lists."""
    media = [["media_encryption_enable", "-type", t] for t in media_encryption_types]
    return media + [["data_backup"], list(reload_argv)]


def reload_argv(scope, units=RELOAD_UNITS_DEFAULT):
    return ["reload", "--system"] if scope == "system" else ["reload", "-u", units]


def script(commands, token=None, command_path=COMMAND_PATH_DEFAULT):
    """(sh script that runs ``commands`` in order, stopping at the first failure; its marker token)."""
    token = token or uuid.uuid4().hex
    lines = [
        path_prefix(command_path).rstrip("\n"),
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


def step_failure(ran, commands, command_path=None):
    """Why the commands did not all succeed, or None."""
    for step in ran:
        if step["rc"] == 127:
            return "%s failed (exit 127, command not found: mxone_command_path is %r; set it to the directory " \
                   "that holds the vendor commands on the node): %s" % (
                       step["command"], command_path, step["output"].strip()[-300:])
        if step["rc"] != 0:
            return "%s failed (exit %d): %s" % (step["command"], step["rc"], step["output"].strip()[-500:])
    if len(ran) < len(commands):
        return "%s did not run (the connection ended early)" % " ".join(commands[len(ran)])
    return None


def failure_message(system, failure, rolled_back, reloaded, rereload_rc=None, waited_after=None):
    """The one message a failed activation ends with: what failed, what was rolled back, the state now."""
    message = "system %s: %s. Rolled back to the previous bundle on %s" % (
        system, failure, ", ".join(rolled_back) or "no LIM (none had a previous bundle)")
    if reloaded:
        message += "; reload after rollback: exit %s" % rereload_rc
        if waited_after is not None:
            total = len(waited_after["back"]) + len(waited_after["failed"])
            message += "; TLS after rollback: %d/%d LIM(s) up" % (len(waited_after["back"]), total)
            if waited_after["failed"]:
                message += " (%s)" % "; ".join("%s %s" % item for item in sorted(waited_after["failed"].items()))
    else:
        message += "; not reloaded, so the running system was not changed"
    return message + "."


# After ``reload`` every LIM of the system is down until its program units are back; that takes tens of
# seconds to minutes. Waiting means polling each LIM until it serves the certificate it should serve.
BACK, DOWN, OTHER = "back", "down", "other"


def classify(result, expected_fingerprint):
    """One probe of a LIM after reload: BACK (verified, the expected certificate), DOWN (no TLS answer) or OTHER."""
    served = result.get("certificate") or {}
    if result.get("ok") and served.get("sha256_fingerprint") == expected_fingerprint:
        return BACK
    if not served:
        return DOWN
    return OTHER


def other_certificate(result, what):
    """Why a LIM that answers is not done: another certificate than ``what``, or one that fails the check."""
    served = result.get("certificate") or {}
    if result.get("ok"):
        return "serves a certificate other than %s (serial %s, valid until %s)" % (
            what, served.get("serial"), served.get("not_after"))
    return "serves a certificate that fails the check: %s" % result.get("error")


def wait_for_lims(probe, expected, timeout, clock, sleep, progress=None, what="the new certificate",
                  progress_every=30.0, first_delay=0.25, max_delay=0.5):
    """Poll the LIMs until each serves its expected certificate, has come back wrong, or time is up.

    ``probe(names)`` returns {name: tls_probe result}; ``expected`` maps each LIM to the SHA-256
    fingerprint it must serve. A LIM that answers with something else only counts as wrong once it
    has been seen down since the reload (before that it may be the old listener, not yet stopped);
    one still answering with something else at the deadline is wrong too. Returns
    ``{back: {name: seconds}, failed: {name: why}, elapsed: seconds}``; ``progress(text)`` is called
    at least every ``progress_every`` seconds while LIMs are missing. Polls start at ``first_delay`` and
    back off to ``max_delay``: a refused connection costs next to nothing, and every second of polling
    granularity is a second more of outage before the next system may start.
    """
    start = clock()
    deadline = start + timeout
    back, failed, seen_down, last = {}, {}, set(), {}
    next_progress = start + progress_every
    delay = first_delay
    while True:
        pending = [name for name in expected if name not in back and name not in failed]
        if not pending:
            break
        results = probe(pending)
        now = clock()
        for name in pending:
            result = results.get(name) or {}
            verdict = classify(result, expected[name])
            last[name] = result
            if verdict == BACK:
                back[name] = round(now - start, 1)
            elif verdict == DOWN:
                seen_down.add(name)
            elif name in seen_down:
                failed[name] = "came back after reload but " + other_certificate(result, what)
        pending = [name for name in expected if name not in back and name not in failed]
        if not pending or now >= deadline:
            break
        if progress is not None and now >= next_progress:
            progress("%d/%d LIM(s) serve %s%s; waiting for %s (%d s of %d s)" % (
                len(back), len(expected), what,
                " (%s)" % ", ".join("%s after %s s" % (n, s) for n, s in sorted(back.items())) if back else "",
                ", ".join(pending), now - start, timeout))
            next_progress = now + progress_every
        sleep(max(0.0, min(delay, deadline - now)))
        delay = min(delay * 1.5, max_delay)
    for name in expected:
        if name in back or name in failed:
            continue
        result = last.get(name) or {}
        if result.get("certificate"):
            failed[name] = "after %d s still %s; it never went down after reload" % (
                timeout, other_certificate(result, what))
        else:
            failed[name] = "not back after %d s (%s)" % (timeout, result.get("error") or "no answer")
    return dict(back=back, failed=failed, elapsed=round(clock() - start, 1))


def wait_failure(waited, what="the new certificate"):
    """Why the wait after reload failed (each LIM named), or None."""
    if not waited["failed"]:
        return None
    return "TLS after reload: %s" % "; ".join("%s %s" % (name, why) for name, why in sorted(waited["failed"].items()))
