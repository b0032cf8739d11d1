# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What ``license_status`` says of VOIP-SECURITY, read so that a doubt never passes for a yes.

Media encryption (SRTP) and TLS for H.323 need the VOIP-SECURITY licence; trial licences lack it.
The output's layout is not fixed by the documents, so the usual ones are read: columns separated by
spaces or tabs, or ``key: value`` / ``key = value``, any case. A line naming VOIP-SECURITY whose
answer is neither yes nor no, two lines that disagree, or no such line at all is an error that
quotes what was seen: the system is left alone (fail closed).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

FEATURE = "VOIP-SECURITY"
_LINE = re.compile(r"^\s*VOIP[-_ ]SECURITY\b\s*[:=]?\s*(.*)$", re.I)
_YES = ("yes", "y", "true", "on", "licensed", "enabled", "1")
_NO = ("no", "n", "false", "off", "not licensed", "unlicensed", "disabled", "0")


def voip_security(output):
    """(True or False, the line it was read from); raises ValueError (quoting the output) when unclear."""
    answers = []
    for line in (output or "").splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        rest = match.group(1).strip()
        words = [w for w in re.split(r"[\s|;,]+", rest.lower()) if w]
        word = " ".join(words[:2]) if words[:1] == ["not"] else (words[0] if words else "")
        if word in _YES:
            answers.append((True, line.strip()))
        elif word in _NO:
            answers.append((False, line.strip()))
        else:
            raise ValueError("cannot read the %s line of license_status: %r" % (FEATURE, line.strip()))
    if not answers:
        shown = " | ".join(l.strip() for l in (output or "").splitlines() if l.strip())[:300]
        raise ValueError("license_status shows no %s line (output: %r)" % (FEATURE, shown or "empty"))
    if len(set(value for value, dummy in answers)) > 1:
        raise ValueError("license_status shows %s twice, with different answers: %s"
                         % (FEATURE, " / ".join(repr(line) for dummy, line in answers)))
    return answers[0]


def licence_problem(system, node, output, rc=0):
    """Why this system must be left alone (a sentence naming system, node and licence), or None."""
    where = "system %s: license_status on %s" % (system, node)
    if rc not in (0, None):
        hint = " (command not found: set mxone_command_path to the directory of the vendor commands)" \
            if rc == 127 else ""
        return "%s failed (exit %s%s): %s; the %s licence is unknown, so nothing was changed on this system" % (
            where, rc, hint, (output or "").strip()[-300:] or "no output", FEATURE)
    try:
        licensed, line = voip_security(output)
    except ValueError as error:
        return "%s: %s; nothing was changed on this system" % (where, error)
    if not licensed:
        return ("%s shows %r: media encryption and TLS need the %s licence (trial licences lack it); "
                "nothing was changed on this system" % (where, line, FEATURE))
    return None


def result_problem(result, system, node):
    """Why ``system`` is left alone, judged from the registered result of ``license_status`` on ``node`` (a raw
    round trip: rc, stdout, stderr; unreachable and msg when it could not run; {} when it did not run), or ""."""
    result = result or {}
    if result.get("unreachable") or "rc" not in result:
        return "system %s: license_status could not run on %s (%s); the %s licence is unknown, so nothing was " \
               "changed on this system" % (system, node, result.get("msg") or "no result", FEATURE)
    output = result.get("stdout") or ""
    if result.get("rc"):
        output = (output + "\n" + (result.get("stderr") or "")).strip()
    return licence_problem(system, node, output, result.get("rc")) or ""


def stopped_systems(systems, answers):
    """The systems (plan entries: system, leader, hosts) that the licence check stops: those whose leader's
    answer (``answers``: system -> result; none when it was not asked) shows a problem, in their order."""
    return [entry["system"] for entry in systems
            if result_problem(answers.get(entry["system"]), entry["system"], entry["leader"])]
