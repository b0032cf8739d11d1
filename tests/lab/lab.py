"""mxone.pki lab: a local MX-ONE fleet of real sshd nodes on loopback IPs.

    lab up --systems 2 --lims 3 --download-servers 1 --inventory PATH [--reload-seconds 2]
           [--become su|sudo] [--root-login]
    lab status [--json]
    lab journal SYSTEM [--json]
    lab reload-time SYSTEM [N|default] [--lim L] [--json]
    lab fault NODE|SYSTEM down|reload-fails|disk-full|no-licence|clear
    lab add-lim SYSTEM
    lab system-state SYSTEM
    lab down

Every command takes --state-dir (default $MXONE_LAB_DIR or /tmp/mxone-lab).
See tests/lab/README.md.  Stdlib only; must run as root.
"""

import argparse
import concurrent.futures
import contextlib
import grp
import heapq
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)
import mxone_sim as sim  # noqa: E402

DEFAULT_STATE = "/tmp/mxone-lab"
SSHD = "/usr/sbin/sshd"
SUDO = "/usr/bin/sudo"
BIN_DIR = os.path.join(HERE, "bin")  # the simulator's wrappers, copied into each LIM's VENDOR_DIR/bin
ERI_SN = "/etc/opt/eri_sn"
DL_DIR = "/srv/mxone-dl"
# The vendor commands' directory inside a LIM (the documents name none; this follows their /etc/opt/eri_sn).
VENDOR_DIR = sim.VENDOR_DIR
VENDOR_BIN = os.path.join(VENDOR_DIR, "bin")
# Debian's PATH for root and sudo's secure_path: without the vendor directory.
SECURE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LIM_PATH = f"{SECURE_PATH}:{VENDOR_BIN}"  # SSH sessions on a LIM (sshd SetEnv)
SUDO_RUN = "/run/sudo"        # sudo's timestamps (ts/), per node
SUDO_LIB = "/var/lib/sudo"    # sudo's lecture state (lectured/), per node
ACCOUNT_FILES = ("passwd", "shadow", "group", "gshadow", "sudoers")
LOGIN_USER = "ops1"           # the individual administrator account
ADMIN_USER = "mxone_admin"
LAB_USERS = ("root", LOGIN_USER, ADMIN_USER)
FIRST_UID = 2001              # ops1 and mxone_admin get the first free uid/gid from here (host's files)
# Where each node's own files are mounted inside its namespace: a state dir below one of them
# would be hidden from the node's own sshd and simulator.
NODE_MOUNT_POINTS = (ERI_SN, DL_DIR, VENDOR_DIR, SUDO_RUN, SUDO_LIB, "/home", "/root")
INVENTORY_MARK = "# Written by tests/lab/lab up"
DL_OCTET = 200


class Fail(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    if r.returncode != 0:
        raise Fail(f"{' '.join(cmd)}: {(r.stderr or r.stdout).strip()}")
    return r


# --------------------------------------------------------------------------
# prerequisites
# --------------------------------------------------------------------------

def ensure_prereqs():
    if os.geteuid() != 0:
        raise Fail("the lab needs root (mount namespaces, tmpfs, sshd)")
    missing = [pkg for path, pkg in ((SSHD, "openssh-server"), (SUDO, "sudo")) if not os.path.exists(path)]
    if missing:
        log(f"lab: installing {' '.join(missing)} (service start disabled)")
        made_policy = False
        policy = "/usr/sbin/policy-rc.d"
        if not os.path.exists(policy):
            with open(policy, "w", encoding="ascii") as fh:
                fh.write("#!/bin/sh\n# temporary, by tests/lab/lab: do not start services\nexit 101\n")
            os.chmod(policy, 0o755)
            made_policy = True
        try:
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            subprocess.run("apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=300 "
                           + " ".join(missing), shell=True, check=True, env=env, stdout=subprocess.DEVNULL)
        except subprocess.CalledProcessError as exc:
            raise Fail(f"installing {' '.join(missing)} failed ({exc})") from None
        finally:
            if made_policy:
                os.unlink(policy)
        for path, pkg in ((SSHD, "openssh-server"), (SUDO, "sudo")):
            if not os.path.exists(path):
                raise Fail(f"{pkg} installed but {path} is still missing")
    for tool in ("unshare", "mount", "umount", "openssl", "ssh-keygen", "su"):
        if not shutil.which(tool):
            raise Fail(f"{tool} not found")
    for f in ACCOUNT_FILES:  # bind-mount targets: each node gets its own copy over them
        if not os.path.isfile(os.path.join("/etc", f)):
            raise Fail(f"/etc/{f} missing on this machine (each node bind-mounts its own copy over it)")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    # Empty mount points inside the node namespaces (made only when missing; never written to).
    for d, mode in ((ERI_SN, 0o755), (DL_DIR, 0o755), (VENDOR_DIR, 0o755), (SUDO_RUN, 0o711),
                    (SUDO_LIB, 0o700)):
        if not os.path.isdir(d):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, mode)


# --------------------------------------------------------------------------
# processes and mounts
# --------------------------------------------------------------------------

def own_mntns():
    return os.readlink("/proc/self/ns/mnt")


def protected_pids():
    """This process and its ancestors: never killed."""
    pids = set()
    pid = os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
                pid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    pids.add(1)
    return pids


def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def proc_mntns(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def proc_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return []


def read_pid(path):
    try:
        with open(path, encoding="ascii") as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def kill_and_wait(pids, timeout=5.0):
    pids = set(pids) - protected_pids()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(sim.pid_alive(p) for p in pids):
            return True
        time.sleep(0.02)
    return False


def unescape_mount(path):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def fs_source(lab_id, name):
    """The source name of a node's tmpfs: unique per lab, so that a namespace can be told apart."""
    return f"mxone-lab-{lab_id}-{name}" if lab_id else f"mxone-lab-{name}"


def sees_node_fs(pid, node):
    """True/False: process pid sees this node's own tmpfs at the node's mount point; None: unreadable."""
    source = node.get("fs_source") or fs_source(None, node["name"])
    try:
        with open(f"/proc/{pid}/mountinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                left, _sep, right = line.partition(" - ")
                fields, tail = left.split(), right.split()
                if (len(fields) > 4 and len(tail) > 1 and unescape_mount(fields[4]) == node["target"]
                        and tail[1] == source):
                    return True
    except OSError:
        return None
    return False


def ns_pids(ns, node):
    """Every process in mount namespace ns, if that namespace is this node's own.

    A namespace's inode number is reused once its last process is gone, perhaps by another lab's node on
    this machine: the namespace counts as the node's only while its processes see the node's own tmpfs
    (its source name carries the lab's id) at the node's mount point.
    """
    if not ns or ns == own_mntns():
        return set()
    members = [p for p in all_pids() if proc_mntns(p) == ns]
    for pid in members:
        seen = sees_node_fs(pid, node)
        if seen is not None:
            return set(members) if seen else set()
    return set()


def node_pids(lab, name, exclude=(), data=None):
    """Processes of a node: its sshd and everything in its mount namespace."""
    pids = set()
    ndir = lab.path("nodes", name)
    run_info = sim.load_json(os.path.join(ndir, "run.json"), {}) or {}
    cfg = os.path.join(ndir, "sshd_config")
    for pid in (run_info.get("pid"), read_pid(os.path.join(ndir, "sshd.pid"))):
        if pid and sim.pid_alive(pid) and cfg in proc_cmdline(pid):
            pids.add(pid)
    try:
        node = lab.node(name, data)
    except sim.LabError:
        node = None
    if node is not None:
        pids |= ns_pids(run_info.get("mntns"), node)
    return pids - set(exclude) - protected_pids()


def mounts_under(path):
    """Mount points at or below path, deepest first."""
    res = []
    prefix = path.rstrip("/") + "/"
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            mp = unescape_mount(line.split()[4])
            if mp == path or mp.startswith(prefix):
                res.append(mp)
    return sorted(set(res), key=len, reverse=True)


def umount_all(path):
    left = []
    for mp in mounts_under(path):
        r = subprocess.run(["umount", mp], capture_output=True, check=False)
        if r.returncode != 0:
            r = subprocess.run(["umount", "-l", mp], capture_output=True, check=False)
            if r.returncode != 0:
                left.append(mp)
    return left


def tcp_open(ip, port, timeout=0.2):
    with socket.socket() as s:
        s.settimeout(timeout)
        return s.connect_ex((ip, port)) == 0


def port_free(ip, port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True


# --------------------------------------------------------------------------
# nodes
# --------------------------------------------------------------------------

def lim_node(lab, net, system_no, lim_no, ssh_port, lab_id=None):
    system = f"lab{system_no}"
    name = f"{system}-lim{lim_no}"
    ndir = lab.path("nodes", name)
    root = os.path.join(ndir, "root")
    return {
        "name": name, "kind": "lim", "system": system, "lim": lim_no,
        "ip": f"{net}.{system_no}.{lim_no}", "ssh_port": ssh_port,
        "fqdn": f"lim{lim_no}.{system}.mx.test",
        "dir": ndir, "root": root, "target": ERI_SN,
        "mount": os.path.join(root, ERI_SN.lstrip("/")), "fs_source": fs_source(lab_id, name),
    }


def dl_node(lab, net, k, ssh_port, http_port, lab_id=None):
    name = f"dl{k}"
    ndir = lab.path("nodes", name)
    root = os.path.join(ndir, "root")
    ip = f"{net}.{DL_OCTET}.{k}"
    return {
        "name": name, "kind": "download", "system": None, "lim": None, "index": k,
        "ip": ip, "ssh_port": ssh_port, "url": f"http://{ip}:{http_port}/",
        "dir": ndir, "root": root, "target": DL_DIR,
        "mount": os.path.join(root, DL_DIR.lstrip("/")), "fs_source": fs_source(lab_id, name),
    }


# --------------------------------------------------------------------------
# accounts (each node's own /etc/passwd, shadow, group, gshadow, sudoers; never the host's)
# --------------------------------------------------------------------------

def read_colon_file(path):
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        return [line.rstrip("\n").split(":") for line in fh if line.strip() and not line.startswith("#")]


def pick_ids(passwd, group):
    """The first uid/gid pair from FIRST_UID that neither the host's passwd nor its group uses."""
    used = {int(f[2]) for f in passwd if len(f) > 2 and f[2].isdigit()}
    used |= {int(f[2]) for f in group if len(f) > 2 and f[2].isdigit()}
    n = FIRST_UID
    while n in used or n + 1 in used:
        n += 1
    return n, n + 1


def crypt_sha512(password):
    """SHA-512 crypt ($6$) of a password, by openssl passwd -6 (the password on stdin, never in argv)."""
    r = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password + "\n", capture_output=True,
                       text=True, check=False)
    if r.returncode != 0 or not r.stdout.startswith("$6$"):
        raise Fail("openssl passwd -6 failed")
    return r.stdout.strip()


def make_accounts(lab, data):
    """Passwords (STATE/passwords.json, 0600) and the lab's account files (STATE/accounts/, copied per node).

    Built from the host's /etc/passwd and /etc/group, so system users and groups (sshd, shadow ...) stay;
    root gets home /root and bash; ops1 and mxone_admin are added. Every password in shadow is '*' but
    those of the three lab accounts. Returns the accounts as recorded in lab.json.
    """
    passwd = read_colon_file("/etc/passwd")
    group = read_colon_file("/etc/group")
    uid1, uid2 = pick_ids(passwd, group)
    accounts = {
        "root": {"uid": 0, "gid": 0, "home": "/root", "gecos": "root"},
        LOGIN_USER: {"uid": uid1, "gid": uid1, "home": f"/home/{LOGIN_USER}",
                     "gecos": "individual administrator (lab)"},
        ADMIN_USER: {"uid": uid2, "gid": uid2, "home": f"/home/{ADMIN_USER}", "gecos": "MX-ONE administrator (lab)"},
    }
    for acc in accounts.values():
        acc["shell"] = "/bin/bash"
    passwords = dict((user, secrets.token_urlsafe(18)) for user in LAB_USERS)
    with concurrent.futures.ThreadPoolExecutor(3) as ex:
        hashes = dict(zip(LAB_USERS, ex.map(crypt_sha512, (passwords[u] for u in LAB_USERS))))
    fd = os.open(lab.path("passwords.json"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(passwords, fh, indent=1)
        fh.write("\n")
    lab_names = set(LAB_USERS)
    out_passwd = []
    for f in passwd:
        if f[0] == "root":
            a = accounts["root"]
            out_passwd.append(["root", "x", "0", "0", a["gecos"], a["home"], a["shell"]])
        elif f[0] not in lab_names:
            out_passwd.append(f)
    for user in (LOGIN_USER, ADMIN_USER):
        a = accounts[user]
        out_passwd.append([user, "x", str(a["uid"]), str(a["gid"]), a["gecos"], a["home"], a["shell"]])
    out_group = [f for f in group if f[0] not in (LOGIN_USER, ADMIN_USER)]
    for user in (LOGIN_USER, ADMIN_USER):
        out_group.append([user, "x", str(accounts[user]["gid"]), ""])
    days = str(int(time.time() // 86400))
    out_shadow = [[f[0], hashes.get(f[0], "*"), days, "0", "99999", "7", "", "", ""] for f in out_passwd]
    out_gshadow = [[f[0], "*", "", f[3] if len(f) > 3 else ""] for f in out_group]
    sudoers = "\n".join([
        f"{INVENTORY_MARK}: the sudoers of every node of this lab (each node has its own copy).",
        "# As Debian ships it, without @includedir /etc/sudoers.d: a password is always asked (no NOPASSWD),",
        "# each account's own; secure_path leaves out the vendor directory " + VENDOR_BIN + ".",
        "Defaults\tenv_reset",
        f'Defaults\tsecure_path="{SECURE_PATH}"',
        "Defaults\tuse_pty",
        "root\tALL=(ALL:ALL) ALL",
        "%sudo\tALL=(ALL:ALL) ALL",
        f"{LOGIN_USER}\tALL=(ALL:ALL) ALL",
        f"{ADMIN_USER}\tALL=(ALL:ALL) ALL",
        "",
    ])
    adir = lab.path("accounts")
    os.makedirs(adir, mode=0o700, exist_ok=True)
    os.chmod(adir, 0o700)
    for name, rows in (("passwd", out_passwd), ("group", out_group), ("shadow", out_shadow),
                       ("gshadow", out_gshadow)):
        with open(os.path.join(adir, name), "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write("".join(":".join(r) + "\n" for r in rows))
    with open(os.path.join(adir, "sudoers"), "w", encoding="ascii") as fh:
        fh.write(sudoers)
    return accounts


def shadow_gid():
    try:
        return grp.getgrnam("shadow").gr_gid
    except KeyError:
        return 0


ACCOUNT_MODES = {"passwd": 0o644, "group": 0o644, "shadow": 0o640, "gshadow": 0o640, "sudoers": 0o440}

USER_PROFILE = f"""# ~/.profile (tests/lab/lab): login shells. The vendor commands' directory on the PATH.
if [ -n "$BASH_VERSION" ] && [ -f "$HOME/.bashrc" ]; then
    . "$HOME/.bashrc"
fi
case ":$PATH:" in
    *":{VENDOR_BIN}:"*) ;;
    *) PATH="$PATH:{VENDOR_BIN}" ;;
esac
export PATH
"""

ROOT_PROFILE = f"""# ~/.profile of root (tests/lab/lab): login shells (su -). As on the vendor's nodes, root's
# login PATH is the system one (/etc/login.defs ENV_SUPATH, /etc/profile): {VENDOR_BIN} is not on it.
if [ -n "$BASH_VERSION" ] && [ -f "$HOME/.bashrc" ]; then
    . "$HOME/.bashrc"
fi
"""


def node_binds(node):
    """(source on the host, target inside the node) of every bind mount of a node, in mount order."""
    d = node["dir"]
    binds = [(os.path.join(d, "etc", f), os.path.join("/etc", f)) for f in ACCOUNT_FILES]
    binds += [(os.path.join(d, "home"), "/home"), (os.path.join(d, "roothome"), "/root"),
              (os.path.join(d, "sudo", "run"), SUDO_RUN), (os.path.join(d, "sudo", "lib"), SUDO_LIB)]
    if node["kind"] == "lim":
        binds.append((os.path.join(d, "opt"), VENDOR_DIR))
    binds.append((node["mount"], node["target"]))
    return binds


def home_dir(node, user):
    """A node's home of ``user`` on the host (/root or /home/<user> inside the node)."""
    return os.path.join(node["dir"], "roothome" if user == "root" else os.path.join("home", user))


def authorize_key(lab, data, node):
    """The lab's client key in ~/.ssh/authorized_keys of ops1 and mxone_admin (and root with --root-login)."""
    with open(lab.path("ssh", "id_rsa.pub"), encoding="ascii") as fh:
        pub = fh.read()
    for user in LAB_USERS:
        if user == "root" and not data.get("root_login"):
            continue  # never for root on a hardened lab
        a = data["accounts"][user]
        path = os.path.join(home_dir(node, user), ".ssh", "authorized_keys")
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(pub)
        os.chown(path + ".tmp", a["uid"], a["gid"])
        os.replace(path + ".tmp", path)


def make_node_accounts(lab, data, node):
    """The node's own account files, homes, sudo state and vendor dir (authorize_key() adds the key)."""
    d = node["dir"]
    accounts = data["accounts"]
    sgid = shadow_gid()
    os.makedirs(os.path.join(d, "etc"), mode=0o755, exist_ok=True)
    for f in ACCOUNT_FILES:
        dst = os.path.join(d, "etc", f)
        shutil.copyfile(lab.path("accounts", f), dst)
        os.chown(dst, 0, sgid if f in ("shadow", "gshadow") else 0)
        os.chmod(dst, ACCOUNT_MODES[f])
    homes = os.path.join(d, "home")
    os.makedirs(homes, mode=0o755, exist_ok=True)
    os.chmod(homes, 0o755)
    for user in LAB_USERS:
        a = accounts[user]
        home = home_dir(node, user)
        os.makedirs(os.path.join(home, ".ssh"), mode=0o700, exist_ok=True)
        path = os.path.join(home, ".profile")
        with open(path, "w", encoding="ascii") as fh:
            fh.write(ROOT_PROFILE if user == "root" else USER_PROFILE)
        os.chmod(path, 0o644)
        os.chown(path, a["uid"], a["gid"])
        for path in (home, os.path.join(home, ".ssh")):
            os.chmod(path, 0o700)
            os.chown(path, a["uid"], a["gid"])
    os.makedirs(os.path.join(d, "sudo", "run"), exist_ok=True)
    os.makedirs(os.path.join(d, "sudo", "lib"), exist_ok=True)
    os.chmod(os.path.join(d, "sudo", "run"), 0o711)
    os.chmod(os.path.join(d, "sudo", "lib"), 0o700)
    if node["kind"] == "lim":
        opt = os.path.join(d, "opt")
        os.makedirs(os.path.join(opt, "bin"), mode=0o755, exist_ok=True)
        for name in sorted(os.listdir(BIN_DIR)):
            shutil.copyfile(os.path.join(BIN_DIR, name), os.path.join(opt, "bin", name))
            os.chmod(os.path.join(opt, "bin", name), 0o755)
        shutil.copyfile(sim.SIM_PATH, os.path.join(opt, "mxone_sim.py"))
        os.chmod(os.path.join(opt, "mxone_sim.py"), 0o644)
        with open(os.path.join(opt, sim.NODE_FILE_NAME), "w", encoding="utf-8") as fh:
            json.dump({"node": node["name"], "state_dir": lab.dir}, fh)
            fh.write("\n")
        os.chmod(os.path.join(opt, sim.NODE_FILE_NAME), 0o644)
        for path in (opt, os.path.join(opt, "bin")):
            os.chmod(path, 0o755)


def sshd_config(lab, node, root_login=False):
    def q(s):
        return '"' + s.replace('"', '') + '"'

    return "\n".join([
        f"# sshd for lab node {node['name']} (tests/lab/lab)",
        f"ListenAddress {node['ip']}:{node['ssh_port']}",
        f"HostKey {lab.path('ssh', 'host_ed25519_key')}",
        "HostKeyAlgorithms ssh-ed25519",
        # MX-ONE Security Guidelines: key exchange, user keys RSA 4096, ciphers and MACs (those OpenSSH
        # still has: hmac-ripemd160 is gone from it)
        "KexAlgorithms curve25519-sha256@libssh.org,diffie-hellman-group-exchange-sha256",
        "PubkeyAcceptedAlgorithms rsa-sha2-512,rsa-sha2-256",
        "RequiredRSASize 4096",
        "Ciphers chacha20-poly1305@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr,aes256-cbc,aes192-cbc,aes128-cbc",
        "MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com,umac-128-etm@openssh.com,"
        "hmac-sha2-512,hmac-sha2-256,umac-128@openssh.com",
        f"PidFile {os.path.join(node['dir'], 'sshd.pid')}",
        "AuthorizedKeysFile .ssh/authorized_keys",
        # the vendor ships direct root login disabled; lab up --root-login is the old lab's way in
        f"PermitRootLogin {'prohibit-password' if root_login else 'no'}",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes yes",
        "UseDNS no",
        "PrintMotd no",
        "PrintLastLog no",
        "X11Forwarding no",
        "AllowTcpForwarding yes",
        "PermitUserEnvironment no",
        "AcceptEnv LANG LC_*",
        "MaxStartups 100",
        "MaxSessions 50",
        "LoginGraceTime 30",
        "LogLevel INFO",
        "Subsystem sftp internal-sftp",
        "SetEnv " + q(f"PATH={LIM_PATH if node['kind'] == 'lim' else SECURE_PATH}"),
        "",
    ])


def make_node_fs(lab, data, node):
    os.makedirs(node["mount"], exist_ok=True)
    run(["mount", "-t", "tmpfs", "-o", f"size={data.get('tmpfs_size', '4m')},mode=0755",
         node.get("fs_source") or fs_source(None, node["name"]), node["mount"]])
    if node["kind"] == "lim":
        os.makedirs(os.path.join(node["mount"], "certs"), mode=0o755, exist_ok=True)
        with open(os.path.join(node["mount"], "ip_telephony.conf"), "w", encoding="ascii") as fh:
            fh.write(f"# ip_telephony.conf of LIM {node['lim']} ({node['system']}), MX-ONE lab\n"
                     "TlsClientVerificationMode: none\n")
    make_node_accounts(lab, data, node)
    with open(os.path.join(node["dir"], "sshd_config"), "w", encoding="utf-8") as fh:
        fh.write(sshd_config(lab, node, data.get("root_login", False)))


def start_sshd(node):
    """sshd in a mount namespace of its own, where the node's files are bind-mounted first."""
    logf = open(os.path.join(node["dir"], "sshd.log"), "ab")
    script = ('while [ "$#" -gt 3 ]; do mount --bind "$1" "$2" || exit 1; shift 2; done; '
              'exec "$1" -D -f "$2" -E "$3"')
    args = [a for pair in node_binds(node) for a in pair]
    try:
        return subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *args,
             SSHD, os.path.join(node["dir"], "sshd_config"), os.path.join(node["dir"], "sshd.log")],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True,
            close_fds=True, cwd="/")
    finally:
        logf.close()


START_BATCH = 50  # sshds started at once (see start_all_sshd)


def start_all_sshd(nodes, batch=START_BATCH):
    """Start every node's sshd, ``batch`` at a time, each batch listening before the next starts.

    A thousand started at once on 2 cores (each an unshare, a shell, ten bind mounts and an sshd) put the
    load average at ~120 and many did not listen within 20 s; in batches the machine stays responsive
    and the wait per batch is short. If a batch fails, the sshds started so far are killed here (their
    pids are known) before `up` cleans up, so that none is left starting behind the teardown."""
    started = []
    try:
        for i in range(0, len(nodes), batch):
            chunk = [(n, start_sshd(n)) for n in nodes[i:i + batch]]
            started += chunk
            wait_nodes(chunk)
    except BaseException:
        for _node, proc in started:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        raise


def raise_nofile_limit():
    """Raise this process's soft limit of open files to its hard limit (the lab daemon inherits it).

    The daemon holds three TLS listeners per LIM plus a socket per open connection: about 3,000 at
    1,000 LIMs, above the usual soft limit of 1,024. Returns (soft, hard) after the change."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def wait_nodes(started, timeout=20.0):
    """Wait until every (node, Popen) accepts TCP on its ssh port; record pid + mntns."""
    own = own_mntns()
    pending = dict((n["name"], (n, p)) for n, p in started)
    deadline = time.monotonic() + timeout
    while pending:
        for name, (n, p) in list(pending.items()):
            if p.poll() is not None:
                try:
                    with open(os.path.join(n["dir"], "sshd.log"), encoding="utf-8",
                              errors="replace") as fh:
                        tail = fh.read().strip().splitlines()[-3:]
                except OSError:
                    tail = []
                raise Fail(f"sshd of {name} exited ({p.returncode}): {' | '.join(tail)}")
            if tcp_open(n["ip"], n["ssh_port"]):
                ns = proc_mntns(p.pid)
                if ns is None or ns == own:
                    raise Fail(f"sshd of {name} is not in its own mount namespace")
                sim.write_json(os.path.join(n["dir"], "run.json"),
                               {"pid": p.pid, "mntns": ns, "started": sim.now_iso()})
                del pending[name]
        if pending:
            if time.monotonic() > deadline:
                raise Fail(f"sshd did not come up on: {', '.join(sorted(pending))}")
            time.sleep(0.02)


def fill_disk(mount):
    path = os.path.join(mount, sim.FILLER_NAME)
    with open(path, "ab", buffering=0) as fh:
        for chunk in (1 << 20, 1 << 16, 1 << 12, 1):
            buf = b"\0" * chunk
            try:
                while True:
                    fh.write(buf)
            except OSError as exc:
                if exc.errno != 28:  # ENOSPC
                    raise


# --------------------------------------------------------------------------
# inventory
# --------------------------------------------------------------------------

def y(s):
    return json.dumps(s)


def write_inventory(lab, data):
    inv = data["inventory"]
    lines = [f"{INVENTORY_MARK} (state dir {lab.dir}); rewritten by add-lim, removed by down.",
             "all:", "  children:", "    mxone_systems:", "      children:"]
    for sysname, sysinfo in data["systems"].items():
        lines += [f"        mxone_{sysname}:",
                  f"          vars: {{mxone_system: {sysname}, mxone_domain: {sysinfo['domain']}}}",
                  "          hosts:"]
        for n in lab.system_lims(sysname, data):
            lines.append(f"            {n['name']}: {{ansible_host: {n['ip']}, mxone_lim: {n['lim']}}}")
    dls = sorted((n for n in data["nodes"].values() if n["kind"] == "download"),
                 key=lambda n: n["index"])
    lines += ["    mxone_download_servers:"]
    if dls:
        lines.append("      hosts:")
        for n in dls:
            lines.append(f"        {n['name']}: {{ansible_host: {n['ip']}, mxone_download_dir: "
                         f"{n['target']}, mxone_download_url: {y(n['url'])}}}")
    else:
        lines.append("      hosts: {}")
    lines += ["  vars:"]
    if data.get("root_login"):
        lines += ["    ansible_user: root"]
    else:  # an individual account, then root with su (or sudo); the password is in the secrets file
        lines += [f"    ansible_user: {data.get('login_user', LOGIN_USER)}",
                  "    ansible_become: true",
                  f"    ansible_become_method: {data.get('become', 'su')}"]
    lines += [
        f"    ansible_port: {data['ssh_port']}",
        f"    ansible_ssh_private_key_file: {y(data.get('ssh_key') or lab.path('ssh', 'id_rsa'))}",
        '    ansible_ssh_common_args: "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"',
        "    ansible_python_interpreter: /usr/bin/python3",
        "",
    ]
    os.makedirs(os.path.dirname(inv), exist_ok=True)
    tmp = inv + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    os.chmod(tmp, 0o644)
    os.replace(tmp, inv)


def write_secrets(lab, data):
    """The 0600 secrets file beside the inventory: the CA passphrase and the become password.

    The become password is root's with su, the login account's own with sudo; none with --root-login.
    """
    path = data["secrets_file"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    text = (f"{INVENTORY_MARK}: lab-only secrets, removed by down.\n"
            f"mxone_ca_passphrase: {y(secrets.token_urlsafe(24))}\n")
    if not data.get("root_login"):
        passwords = sim.load_json(lab.path("passwords.json"))
        who = "root" if data.get("become", "su") == "su" else data.get("login_user", LOGIN_USER)
        text += f"ansible_become_password: {y(passwords[who])}\n"
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path + ".tmp", 0o600)
    os.replace(path + ".tmp", path)


def remove_lab_file(path):
    """Remove a file the lab wrote (only if it carries the lab's mark)."""
    try:
        with open(path, encoding="utf-8") as fh:
            first = fh.readline()
    except OSError:
        return
    if first.startswith(INVENTORY_MARK):
        os.unlink(path)


# --------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------

def wait_keygen(proc):
    if proc.wait() != 0:
        raise Fail(f"ssh-keygen failed: {proc.stderr.read().decode().strip()}")


def cmd_up(args, lab):
    t0 = time.monotonic()
    if os.path.exists(lab.path("lab.json")):
        data = sim.load_json(lab.path("lab.json"))
        raise Fail(f"a lab is already up in {lab.dir} ({len(data['nodes'])} nodes, inventory "
                   f"{data['inventory']}); run `lab down` first or use another --state-dir")
    if not re.fullmatch(r"127\.(25[0-5]|2[0-4]\d|1?\d?\d)", args.net):
        raise Fail(f"--net must be 127.B (B 0..255), not {args.net!r}")
    if re.search(r"\s", lab.dir) or len(lab.path("run", "labd.sock")) > 100:
        raise Fail(f"state dir {lab.dir!r}: use a path without blanks, at most ~85 characters "
                   f"(it holds a Unix socket)")
    if not 1 <= args.systems < DL_OCTET:
        raise Fail(f"--systems must be 1..{DL_OCTET - 1}")
    if not 1 <= args.lims <= 254 or not 0 <= args.download_servers <= 254:
        raise Fail("--lims must be 1..254, --download-servers 0..254")
    if not 0 <= args.reload_seconds <= 3600:
        raise Fail("--reload-seconds must be 0..3600")
    for mp in NODE_MOUNT_POINTS:
        if lab.dir == mp or lab.dir.startswith(mp.rstrip("/") + "/"):
            raise Fail(f"state dir {lab.dir!r} is below {mp}, where each node mounts its own files "
                       f"(its sshd would not see it): choose another --state-dir")
    if args.root_login and args.become != "su":
        raise Fail("--root-login logs in as root: no --become")
    lims = args.systems * args.lims
    soft, _hard = raise_nofile_limit()
    need = 3 * lims + args.download_servers + 512  # listeners, HTTP servers, connections and files
    if soft != resource.RLIM_INFINITY and soft < need:
        raise Fail(f"{lims} LIMs need about {need} open files in the lab daemon (3 TLS listeners per LIM and "
                   f"the connections), but the limit is {soft} and cannot be raised further here: raise it "
                   f"first (ulimit -n {need}, or LimitNOFILE= for a service)")
    pid_max = int(open("/proc/sys/kernel/pid_max").read())
    if pid_max < 16 * (lims + args.download_servers):
        log(f"lab up: kernel.pid_max is {pid_max}; {lims} LIMs with a session open on each use about "
            f"{6 * (lims + args.download_servers)} processes (sysctl -w kernel.pid_max=4194304 to be safe)")
    ensure_prereqs()
    if os.path.exists(lab.dir):  # leftovers of a partial up
        teardown(lab, quiet=True)

    data = {
        "version": 1, "state_dir": lab.dir, "net": args.net, "ssh_port": args.ssh_port,
        "http_port": args.http_port, "tls_ports": list(sim.TLS_PORTS), "lab_dir": HERE,
        "created": sim.now_iso(), "tmpfs_size": args.tmpfs_size, "reload_seconds": args.reload_seconds,
        "ssh_key": lab.path("ssh", "id_rsa"), "lab_id": secrets.token_hex(4),
        "root_login": bool(args.root_login), "become": None if args.root_login else args.become,
        "login_user": "root" if args.root_login else LOGIN_USER, "admin_user": ADMIN_USER,
        "users": list(LAB_USERS), "vendor_bin": VENDOR_BIN,
        "systems": {}, "nodes": {},
    }
    for s in range(1, args.systems + 1):
        data["systems"][f"lab{s}"] = {"number": s, "domain": f"lab{s}.mx.test"}
        for n in range(1, args.lims + 1):
            node = lim_node(lab, args.net, s, n, args.ssh_port, data["lab_id"])
            data["nodes"][node["name"]] = node
    for k in range(1, args.download_servers + 1):
        node = dl_node(lab, args.net, k, args.ssh_port, args.http_port, data["lab_id"])
        data["nodes"][node["name"]] = node
    inv = os.path.abspath(args.inventory or lab.path("inventory", "hosts.yml"))
    data["inventory"] = inv
    made, d = [], os.path.dirname(inv)
    while not os.path.exists(d):
        made.append(d)
        d = os.path.dirname(d)
    data["inventory_dirs_made"] = made  # removed by down when empty
    data["secrets_file"] = os.path.join(os.path.dirname(inv), "group_vars", "all",
                                        "lab_secrets.yml")
    busy = []
    for node in data["nodes"].values():
        ports = [args.ssh_port] + (list(sim.TLS_PORTS) if node["kind"] == "lim"
                                   else [args.http_port])
        busy += [f"{node['ip']}:{p}" for p in ports if not port_free(node["ip"], p)]
    if busy:
        raise Fail(f"address(es) in use: {', '.join(busy[:5])}{' ...' if len(busy) > 5 else ''}"
                   f" (another lab? choose another --net or --ssh-port)")

    try:
        for d in ("ssh", "run", "nodes", "systems", "tls"):
            os.makedirs(lab.path(d), exist_ok=True)
        os.chmod(lab.dir, 0o755)
        os.chmod(lab.path("ssh"), 0o700)
        # The client key as the vendor's SSH wants it, RSA 4096: its prime search takes 1-5 s here, so
        # everything but authorized_keys is done meanwhile (sshd reads those only at login). The host key
        # (Ed25519) takes milliseconds.
        t_key = time.monotonic()
        keygen = dict((f, subprocess.Popen(["ssh-keygen", "-q", *t, "-N", "", "-C", c, "-f", lab.path("ssh", f)],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
                      for f, t, c in (("id_rsa", ("-t", "rsa", "-b", "4096"), "mxone-lab-client"),
                                      ("host_ed25519_key", ("-t", "ed25519"), "mxone-lab-host")))
        try:
            data["accounts"] = make_accounts(lab, data)
            wait_keygen(keygen["host_ed25519_key"])
            for s in data["systems"]:
                os.makedirs(lab.system_dir(s), exist_ok=True)
            with concurrent.futures.ThreadPoolExecutor(8) as ex:
                list(ex.map(lambda n: make_node_fs(lab, data, n), data["nodes"].values()))
            first = next(iter(data["nodes"].values()))
            run([SSHD, "-t", "-f", os.path.join(first["dir"], "sshd_config")])
            sim.write_json(lab.path("faults.json"), {})
            sim.write_json(lab.path("lab.json"), data)
            sim.start_labd(lab.dir)  # starts the download servers' HTTP
            start_all_sshd(list(data["nodes"].values()))
            t_wait = time.monotonic()
            wait_keygen(keygen["id_rsa"])
            keygen_s = (time.monotonic() - t_key, time.monotonic() - t_wait)
            for n in data["nodes"].values():
                authorize_key(lab, data, n)
        finally:
            for p in keygen.values():
                if p.poll() is None:
                    p.kill()
                    p.wait()
        http = sim.labd_sync(lab.dir)
        errs = [f"{k}: {v['error']}" for k, v in http.items() if v.get("error")]
        if errs:
            raise Fail("; ".join(errs))
        write_inventory(lab, data)
        write_secrets(lab, data)
    except BaseException:
        print("lab: up failed, cleaning up", file=sys.stderr)
        teardown(lab, quiet=True)
        raise
    nl = sum(1 for n in data["nodes"].values() if n["kind"] == "lim")
    log(f"lab up in {time.monotonic() - t0:.1f}s: {len(data['systems'])} system(s), {nl} LIM(s), "
        f"{len(data['nodes']) - nl} download server(s); net {args.net}.*, ssh port {args.ssh_port} "
        f"(RSA 4096 client key: {keygen_s[0]:.1f}s, {keygen_s[1]:.1f}s of it waited for)")
    log(f"inventory: {inv}")
    how = ("root logs in with the key (--root-login)" if data["root_login"] else
           f"then {data['become']} to root; passwords in {lab.path('passwords.json')}")
    log(f"state dir: {lab.dir}  (ssh -i {data['ssh_key']} -p {args.ssh_port} "
        f"{data['login_user']}@IP; {how})")
    return 0


LAB_ENTRIES = {"lab.json", "faults.json", "ssh", "run", "nodes", "systems", "tls", "inventory",
               "accounts", "passwords.json"}


def looks_like_lab(path):
    """Only directories the lab made are ever removed."""
    try:
        entries = os.listdir(path)
    except NotADirectoryError:
        return False
    return all(e in LAB_ENTRIES or e.startswith(".tmp-") for e in entries)


def teardown(lab, quiet=False):
    """Kill everything the lab started, unmount, remove the state dir."""
    if not os.path.exists(lab.dir):
        if not quiet:
            log(f"lab: nothing to take down in {lab.dir}")
        return 0
    foreign = not looks_like_lab(lab.dir)
    if foreign and not os.path.exists(lab.path("lab.json")):
        raise Fail(f"{lab.dir} exists but is not a lab state dir; not touching it")
    # A lab dir someone also put their own files in: still stop and unmount the lab (a lab left
    # running holds its addresses and mounts), remove only the lab's own entries, keep theirs.
    data = sim.load_json(lab.path("lab.json"), {}) or {}
    state = lab.dir
    pids = set()
    labd = read_pid(lab.path("run", "labd.pid"))
    if labd and sim.pid_alive(labd) and state in proc_cmdline(labd):
        pids.add(labd)
    if os.path.isdir(lab.path("nodes")):
        for name in os.listdir(lab.path("nodes")):
            # its sshd, and every process in its mount namespace (sessions, su, sudo, the simulator)
            pids |= node_pids(lab, name, data=data or None)
    for pid in all_pids():
        args = proc_cmdline(pid)
        if any(a == state or a.startswith(state + "/") for a in args):
            pids.add(pid)
    pids -= protected_pids()
    if not kill_and_wait(pids):
        print(f"lab: some processes did not exit: {sorted(p for p in pids if sim.pid_alive(p))}",
              file=sys.stderr)
    left = umount_all(state)
    if data:
        for f in (data.get("inventory"), data.get("secrets_file")):
            if f:
                remove_lab_file(f)
        sf = data.get("secrets_file")
        dirs = [os.path.dirname(sf), os.path.dirname(os.path.dirname(sf))] if sf else []
        for d in dirs + list(data.get("inventory_dirs_made", [])):
            if d.startswith(state + "/"):
                continue  # goes with the state dir
            with contextlib.suppress(OSError):
                os.rmdir(d)  # only when empty
    if left:
        raise Fail(f"could not unmount: {', '.join(left)}")
    if foreign:
        for entry in LAB_ENTRIES:
            path = lab.path(entry)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.exists(path):
                os.unlink(path)
        others = sorted(os.listdir(state))
        log(f"lab down: {len(pids)} process(es) stopped; {state} kept for files the lab did not make: "
            f"{', '.join(others)}")
        return 0
    shutil.rmtree(state, ignore_errors=True)
    if os.path.exists(state):
        raise Fail(f"could not remove {state}")
    if not quiet:
        log(f"lab down: {len(pids)} process(es) stopped, state dir {state} removed")
    return 0


def cmd_down(args, lab):
    if os.geteuid() != 0:
        raise Fail("the lab needs root")
    return teardown(lab)


def tls_state(lab, name, faults, labd):
    """(state, back_at, problem) of a LIM's TLS: "up", "starting" (back at ISO) or "down" (and why)."""
    if labd.get("tls", {}).get(name):
        return "up", None, None
    if "down" in faults.get(name, []):
        return "down", None, "node down"
    spec = sim.load_json(lab.tls_spec_path(name), {}) or {}
    if not spec:
        return "down", None, "never reloaded"
    if not spec.get("active"):
        return "down", None, spec.get("problem") or "listeners stopped"
    if labd.get("errors", {}).get(name):
        return "down", None, labd["errors"][name]
    if not labd:
        return "down", None, "lab daemon not running (the next reload starts it)"
    return "starting", sim.iso_of(float(spec.get("up_at") or 0)), None


def node_rows(lab, data):
    faults = lab.faults()
    try:
        st = sim.labd_request(lab.dir, {"op": "status"}, timeout=5)
    except (OSError, sim.LabError, ValueError):
        st = {}
    tls = st.get("tls", {})
    http = st.get("http", {})

    def order(n):
        return (data["systems"][n["system"]]["number"], n["lim"]) if n["kind"] == "lim" else (10 ** 6, n["index"])

    rows = []
    for n in sorted(data["nodes"].values(), key=order):
        run_info = sim.load_json(os.path.join(n["dir"], "run.json"), {}) or {}
        down = "down" in faults.get(n["name"], [])
        up = (not down) and sim.pid_alive(run_info.get("pid")) and tcp_open(n["ip"], n["ssh_port"])
        row = {
            "name": n["name"], "kind": n["kind"], "system": n["system"], "lim": n["lim"],
            "ip": n["ip"], "ssh_port": n["ssh_port"], "root": n["root"], "up": bool(up),
            "tls": bool(tls.get(n["name"])), "faults": sorted(faults.get(n["name"], [])),
        }
        if n["kind"] == "lim":
            row["fqdn"] = f"lim{n['lim']}.{data['systems'][n['system']]['domain']}"
            row["eri_sn"] = n["mount"]
            row["tls_state"], row["tls_back_at"], row["tls_problem"] = tls_state(lab, n["name"], faults, st)
        else:
            row["http"] = bool(http.get(n["name"]))
            row["url"] = n["url"]
            row["download_dir"] = n["mount"]
        rows.append(row)
    return rows


def cmd_status(args, lab):
    data = lab.data
    rows = node_rows(lab, data)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    log(f"lab at {lab.dir}: inventory {data['inventory']}")
    log(f"{'node':<14}{'kind':<9}{'ip':<16}{'port':<6}{'up':<5}{'tls':<10}{'http':<5}{'faults':<14}tls detail")
    for r in rows:
        http = ("yes" if r["http"] else "no") if r["kind"] == "download" else "-"
        detail = ""
        if r["kind"] == "lim" and r["tls_state"] == "starting":
            detail = f"back at {r['tls_back_at']}"
        elif r["kind"] == "lim" and r["tls_state"] == "down":
            detail = r["tls_problem"]
        log(f"{r['name']:<14}{r['kind']:<9}{r['ip']:<16}{r['ssh_port']:<6}"
            f"{'yes' if r['up'] else 'no':<5}{r.get('tls_state', '-'):<10}{http:<5}"
            f"{','.join(r['faults']) or '-':<14}{detail}".rstrip())
    return 0


def read_journal(lab, system):
    data = lab.data
    if system not in data["systems"]:
        raise Fail(f"no system {system!r} (systems: {', '.join(data['systems'])})")
    entries = []
    try:
        with open(os.path.join(lab.system_dir(system), "journal.jsonl"), encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    entries.append(json.loads(line))
    except FileNotFoundError:
        pass
    return entries


def cmd_journal(args, lab):
    entries = read_journal(lab, args.system)
    # Commands are journaled when they end (with the time they started), tls-up events when the
    # listeners start: merge the two by time, each keeping its own order (commands: execution order).
    commands = [e for e in entries if "command" in e]
    events = [e for e in entries if "command" not in e]
    entries = list(heapq.merge(commands, events, key=lambda e: e["time"]))
    if args.json:
        print(json.dumps(entries, indent=1))
    else:
        for e in entries:
            if "command" in e:
                who = f" by {e['user'] or '?'} as {e['as']}" if "as" in e else ""
                print(f"{e['time']} {e['host']} {e['command']} {e['exit']}{who}")
            else:
                print(f"{e['time']} {e['host']} [{e.get('event')} after reload {e.get('reload')}]")
    return 0


def cmd_reload_time(args, lab):
    data = lab.data
    system = args.system
    if system not in data["systems"]:
        raise Fail(f"no system {system!r} (systems: {', '.join(data['systems'])})")
    lims = lab.system_lims(system, data)
    target = None
    if args.lim is not None:
        by_name = dict((n["name"], n) for n in lims)
        by_no = dict((str(n["lim"]), n) for n in lims)
        node = by_name.get(args.lim) or by_no.get(args.lim)
        if node is None:
            raise Fail(f"no LIM {args.lim!r} in {system} (LIMs: {', '.join(by_name)})")
        target = node["name"]
    if args.seconds is not None:
        if args.seconds == "default":
            value = None
        else:
            try:
                value = float(args.seconds)
            except ValueError:
                raise Fail(f"N must be a number of seconds or 'default', not {args.seconds!r}") from None
            if not 0 <= value <= 3600:
                raise Fail("N must be 0..3600 seconds")
        path = os.path.join(lab.system_dir(system), "reload.json")
        with sim.flocked(os.path.join(lab.system_dir(system), "lock")):  # not in the middle of a command
            conf = sim.load_json(path, {}) or {}
            conf.setdefault("lims", {})
            if target:
                conf["lims"].pop(target, None)
                if value is not None:
                    conf["lims"][target] = value
            elif value is None:
                conf.pop("seconds", None)
            else:
                conf["seconds"] = value
            sim.write_json(path, conf)
    settings = lab.reload_settings(system, data)
    out = {"system": system, "lab_seconds": settings["lab"], "system_seconds": settings["system"],
           "lims": dict((n["name"], lab.reload_seconds(settings, n["name"])) for n in lims),
           "per_lim": settings["lims"]}
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    own = settings["system"] is not None
    log(f"{system}: reload takes {settings['system'] if own else settings['lab']:g} s "
        f"({'set for the system' if own else 'the lab default'}; lab default {settings['lab']:g} s)")
    for name, seconds in out["lims"].items():
        log(f"  {name}: {seconds:g} s{' (set for this LIM)' if name in settings['lims'] else ''}")
    return 0


def cmd_system_state(args, lab):
    data = lab.data
    if args.system not in data["systems"]:
        raise Fail(f"no system {args.system!r}")
    st = sim.load_json(os.path.join(lab.system_dir(args.system), "state.json"), {}) or {}
    st["faults"] = sorted(lab.system_faults(args.system, data))
    print(json.dumps(st, indent=1, sort_keys=True))
    return 0


def cmd_fault(args, lab):
    kind = args.kind
    with sim.flocked(lab.path("run", "lab.lock")):
        data = lab.data
        if args.node in data["systems"]:
            targets = lab.system_lims(args.node, data)
        else:
            targets = [lab.node(args.node, data)]
        faults = lab.faults()
        for node in targets:
            name = node["name"]
            have = set(faults.get(name, []))
            if kind in ("reload-fails", "no-licence") and node["kind"] != "lim":
                raise Fail(f"{kind} applies to MX-ONE LIMs, {name} is a download server")
            if kind == "clear":
                restart = "down" in have
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(node["mount"], sim.FILLER_NAME))
                faults.pop(name, None)
                sim.write_json(lab.path("faults.json"), faults)
                if restart:
                    wait_nodes([(node, start_sshd(node))])
                sim.labd_sync(lab.dir, [name])
                log(f"{name}: faults cleared ({', '.join(sorted(have)) or 'none were set'})")
                continue
            if kind in have:
                log(f"{name}: {kind} already set")
                continue
            have.add(kind)
            faults[name] = sorted(have)
            sim.write_json(lab.path("faults.json"), faults)
            if kind == "down":
                labd = read_pid(lab.path("run", "labd.pid"))
                kill_and_wait(node_pids(lab, name, exclude=[labd] if labd else []))
                sim.labd_sync(lab.dir, [name])
                log(f"{name}: down (sshd and its sessions killed, "
                    f"{'TLS' if node['kind'] == 'lim' else 'HTTP'} stopped)")
            elif kind == "disk-full":
                fill_disk(node["mount"])
                log(f"{name}: {node['target']} is full")
            else:
                log(f"{name}: {kind} set (applies to system {node['system']})")
    return 0


def cmd_add_lim(args, lab):
    ensure_prereqs()
    with sim.flocked(lab.path("run", "lab.lock")):
        data = lab.data
        if args.system not in data["systems"]:
            raise Fail(f"no system {args.system!r}")
        lims = lab.system_lims(args.system, data)
        n = max((x["lim"] for x in lims), default=0) + 1
        if n > 254:
            raise Fail("no more LIM addresses in this system")
        node = lim_node(lab, data["net"], data["systems"][args.system]["number"], n,
                        data["ssh_port"], data.get("lab_id"))
        busy = [p for p in (data["ssh_port"], *sim.TLS_PORTS) if not port_free(node["ip"], p)]
        if busy:
            raise Fail(f"{node['ip']}: port(s) {busy} in use")
        make_node_fs(lab, data, node)
        authorize_key(lab, data, node)
        data["nodes"][node["name"]] = node
        sim.write_json(lab.path("lab.json"), data)
        try:
            wait_nodes([(node, start_sshd(node))])
        except Fail:
            kill_and_wait(node_pids(lab, node["name"], data=data))
            umount_all(node["dir"])
            shutil.rmtree(node["dir"], ignore_errors=True)
            del data["nodes"][node["name"]]
            sim.write_json(lab.path("lab.json"), data)
            raise
        write_inventory(lab, data)
    log(f"{node['name']}: up at {node['ip']} (LIM {n} of {args.system}); inventory rewritten")
    return 0


def main(argv=None):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", default=argparse.SUPPRESS,
                        help="lab state directory (default $MXONE_LAB_DIR or /tmp/mxone-lab)")
    ap = argparse.ArgumentParser(prog="lab", description=__doc__.split("\n", maxsplit=1)[0], parents=[common],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("up", parents=[common], help="bring a lab up")
    p.add_argument("--systems", type=int, default=1)
    p.add_argument("--lims", type=int, default=2, help="LIMs per system")
    p.add_argument("--download-servers", type=int, default=1)
    p.add_argument("--inventory", help="inventory to write (default STATE/inventory/hosts.yml)")
    p.add_argument("--net", default="127.42", help="first two octets: LIM N of system S at "
                                                   "NET.S.N, download server K at NET.200.K")
    p.add_argument("--ssh-port", type=int, default=2222)
    p.add_argument("--http-port", type=int, default=8080)
    p.add_argument("--tmpfs-size", default="4m", help="size of each node's eri_sn tmpfs")
    p.add_argument("--reload-seconds", type=float, default=sim.DEFAULT_RELOAD_SECONDS,
                   help="how long a reload keeps TLS down (default %(default)g)")
    p.add_argument("--become", choices=("su", "sudo"), default="su",
                   help=f"how the inventory's {LOGIN_USER} becomes root (default su: root's password)")
    p.add_argument("--root-login", action="store_true",
                   help="the old lab: root logs in with the key, no become (never the default)")
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("down", parents=[common], help="stop everything, remove the state dir")
    p.set_defaults(func=cmd_down)
    p = sub.add_parser("status", parents=[common], help="nodes and their state")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("journal", parents=[common], help="a system's simulator commands")
    p.add_argument("system")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_journal)
    p = sub.add_parser("reload-time", parents=[common],
                       help="how long a reload of a system (or of one LIM of it) keeps TLS down")
    p.add_argument("system")
    p.add_argument("seconds", nargs="?", metavar="N|default",
                   help="seconds (float); 'default' removes the setting; none: print the settings")
    p.add_argument("--lim", help="one LIM (its number or node name): a slow LIM")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_reload_time)
    p = sub.add_parser("fault", parents=[common], help="inject or clear a fault")
    p.add_argument("node", help="node name, or a system name for all its LIMs")
    p.add_argument("kind", choices=sim.FAULT_KINDS)
    p.set_defaults(func=cmd_fault)
    p = sub.add_parser("add-lim", parents=[common], help="start one more LIM in a system")
    p.add_argument("system")
    p.set_defaults(func=cmd_add_lim)
    p = sub.add_parser("system-state", parents=[common],
                       help="a system's simulator state (encryption, backups, reloads) as JSON")
    p.add_argument("system")
    p.set_defaults(func=cmd_system_state)
    args = ap.parse_args(argv)
    state = getattr(args, "state_dir", None) or os.environ.get("MXONE_LAB_DIR") or DEFAULT_STATE
    lab = sim.Lab(state)
    try:
        return args.func(args, lab)
    except (Fail, sim.LabError) as exc:
        print(f"lab {args.cmd}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
