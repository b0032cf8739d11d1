# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rolling activation across systems: how many reload at once, when to stop, the maintenance window.

A reload takes every TLS listener of a system down for tens of seconds to minutes, so operators
reload one system at a time, inside a maintenance window, and stop after a failure. Plain Python
with the clock passed in: the activate action and the unit tests use it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import concurrent.futures
import datetime
import math
import re

from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError

try:
    import zoneinfo
except ImportError:  # pragma: no cover - Python < 3.9 on a node; the controller has 3.11
    zoneinfo = None

_WINDOW = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-4]):([0-5]\d)\s*$")
_SHARE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def parallel_count(value, total, field="mxone_activate_parallel"):
    """How many systems reload at once: a number >= 1, or a share of ``total`` such as ``"25%"`` (at least 1)."""
    if isinstance(value, bool):
        raise MxonePkiError("%s must be a number >= 1 or a percentage, not %r" % (field, value), field=field)
    share = _SHARE.match(str(value))
    if share:
        percent = float(share.group(1))
        if not 0 < percent <= 100:
            raise MxonePkiError("%s: %s is not a percentage in (0, 100]" % (field, value), field=field)
        return max(1, int(math.ceil(total * percent / 100.0)))
    try:
        number = int(str(value).strip())
    except ValueError:
        raise MxonePkiError("%s must be a number >= 1 or a percentage such as '25%%', not %r" % (field, value),
                            field=field)
    if number < 1:
        raise MxonePkiError("%s must be at least 1, not %s" % (field, number), field=field)
    return number


class Window(object):
    """A daily maintenance window such as ``22:00-04:30`` in a time zone; it may cross midnight."""

    def __init__(self, text, timezone=None, field="mxone_activate_window"):
        match = _WINDOW.match(str(text or ""))
        if not match:
            raise MxonePkiError("%s: %r is not a daily window HH:MM-HH:MM (for example '22:00-04:30')"
                                % (field, text), field=field)
        start_h, start_m, end_h, end_m = (int(g) for g in match.groups())
        if end_h == 24 and end_m:
            raise MxonePkiError("%s: %r ends after 24:00" % (field, text), field=field)
        self.start = start_h * 60 + start_m
        end = end_h * 60 + end_m
        self.minutes = end - self.start if end > self.start else end - self.start + 24 * 60
        if end == self.start:
            raise MxonePkiError("%s: %r starts and ends at the same time; leave it empty for no window"
                                % (field, text), field=field)
        self.text = "%02d:%02d-%02d:%02d" % (start_h, start_m, end_h, end_m)
        self.zone_name = timezone or "local"
        self.zone = time_zone(timezone, field.replace("window", "timezone"))

    def __str__(self):
        return "%s (%s)" % (self.text, self.zone_name)

    def _openings(self, local):
        """The window's openings around ``local``: yesterday's, today's and tomorrow's (start, end)."""
        for days in (-1, 0, 1):
            day = local.date() + datetime.timedelta(days=days)
            naive = datetime.datetime(day.year, day.month, day.day) + datetime.timedelta(minutes=self.start)
            start = naive.replace(tzinfo=self.zone) if self.zone is not None else naive.astimezone()
            yield start, start + datetime.timedelta(minutes=self.minutes)

    def state(self, now):
        """(open now, when it closes if open else when it next opens), both aware datetimes."""
        local = now.astimezone(self.zone) if self.zone is not None else now.astimezone()
        upcoming = []
        for start, end in self._openings(local):
            if start <= local < end:
                return True, end
            if start > local:
                upcoming.append(start)
        return False, min(upcoming)


def time_zone(name, field="mxone_activate_timezone"):
    """An IANA time zone (``Europe/Stockholm``), or None for the controller's local time."""
    if not name or name == "local":
        return None
    if zoneinfo is None:  # pragma: no cover
        raise MxonePkiError("%s needs Python 3.9 or newer on the controller" % field, field=field)
    try:
        return zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise MxonePkiError("%s: %r is not a known time zone (an IANA name such as Europe/Stockholm, or 'local')"
                            % (field, name), field=field)


def activation_order(systems, order=()):
    """``systems`` (inventory order) with the ones named in ``order`` first, in that order."""
    first = [s for s in order if s in systems]
    return list(dict.fromkeys(first + list(systems)))


STOPPED = "stopped"
PENDING = "pending"


def run_rolling(systems, activate, parallel=1, max_failures=0, hold=None, now=None):
    """Activate ``systems`` in order, at most ``parallel`` at once; {system: result}.

    ``activate(system)`` returns a dict with ``failed``. A system is not started once more than
    ``max_failures`` systems have failed (the first system is the canary: with the default 0, its
    failure stops the rest); ``hold(system, now)`` returns why a system must not start now (its
    maintenance window is closed), or None. Systems already running finish either way. A system
    not started gets ``{state: stopped|pending, reason}``.
    """
    results, failures, waiting = {}, [], list(systems)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        running = {}
        while waiting or running:
            while waiting and len(running) < parallel:
                system = waiting.pop(0)
                if len(failures) > max_failures:
                    results[system] = dict(state=STOPPED, failed=False, reason="not activated: stopped after %s failed"
                                           % ", ".join(failures))
                    continue
                why = hold(system, now()) if hold is not None else None
                if why:
                    results[system] = dict(state=PENDING, failed=False, reason=why)
                    continue
                running[pool.submit(activate, system)] = system
            if not running:
                continue
            done, dummy = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                system = running.pop(future)
                results[system] = future.result()
                if results[system].get("failed"):
                    failures.append(system)
    return results
