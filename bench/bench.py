"""mxone.pki benchmark driver (run it through bench/run; see bench/README.md).

In one run, on this machine, against the lab (tests/lab/lab) on its own net, state dir and ports:

* reference  bench/reference/rollout.yml with bench/.venv's ansible-playbook (community.crypto);
* floor      bench/floor.py: one ssh per node writing both files, one ssh per system activating;
* ours       playbooks/rollout.yml with the project's .venv: first run on a fresh lab, then again;
* issuance   bench/issue_1000.py: N per-LIM certificates, mxone.pki's core versus bare cryptography.

Every first run (reference, floor, ours) gets a fresh lab (lab down + up) and a fresh PKI store, and
is checked afterwards, untimed: every LIM answers TLS on 5061 with its own name and a chain that
verifies against that contender's CA, every download server serves that CA, and each system's
journal shows the activation sequence exactly once. The second run of ours must change nothing
(changed=0 in the recap, journals untouched).
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import resource
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
BENCH_STATE_TMP = "/tmp"
ROOT = os.path.dirname(BENCH)
LAB = os.path.join(ROOT, "tests", "lab", "lab")
PROJECT_BIN = os.path.join(ROOT, ".venv", "bin")
BENCH_VENV = os.path.join(BENCH, ".venv")
# The newest `ansible` whose dependency is ansible-core 2.19 (ansible 12.x: ansible-core ~=2.19.5).
# ansible 13 needs ansible-core 2.20, which needs Python >= 3.12 (pip on this Python 3.11 does not
# even offer it). The same cryptography as the project's requirements.txt, so both sides sign alike.
BENCH_REQUIREMENTS = ["ansible==12.3.0", "cryptography==50.0.2"]
ROLLOUT = os.path.join(ROOT, "playbooks", "rollout.yml")
REFERENCE = os.path.join(BENCH, "reference", "rollout.yml")
ACTIVATION = ["media_encryption_enable -type extension", "data_backup", "reload --system"]
READ_ONLY_COMMAND = "license_status"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
# Forks (and the floor's ssh calls at once) unless --forks says: one per node up to this. A fork per node at
# 1,000 nodes would be 1,000 worker processes of ansible-playbook (and 1,000 ssh handshakes at once) on 2 cores.
FORKS_CAP = 50
KEYS = ("reference_s", "floor_s", "ours_first_s", "ours_second_s", "issue_1000_ours_s", "issue_1000_bare_s")
TARGETS = {
    # ratio key: (target, meaning)
    "ratio_reference_over_ours_first": (3.0, ">=", "our first run at least 3x faster than the reference"),
    "ratio_ours_first_over_second": (5.0, ">=", "our idempotent re-run at least 5x faster than our first run"),
    "ratio_ours_first_over_floor": (3.0, "<=", "our first run within 3x of the bare-SSH floor"),
    "ratio_issue_ours_over_bare": (1.5, "<=", "1,000-LIM issuance within 1.5x of bare cryptography"),
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# environments
# ---------------------------------------------------------------------------------------------

def base_python():
    return getattr(sys, "_base_executable", None) or sys.executable


def bench_venv_ready():
    return os.path.exists(os.path.join(BENCH_VENV, "bin", "ansible-playbook"))


def ensure_bench_venv():
    """bench/.venv with the `ansible` package (ansible-core 2.19 + bundled collections)."""
    if bench_venv_ready():
        return
    log("bench: creating %s with %s (about 30 s, 550 MB)" % (BENCH_VENV, " ".join(BENCH_REQUIREMENTS)))
    subprocess.run([base_python(), "-m", "venv", BENCH_VENV], check=True)
    pip = os.path.join(BENCH_VENV, "bin", "pip")
    subprocess.run([pip, "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([pip, "install", "-q"] + BENCH_REQUIREMENTS, check=True)


def bench_collections():
    return os.path.join(BENCH_VENV, "lib", "python%d.%d" % sys.version_info[:2], "site-packages")


def collection_version(path):
    try:
        with open(os.path.join(path, "MANIFEST.json")) as handle:
            return json.load(handle)["collection_info"]["version"]
    except (OSError, ValueError, KeyError):
        return None


def command_output(argv):
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        return (proc.stdout + proc.stderr).strip()
    except (OSError, subprocess.SubprocessError):
        return None


def versions(with_reference):
    core = command_output([os.path.join(PROJECT_BIN, "ansible"), "--version"]) or ""
    info = {
        "python": platform.python_version(),
        "ansible_core_ours": (re.search(r"core ([\d.]+)", core) or [None, None])[1],
        "cryptography_ours": command_output([os.path.join(PROJECT_BIN, "python"), "-c",
                                             "import cryptography; print(cryptography.__version__)"]),
        "openssh": command_output(["ssh", "-V"]),
        "mxone_pki_commit": command_output(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]),
        # the checkout is shared: what was modified (not committed) under the measured code when this ran
        "mxone_pki_uncommitted": [line[3:] for line in (command_output(
            ["git", "-C", ROOT, "status", "--porcelain", "--", "roles", "plugins", "playbooks"]) or "").splitlines()
            if line.strip()],
    }
    if with_reference:
        ref = command_output([os.path.join(BENCH_VENV, "bin", "ansible"), "--version"]) or ""
        pkg = command_output([os.path.join(BENCH_VENV, "bin", "python"), "-c",
                              "import importlib.metadata as m; print(m.version('ansible'))"])
        info.update({
            "ansible_reference": pkg,
            "ansible_core_reference": (re.search(r"core ([\d.]+)", ref) or [None, None])[1],
            "community_crypto_reference": collection_version(
                os.path.join(bench_collections(), "ansible_collections", "community", "crypto")),
            "cryptography_reference": command_output([os.path.join(BENCH_VENV, "bin", "python"), "-c",
                                                      "import cryptography; print(cryptography.__version__)"]),
        })
    return info


def machine():
    model = None
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), None)
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as handle:
            mem_kb = int(handle.readline().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kb = 0
    os_name = None
    try:
        with open("/etc/os-release") as handle:
            release = dict(line.rstrip().split("=", 1) for line in handle if "=" in line)
            os_name = release.get("PRETTY_NAME", "").strip('"')
    except OSError:
        pass
    return {"hostname": socket.gethostname(), "cpus": os.cpu_count(), "cpu_model": model,
            "memory_gib": round(mem_kb / 1048576, 1), "kernel": platform.release(), "os": os_name}


# ---------------------------------------------------------------------------------------------
# the lab
# ---------------------------------------------------------------------------------------------

class Lab(object):
    def __init__(self, args):
        self.args = args
        self.state = os.path.join(args.state_root, "lab")

    def run(self, *argv, check=True):
        proc = subprocess.run([LAB] + list(argv) + ["--state-dir", self.state], capture_output=True, text=True,
                              timeout=900, check=False)  # up and down of 1,000 nodes take about a minute each
        if check and proc.returncode != 0:
            raise RuntimeError("lab %s: %s" % (" ".join(argv), (proc.stdout + proc.stderr).strip()))
        return proc.stdout

    def down(self):
        if os.path.exists(self.state):
            self.run("down", check=False)

    def fresh(self, inventory, systems=None, lims=None, download_servers=None, reload_seconds=None):
        """lab down + up: a fresh lab whose inventory is ``inventory`` (the benchmark's size and reload time
        unless given). Returns the seconds it took."""
        started = time.monotonic()
        self.down()
        a = self.args
        self.run("up", "--systems", str(systems or a.systems), "--lims", str(lims or a.lims), "--download-servers",
                 str(a.download_servers if download_servers is None else download_servers),
                 "--inventory", inventory, "--net", a.net, "--ssh-port", str(a.ssh_port),
                 "--http-port", str(a.http_port),
                 "--reload-seconds", str(a.lab_reload_seconds if reload_seconds is None else reload_seconds))
        return time.monotonic() - started

    def status(self):
        return json.loads(self.run("status", "--json"))

    def journal(self, system):
        return json.loads(self.run("journal", system, "--json"))

    def systems(self):
        return sorted(set(n["system"] for n in self.status() if n["kind"] == "lim"))


# ---------------------------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------------------------

def loadavg():
    """The 1, 5 and 15 minute load averages (what uptime shows)."""
    try:
        with open("/proc/loadavg") as handle:
            return [float(x) for x in handle.read().split()[:3]]
    except (OSError, ValueError):
        return None


def cpu_times():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


CLK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    """utime + stime + cutime + cstime of a process, in seconds (None when it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / float(CLK)
    except (OSError, ValueError, IndexError):
        return None


def lab_pids(state):
    """The lab's processes: everything in its nodes' mount namespaces (sshd, sessions), and labd."""
    spaces, pids = set(), set()
    nodes = os.path.join(state, "nodes")
    for name in (os.listdir(nodes) if os.path.isdir(nodes) else []):
        try:
            with open(os.path.join(nodes, name, "run.json")) as handle:
                spaces.add(json.load(handle).get("mntns"))
        except (OSError, ValueError):
            pass
    try:
        with open(os.path.join(state, "run", "labd.pid")) as handle:
            pids.add(int(handle.read().strip()))
    except (OSError, ValueError):
        pass
    spaces.discard(None)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink("/proc/%s/ns/mnt" % entry) in spaces:
                    pids.add(int(entry))
            except OSError:
                pass
    return pids


def lab_cpu_snapshot(state):
    if not state:
        return {}
    return dict((pid, cpu) for pid, cpu in ((p, proc_cpu(p)) for p in lab_pids(state)) if cpu is not None)


def master_pids(control_dir):
    """Ansible's SSH ControlPersist masters for our control path dir (they leave the process tree)."""
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as handle:
                    if (control_dir + "/").encode() in handle.read():
                        pids.add(int(entry))
            except OSError:
                pass
    return pids


def masters_cpu_snapshot(control_dir):
    return dict((pid, cpu) for pid, cpu in ((p, proc_cpu(p)) for p in master_pids(control_dir)) if cpu is not None)


def lab_cpu_delta(before, after):
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def wait_quiet(max_wait, threshold=25.0):
    """Wait (up to max_wait s) until the machine is nearly idle: other work on it skews the timings.

    Returns the busy percentage seen just before the run starts."""
    deadline = time.monotonic() + max_wait
    while True:
        busy0, total0 = cpu_times()
        time.sleep(1.0)
        busy1, total1 = cpu_times()
        pct = 100.0 * (busy1 - busy0) / max(1, total1 - total0)
        if pct <= threshold or time.monotonic() >= deadline:
            return round(pct, 1)


def run_stamped(argv, env, cwd, timeout):
    """Run ``argv`` reading its stdout line by line: (returncode, stdout, stderr, [epoch of each stdout line])."""
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    errors = []
    reader = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)
    reader.start()
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    lines, stamps = [], []
    try:
        for line in proc.stdout:
            stamps.append(time.time())
            lines.append(line)
        proc.wait()
    finally:
        killer.cancel()
        reader.join()
    return proc.returncode, "".join(lines), "".join(errors), stamps


MEMWATCH = os.path.join(BENCH, "memwatch.py")
MEMORY_KEYS = ("peak_pss_mb", "peak_rss_sum_mb", "peak_processes", "main_peak_rss_mb", "peak_parts_pss_mb")


def timed(argv, env=None, cwd=ROOT, log_path=None, timeout=3600, lab_state=None, quiet_wait=0, stamp_lines=False,
          memory=False):
    """Run ``argv``; wall seconds, controller CPU (the process and its descendants, plus Ansible's SSH
    ControlPersist masters, which leave the process tree), the lab's CPU (sshd and sessions of the nodes,
    labd) and the rest of the machine's busy time meanwhile (kernel network work on loopback, and
    anything else running on the machine). With ``stamp_lines``, also when each stdout line arrived
    (``lines``: [(epoch, text)]) and the epoch of the start and end (``start_epoch``, ``end_epoch``).
    With ``memory``, the command runs under bench/memwatch.py, which samples the PSS of its whole process
    tree (and the ControlPersist masters it starts) every 0.5 s: ``peak_pss_mb`` and the other
    MEMORY_KEYS; the sampler's own CPU is taken off ``controller_cpu_s``."""
    background = wait_quiet(quiet_wait) if quiet_wait else None
    load_before = loadavg()
    mem_out = None
    if memory:
        mem_out = os.path.join(BENCH_STATE_TMP, "memwatch-%d.json" % os.getpid())
        if os.path.exists(mem_out):
            os.unlink(mem_out)
        argv = [sys.executable, MEMWATCH, mem_out, "--"] + list(argv)
    control_dir = (env or {}).get("ANSIBLE_SSH_CONTROL_PATH_DIR")
    masters_before = masters_cpu_snapshot(control_dir) if control_dir else {}
    lab_before = lab_cpu_snapshot(lab_state)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0, total0 = cpu_times()
    started, start_epoch = time.monotonic(), time.time()
    stamps = None
    if stamp_lines:
        returncode, stdout, stderr, stamps = run_stamped(argv, env, cwd, timeout)
    else:
        proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
        returncode, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    wall = time.monotonic() - started
    end_epoch = time.time()
    busy1, total1 = cpu_times()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lab_cpu = lab_cpu_delta(lab_before, lab_cpu_snapshot(lab_state))
    masters_cpu = lab_cpu_delta(masters_before, masters_cpu_snapshot(control_dir)) if control_dir else 0.0
    output = stdout + stderr
    if log_path:
        with open(log_path, "w") as handle:
            handle.write(output)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime) + masters_cpu
    mem = {}
    if mem_out:
        try:
            with open(mem_out) as handle:
                mem = json.load(handle)
        except (OSError, ValueError):
            mem = {}
        cpu -= mem.get("self_cpu_s", 0.0)
    machine_cpu = (busy1 - busy0) / float(CLK)
    res = {"wall_s": round(wall, 3), "controller_cpu_s": round(cpu, 2), "lab_cpu_s": round(lab_cpu, 2),
           "other_cpu_s": round(max(0.0, machine_cpu - cpu - lab_cpu), 2),
           "machine_busy_pct": round(100.0 * (busy1 - busy0) / max(1, total1 - total0), 1),
           "busy_before_pct": background, "loadavg_before": load_before, "loadavg_after": loadavg(),
           "rc": returncode, "stdout": stdout, "output": output}
    res.update((k, mem.get(k)) for k in MEMORY_KEYS if mem_out)
    if stamps is not None:
        res.update(lines=list(zip(stamps, stdout.splitlines())), start_epoch=start_epoch, end_epoch=end_epoch)
    return res


def task_durations(run):
    """[(seconds, task header)] from the arrival of each task's header line to the next one's (the last to the
    end of the run); the first entry is the start (ansible-playbook's start, inventory, playbook parsing)."""
    headers = [(t, text) for t, text in run.get("lines") or []
               if text.startswith(("TASK [", "RUNNING HANDLER ["))]
    if not headers:
        return []
    marks = [(run["start_epoch"], "(start: ansible-playbook, inventory, playbook)")] + \
        [(t, re.sub(r"\s*\**$", "", text)[:150]) for t, text in headers]
    ends = [t for t, _text in marks[1:]] + [run["end_epoch"]]
    return [[round(end - t, 2), text] for (t, text), end in zip(marks, ends)]


def recap(stdout):
    hosts = dict((m.group(1), dict(ok=int(m.group(2)), changed=int(m.group(3)), unreachable=int(m.group(4)),
                                   failed=int(m.group(5)))) for m in RECAP.finditer(stdout))
    return {"hosts": len(hosts), "changed": sum(h["changed"] for h in hosts.values()),
            "failed": sum(h["failed"] + h["unreachable"] for h in hosts.values())}


def handshake(ip, name, cafile, tries=10):
    context = ssl.create_default_context(cafile=cafile)
    error = None
    for _attempt in range(tries):
        try:
            with socket.create_connection((ip, 5061), timeout=5) as sock:
                with context.wrap_socket(sock, server_hostname=name):
                    return None
        except (OSError, ssl.SSLError) as exc:
            error = exc
            time.sleep(0.3)
    return "%s (%s): %s" % (name, ip, error)


def verify_deployment(lab, ca_path, journals_before=None):
    """Untimed check that a contender really rolled out: TLS, download servers, one activation per system."""
    problems = []
    with open(ca_path, "rb") as handle:
        ca = handle.read()
    nodes = lab.status()
    for node in nodes:
        if node["kind"] == "lim":
            problem = handshake(node["ip"], node["fqdn"], ca_path)
            if problem:
                problems.append("TLS " + problem)
        else:
            try:
                served = urllib.request.urlopen(node["url"] + "ca.pem", timeout=5).read()
                if served.strip() != ca.strip():
                    problems.append("%s serves a ca.pem that is not the CA" % node["name"])
            except OSError as exc:
                problems.append("%s: ca.pem not served: %s" % (node["name"], exc))
    for system in lab.systems():
        commands = acting_commands(lab.journal(system))
        before = acting_commands((journals_before or {}).get(system, []))
        new = commands[len(before):]
        if journals_before is None and new != ACTIVATION:
            problems.append("%s journal: %s" % (system, new))
        if journals_before is not None and new:
            problems.append("%s: commands ran on the second run: %s" % (system, new))
    return problems


def acting_commands(journal):
    """The commands of a system's journal that act on it: not the lab's events (tls-up after a reload, no
    "command" key) and not license_status, which the rollout reads on each system's leader on every run."""
    return [e["command"] for e in journal if "command" in e and e["command"] != READ_ONLY_COMMAND]


def summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return round(min(values), 3), round(statistics.median(values), 3)


class Bench(object):
    def __init__(self, args):
        self.args = args
        self.lab = Lab(args)
        self.runs = {}  # name -> list of run records
        self.notes = []
        self.logs = os.path.join(args.state_root, "logs")
        self.issue = {}
        self.reload_section = None
        self.versions_start = None

    def record(self, name, run, into=None, **extra):
        """A run's figures into self.runs[name] (the main table), or appended to the list ``into``."""
        entry = dict((k, run[k]) for k in ("wall_s", "controller_cpu_s", "lab_cpu_s", "other_cpu_s",
                                           "machine_busy_pct", "busy_before_pct", "rc"))
        entry.update((k, run[k]) for k in MEMORY_KEYS + ("loadavg_before", "loadavg_after") if k in run)
        entry.update(extra)
        (self.runs.setdefault(name, []) if into is None else into).append(entry)
        log("  %-16s %7.2f s  (CPU s: controller %.1f, lab %.1f, other %.1f; machine busy %.0f%%%s)%s" % (
            name, run["wall_s"], run["controller_cpu_s"], run["lab_cpu_s"], run["other_cpu_s"],
            run["machine_busy_pct"], "; peak PSS %.0f MB" % run["peak_pss_mb"] if run.get("peak_pss_mb") else "",
            "" if not entry.get("problems") else "  PROBLEMS: %s" % "; ".join(entry["problems"])[:500]))

    def gate(self):
        return {"lab_state": self.lab.state, "quiet_wait": self.args.quiet_wait}

    def workdir(self, name):
        path = os.path.join(self.args.state_root, name)
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        return path

    def ansible_env(self, config, collections=None, extra=None):
        env = dict(os.environ)
        for key in list(env):
            if key.startswith("ANSIBLE_"):
                del env[key]
        env.update(ANSIBLE_CONFIG=config, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                   ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_LOCALHOST_WARNING="false",
                   ANSIBLE_SSH_CONTROL_PATH_DIR=os.path.join(self.args.state_root, "cp"))
        if collections:
            env["ANSIBLE_COLLECTIONS_PATH"] = collections
        env.update(extra or {})
        return env

    def ours_env(self, extra=None):
        return self.ansible_env(os.path.join(ROOT, "ansible.cfg"), os.path.join(ROOT, ".collections"), extra)

    def ours_cmd(self, inventory, *more, forks=None):
        parallel = ["-e", "mxone_activate_parallel=%d" % self.args.activate_parallel] \
            if self.args.activate_parallel else []
        return [os.path.join(PROJECT_BIN, "ansible-playbook"), "-i", inventory, ROLLOUT,
                "-f", str(forks or self.args.forks)] + parallel + list(more)

    def reference_cmd(self, inventory, pki, *more):
        return [os.path.join(BENCH_VENV, "bin", "ansible-playbook"), "-i", inventory, REFERENCE,
                "-f", str(self.args.forks), "-e", "ref_pki_dir=" + pki] + list(more)

    def reference_env(self, extra=None):
        # Only the collections bundled with the `ansible` package in bench/.venv.
        return self.ansible_env(os.path.join(BENCH, "reference", "ansible.cfg"), bench_collections(), extra)

    # -- contenders ------------------------------------------------------------------------

    def reference(self, i):
        work = self.workdir("reference-%d" % i)
        inventory = os.path.join(work, "inventory", "hosts.yml")
        self.lab.fresh(inventory)
        pki = os.path.join(work, "pki")
        run = timed(self.reference_cmd(inventory, pki), env=self.reference_env(),
                    log_path=os.path.join(self.logs, "reference-%d.log" % i), **self.gate())
        problems = [] if run["rc"] == 0 else ["rc=%d" % run["rc"]]
        problems += verify_deployment(self.lab, os.path.join(pki, "ca.pem")) if run["rc"] == 0 else []
        self.record("reference", run, recap=recap(run["stdout"]), problems=problems)

    def floor(self, i):
        work = self.workdir("floor-%d" % i)
        inventory = os.path.join(work, "inventory", "hosts.yml")
        self.lab.fresh(inventory)
        material = os.path.join(work, "material")
        python = os.path.join(PROJECT_BIN, "python")
        made = timed([python, os.path.join(BENCH, "floor.py"), "material", "--state-dir", self.lab.state,
                      "--out", material], **self.gate())
        if made["rc"] != 0:
            raise RuntimeError("floor material: " + made["output"])
        self.record("floor_material", made)
        parallel = ["--activate-parallel", str(self.args.activate_parallel)] if self.args.activate_parallel else []
        run = timed([python, os.path.join(BENCH, "floor.py"), "deliver", "--state-dir", self.lab.state,
                     "--out", material, "--forks", str(self.args.forks)] + parallel,
                    log_path=os.path.join(self.logs, "floor-%d.log" % i), memory=True, **self.gate())
        problems = [] if run["rc"] == 0 else ["rc=%d: %s" % (run["rc"], run["output"][-300:])]
        detail = json.loads(run["stdout"]) if run["rc"] == 0 else {}
        if detail.get("activate_s") is not None:
            # the floor's delivery part: the whole process (Python start, lab status, an ssh per node) up to the
            # first activation order; what the second run of ours is compared with
            detail["delivery_part_s"] = round(run["wall_s"] - detail["activate_s"], 3)
        problems += verify_deployment(self.lab, os.path.join(material, "ca.pem")) if run["rc"] == 0 else []
        self.record("floor", run, problems=problems, **detail)
        if detail.get("delivery_part_s") is not None:
            # a part of the floor run above (its CPU and memory are the floor's): the wall time only
            self.runs.setdefault("floor_delivery", []).append(
                {"wall_s": detail["delivery_part_s"], "part_of": "floor", "busy_before_pct": run["busy_before_pct"],
                 "deliver_s": detail.get("deliver_s"), "problems": problems})

    def ours(self, i):
        work = self.workdir("ours-%d" % i)
        inventory = os.path.join(work, "inventory", "hosts.yml")
        self.lab.fresh(inventory)
        ca = os.path.join(work, "inventory", "pki", "ca", "ca.pem")
        run = timed(self.ours_cmd(inventory), env=self.ours_env(),
                    log_path=os.path.join(self.logs, "ours-first-%d.log" % i), memory=True, stamp_lines=True,
                    **self.gate())
        problems = [] if run["rc"] == 0 else ["rc=%d" % run["rc"]]
        problems += verify_deployment(self.lab, ca) if run["rc"] == 0 else []
        self.record("ours_first", run, recap=recap(run["stdout"]), problems=problems, tasks=task_durations(run))
        journals = dict((s, self.lab.journal(s)) for s in self.lab.systems())
        # immediately, as a user would run it again (no quiet gate: SSH connections may still persist)
        run = timed(self.ours_cmd(inventory), env=self.ours_env(),
                    log_path=os.path.join(self.logs, "ours-second-%d.log" % i), lab_state=self.lab.state, memory=True,
                    stamp_lines=True)
        rc = recap(run["stdout"])
        problems = [] if run["rc"] == 0 else ["rc=%d" % run["rc"]]
        if rc["changed"] != 0:
            problems.append("changed=%d on the second run (expected 0)" % rc["changed"])
        problems += verify_deployment(self.lab, ca, journals_before=journals)
        self.record("ours_second", run, recap=rc, problems=problems, tasks=task_durations(run))

    def ours_per_lim(self, i):
        """Ours with mxone_cert_mode: lim on every system: a certificate per LIM, as the reference issues."""
        import yaml
        work = self.workdir("ours-lim-%d" % i)
        inventory = os.path.join(work, "inventory", "hosts.yml")
        self.lab.fresh(inventory)
        with open(inventory) as handle:
            data = yaml.safe_load(handle)
        for group in data["all"]["children"]["mxone_systems"]["children"].values():
            group.setdefault("vars", {})["mxone_cert_mode"] = "lim"
        variant = os.path.join(work, "inventory", "hosts-per-lim.yml")
        with open(variant, "w") as handle:
            yaml.safe_dump(data, handle)
        ca = os.path.join(work, "inventory", "pki", "ca", "ca.pem")
        run = timed(self.ours_cmd(variant), env=self.ours_env(),
                    log_path=os.path.join(self.logs, "ours-per-lim-%d.log" % i), **self.gate())
        problems = [] if run["rc"] == 0 else ["rc=%d" % run["rc"]]
        problems += verify_deployment(self.lab, ca) if run["rc"] == 0 else []
        self.record("ours_first_per_lim", run, recap=recap(run["stdout"]), problems=problems)

    def issuance(self):
        argv = [os.path.join(PROJECT_BIN, "python"), os.path.join(BENCH, "issue_1000.py"),
                "--count", str(self.args.issue_count), "--repeat", str(self.args.issue_repeat),
                "--modes", self.args.issue_modes]
        if self.args.quick:
            argv += ["--key-cache", ""]
        run = timed(argv, timeout=7200)
        if run["rc"] != 0:
            raise RuntimeError("issue_1000.py: " + run["output"][-2000:])
        return json.loads(run["stdout"])

    # -- profile ---------------------------------------------------------------------------

    def sshd_accepts(self):
        """Per node: SSH connections accepted so far (sshd's log)."""
        counts = {}
        for node in self.lab.status():
            path = os.path.join(self.lab.state, "nodes", node["name"], "sshd.log")
            try:
                with open(path, errors="replace") as handle:
                    counts[node["name"]] = sum(1 for line in handle if "Accepted publickey" in line)
            except OSError:
                counts[node["name"]] = 0
        return counts

    def round_trips(self, output, accepted):
        """Per node: remote commands (SSH EXEC lines of -vvv) and SSH connections; local module runs."""
        by_ip = dict((n["ip"], n) for n in self.lab.status())
        execs = dict((n["name"], 0) for n in by_ip.values())
        local = 0
        for line in output.splitlines():
            match = re.match(r"^<([\d.]+)> SSH: EXEC ", line)
            if match and match.group(1) in by_ip:
                execs[by_ip[match.group(1)]["name"]] += 1
            elif re.match(r"^<(localhost|127\.0\.0\.1)> EXEC ", line):
                local += 1
        leaders = set()
        for system in self.lab.systems():
            hosts = set(e["host"] for e in self.lab.journal(system) if "command" in e)
            leaders |= hosts
        groups = {"lim": [], "leader": [], "download": []}
        for name, node in ((n["name"], n) for n in by_ip.values()):
            kind = "download" if node["kind"] == "download" else ("leader" if name in leaders else "lim")
            groups[kind].append(name)

        def spread(names, counts):
            values = sorted(counts.get(n, 0) for n in names)
            if not values:
                return None
            return {"nodes": len(values), "min": values[0], "median": statistics.median(values), "max": values[-1]}

        return {"ssh_exec_per_node": dict((k, spread(v, execs)) for k, v in groups.items()),
                "ssh_connections_per_node": dict((k, spread(v, accepted)) for k, v in groups.items()),
                "ssh_exec_total": sum(execs.values()), "ssh_connections_total": sum(accepted.values()),
                "local_exec_total": local}

    @staticmethod
    def task_times(output):
        """profile_tasks' summary (execution order): [(task, seconds)]."""
        tail = output.split("PLAY RECAP", 1)[-1]
        return [(m.group(1).strip(), float(m.group(2)))
                for m in re.finditer(r"^(\S.*?) -{2,} (\d+\.\d+)s\s*$", tail, re.M)]

    def profile(self):
        a = self.args
        out_dir = os.path.join(BENCH, "results", "profile")
        os.makedirs(out_dir, exist_ok=True)
        os.makedirs(self.logs, exist_ok=True)
        res = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "machine": machine(), "versions": self.versions_start, "lims": a.systems * a.lims, "systems": a.systems,
               "download_servers": a.download_servers, "forks": a.forks}
        colls = os.path.join(ROOT, ".collections") + os.pathsep + bench_collections()
        tasks_env = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
                     "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all", "PROFILE_TASKS_SORT_ORDER": "none"}

        def cpu(run):
            return dict((k, run[k]) for k in ("wall_s", "controller_cpu_s", "lab_cpu_s", "other_cpu_s",
                                              "machine_busy_pct", "busy_before_pct", "rc"))

        # 1. where the time goes: profile_tasks, first and second run of ours
        log("profile: ours with profile_tasks")
        work = self.workdir("profile-tasks")
        inventory = os.path.join(work, "inventory", "hosts.yml")
        self.lab.fresh(inventory)
        env = self.ansible_env(os.path.join(ROOT, "ansible.cfg"), colls, tasks_env)
        for run_name in ("ours_first", "ours_second"):
            selfcpu = os.path.join(self.logs, run_name + ".main-cpu.json")
            argv = self.ours_cmd(inventory)
            argv = [os.path.join(PROJECT_BIN, "python"), os.path.join(BENCH, "selfcpu.py"), selfcpu] + argv
            run = timed(argv, env=env, log_path=os.path.join(out_dir, run_name + ".profile_tasks.log"),
                        **(self.gate() if run_name == "ours_first" else {"lab_state": self.lab.state}))
            with open(selfcpu) as handle:
                main_cpu = json.load(handle)
            res[run_name] = dict(cpu(run), recap=recap(run["stdout"]), tasks=self.task_times(run["stdout"]),
                                 host_task_results=host_task_results(run["stdout"]), **main_cpu)
            log("  %s %.1f s" % (run_name, run["wall_s"]))
        if bench_venv_ready():
            log("profile: reference with profile_tasks")
            work = self.workdir("profile-ref-tasks")
            inventory = os.path.join(work, "inventory", "hosts.yml")
            self.lab.fresh(inventory)
            run = timed(self.reference_cmd(inventory, os.path.join(work, "pki")),
                        env=self.reference_env(tasks_env),
                        log_path=os.path.join(out_dir, "reference.profile_tasks.log"), **self.gate())
            res["reference"] = dict(cpu(run), recap=recap(run["stdout"]), tasks=self.task_times(run["stdout"]),
                                    host_task_results=host_task_results(run["stdout"]))
            log("  reference %.1f s" % run["wall_s"])

        # 2. Ansible's fixed cost per host-task here: 10 skipped tasks on every node, minus an empty play
        log("profile: the cost of one host-task (10 skipped tasks x %d nodes)"
            % (a.systems * a.lims + a.download_servers))
        walls = {}
        for name in ("empty", "skip10", "empty", "skip10", "empty", "skip10"):
            run = timed([os.path.join(PROJECT_BIN, "ansible-playbook"), "-i", inventory,
                         os.path.join(BENCH, "tax", name + ".yml"), "-f", str(a.forks)], env=self.ours_env(),
                        quiet_wait=a.quiet_wait)
            walls.setdefault(name, []).append(run["wall_s"])
        nodes = a.systems * a.lims + a.download_servers
        res["host_task"] = {"empty_play_s": statistics.median(walls["empty"]),
                            "skip10_play_s": statistics.median(walls["skip10"]),
                            "per_host_task_ms": round(1000 * (statistics.median(walls["skip10"])
                                                              - statistics.median(walls["empty"])) / (10 * nodes), 1)}

        # 3. SSH round trips per node: -vvv (slower, so not used for times) and sshd's log
        log("profile: ours with -vvv")
        work = self.workdir("profile-vvv")
        inventory = os.path.join(work, "inventory", "hosts.yml")
        self.lab.fresh(inventory)
        seen = self.sshd_accepts()
        for run_name in ("ours_first", "ours_second"):
            run = timed(self.ours_cmd(inventory, "-vvv"), env=self.ours_env(),
                        log_path=os.path.join(self.logs, run_name + "-vvv.log"), lab_state=self.lab.state)
            now = self.sshd_accepts()
            res[run_name]["round_trips"] = self.round_trips(run["output"], dict(
                (k, now[k] - seen.get(k, 0)) for k in now))
            seen = now
        if bench_venv_ready():
            log("profile: reference with -vvv")
            work = self.workdir("profile-ref-vvv")
            inventory = os.path.join(work, "inventory", "hosts.yml")
            self.lab.fresh(inventory)
            seen = self.sshd_accepts()
            run = timed(self.reference_cmd(inventory, os.path.join(work, "pki"), "-vvv"), env=self.reference_env(),
                        log_path=os.path.join(self.logs, "reference-vvv.log"), lab_state=self.lab.state)
            now = self.sshd_accepts()
            res["reference"]["round_trips"] = self.round_trips(run["output"], dict(
                (k, now[k] - seen.get(k, 0)) for k in now))
        self.lab.down()
        path = os.path.join(BENCH, "results", "profile.json")
        with open(path, "w") as handle:
            json.dump(res, handle, indent=2)
            handle.write("\n")
        print(profile_text(res))
        log("bench: profile in %s (profile_tasks logs in %s)" % (path, out_dir))

    # -- the reload scenario ---------------------------------------------------------------

    def reload_scenario(self):
        """S systems, reload R s, k at a time: ours' first run against ceil(S/k) x R + the delivery floor."""
        a = self.args
        nodes = a.reload_systems * a.reload_lims + RELOAD_DOWNLOAD_SERVERS
        size = dict(systems=a.reload_systems, lims=a.reload_lims, download_servers=RELOAD_DOWNLOAD_SERVERS,
                    reload_seconds=a.reload_seconds)
        sec = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "systems": a.reload_systems, "lims_per_system": a.reload_lims,
               "download_servers": RELOAD_DOWNLOAD_SERVERS, "nodes": nodes, "forks": nodes,
               "reload_seconds": a.reload_seconds, "parallel": a.reload_parallel, "repeat": a.repeat,
               "floor_rolling_repeat": min(a.repeat, a.reload_floor_repeat), "target": RELOAD_TARGET,
               "ideal": "ceil(systems / k) * reload_seconds + delivery floor (median of floor.py deliver "
                        "--no-activate on a fresh lab of the same size)",
               "delivery_floor": {"runs": []},
               "by_parallel": dict((str(k), {"ours": {"runs": []}, "floor_rolling": {"runs": []}})
                                   for k in a.reload_parallel)}
        os.makedirs(self.logs, exist_ok=True)
        python = os.path.join(PROJECT_BIN, "python")
        floor_py = os.path.join(BENCH, "floor.py")
        # The floor's material depends only on the lab's names and addresses: the same for every lab of this size.
        work = self.workdir("reload-material")
        material = os.path.join(work, "material")
        self.lab.fresh(os.path.join(work, "inventory", "hosts.yml"), **size)
        made = timed([python, floor_py, "material", "--state-dir", self.lab.state, "--out", material])
        if made["rc"] != 0:
            raise RuntimeError("floor material: " + made["output"])
        ca_floor = os.path.join(material, "ca.pem")

        def journals():
            return dict((s, self.lab.journal(s)) for s in self.lab.systems())

        for i in range(1, a.repeat + 1):
            for k in a.reload_parallel:
                entry = sec["by_parallel"][str(k)]
                log("bench: reload scenario, repetition %d/%d, parallel %d" % (i, a.repeat, k))
                work = self.workdir("reload-floor-%d-%d" % (k, i))
                self.lab.fresh(os.path.join(work, "inventory", "hosts.yml"), **size)
                run = timed([python, floor_py, "deliver", "--state-dir", self.lab.state, "--out", material,
                             "--forks", str(nodes), "--no-activate"], **self.gate())
                problems = [] if run["rc"] == 0 else ["rc=%d: %s" % (run["rc"], run["output"][-300:])]
                self.record("delivery_floor", run, into=sec["delivery_floor"]["runs"], problems=problems)

                if i <= a.reload_floor_repeat:
                    self.lab.fresh(os.path.join(work, "inventory", "hosts.yml"), **size)
                    run = timed([python, floor_py, "deliver", "--state-dir", self.lab.state, "--out", material,
                                 "--forks", str(nodes), "--activate-parallel", str(k)],
                                log_path=os.path.join(self.logs, "reload-floor-k%d-%d.log" % (k, i)), **self.gate())
                    problems = [] if run["rc"] == 0 else ["rc=%d: %s" % (run["rc"], run["output"][-300:])]
                    problems += verify_deployment(self.lab, ca_floor) if run["rc"] == 0 else []
                    windows = outage_windows(journals())
                    problems += window_problems(windows, k, a.reload_systems)
                    detail = json.loads(run["stdout"]) if run["rc"] == 0 else {}
                    self.record("floor_rolling_k%d" % k, run, into=entry["floor_rolling"]["runs"], problems=problems,
                                max_overlap=overlap(windows)[0], per_system=detail.get("systems"),
                                deliver_s=detail.get("deliver_s"))

                work = self.workdir("reload-ours-%d-%d" % (k, i))
                inventory = os.path.join(work, "inventory", "hosts.yml")
                self.lab.fresh(inventory, **size)
                run = timed(self.ours_cmd(inventory, "-e", "mxone_activate_parallel=%d" % k, forks=nodes),
                            env=self.ours_env(), log_path=os.path.join(self.logs, "reload-ours-k%d-%d.log" % (k, i)),
                            stamp_lines=True, **self.gate())
                problems = [] if run["rc"] == 0 else ["rc=%d" % run["rc"]]
                ca = os.path.join(work, "inventory", "pki", "ca", "ca.pem")
                problems += verify_deployment(self.lab, ca) if run["rc"] == 0 else []
                seen = journals()
                windows = outage_windows(seen)
                problems += window_problems(windows, k, a.reload_systems)
                timeline = ours_timeline(run, seen, windows)
                self.record("ours_k%d" % k, run, into=entry["ours"]["runs"], recap=recap(run["stdout"]),
                            problems=problems,
                            max_overlap=timeline.get("max_overlap"), timeline=timeline,
                            outages=[dict(system=w["system"], start_s=round(w["start"] - run["start_epoch"], 3),
                                          end_s=round(w["end"] - run["start_epoch"], 3) if w["end"] else None)
                                     for w in windows])
        self.lab.down()
        return derive_reload(sec)

    # -- the whole run ---------------------------------------------------------------------

    def measure(self):
        a = self.args
        os.makedirs(self.logs, exist_ok=True)
        for i in range(1, a.repeat + 1):
            log("bench: repetition %d/%d" % (i, a.repeat))
            if a.with_reference and i <= a.reference_repeat:
                self.reference(i)
            self.floor(i)
            self.ours(i)
            if a.per_lim:
                self.ours_per_lim(i)
        self.lab.down()
        if a.issuance:
            log("bench: issuing %d per-LIM certificates (%s), %d times each side"
                % (a.issue_count, a.issue_modes, a.issue_repeat))
            self.issue = self.issuance()
        if a.with_reload_scenario:
            self.reload_section = self.reload_scenario()

    def results(self):
        a = self.args
        res = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "command": " ".join(["bench/run"] + a.argv),
               "machine": machine(), "versions": self.versions_start,
               "systems": a.systems, "lims_per_system": a.lims, "lims": a.systems * a.lims,
               "download_servers": a.download_servers, "nodes": a.systems * a.lims + a.download_servers,
               "forks": a.forks, "repeat": a.repeat, "lab_reload_seconds": a.lab_reload_seconds,
               "reference_repeat": a.reference_repeat if a.with_reference else 0,
               "issue_count": a.issue_count, "issue_repeat": a.issue_repeat,
               "statistic": "ratios use the medians; *_min_s are the fastest runs"}
        stats = {}
        for name, runs in self.runs.items():
            lo, med = summary([r["wall_s"] for r in runs])
            stats[name] = {"min_s": lo, "median_s": med, "runs": runs,
                           "verified": all(not r.get("problems") for r in runs)}
        for mode in ("sign", "keygen"):
            for side in ("ours", "bare"):
                times = (self.issue.get(mode) or {}).get(side)
                if times:
                    lo, med = summary(times)
                    stats["issue_%s_%s" % (mode, side)] = {"min_s": lo, "median_s": med, "runs": times}
        res["measurements"] = stats

        res["ours_second_changed"] = [r["recap"]["changed"] for r in self.runs.get("ours_second", [])]
        if self.reload_section is not None:
            res["reload_scenario"] = self.reload_section
        end = versions(False)
        for key in ("mxone_pki_commit", "mxone_pki_uncommitted"):
            if end[key] != res["versions"][key]:
                res["versions"][key + "_at_end"] = end[key]
                self.notes.append("the checkout changed during the run (%s): see versions" % key)
        derive(res)
        res["notes"] = self.notes
        return res


# ---------------------------------------------------------------------------------------------
# the reload scenario: S systems, a reload of R s each, k systems reloading at once
# ---------------------------------------------------------------------------------------------

RELOAD_TARGET = 1.15
RELOAD_DOWNLOAD_SERVERS = 1
ACTIVATE_LINE = re.compile(r"^mxone\.pki\.activate: system (\S+): (.*)$")
# Where ours' wall time goes beyond the ideal (they add up to wall - ideal), in this order.
EXCESS = (
    ("ansible_start_plan_s", "ansible-playbook start, inventory, plan (to the licence task)"),
    ("licence_s", "licence check (license_status on each leader; the first SSH connections)"),
    ("ca_issue_s", "CA and certificates (in-process)"),
    ("delivery_over_floor_s", "delivery, above the delivery floor"),
    ("to_first_reload_s", "end of delivery to the first reload order (per-node results, handler start, "
                          "first system's connection and commands)"),
    ("outage_over_ideal_s", "outages beyond ceil(S/k) x R (lab overshoot; parallel reloads not aligned)"),
    ("between_outages_s", "no system in outage between the first reload and the last LIM back"),
    ("after_last_back_s", "last LIM back to the end (last detection, marking, verify, summary, exit)"),
)
# Per activated system (medians), from ours' activate lines and the lab journal.
PER_SYSTEM = (
    ("handoff_s", "a slot is free (previous system's 'every LIM serves' line) -> 'on <leader>' line"),
    ("connect_s", "'on <leader>' line -> its first command starts (connection, shell)"),
    ("commands_s", "first command -> reload order (media_encryption_enable, data_backup)"),
    ("reload_return_s", "reload order -> 'waiting' line (reload's checks, the result back to the controller)"),
    ("outage_s", "reload order -> last tls-up of that reload (the lab's R)"),
    ("detection_s", "last tls-up -> 'every LIM serves' line (poll backoff: 0.5 s x 1.5^n, capped at 2 s)"),
)


def iso_epoch(text):
    return datetime.datetime.fromisoformat(text).timestamp()


def outage_windows(journals):
    """Each reload's outage, from the lab journals: its order to the last tls-up of that reload.

    [{system, start, end (None when no LIM came back), lims_up, exit}], times as epoch seconds."""
    windows = []
    for system, entries in sorted(journals.items()):
        for entry in entries:
            if entry.get("command", "").split(" ")[0] != "reload":
                continue
            ups = [iso_epoch(e["time"]) for e in entries
                   if e.get("event") == "tls-up" and e.get("reload") == entry["time"]]
            windows.append({"system": system, "start": iso_epoch(entry["time"]), "end": max(ups) if ups else None,
                            "lims_up": len(ups), "exit": entry["exit"]})
    return windows


def overlap(windows):
    """(the most outage windows open at one moment, seconds with at least one open), over windows that ended."""
    edges = sorted([(w["start"], 1) for w in windows if w["end"] is not None]
                   + [(w["end"], -1) for w in windows if w["end"] is not None])
    most = depth = 0
    union, opened = 0.0, None
    for when, step in edges:  # at the same moment an end (-1) sorts before a start (+1): touching is no overlap
        if depth == 0 and step == 1:
            opened = when
        depth += step
        most = max(most, depth)
        if depth == 0:
            union += when - opened
    return most, union


def window_problems(windows, parallel, systems):
    problems = []
    for w in windows:
        if w["end"] is None or w["exit"] != 0:
            problems.append("%s: reload exit %s, %d LIM(s) back" % (w["system"], w["exit"], w["lims_up"]))
    reloaded = sorted(set(w["system"] for w in windows))
    if len(reloaded) != systems or len(windows) != systems:
        problems.append("%d reload(s) on %d system(s), expected one on each of %d" % (len(windows), len(reloaded),
                                                                                      systems))
    most = overlap(windows)[0]
    if most > parallel:
        problems.append("%d systems were in outage at once (parallel %d)" % (most, parallel))
    return problems


def ours_timeline(run, journals, windows):
    """Where the wall time of one rollout went, from the arrival time of its output lines (task headers,
    the activate action's lines) and the lab journals. Times are seconds from the start of the run."""
    start, end = run["start_epoch"], run["end_epoch"]
    lines = run["lines"]
    headers = [(t, text) for t, text in lines if text.startswith(("TASK [", "RUNNING HANDLER ["))]

    def header(pattern, after=0.0):
        return next((t for t, text in headers if t >= after and re.search(pattern, text)), None)

    first_task = headers[0][0] if headers else None
    licence = header(r"VOIP-SECURITY licence")
    ca = header(r"mxone\.pki\.mxone_ca :")
    deliver = header(r"mxone\.pki\.mxone_deliver :")
    after_deliver = next((t for t, text in headers if deliver and t > deliver and "mxone_deliver :" not in text), None)
    handler = header(r"^RUNNING HANDLER \[mxone\.pki\.mxone_activate : Activate")
    handler_end = header(r"^RUNNING HANDLER \[mxone\.pki\.mxone_activate : Activation result")
    tasks = {}
    for key, begin, finish in (("ansible_start_s", start, first_task), ("plan_s", first_task, licence),
                               ("licence_s", licence, ca), ("ca_issue_s", ca, deliver),
                               ("delivery_s", deliver, after_deliver), ("to_activation_s", after_deliver, handler),
                               ("activation_s", handler, handler_end), ("after_activation_s", handler_end, end)):
        tasks[key] = round(finish - begin, 3) if begin is not None and finish is not None else None

    said = {}
    for t, text in lines:
        match = ACTIVATE_LINE.match(text)
        if match:
            what = match.group(2)
            kind = ("on" if what.startswith("on ") else "waiting" if what.startswith("waiting for")
                    else "serves" if what.startswith("every LIM serves") else None)
            if kind:
                said.setdefault(match.group(1), {}).setdefault(kind, t)
    systems = {}
    for system, entries in sorted(journals.items()):
        acts = [iso_epoch(e["time"]) for e in entries if "command" in e and e["command"] != READ_ONLY_COMMAND
                and start <= iso_epoch(e["time"]) <= end]
        ended = [w for w in windows if w["system"] == system and w["end"] is not None]
        if acts and ended:
            row = dict(said.get(system, {}), first_command=acts[0], reload=ended[0]["start"], back=ended[0]["end"])
            systems[system] = row
    serves = sorted(r["serves"] for r in systems.values() if r.get("serves"))

    def gap(a, b):
        return round(b - a, 3) if a is not None and b is not None else None

    per_system = {}
    for system, row in systems.items():
        freed = [t for t in serves if row.get("on") and t <= row["on"]]
        slot = freed[-1] if freed else handler
        per_system[system] = {
            "handoff_s": gap(slot, row.get("on")), "connect_s": gap(row.get("on"), row["first_command"]),
            "commands_s": gap(row["first_command"], row["reload"]), "reload_return_s": gap(row["reload"],
                                                                                           row.get("waiting")),
            "outage_s": gap(row["reload"], row["back"]), "detection_s": gap(row["back"], row.get("serves")),
            "reload_at_s": gap(start, row["reload"]), "back_at_s": gap(start, row["back"])}
    ended = [w for w in windows if w["end"] is not None]
    timeline = {"tasks": tasks, "per_system": per_system,
                # when each task started (s from the start of the run); a task lasts until the next one starts
                "task_starts": [[round(t - start, 3), re.sub(r"\s*\**$", "", text)[:160]] for t, text in headers]}
    if ended:
        most, union = overlap(windows)
        first_reload, last_back = min(w["start"] for w in ended), max(w["end"] for w in ended)
        timeline.update(max_overlap=most, outage_union_s=round(union, 3),
                        before_first_reload_s=round(first_reload - start, 3),
                        between_outages_s=round(last_back - first_reload - union, 3),
                        after_last_back_s=round(end - last_back, 3),
                        to_first_reload_s=round(first_reload - after_deliver, 3) if after_deliver else None)
    return timeline


def excess(timeline, waves, reload_s, floor_delivery):
    """Ours' wall time above the ideal, by where it went (the items add up to wall - ideal)."""
    tasks = timeline.get("tasks") or {}

    def plus(*values):
        return round(sum(values), 3) if all(v is not None for v in values) else None

    delivery = tasks.get("delivery_s")
    return {
        "ansible_start_plan_s": plus(tasks.get("ansible_start_s"), tasks.get("plan_s")),
        "licence_s": tasks.get("licence_s"),
        "ca_issue_s": tasks.get("ca_issue_s"),
        "delivery_over_floor_s": plus(delivery, -floor_delivery) if delivery is not None and floor_delivery else None,
        "to_first_reload_s": timeline.get("to_first_reload_s"),
        "outage_over_ideal_s": plus(timeline["outage_union_s"], -waves * reload_s)
        if "outage_union_s" in timeline else None,
        "between_outages_s": timeline.get("between_outages_s"),
        "after_last_back_s": timeline.get("after_last_back_s"),
    }


def median_of(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def derive_reload(sec):
    """Figures of the reload scenario from its raw runs: delivery floor, ideal, ratio, overlap, where the time goes."""
    floor_lo, floor_med = summary([r["wall_s"] for r in sec["delivery_floor"]["runs"] if not r.get("problems")])
    sec["delivery_floor"].update(min_s=floor_lo, median_s=floor_med)
    verified = all(not r.get("problems") for r in sec["delivery_floor"]["runs"])
    for key, entry in sec["by_parallel"].items():
        k = int(key)
        waves = int(math.ceil(sec["systems"] / float(k)))
        ours = entry["ours"]["runs"]
        lo, med = summary([r["wall_s"] for r in ours])
        ideal = waves * sec["reload_seconds"] + floor_med if floor_med is not None else None
        ideal_min = waves * sec["reload_seconds"] + floor_lo if floor_lo is not None else None
        entry.update(waves=waves, ideal_s=round(ideal, 3) if ideal else None,
                     ideal_min_s=round(ideal_min, 3) if ideal_min else None)
        entry["ours"].update(min_s=lo, median_s=med)
        entry["ratio"] = round(med / ideal, 3) if med and ideal else None
        entry["ratio_min"] = round(lo / ideal_min, 3) if lo and ideal_min else None
        entry["met"] = None if entry["ratio"] is None else entry["ratio"] <= sec["target"]
        entry["met_min"] = None if entry["ratio_min"] is None else entry["ratio_min"] <= sec["target"]
        rolled = entry.get("floor_rolling", {}).get("runs", [])
        flo, fmed = summary([r["wall_s"] for r in rolled])
        entry.setdefault("floor_rolling", {}).update(min_s=flo, median_s=fmed)
        entry["floor_rolling_ratio"] = round(fmed / ideal, 3) if fmed and ideal else None
        overlaps = [r.get("max_overlap") for r in ours + rolled if r.get("max_overlap") is not None]
        entry["max_overlap"] = max(overlaps) if overlaps else None
        entry["max_overlap_ours"] = max([r.get("max_overlap") or 0 for r in ours] or [0])
        entry["overlap_ok"] = entry["max_overlap"] is not None and entry["max_overlap"] <= k
        for run in ours:
            run["excess"] = excess(run.get("timeline") or {}, waves, sec["reload_seconds"], floor_med)
        entry["excess_median"] = dict((name, median_of([r["excess"].get(name) for r in ours]))
                                      for name, _text in EXCESS)
        entry["tasks_median"] = dict((name, median_of([(r.get("timeline") or {}).get("tasks", {}).get(name)
                                                       for r in ours]))
                                     for name in ("ansible_start_s", "plan_s", "licence_s", "ca_issue_s", "delivery_s",
                                                  "to_activation_s", "activation_s", "after_activation_s"))
        entry["per_system_median"] = dict(
            (name, median_of([s.get(name) for r in ours for s in (r.get("timeline") or {}).get("per_system", {})
                              .values()])) for name, _text in PER_SYSTEM)
        verified = verified and all(not r.get("problems") for r in ours + rolled)
    sec["all_verified"] = verified
    return sec


def reload_table(sec):
    yes = {True: "yes", False: "**no**", None: "-"}

    def f(val, fmt_="%.2f"):
        return "-" if val is None else fmt_ % val

    ks = sorted(sec["by_parallel"], key=int)
    floor = sec["delivery_floor"]
    lines = ["Reload scenario: %d systems x %d LIMs + %d download server, reload %s s, forks %d, %s"
             % (sec["systems"], sec["lims_per_system"], sec["download_servers"], f(sec["reload_seconds"], "%g"),
                sec["forks"], sec["date"]), "",
             "ideal = ceil(S/k) x R + delivery floor (`floor.py deliver --no-activate`, same lab: median %s s, "
             "fastest %s s, %d runs); target: ours <= %.2f x ideal" % (
                 f(floor.get("median_s")), f(floor.get("min_s")), len(floor["runs"]), sec["target"]), "",
             "| parallel k | waves | ideal s | ours median s | ratio | met | ours fastest s | ratio (fastest) | met | "
             "max overlap (ours) | floor rolling s (info) | floor rolling / ideal |",
             "|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---:|---:|"]
    for key in ks:
        e = sec["by_parallel"][key]
        lines.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            key, e["waves"], f(e["ideal_s"]), f(e["ours"]["median_s"]), f(e["ratio"]), yes[e["met"]],
            f(e["ours"]["min_s"]), f(e["ratio_min"]), yes[e["met_min"]],
            "%s (%s)" % (f(e["max_overlap"], "%d"), f(e["max_overlap_ours"], "%d")),
            f(e["floor_rolling"].get("median_s")), f(e["floor_rolling_ratio"])))
    lines += ["", "Where ours' time above the ideal goes (medians over the runs, s; the rows add up to "
              "ours - ideal):", "",
              "| | " + " | ".join("k=%s" % k for k in ks) + " |", "|---|" + "---:|" * len(ks)]
    by_k = [sec["by_parallel"][k] for k in ks]
    for name, text in EXCESS:
        lines.append("| %s | %s |" % (text, " | ".join(f(e["excess_median"].get(name)) for e in by_k)))
    lines.append("| **ours - ideal** | %s |" % " | ".join(
        f(e["ours"]["median_s"] - e["ideal_s"]) if e["ours"]["median_s"] and e["ideal_s"] else "-" for e in by_k))
    lines += ["", "Per activated system (medians, s):", "",
              "| | " + " | ".join("k=%s" % k for k in ks) + " |", "|---|" + "---:|" * len(ks)]
    for name, text in PER_SYSTEM:
        lines.append("| %s | %s |" % (text, " | ".join(f(e["per_system_median"].get(name)) for e in by_k)))
    lines += ["", "every run verified (TLS on every LIM, ca.pem served, one activation per system, at most k "
              "systems in outage at once): %s" % sec["all_verified"]]
    return "\n".join(lines)


RATIOS = {
    # ratio: (numerator, denominator); a denominator tuple is summed
    "ratio_reference_over_ours_first": ("reference", "ours_first"),
    "ratio_ours_first_over_second": ("ours_first", "ours_second"),
    "ratio_ours_first_over_floor": ("ours_first", "floor"),
    "ratio_issue_ours_over_bare": ("issue_sign_ours", "issue_sign_bare"),
    "ratio_ours_first_over_floor_with_material": ("ours_first", ("floor", "floor_material")),
    "ratio_reference_over_ours_first_per_lim": ("reference", "ours_first_per_lim"),
    "ratio_issue_keygen_ours_over_bare": ("issue_keygen_ours", "issue_keygen_bare"),
    "ratio_ours_second_over_floor_delivery": ("ours_second", "floor_delivery"),
}
FIGURES = (("reference", "reference"), ("floor", "floor"), ("floor_delivery", "floor_delivery"), ("floor_material", "floor_material"),
           ("ours_first", "ours_first"), ("ours_second", "ours_second"), ("ours_first_per_lim", "ours_first_per_lim"),
           ("issue_1000_ours", "issue_sign_ours"), ("issue_1000_bare", "issue_sign_bare"),
           ("issue_1000_keygen_ours", "issue_keygen_ours"), ("issue_1000_keygen_bare", "issue_keygen_bare"))


def derive(res):
    """The figures, ratios and targets from res["measurements"]: ratios of medians (the headline) and,
    as ``ratios_min``, of the fastest runs (least disturbed by other work on the machine)."""
    stats = res["measurements"]
    for entry in stats.values():
        runs = [r for r in entry["runs"] if isinstance(r, dict)]
        for key in ("controller_cpu_s", "lab_cpu_s", "other_cpu_s", "machine_busy_pct", "busy_before_pct",
                    "peak_pss_mb", "peak_rss_sum_mb", "main_peak_rss_mb", "peak_processes"):
            values = [r[key] for r in runs if r.get(key) is not None]
            if values:
                unit = "_pct" if key.endswith("pct") else "_mb" if key.endswith("_mb") else "" if key == "peak_processes" \
                    else "_s"
                name = key[:len(key) - len(unit)] + "_median" + unit
                entry[name] = round(statistics.median(values), 2)

    def value(name, stat):
        if isinstance(name, tuple):
            parts = [value(n, stat) for n in name]
            return sum(parts) if all(p is not None for p in parts) else None
        return (stats.get(name) or {}).get(stat)

    for key, name in FIGURES:
        res[key + "_s"] = value(name, "median_s")
        res[key + "_min_s"] = value(name, "min_s")
    res["ratios_min"] = {}
    for key, (num, den) in RATIOS.items():
        for stat, where in (("median_s", res), ("min_s", res["ratios_min"])):
            a_, b_ = value(num, stat), value(den, stat)
            where[key] = round(a_ / b_, 2) if a_ is not None and b_ else None
    targets = {}
    for key, (target, op, meaning) in TARGETS.items():
        entry = {"target": "%s %s" % (op, target), "meaning": meaning}
        for label, val in (("value", res[key]), ("value_min", res["ratios_min"][key])):
            met = None if val is None else (val >= target if op == ">=" else val <= target)
            if key == "ratio_ours_first_over_second" and met and any(c != 0 for c in res["ours_second_changed"]):
                met = False
            entry[label] = val
            entry["met" if label == "value" else "met_min"] = met
        targets[key] = entry
    res["targets"] = targets
    res["all_verified"] = all(s.get("verified", True) for s in stats.values())
    if res.get("reload_scenario"):
        res["all_verified"] = derive_reload(res["reload_scenario"])["all_verified"] and res["all_verified"]
    return res


def table(res):
    m = res["measurements"]
    rows = [
        ("reference (community.crypto)", "reference"),
        ("floor: bare ssh, delivery + activation", "floor"),
        ("floor: its delivery part (to the first activation order)", "floor_delivery"),
        ("floor: material (separately)", "floor_material"),
        ("ours: rollout.yml, first run", "ours_first"),
        ("ours: rollout.yml, second run", "ours_second"),
        ("ours: first run, a certificate per LIM (info)", "ours_first_per_lim"),
        ("issuance %d, ours (sign)" % res["issue_count"], "issue_sign_ours"),
        ("issuance %d, bare (sign)" % res["issue_count"], "issue_sign_bare"),
        ("issuance %d, ours (keygen + sign)" % res["issue_count"], "issue_keygen_ours"),
        ("issuance %d, bare (keygen + sign)" % res["issue_count"], "issue_keygen_bare"),
    ]
    reload_note = "" if res.get("lab_reload_seconds") is None else ", reload %g s" % res["lab_reload_seconds"]
    lines = ["%d LIMs (%d systems x %d) + %d download servers, forks %d%s, %s"
             % (res["lims"], res["systems"], res["lims_per_system"], res["download_servers"], res["forks"],
                reload_note, res["date"]), "",
             "| contender | runs | min s | median s | CPU s, controller | CPU s, lab nodes | CPU s, rest of machine "
             "| machine busy % | peak PSS MB, controller |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def cell(val, fmt_="%.1f"):
        return "-" if val is None else fmt_ % val

    for label, name in rows:
        s = m.get(name)
        if not s:
            lines.append("| %s | 0 | - | - | - | - | - | - | - |" % label)
            continue
        lines.append("| %s | %d | %.2f | %.2f | %s | %s | %s | %s | %s |" % (
            label, len(s["runs"]), s["min_s"], s["median_s"], cell(s.get("controller_cpu_median_s")),
            cell(s.get("lab_cpu_median_s")), cell(s.get("other_cpu_median_s")),
            cell(s.get("machine_busy_median_pct"), "%.0f"), cell(s.get("peak_pss_median_mb"), "%.0f")))
    lines.append("")
    lines.append("CPU columns are medians; the rest of the machine is kernel work on loopback plus anything else "
                 "running on it (this machine is shared).")
    yes = {True: "yes", False: "**no**", None: "-"}

    def fmt(val):
        return "-" if val is None else "%.2f" % val

    lines += ["", "| ratio | medians | met | fastest runs | met | target |", "|---|---:|---|---:|---|---|"]
    for key, t in res["targets"].items():
        lines.append("| %s | %s | %s | %s | %s | %s |" % (key, fmt(t["value"]), yes[t["met"]], fmt(t.get("value_min")),
                                                          yes[t.get("met_min")], t["target"]))
    for key in ("ratio_reference_over_ours_first_per_lim", "ratio_ours_first_over_floor_with_material",
                "ratio_issue_keygen_ours_over_bare", "ratio_ours_second_over_floor_delivery"):
        if res.get(key) is not None:
            lines.append("| %s | %s | | %s | | (info) |" % (key, fmt(res[key]), fmt(res["ratios_min"].get(key))))
    lines += ["", "second-run changed counts: %s; every run verified (TLS on every LIM, ca.pem on every "
              "download server, one activation per system): %s" % (res["ours_second_changed"], res["all_verified"])]
    if res.get("reload_scenario"):
        lines += ["", reload_table(res["reload_scenario"])]
    return "\n".join(lines)


def host_task_results(stdout):
    """Per task (in order): how many hosts it ran (or was skipped) on: each is a worker fork + vars."""
    parts = re.split(r"^((?:TASK|RUNNING HANDLER) \[.*?\]) \**$", stdout, flags=re.M)
    rows = []
    for i in range(1, len(parts), 2):
        count = len(re.findall(r"^(?:ok|changed|skipping|fatal|failed): \[", parts[i + 1], re.M))
        if count:
            rows.append((parts[i], count))
    return rows


def profile_text(res):
    lines = []
    if res.get("host_task"):
        lines.append("one host-task (skipped, no SSH): %.1f ms; empty play %.2f s, 10 skipped tasks %.2f s"
                     % (res["host_task"]["per_host_task_ms"], res["host_task"]["empty_play_s"],
                        res["host_task"]["skip10_play_s"]))
    for name in ("ours_first", "ours_second", "reference"):
        r = res.get(name)
        if not r:
            continue
        lines.append("%s: %.1f s wall, controller CPU %.1f s (main process %s), lab CPU %.1f s, other %.1f s, "
                     "recap changed=%d, host-task results %s"
                     % (name, r["wall_s"], r["controller_cpu_s"],
                        "%.1f s" % (r["main_user_s"] + r["main_sys_s"]) if "main_user_s" in r else "-",
                        r["lab_cpu_s"], r["other_cpu_s"], r["recap"]["changed"],
                        sum(c for _host, c in r.get("host_task_results", [])) or "-"))
        for task, secs in sorted(r["tasks"], key=lambda t: -t[1])[:12]:
            lines.append("    %7.2f s  %s" % (secs, task))
        trips = r.get("round_trips")
        if trips:
            lines.append("    SSH EXEC per node: %s" % json.dumps(trips["ssh_exec_per_node"]))
            lines.append("    SSH connections per node: %s" % json.dumps(trips["ssh_connections_per_node"]))
            lines.append("    local (controller) module runs: %d" % trips["local_exec_total"])
    return "\n".join(lines)


def parse(argv):
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--systems", type=int, default=2)
    p.add_argument("--lims", type=int, default=25, help="LIMs per system")
    p.add_argument("--download-servers", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--reference-repeat", type=int, help="repetitions of the reference (default: --repeat)")
    p.add_argument("--forks", type=int, help="forks for every contender, and the floor's ssh calls at once (default: "
                                             "one per node up to %d)" % FORKS_CAP)
    p.add_argument("--activate-parallel", type=int,
                   help="systems activated at once, the same for ours (-e mxone_activate_parallel) and the floor "
                        "(default: every system at once, as the floor always did)")
    p.add_argument("--only", metavar="floor,ours",
                   help="only these contenders (of reference, floor, ours, per-lim, issuance), e.g. floor,ours "
                        "for the scale runs (50, 200, 1,000 LIMs)")
    p.add_argument("--reference", choices=["yes", "no", "auto"], default="yes",
                   help="auto: only if bench/.venv is already there (what --quick uses)")
    p.add_argument("--per-lim", dest="per_lim", action="store_true", default=True,
                   help="also a first run of ours with mxone_cert_mode: lim (a certificate per LIM, the "
                        "reference's work); the default except with --quick")
    p.add_argument("--no-per-lim", dest="per_lim", action="store_false")
    p.add_argument("--issue-count", type=int, default=1000)
    p.add_argument("--issue-repeat", type=int, help="default: --repeat")
    p.add_argument("--issue-modes", default="sign,keygen")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1 system x 2 LIMs + 1 download server, repeat 1, 20 certificates, "
                        "reference only if bench/.venv exists; results to bench/results/quick.json")
    p.add_argument("--net", default="127.90")
    p.add_argument("--ssh-port", type=int, default=2922)
    p.add_argument("--http-port", type=int, default=8980)
    p.add_argument("--state-root", default="/tmp/mxone-bench", help="lab state dir, work dirs and logs")
    p.add_argument("--quiet-wait", type=float, default=60,
                   help="before each timed run wait up to this many seconds for the machine to be idle "
                        "(others' work skews timings); 0 to not wait")
    p.add_argument("--profile", action="store_true",
                   help="instead of measuring: profile ours (per-task times, SSH round trips per node, CPU) "
                        "and the reference's round trips; writes bench/results/profile.json")
    p.add_argument("--lab-reload-seconds", type=float, default=2.0,
                   help="how long a reload keeps TLS down in the labs of the main benchmark (lab up --reload-seconds; "
                        "pinned to the lab's default of today, 2 s, so that the figures stay comparable)")
    g = p.add_argument_group("reload scenario", "S systems, a reload of R s each, k reloading at once: ours' first "
                             "run against the ideal ceil(S/k) x R + the delivery floor (target <= %.2fx)"
                             % RELOAD_TARGET)
    g.add_argument("--reload-scenario", action="store_true",
                   help="run only the reload scenario (default --repeat 2, --quiet-wait 10); results to "
                        "bench/results/reload.json, a copy to bench/results/history/reload-<date>.json")
    g.add_argument("--with-reload-scenario", action="store_true",
                   help="run the main benchmark and then the reload scenario (section reload_scenario)")
    g.add_argument("--reload-systems", type=int, default=4, help="S (default 4)")
    g.add_argument("--reload-lims", type=int, default=2, help="LIMs per system (default 2)")
    g.add_argument("--reload-seconds", type=float, default=10.0, help="R: lab up --reload-seconds (default 10)")
    g.add_argument("--reload-parallel", default="1,2",
                   help="values of k, comma-separated: -e mxone_activate_parallel=k (default 1,2)")
    g.add_argument("--reload-floor-repeat", type=int, default=1,
                   help="repetitions of the bare-SSH rolling floor per k (information; 0: none; default 1)")
    p.add_argument("--rederive", metavar="JSON",
                   help="recompute figures, ratios and table of a results file from its measurements; rewrite it")
    p.add_argument("--out", help="results JSON (default bench/results/latest.json)")
    p.add_argument("--scale-table", nargs="+", metavar="JSON",
                   help="print the scale table of these results files (bench/run --only floor,ours at several sizes)")
    p.add_argument("--no-history", action="store_true", help="do not append to bench/results/history/")
    args = p.parse_args(argv)
    args.argv = list(argv)
    try:
        args.reload_parallel = [int(k) for k in str(args.reload_parallel).split(",") if k.strip()]
    except ValueError:
        p.error("--reload-parallel: numbers separated by commas, such as 1,2")
    if not args.reload_parallel or min(args.reload_parallel) < 1 or args.reload_systems < 1 or args.reload_lims < 1:
        p.error("--reload-parallel, --reload-systems and --reload-lims must be at least 1")
    args.with_reload_scenario = args.with_reload_scenario and not args.reload_scenario
    if args.reload_scenario:
        if "--repeat" not in argv:
            args.repeat = 2
        if "--quiet-wait" not in argv:
            args.quiet_wait = 10
        args.reference = "no"
        args.out = args.out or os.path.join(BENCH, "results", "reload.json")
    if args.quick:
        if "--systems" not in argv:
            args.systems = 1
        if "--lims" not in argv:
            args.lims = 2
        if "--download-servers" not in argv:
            args.download_servers = 1
        if "--repeat" not in argv:
            args.repeat = 1
        if "--issue-count" not in argv:
            args.issue_count = 20
        if "--reference" not in argv:
            args.reference = "auto"
        args.out = args.out or os.path.join(BENCH, "results", "quick.json")
        args.no_history = True
        if "--per-lim" not in argv:
            args.per_lim = False
        if "--quiet-wait" not in argv:
            args.quiet_wait = 0
    args.out = args.out or os.path.join(BENCH, "results", "latest.json")
    args.forks = args.forks or min(FORKS_CAP, args.systems * args.lims + args.download_servers)
    if args.activate_parallel is None and not args.reload_scenario:
        args.activate_parallel = args.systems
    args.issuance = True
    if args.only:
        only = set(x.strip() for x in args.only.split(",") if x.strip())
        unknown = only - {"reference", "floor", "ours", "per-lim", "issuance"}
        if unknown or not {"floor", "ours"} <= only:
            p.error("--only: a list of reference, floor, ours, per-lim, issuance that has floor and ours")
        if "reference" not in only:
            args.reference = "no"
        args.per_lim = args.per_lim and "per-lim" in only
        args.issuance = "issuance" in only
    args.reference_repeat = min(args.repeat, args.reference_repeat or args.repeat)
    args.issue_repeat = args.issue_repeat or args.repeat
    return args


def scale_table(paths):
    """The scale table (bench/README.md) from results files of bench/run --only floor,ours at several sizes."""
    rows = []
    for path in paths:
        with open(path) as handle:
            res = json.load(handle)
        m = res["measurements"]

        def med(name, key, m=m):
            return (m.get(name) or {}).get(key)

        rows.append((res["lims"], res, med))
    rows.sort(key=lambda r: r[0])

    def f(value, fmt="%.1f"):
        return "-" if value is None else fmt % value

    lines = ["| LIMs (systems x 25) + dl | runs | floor s | floor delivery part s | ours first s | ours second s "
             "| first / floor | second / floor delivery | controller CPU s (floor / first / second) "
             "| peak PSS MB (floor / first / second) | machine busy % before / during (first) "
             "| load average (1 min) before the first runs |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|"]
    for lims, res, med in rows:
        first, second = res.get("ratio_ours_first_over_floor"), res.get("ratio_ours_second_over_floor_delivery")
        loads = [r["loadavg_before"][0] for r in (res["measurements"].get("ours_first") or {}).get("runs", [])
                 if r.get("loadavg_before")]
        lines.append("| %d (%d x %d) + %d | %d | %s | %s | %s | %s | %s | %s | %s / %s / %s | %s / %s / %s | %s / %s | %s |" % (
            lims, res["systems"], res["lims_per_system"], res["download_servers"], res["repeat"],
            f(res.get("floor_s"), "%.2f"), f(res.get("floor_delivery_s"), "%.2f"), f(res.get("ours_first_s"), "%.2f"),
            f(res.get("ours_second_s"), "%.2f"), f(first, "%.2f"), f(second, "%.2f"),
            f(med("floor", "controller_cpu_median_s")), f(med("ours_first", "controller_cpu_median_s")),
            f(med("ours_second", "controller_cpu_median_s")),
            f(med("floor", "peak_pss_median_mb"), "%.0f"), f(med("ours_first", "peak_pss_median_mb"), "%.0f"),
            f(med("ours_second", "peak_pss_median_mb"), "%.0f"),
            f(med("ours_first", "busy_before_median_pct"), "%.0f"), f(med("ours_first", "machine_busy_median_pct"), "%.0f"),
            ", ".join("%.1f" % x for x in loads) or "-"))
    return "\n".join(lines)


def raise_nofile_limit(args):
    """Soft limit of open files up to the hard limit (ansible-playbook, the floor and the lab inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard or hard == resource.RLIM_INFINITY:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    need = 4 * (args.systems * args.lims + args.download_servers) + 1024
    if soft != resource.RLIM_INFINITY and soft < need:
        nodes = args.systems * args.lims + args.download_servers
        log("bench: open files limit %d; %d nodes want about %d (the lab daemon's listeners, ControlPersist "
            "sockets): raise it with ulimit -n %d" % (soft, nodes, need, need))


def history_stamp(date):
    return date.replace(":", "").replace("+0000", "Z")


def write_json(path, res):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w") as handle:
        json.dump(res, handle, indent=2, sort_keys=False)
        handle.write("\n")
    os.replace(path + ".tmp", path)


def main(argv):
    args = parse(argv)
    if args.scale_table:
        print(scale_table(args.scale_table))
        return 0
    if args.rederive:
        with open(args.rederive) as handle:
            res = json.load(handle)
        if "measurements" in res:
            text = table(derive(res))
        else:  # bench/run --reload-scenario's file
            text = reload_table(derive_reload(res["reload_scenario"]))
        with open(args.rederive, "w") as handle:
            json.dump(res, handle, indent=2)
            handle.write("\n")
        print(text)
        return 0
    if os.geteuid() != 0:
        sys.exit("bench: the lab needs root")
    raise_nofile_limit(args)
    if not os.path.exists(os.path.join(PROJECT_BIN, "ansible-playbook")):
        log("bench: the project's .venv is missing; running scripts/setup")
        subprocess.run([os.path.join(ROOT, "scripts", "setup")], check=True)
    if args.reference == "yes":
        ensure_bench_venv()
    args.with_reference = args.reference != "no" and bench_venv_ready()
    bench = Bench(args)
    if not args.with_reference and not args.reload_scenario:
        bench.notes.append("reference skipped (bench/.venv not installed; run bench/run without --quick)")
    os.makedirs(args.state_root, exist_ok=True)
    bench.versions_start = versions(args.with_reference)
    if args.profile:
        try:
            bench.profile()
        finally:
            bench.lab.down()
        return 0
    if args.reload_scenario:
        try:
            sec = bench.reload_scenario()
        finally:
            bench.lab.down()
        res = {"date": sec["date"], "command": " ".join(["bench/run"] + args.argv), "machine": machine(),
               "versions": bench.versions_start, "reload_scenario": sec}
        end = versions(False)
        for key in ("mxone_pki_commit", "mxone_pki_uncommitted"):
            if end[key] != res["versions"][key]:
                res["versions"][key + "_at_end"] = end[key]
                bench.notes.append("the checkout changed during the run (%s): see versions" % key)
        res["notes"] = bench.notes
        text = reload_table(sec)
        print(text)
        write_json(args.out, res)
        if not args.no_history:
            history = os.path.join(BENCH, "results", "history")
            os.makedirs(history, exist_ok=True)
            shutil.copyfile(args.out, os.path.join(history, "reload-%s.json" % history_stamp(res["date"])))
        log("bench: results in %s" % args.out)
        return 0 if sec["all_verified"] else 1
    try:
        bench.measure()
    finally:
        bench.lab.down()
    res = bench.results()
    text = table(res)
    print(text)
    write_json(args.out, res)
    if not args.no_history:
        history = os.path.join(BENCH, "results", "history")
        os.makedirs(history, exist_ok=True)
        shutil.copyfile(args.out, os.path.join(history, "%s.json" % history_stamp(res["date"])))
        with open(os.path.join(BENCH, "results", "latest.md"), "w") as handle:
            handle.write(text + "\n")
    log("bench: results in %s" % args.out)
    return 0 if res["all_verified"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
