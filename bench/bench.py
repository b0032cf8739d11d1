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
import time
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
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
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
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
            os_name = dict(line.rstrip().split("=", 1) for line in handle if "=" in line).get("PRETTY_NAME", "").strip('"')
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
                              timeout=300, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError("lab %s: %s" % (" ".join(argv), (proc.stdout + proc.stderr).strip()))
        return proc.stdout

    def down(self):
        if os.path.exists(self.state):
            self.run("down", check=False)

    def fresh(self, inventory):
        """lab down + up: a fresh lab whose inventory is ``inventory``. Returns the seconds it took."""
        started = time.monotonic()
        self.down()
        a = self.args
        self.run("up", "--systems", str(a.systems), "--lims", str(a.lims), "--download-servers",
                 str(a.download_servers), "--inventory", inventory, "--net", a.net,
                 "--ssh-port", str(a.ssh_port), "--http-port", str(a.http_port))
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


def timed(argv, env=None, cwd=ROOT, log_path=None, timeout=3600, lab_state=None, quiet_wait=0):
    """Run ``argv``; wall seconds, controller CPU (the process and its descendants, plus Ansible's SSH
    ControlPersist masters, which leave the process tree), the lab's CPU (sshd and sessions of the nodes,
    labd) and the rest of the machine's busy time meanwhile (kernel network work on loopback, and
    anything else running on the machine)."""
    background = wait_quiet(quiet_wait) if quiet_wait else None
    control_dir = (env or {}).get("ANSIBLE_SSH_CONTROL_PATH_DIR")
    masters_before = masters_cpu_snapshot(control_dir) if control_dir else {}
    lab_before = lab_cpu_snapshot(lab_state)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0, total0 = cpu_times()
    started = time.monotonic()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    wall = time.monotonic() - started
    busy1, total1 = cpu_times()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lab_cpu = lab_cpu_delta(lab_before, lab_cpu_snapshot(lab_state))
    masters_cpu = lab_cpu_delta(masters_before, masters_cpu_snapshot(control_dir)) if control_dir else 0.0
    output = proc.stdout + proc.stderr
    if log_path:
        with open(log_path, "w") as handle:
            handle.write(output)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime) + masters_cpu
    machine_cpu = (busy1 - busy0) / float(CLK)
    return {"wall_s": round(wall, 3), "controller_cpu_s": round(cpu, 2), "lab_cpu_s": round(lab_cpu, 2),
            "other_cpu_s": round(max(0.0, machine_cpu - cpu - lab_cpu), 2),
            "machine_busy_pct": round(100.0 * (busy1 - busy0) / max(1, total1 - total0), 1),
            "busy_before_pct": background,
            "rc": proc.returncode, "stdout": proc.stdout, "output": output}


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
        commands = [e["command"] for e in lab.journal(system)]
        before = [e["command"] for e in (journals_before or {}).get(system, [])]
        new = commands[len(before):]
        if journals_before is None and new != ACTIVATION:
            problems.append("%s journal: %s" % (system, new))
        if journals_before is not None and new:
            problems.append("%s: commands ran on the second run: %s" % (system, new))
    return problems


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

    def record(self, name, run, **extra):
        entry = dict((k, run[k]) for k in ("wall_s", "controller_cpu_s", "lab_cpu_s", "other_cpu_s",
                                           "machine_busy_pct", "busy_before_pct", "rc"))
        entry.update(extra)
        self.runs.setdefault(name, []).append(entry)
        log("  %-16s %7.2f s  (CPU s: controller %.1f, lab %.1f, other %.1f; machine busy %.0f%%)%s" % (
            name, run["wall_s"], run["controller_cpu_s"], run["lab_cpu_s"], run["other_cpu_s"],
            run["machine_busy_pct"],
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

    def ours_cmd(self, inventory, *more):
        return [os.path.join(PROJECT_BIN, "ansible-playbook"), "-i", inventory, ROLLOUT, "-f", str(self.args.forks)] \
            + list(more)

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
        run = timed([python, os.path.join(BENCH, "floor.py"), "deliver", "--state-dir", self.lab.state,
                     "--out", material, "--forks", str(self.args.forks)],
                    log_path=os.path.join(self.logs, "floor-%d.log" % i), **self.gate())
        problems = [] if run["rc"] == 0 else ["rc=%d: %s" % (run["rc"], run["output"][-300:])]
        detail = json.loads(run["stdout"]) if run["rc"] == 0 else {}
        problems += verify_deployment(self.lab, os.path.join(material, "ca.pem")) if run["rc"] == 0 else []
        self.record("floor", run, problems=problems, **detail)

    def ours(self, i):
        work = self.workdir("ours-%d" % i)
        inventory = os.path.join(work, "inventory", "hosts.yml")
        self.lab.fresh(inventory)
        ca = os.path.join(work, "inventory", "pki", "ca", "ca.pem")
        run = timed(self.ours_cmd(inventory), env=self.ours_env(),
                    log_path=os.path.join(self.logs, "ours-first-%d.log" % i), **self.gate())
        problems = [] if run["rc"] == 0 else ["rc=%d" % run["rc"]]
        problems += verify_deployment(self.lab, ca) if run["rc"] == 0 else []
        self.record("ours_first", run, recap=recap(run["stdout"]), problems=problems)
        journals = dict((s, self.lab.journal(s)) for s in self.lab.systems())
        # immediately, as a user would run it again (no quiet gate: SSH connections may still persist)
        run = timed(self.ours_cmd(inventory), env=self.ours_env(),
                    log_path=os.path.join(self.logs, "ours-second-%d.log" % i), lab_state=self.lab.state)
        rc = recap(run["stdout"])
        problems = [] if run["rc"] == 0 else ["rc=%d" % run["rc"]]
        if rc["changed"] != 0:
            problems.append("changed=%d on the second run (expected 0)" % rc["changed"])
        problems += verify_deployment(self.lab, ca, journals_before=journals)
        self.record("ours_second", run, recap=rc, problems=problems)

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
            hosts = set(e["host"] for e in self.lab.journal(system))
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
        log("profile: the cost of one host-task (10 skipped tasks x %d nodes)" % (a.systems * a.lims + a.download_servers))
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
        log("bench: issuing %d per-LIM certificates (%s), %d times each side"
            % (a.issue_count, a.issue_modes, a.issue_repeat))
        self.issue = self.issuance()

    def results(self):
        a = self.args
        res = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "command": " ".join(["bench/run"] + a.argv),
               "machine": machine(), "versions": self.versions_start,
               "systems": a.systems, "lims_per_system": a.lims, "lims": a.systems * a.lims,
               "download_servers": a.download_servers, "nodes": a.systems * a.lims + a.download_servers,
               "forks": a.forks, "repeat": a.repeat,
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
        end = versions(False)
        for key in ("mxone_pki_commit", "mxone_pki_uncommitted"):
            if end[key] != res["versions"][key]:
                res["versions"][key + "_at_end"] = end[key]
                self.notes.append("the checkout changed during the run (%s): see versions" % key)
        derive(res)
        res["notes"] = self.notes
        return res


RATIOS = {
    # ratio: (numerator, denominator); a denominator tuple is summed
    "ratio_reference_over_ours_first": ("reference", "ours_first"),
    "ratio_ours_first_over_second": ("ours_first", "ours_second"),
    "ratio_ours_first_over_floor": ("ours_first", "floor"),
    "ratio_issue_ours_over_bare": ("issue_sign_ours", "issue_sign_bare"),
    "ratio_ours_first_over_floor_with_material": ("ours_first", ("floor", "floor_material")),
    "ratio_reference_over_ours_first_per_lim": ("reference", "ours_first_per_lim"),
    "ratio_issue_keygen_ours_over_bare": ("issue_keygen_ours", "issue_keygen_bare"),
}
FIGURES = (("reference", "reference"), ("floor", "floor"), ("floor_material", "floor_material"),
           ("ours_first", "ours_first"), ("ours_second", "ours_second"), ("ours_first_per_lim", "ours_first_per_lim"),
           ("issue_1000_ours", "issue_sign_ours"), ("issue_1000_bare", "issue_sign_bare"),
           ("issue_1000_keygen_ours", "issue_keygen_ours"), ("issue_1000_keygen_bare", "issue_keygen_bare"))


def derive(res):
    """The figures, ratios and targets from res["measurements"]: ratios of medians (the headline) and,
    as ``ratios_min``, of the fastest runs (least disturbed by other work on the machine)."""
    stats = res["measurements"]
    for entry in stats.values():
        runs = [r for r in entry["runs"] if isinstance(r, dict)]
        for key in ("controller_cpu_s", "lab_cpu_s", "other_cpu_s", "machine_busy_pct"):
            values = [r[key] for r in runs if r.get(key) is not None]
            if values:
                entry[key.replace("_s", "").replace("_pct", "") + "_median" + ("_pct" if key.endswith("pct") else "_s")] = \
                    round(statistics.median(values), 2)

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
    return res


def table(res):
    m = res["measurements"]
    rows = [
        ("reference (community.crypto)", "reference"),
        ("floor: bare ssh, delivery + activation", "floor"),
        ("floor: material (separately)", "floor_material"),
        ("ours: rollout.yml, first run", "ours_first"),
        ("ours: rollout.yml, second run", "ours_second"),
        ("ours: first run, a certificate per LIM (info)", "ours_first_per_lim"),
        ("issuance %d, ours (sign)" % res["issue_count"], "issue_sign_ours"),
        ("issuance %d, bare (sign)" % res["issue_count"], "issue_sign_bare"),
        ("issuance %d, ours (keygen + sign)" % res["issue_count"], "issue_keygen_ours"),
        ("issuance %d, bare (keygen + sign)" % res["issue_count"], "issue_keygen_bare"),
    ]
    lines = ["%d LIMs (%d systems x %d) + %d download servers, forks %d, %s"
             % (res["lims"], res["systems"], res["lims_per_system"], res["download_servers"], res["forks"],
                res["date"]), "",
             "| contender | runs | min s | median s | CPU s, controller | CPU s, lab nodes | CPU s, rest of machine | machine busy % |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]

    def cell(val, fmt_="%.1f"):
        return "-" if val is None else fmt_ % val

    for label, name in rows:
        s = m.get(name)
        if not s:
            lines.append("| %s | 0 | - | - | - | - | - | - |" % label)
            continue
        lines.append("| %s | %d | %.2f | %.2f | %s | %s | %s | %s |" % (
            label, len(s["runs"]), s["min_s"], s["median_s"], cell(s.get("controller_cpu_median_s")),
            cell(s.get("lab_cpu_median_s")), cell(s.get("other_cpu_median_s")),
            cell(s.get("machine_busy_median_pct"), "%.0f")))
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
                "ratio_issue_keygen_ours_over_bare"):
        if res.get(key) is not None:
            lines.append("| %s | %s | | %s | | (info) |" % (key, fmt(res[key]), fmt(res["ratios_min"].get(key))))
    lines += ["", "second-run changed counts: %s; every run verified (TLS on every LIM, ca.pem on every "
              "download server, one activation per system): %s" % (res["ours_second_changed"], res["all_verified"])]
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
    p.add_argument("--forks", type=int, help="forks for every contender (default: every node at once)")
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
    p.add_argument("--rederive", metavar="JSON",
                   help="recompute figures, ratios and table of a results file from its measurements; rewrite it")
    p.add_argument("--out", help="results JSON (default bench/results/latest.json)")
    p.add_argument("--no-history", action="store_true", help="do not append to bench/results/history/")
    args = p.parse_args(argv)
    args.argv = list(argv)
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
    args.forks = args.forks or args.systems * args.lims + args.download_servers
    args.reference_repeat = min(args.repeat, args.reference_repeat or args.repeat)
    args.issue_repeat = args.issue_repeat or args.repeat
    return args


def main(argv):
    args = parse(argv)
    if args.rederive:
        with open(args.rederive) as handle:
            res = derive(json.load(handle))
        with open(args.rederive, "w") as handle:
            json.dump(res, handle, indent=2)
            handle.write("\n")
        print(table(res))
        return 0
    if os.geteuid() != 0:
        sys.exit("bench: the lab needs root")
    if not os.path.exists(os.path.join(PROJECT_BIN, "ansible-playbook")):
        log("bench: the project's .venv is missing; running scripts/setup")
        subprocess.run([os.path.join(ROOT, "scripts", "setup")], check=True)
    if args.reference == "yes":
        ensure_bench_venv()
    args.with_reference = args.reference != "no" and bench_venv_ready()
    bench = Bench(args)
    if not args.with_reference:
        bench.notes.append("reference skipped (bench/.venv not installed; run bench/run without --quick)")
    os.makedirs(args.state_root, exist_ok=True)
    bench.versions_start = versions(args.with_reference)
    if args.profile:
        try:
            bench.profile()
        finally:
            bench.lab.down()
        return 0
    try:
        bench.measure()
    finally:
        bench.lab.down()
    res = bench.results()
    text = table(res)
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".tmp", "w") as handle:
        json.dump(res, handle, indent=2, sort_keys=False)
        handle.write("\n")
    os.replace(args.out + ".tmp", args.out)
    if not args.no_history:
        history = os.path.join(BENCH, "results", "history")
        os.makedirs(history, exist_ok=True)
        stamp = res["date"].replace(":", "").replace("+0000", "Z")
        shutil.copyfile(args.out, os.path.join(history, "%s.json" % stamp))
        with open(os.path.join(BENCH, "results", "latest.md"), "w") as handle:
            handle.write(text + "\n")
    log("bench: results in %s" % args.out)
    return 0 if res["all_verified"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
