"""Run a command and sample the memory of its whole process tree; write the peak as JSON.

    python memwatch.py OUT.json [--interval 0.5] -- COMMAND ARGS...

"Peak memory of the controller" here is the largest sum, over one sample, of the proportional set size
(PSS, /proc/PID/smaps_rollup) of every process of the tree: the command, everything it forks (Ansible's
workers, ssh clients) and the SSH ControlPersist masters its ssh clients leave behind. PSS splits each
shared page among the processes that map it, so a page shared by the main process and 50 forked workers
counts once in the sum, not 51 times as RSS would (the RSS sum is written too, as ``peak_rss_sum_mb``, an
upper bound). The masters detach from their parent; this process makes itself a child subreaper
(prctl PR_SET_CHILD_SUBREAPER), so they are reparented to it and stay in the tree while the command runs
(masters already running before it started, from an earlier run, are not in its tree and not counted).

Sampling: every ``interval`` seconds the tree is walked through /proc/PID/task/TID/children and each
process's PSS is read; a master's PSS, which hardly changes, is re-read every fourth sample. A short-lived
peak between two samples is missed, so the figure is a lower bound of the true peak at that resolution.
Also written: ``peak_parts_pss_mb`` (that peak split into the command's own process, ssh clients, adopted
masters and the rest: Ansible's forked workers, or the floor's nothing else), ``main_peak_rss_mb`` (VmHWM
of the command's own process, the high-water mark the kernel keeps), ``peak_processes``, ``samples`` and
``self_cpu_s`` (this sampler's own CPU, which bench/run takes off the controller's CPU).
"""

import ctypes
import json
import os
import resource
import subprocess
import sys
import threading

PR_SET_CHILD_SUBREAPER = 36


def children(pid):
    kids = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return kids
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as handle:
                kids += [int(x) for x in handle.read().split()]
        except (OSError, ValueError):
            pass
    return kids


def pss_rss_kb(pid):
    pss = rss = 0
    try:
        with open("/proc/%d/smaps_rollup" % pid) as handle:
            for line in handle:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
                    break
    except (OSError, ValueError, IndexError):
        return None
    return pss, rss


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as handle:
            return handle.read().strip()
    except OSError:
        return None


def hwm_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def main(argv):
    out = argv[0]
    interval = 0.5
    rest = argv[1:]
    if rest[:1] == ["--interval"]:
        interval, rest = float(rest[1]), rest[2:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    me = os.getpid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    proc = subprocess.Popen(rest)
    peak = {"pss_kb": 0, "rss_kb": 0, "processes": 0, "parts": {}}
    main_hwm = [0]
    masters = {}  # adopted ssh masters: pid -> (pss, rss), refreshed every fourth sample
    samples = [0]
    done = threading.Event()

    def sample():
        n = 0
        while not done.is_set():
            pss = rss = count = 0
            parts = {"main": 0, "ssh": 0, "masters": 0, "other": 0}  # PSS kB of the command, ssh clients, masters, rest
            seen = set()
            mine = set(children(me))
            stack = [proc.pid] + [p for p in mine if p != proc.pid]
            while stack:
                pid = stack.pop()
                if pid in seen:
                    continue
                seen.add(pid)
                adopted = pid != proc.pid and pid in mine and (pid in masters or comm(pid) == "ssh")
                if adopted and pid in masters and n % 4:
                    value = masters[pid]
                else:
                    value = pss_rss_kb(pid)
                    if adopted and value:
                        masters[pid] = value
                if value:
                    pss, rss, count = pss + value[0], rss + value[1], count + 1
                    part = "main" if pid == proc.pid else "masters" if adopted else \
                        "ssh" if comm(pid) == "ssh" else "other"
                    parts[part] += value[0]
                if not adopted:
                    stack += children(pid)
            for gone in set(masters) - seen:
                del masters[gone]
            if pss > peak["pss_kb"]:
                peak.update(pss_kb=pss, rss_kb=max(rss, peak["rss_kb"]), processes=count, parts=parts)
            peak["rss_kb"] = max(rss, peak["rss_kb"])
            main_hwm[0] = max(main_hwm[0], hwm_kb(proc.pid) or 0)
            samples[0] += 1
            n += 1
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rc = proc.wait()
    done.set()
    sampler.join()
    while True:  # reap adopted children that have exited (the masters that live on are left running)
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(out, "w") as handle:
        json.dump({"peak_pss_mb": round(peak["pss_kb"] / 1024.0, 1), "peak_rss_sum_mb": round(peak["rss_kb"] / 1024.0, 1),
                   "peak_processes": peak["processes"], "main_peak_rss_mb": round(main_hwm[0] / 1024.0, 1),
                   "peak_parts_pss_mb": dict((k, round(v / 1024.0, 1)) for k, v in peak["parts"].items()),
                   "samples": samples[0], "interval_s": interval,
                   "self_cpu_s": round(usage.ru_utime + usage.ru_stime, 2)}, handle)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
