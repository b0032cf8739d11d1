"""End-to-end tests of the lab itself (tests/lab): real sshd nodes, real TLS.

Needs root (mount namespaces, tmpfs).  One lab (1 system x 2 LIMs + 1
download server) on its own loopback net, ssh port and state dir serves the
whole module; tests run in file order and build on each other's state where
noted.  The last test takes the lab down and checks nothing is left.

A reload takes time in the lab (2 s by default): the tests set 1-3 s with
``lab reload-time`` and poll ``lab status`` until the listeners are back.
"""

import datetime
import hashlib
import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB = os.path.join(REPO, "tests", "lab", "lab")
NET = f"127.{150 + os.getpid() % 10}"
SSH_PORT = 2322
HTTP_PORT = 8180
DOMAIN = "lab1.mx.test"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")


def lab(state, *args, check=True):
    r = subprocess.run([LAB, *args, "--state-dir", state], capture_output=True, text=True,
                       timeout=120, check=False)
    if check and r.returncode != 0:
        raise AssertionError(f"lab {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


HOST_ACCOUNT_FILES = ("/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/etc/sudoers")
VENDOR_BIN = "/opt/eri_sn/bin"
ROOT_MESSAGE = "must run as root: log in with your own account, then su - or sudo -H"


def file_hashes(paths):
    """SHA-256 of each file that exists (None when it does not)."""
    out = {}
    for path in paths:
        try:
            with open(path, "rb") as fh:
                out[path] = hashlib.sha256(fh.read()).hexdigest()
        except FileNotFoundError:
            out[path] = None
    return out


def ssh_argv(key, port, user, ip, *extra):
    """ssh to a lab node; ``extra`` options come first, so they win over these (ssh keeps the first value)."""
    return ["ssh", *extra, "-i", key, "-p", str(port), "-o", "StrictHostKeyChecking=no", "-o",
            "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5", "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes", f"{user}@{ip}"]


def pty_session(argv, answers, timeout=30):
    """Run ``argv`` (an ``ssh -tt ...``), answering each (prompt regex, text) in turn as its prompt shows up.

    Returns (exit status, everything the remote pty printed). A tiny expect: the remote side has the
    terminal (ssh -tt), so su can ask for a password; the answer is written only once the prompt is there.
    """
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = b""
    answers = list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _w, _x = select.select([proc.stdout], [], [], 0.2)
            if not ready:
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            out += chunk
            if answers and re.search(answers[0][0].encode(), out):
                proc.stdin.write(answers[0][1].encode() + b"\n")
                proc.stdin.flush()
                out += b"<answered>"  # the next prompt must come after this one
                answers.pop(0)
        else:
            proc.kill()
    finally:
        proc.stdin.close()
    return proc.wait(timeout=10), out.decode(errors="replace")


class Lab:
    def __init__(self, state, inventory):
        self.state = state
        self.inventory = inventory
        self.key = os.path.join(state, "ssh", "id_rsa")
        self.commands = []  # simulator commands run by these tests, in order
        self.host_files = {}  # the host's account files before up (sudoers: after up, which may install sudo)

    def passwords(self):
        with open(os.path.join(self.state, "passwords.json")) as fh:
            return json.load(fh)

    def status(self):
        return {n["name"]: n for n in json.loads(lab(self.state, "status", "--json").stdout)}

    @staticmethod
    def ip(node):
        return f"{NET}.200.1" if node == "dl1" else f"{NET}.1.{node[-1]}"

    def ssh_plain(self, node, command, user="ops1", stdin=None, key=None, extra=(), timeout=30):
        """One ssh command as ``user``, nothing added."""
        return subprocess.run(ssh_argv(key or self.key, SSH_PORT, user, self.ip(node), *extra) + [command],
                              input=stdin, capture_output=True, text=True, timeout=timeout, check=False)

    def ssh(self, node, command, stdin=None, sim=False, timeout=30):
        """``command`` as root on ``node``: ops1 logs in and runs it with sudo (its password first on stdin,
        then ``stdin``), in a shell whose PATH has the vendor commands' directory again."""
        pw = self.passwords()["ops1"]
        wrapped = "sudo -k -S -p '' /bin/bash -c " + shlex.quote(f'PATH="$PATH:{VENDOR_BIN}"; {command}')
        r = self.ssh_plain(node, wrapped, stdin=pw + "\n" + (stdin or ""), timeout=timeout)
        if sim:
            self.commands.append((node, command, r.returncode))
        return r

    def su(self, node, command, password, login=True, user="ops1", target="root", timeout=30):
        """``su [-] TARGET -c COMMAND`` over ``ssh -tt`` as ``user``, answering su's password prompt."""
        su = "su " + ("- " if login else "") + target + " -c " + shlex.quote(command)
        return pty_session(ssh_argv(self.key, SSH_PORT, user, self.ip(node), "-tt") + [su],
                           [("Password: ?", password)], timeout=timeout)

    def journal(self):
        """Every entry of lab1's journal: commands and tls-up events."""
        return json.loads(lab(self.state, "journal", "lab1", "--json").stdout)

    def command_entries(self):
        return [e for e in self.journal() if "command" in e]

    def wait_tls(self, names, timeout=15.0):
        """Poll status until the LIMs ``names`` have TLS up; returns time.monotonic() when they had."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.status()
            if all(st[n]["tls_state"] == "up" for n in names):
                return time.monotonic()
            assert time.monotonic() < deadline, {n: (st[n]["tls_state"], st[n]["tls_problem"]) for n in names}
            time.sleep(0.1)

    def kill_labd(self):
        with open(os.path.join(self.state, "run", "labd.pid")) as fh:
            pid = int(fh.read())
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                        return
            except OSError:
                return
            time.sleep(0.05)
        raise AssertionError(f"the lab daemon ({pid}) did not stop")


@pytest.fixture(scope="module")
def thelab(tmp_path_factory):
    base = tmp_path_factory.mktemp("labtest")
    state = str(base / "state")
    inventory = str(base / "inv" / "hosts.yml")
    before = file_hashes(HOST_ACCOUNT_FILES)
    try:
        t0 = time.monotonic()
        lab(state, "up", "--systems", "1", "--lims", "2", "--download-servers", "1",
            "--inventory", inventory, "--net", NET, "--ssh-port", str(SSH_PORT),
            "--http-port", str(HTTP_PORT))
        print(f"lab up took {time.monotonic() - t0:.2f}s", file=sys.stderr)
        the = Lab(state, inventory)
        # lab up installs sudo when it is missing (which makes /etc/sudoers): that file is compared from then on
        the.host_files = dict(before)
        if before["/etc/sudoers"] is None:
            the.host_files.update(file_hashes(["/etc/sudoers"]))
        yield the
    finally:
        lab(state, "down", check=False)


# ---------------------------------------------------------------- certificates

def make_pki(names):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(subject, issuer, key, issuer_key, ca, sans=()):
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
             .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=364))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]),
                                critical=False)
        return b.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()

    ca_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    root = cert("MXOneEnterpriseCA", "MXOneEnterpriseCA", ca_key, ca_key, True)
    leaf = cert(f"*.{DOMAIN}", "MXOneEnterpriseCA", leaf_key, ca_key, False, names)
    key = leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()
    return {"key": key, "leaf": leaf, "root": root}


@pytest.fixture(scope="module")
def pki():
    return make_pki([f"lim1.{DOMAIN}", f"lim2.{DOMAIN}"])


def handshake(ip, port, server_name, cafile, options=False):
    ctx = ssl.create_default_context(cafile=cafile)
    with socket.create_connection((ip, port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name) as tls:
            if not options:
                return tls.version(), None
            tls.sendall(b"OPTIONS sip:" + server_name.encode() + b" SIP/2.0\r\n"
                        b"Via: SIP/2.0/TLS 127.0.0.1;branch=z9hG4bK1\r\nCall-ID: t1\r\n"
                        b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
            return tls.version(), tls.recv(4096).decode()


def served_der(ip, port=5061):
    """The certificate a listener serves (DER), without checking it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((ip, port), timeout=5) as raw:
        with ctx.wrap_socket(raw) as tls:
            return tls.getpeercert(binary_form=True)


def der(pem):
    return ssl.PEM_cert_to_DER_cert(pem)


def iso(text):
    return datetime.datetime.fromisoformat(text).timestamp()


def port_closed(ip, port):
    try:
        socket.create_connection((ip, port), timeout=2).close()
    except OSError:
        return True
    return False


# ---------------------------------------------------------------- tests

def test_status_and_inventory(thelab):
    st = thelab.status()
    assert sorted(st) == ["dl1", "lab1-lim1", "lab1-lim2"]
    lim1 = st["lab1-lim1"]
    assert lim1["kind"] == "lim" and lim1["system"] == "lab1" and lim1["lim"] == 1
    assert lim1["ip"] == f"{NET}.1.1" and lim1["ssh_port"] == SSH_PORT
    assert lim1["up"] is True and lim1["tls"] is False
    assert lim1["tls_state"] == "down" and lim1["tls_problem"] == "never reloaded"
    assert lim1["tls_back_at"] is None
    assert "tls_state" not in st["dl1"]
    times = json.loads(lab(thelab.state, "reload-time", "lab1", "--json").stdout)
    assert times == {"system": "lab1", "lab_seconds": 2.0, "system_seconds": None,
                     "lims": {"lab1-lim1": 2.0, "lab1-lim2": 2.0}, "per_lim": {}}
    assert st["dl1"]["kind"] == "download" and st["dl1"]["system"] is None
    assert st["dl1"]["ip"] == f"{NET}.200.1" and st["dl1"]["up"]
    assert os.path.isdir(os.path.join(lim1["root"], "etc/opt/eri_sn/certs"))
    inv = open(thelab.inventory).read()
    assert f"lab1-lim2: {{ansible_host: {NET}.1.2, mxone_lim: 2}}" in inv
    assert "vars: {mxone_system: lab1, mxone_domain: lab1.mx.test}" in inv
    assert f'mxone_download_url: "http://{NET}.200.1:{HTTP_PORT}/"' in inv
    assert oct(os.stat(thelab.inventory).st_mode & 0o777) == "0o644"
    secrets = os.path.join(os.path.dirname(thelab.inventory), "group_vars", "all",
                           "lab_secrets.yml")
    assert oct(os.stat(secrets).st_mode & 0o777) == "0o600"
    assert "mxone_ca_passphrase:" in open(secrets).read()
    # hardened: ops1 logs in with the RSA key and becomes root with su, root's password in the secrets file
    key = os.path.join(thelab.state, "ssh", "id_rsa")
    for line in ("ansible_user: ops1", "ansible_become: true", "ansible_become_method: su",
                 f'ansible_ssh_private_key_file: "{key}"'):
        assert f"    {line}\n" in inv
    assert "ansible_user: root" not in inv
    passwords = thelab.passwords()
    assert sorted(passwords) == ["mxone_admin", "ops1", "root"] and len(set(passwords.values())) == 3
    assert oct(os.stat(os.path.join(thelab.state, "passwords.json")).st_mode & 0o777) == "0o600"
    assert f'ansible_become_password: "{passwords["root"]}"\n' in open(secrets).read()
    data = json.load(open(os.path.join(thelab.state, "lab.json")))
    assert (data["login_user"], data["become"], data["root_login"]) == ("ops1", "su", False)
    assert data["users"] == ["root", "ops1", "mxone_admin"] and data["ssh_key"] == key
    assert "BEGIN OPENSSH PRIVATE KEY" in open(key).read()
    r = subprocess.run(["ssh-keygen", "-l", "-f", key + ".pub"], capture_output=True, text=True, check=True)
    assert r.stdout.startswith("4096 ") and r.stdout.rstrip().endswith("(RSA)")
    # a second `up` on the same state dir is refused
    r = lab(thelab.state, "up", "--net", NET, "--ssh-port", str(SSH_PORT), check=False)
    assert r.returncode == 1 and "already up" in r.stderr


def test_ssh_and_isolation(thelab):
    r = thelab.ssh("lab1-lim1", "cat /etc/opt/eri_sn/ip_telephony.conf; "
                                "echo hi > /etc/opt/eri_sn/certs/x")
    assert r.returncode == 0, r.stderr
    assert "TlsClientVerificationMode: none" in r.stdout
    st = thelab.status()
    own = os.path.join(st["lab1-lim1"]["root"], "etc/opt/eri_sn/certs/x")
    other = os.path.join(st["lab1-lim2"]["root"], "etc/opt/eri_sn/certs/x")
    assert open(own).read() == "hi\n"
    assert not os.path.exists(other)
    assert not os.path.exists("/etc/opt/eri_sn/certs/x")
    assert thelab.ssh("lab1-lim2", "test ! -e /etc/opt/eri_sn/certs/x").returncode == 0
    os.unlink(own)


def authorized_keys(state, node, user):
    home = "roothome" if user == "root" else os.path.join("home", user)
    return os.path.join(state, "nodes", node, home, ".ssh", "authorized_keys")


def test_root_cannot_log_in_even_with_an_authorized_key(thelab):
    cfg = open(os.path.join(thelab.state, "nodes", "lab1-lim1", "sshd_config")).read().splitlines()
    for line in ("PermitRootLogin no", "PubkeyAcceptedAlgorithms rsa-sha2-512,rsa-sha2-256", "RequiredRSASize 4096",
                 "KexAlgorithms curve25519-sha256@libssh.org,diffie-hellman-group-exchange-sha256",
                 "HostKeyAlgorithms ssh-ed25519", "AllowTcpForwarding yes", "MaxStartups 100", "MaxSessions 50"):
        assert line in cfg
    path = authorized_keys(thelab.state, "lab1-lim1", "root")
    assert not os.path.exists(path)  # the key is never authorized for root ...
    r = thelab.ssh_plain("lab1-lim1", "id -un", user="root")
    assert r.returncode == 255 and "Permission denied" in r.stderr
    shutil.copyfile(thelab.key + ".pub", path)  # ... and even when it is, sshd refuses root
    os.chmod(path, 0o600)
    try:
        r = thelab.ssh_plain("lab1-lim1", "id -un", user="root")
        assert r.returncode == 255 and "Permission denied" in r.stderr, r.stdout + r.stderr
        log = open(os.path.join(thelab.state, "nodes", "lab1-lim1", "sshd.log")).read()
        assert "ROOT LOGIN REFUSED" in log
    finally:
        os.unlink(path)
    r = thelab.ssh_plain("lab1-lim1", "id -un; echo $HOME; env | grep -c ^MXONE_ || true")
    assert r.returncode == 0 and r.stdout.split() == ["ops1", "/home/ops1", "0"], r.stderr


def test_only_rsa_4096_user_keys_and_the_vendor_kex(thelab, tmp_path):
    path = authorized_keys(thelab.state, "lab1-lim2", "ops1")
    original = open(path).read()
    keys = {}
    for name, args in (("ed25519", ["-t", "ed25519"]), ("rsa2048", ["-t", "rsa", "-b", "2048"])):
        keys[name] = str(tmp_path / name)
        subprocess.run(["ssh-keygen", "-q", *args, "-N", "", "-f", keys[name]], check=True)
    with open(path, "a") as fh:  # authorized for ops1: refused all the same, for their kind and size
        for key in keys.values():
            fh.write(open(key + ".pub").read())
    try:
        for name, key in keys.items():
            r = thelab.ssh_plain("lab1-lim2", "true", key=key)
            assert r.returncode == 255 and "Permission denied" in r.stderr, (name, r.stderr)
        assert thelab.ssh_plain("lab1-lim2", "id -un").stdout == "ops1\n"  # the lab's RSA 4096 key
    finally:
        with open(path, "w") as fh:
            fh.write(original)
    r = thelab.ssh_plain("lab1-lim2", "true", extra=("-o", "KexAlgorithms=ecdh-sha2-nistp256", "-o", "LogLevel=INFO"))
    assert r.returncode == 255 and "no matching key exchange method" in r.stderr
    r = thelab.ssh_plain("lab1-lim2", "true", extra=("-o", "HostKeyAlgorithms=rsa-sha2-512,ecdsa-sha2-nistp256",
                                                     "-o", "LogLevel=INFO"))
    assert r.returncode == 255 and "no matching host key type" in r.stderr
    r = thelab.ssh_plain("lab1-lim2", "echo ok", extra=("-o", "KexAlgorithms=diffie-hellman-group-exchange-sha256"))
    assert r.returncode == 0 and r.stdout == "ok\n", r.stderr


def test_su_and_sudo(thelab):
    pw = thelab.passwords()
    rc, out = thelab.su("lab1-lim1", "id -un; echo PATH=$PATH; echo HOME=$HOME", pw["root"])
    assert rc == 0 and "\nroot\r\n" in out, out
    path = re.search(r"PATH=(\S*)", out).group(1)
    assert VENDOR_BIN not in path and "/usr/sbin" in path  # su -: root's login PATH
    assert "HOME=/root" in out
    rc, out = thelab.su("lab1-lim1", "id -un", "not-the-password")
    assert rc == 1 and "Authentication failure" in out and "\nroot" not in out
    rc, out = thelab.su("lab1-lim1", "id -un", pw["ops1"])  # su wants root's password, not ops1's
    assert rc == 1 and "Authentication failure" in out
    rc, out = thelab.su("lab1-lim1", "id -un; echo PATH=$PATH", pw["root"], login=False)  # as Ansible's su runs it
    assert rc == 0 and "\nroot\r\n" in out and VENDOR_BIN in re.search(r"PATH=(\S*)", out).group(1)
    # sudo: each account with its own password, never without one
    r = thelab.ssh_plain("lab1-lim1", "sudo -n id -un")
    assert r.returncode == 1 and "password is required" in r.stderr
    r = thelab.ssh_plain("lab1-lim1", "sudo -S -p '' id -un", stdin=pw["ops1"] + "\n")
    assert r.returncode == 0 and r.stdout == "root\n", r.stderr
    r = thelab.ssh_plain("lab1-lim1", "sudo -S -p '' id -un", stdin=pw["root"] + "\n")
    assert r.returncode == 1 and r.stdout == ""
    r = thelab.ssh_plain("lab1-lim1", "sudo -S -H -p '' sh -c 'id -un; echo $HOME; echo $PATH'", user="mxone_admin",
                         stdin=pw["mxone_admin"] + "\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["root", "/root", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    rc, out = thelab.su("lab1-lim1", "id -un; echo PATH=$PATH", pw["mxone_admin"], target="mxone_admin")
    assert rc == 0 and "\nmxone_admin\r\n" in out and VENDOR_BIN in out, out  # su - mxone_admin
    # sudo's timestamps and lecture state are the node's own: none on the host, none on another node
    ts = os.path.join(thelab.state, "nodes", "lab1-lim1", "sudo", "run", "ts")
    assert os.path.exists(os.path.join(ts, "ops1"))
    assert not os.path.exists(os.path.join(thelab.state, "nodes", "dl1", "sudo", "run", "ts", "ops1"))
    assert not os.path.exists("/run/sudo/ts/ops1")
    assert file_hashes(HOST_ACCOUNT_FILES) == thelab.host_files


def test_ansible_ping_with_inventory(thelab):
    ansible = os.path.join(REPO, ".venv", "bin", "ansible")
    if not os.path.exists(ansible):
        pytest.skip("no ansible in the project venv")
    env = dict(os.environ, ANSIBLE_PIPELINING="1", ANSIBLE_HOST_KEY_CHECKING="0",
               ANSIBLE_SSH_CONTROL_PATH_DIR=os.path.join(thelab.state, "..", "cp"))
    r = subprocess.run([ansible, "-i", thelab.inventory, "all", "-m", "ansible.builtin.ping",
                        "-o"], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("SUCCESS") == 3


def test_license_and_no_licence_fault(thelab):
    r = thelab.ssh("lab1-lim1", "license_status", sim=True)
    assert r.returncode == 0 and "VOIP-SECURITY" in r.stdout
    assert [line.split()[:2] for line in r.stdout.splitlines()
            if line.startswith("VOIP-SECURITY")] == [["VOIP-SECURITY", "yes"]]
    lab(thelab.state, "fault", "lab1-lim2", "no-licence")
    r = thelab.ssh("lab1-lim1", "license_status", sim=True)
    assert "VOIP-SECURITY       no" in r.stdout
    r = thelab.ssh("lab1-lim1", "media_encryption_enable -type extension", sim=True)
    assert r.returncode == 1 and "VOIP-SECURITY" in r.stderr
    lab(thelab.state, "fault", "lab1-lim2", "clear")
    r = thelab.ssh("lab1-lim1", "media_encryption_enable -type extension", sim=True)
    assert r.returncode == 0, r.stderr
    r = thelab.ssh("lab1-lim1", "media_encryption_enable -type bogus", sim=True)
    assert r.returncode == 2 and "Usage" in r.stderr
    r = thelab.ssh("lab1-lim1", "media_encryption_enable", sim=True)
    assert r.returncode == 2
    r = thelab.ssh("lab1-lim1", "data_backup", sim=True)
    assert r.returncode == 0
    state = json.loads(lab(thelab.state, "system-state", "lab1").stdout)
    assert state["media_encryption"] == ["extension"] and len(state["backups"]) == 1


def test_reload_without_bundle_fails(thelab):
    r = thelab.ssh("lab1-lim2", "reload --system", sim=True)
    assert r.returncode == 1
    assert "LIM 1 (lab1-lim1)" in r.stderr and "no such file" in r.stderr
    r = thelab.ssh("lab1-lim2", "reload -u SIPLP,IPLP", sim=True)
    assert r.returncode == 2
    last = thelab.journal()[-2:]
    assert [(e["host"], e["command"], e["exit"]) for e in last] == [
        ("lab1-lim2", "reload --system", 1), ("lab1-lim2", "reload -u SIPLP,IPLP", 2)]
    st = thelab.status()
    for node in ("lab1-lim1", "lab1-lim2"):
        assert st[node]["tls_state"] == "down"
        assert st[node]["tls_problem"] == "/etc/opt/eri_sn/certs/eri_sn_cert.pem: no such file"


def test_valid_bundle_gives_tls(thelab, pki, tmp_path):
    bundle = pki["key"] + pki["leaf"] + pki["root"]
    for node in ("lab1-lim1", "lab1-lim2"):
        r = thelab.ssh(node, "umask 077; cat > /etc/opt/eri_sn/certs/eri_sn_cert.pem", stdin=bundle)
        assert r.returncode == 0, r.stderr
    lab(thelab.state, "reload-time", "lab1", "1")
    r = thelab.ssh("lab1-lim1", "reload -u TLP65,CSTServer,SIPLP,IPLP", sim=True)
    assert r.returncode == 0, r.stderr
    assert "TLS on " + f"{NET}.1.2 ports 5061,1300,1301 back in 1 s, client verification none" in r.stdout
    assert r.stdout.splitlines()[-1] == "reload: done"
    thelab.wait_tls(["lab1-lim1", "lab1-lim2"])
    cafile = tmp_path / "ca.pem"
    cafile.write_text(pki["root"])
    for port in (5061, 1300, 1301):
        version, _answer = handshake(f"{NET}.1.1", port, f"lim1.{DOMAIN}", str(cafile))
        assert version in ("TLSv1.2", "TLSv1.3")
    version, answer = handshake(f"{NET}.1.2", 5061, f"lim2.{DOMAIN}", str(cafile), options=True)
    assert answer.startswith("SIP/2.0 200 OK\r\n") and "Call-ID: t1" in answer
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(f"{NET}.1.1", 5061, "lim9.other.test", str(cafile))
    assert all(thelab.status()[n]["tls"] for n in ("lab1-lim1", "lab1-lim2"))
    # the listener keeps the bundle of the last reload, whatever the file says now
    thelab.ssh("lab1-lim1", "echo garbage > /etc/opt/eri_sn/certs/eri_sn_cert.pem")
    assert handshake(f"{NET}.1.1", 5061, f"lim1.{DOMAIN}", str(cafile))[0]
    thelab.ssh("lab1-lim1", "cat > /etc/opt/eri_sn/certs/eri_sn_cert.pem", stdin=bundle)


def test_vendor_commands_need_root_and_are_off_the_root_paths(thelab):
    """The commands are in /opt/eri_sn/bin: on ops1's PATH, not on sudo's secure_path nor on su -'s PATH."""
    pw = thelab.passwords()
    before = len(thelab.command_entries())
    for command in ("reload --system", f"{VENDOR_BIN}/reload --system"):  # ops1 without become: refused
        r = thelab.ssh_plain("lab1-lim1", command)
        assert r.returncode == 1 and r.stderr == f"reload: {ROOT_MESSAGE}\n" and r.stdout == ""
    r = thelab.ssh_plain("lab1-lim1", "command -v reload")
    assert r.stdout == f"{VENDOR_BIN}/reload\n"
    r = thelab.ssh_plain("lab1-lim1", "sudo -S -p '' reload --system", stdin=pw["ops1"] + "\n")
    assert r.returncode == 1 and "reload: command not found" in r.stderr
    rc, out = thelab.su("lab1-lim1", "reload --system", pw["root"])
    assert rc == 127 and "reload: command not found" in out
    assert len(thelab.command_entries()) == before  # none of these ran the command
    r = thelab.ssh_plain("lab1-lim1", f"sudo -S -p '' {VENDOR_BIN}/reload --system", stdin=pw["ops1"] + "\n")
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == "reload: done", r.stderr
    thelab.commands.append(("lab1-lim1", "reload --system", 0))
    thelab.wait_tls(["lab1-lim1", "lab1-lim2"])
    rc, out = thelab.su("lab1-lim2", f"{VENDOR_BIN}/reload --system", pw["root"])
    assert rc == 0 and "reload: done" in out, out
    thelab.commands.append(("lab1-lim2", "reload --system", 0))
    thelab.wait_tls(["lab1-lim1", "lab1-lim2"])
    r = thelab.ssh_plain("lab1-lim2", f"sudo -S -H -p '' {VENDOR_BIN}/license_status", user="mxone_admin",
                         stdin=pw["mxone_admin"] + "\n")
    assert r.returncode == 0 and "VOIP-SECURITY" in r.stdout, r.stderr
    thelab.commands.append(("lab1-lim2", "license_status", 0))
    last = thelab.command_entries()[-3:]
    assert [(e["host"], e["command"], e["exit"], e["user"], e["as"]) for e in last] == [
        ("lab1-lim1", "reload --system", 0, "ops1", "root"), ("lab1-lim2", "reload --system", 0, "ops1", "root"),
        ("lab1-lim2", "license_status", 0, "mxone_admin", "root")]
    assert thelab.ssh("dl1", f"ls {VENDOR_BIN}/reload").returncode != 0  # no vendor commands on a download server


def test_reload_takes_time_and_serves_the_bundle_of_the_order(thelab, pki):
    """TLS goes down at the order, for every LIM, and comes back N s later with the bundle of the order."""
    other = make_pki([f"lim1.{DOMAIN}", f"lim2.{DOMAIN}"])
    new = other["key"] + other["leaf"] + other["root"]
    old = pki["key"] + pki["leaf"] + pki["root"]
    for node in ("lab1-lim1", "lab1-lim2"):
        thelab.ssh(node, "cat > /etc/opt/eri_sn/certs/eri_sn_cert.pem", stdin=new)
    # 5 s: room for the reload, two writes (each ssh + sudo) and the port checks within the outage, on a machine
    # running test modules side by side
    lab(thelab.state, "reload-time", "lab1", "5")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((f"{NET}.1.1", 5061), timeout=5) as raw:
        with ctx.wrap_socket(raw) as client:  # a connection open before the reload
            t0 = time.monotonic()
            r = thelab.ssh("lab1-lim2", "reload --system", sim=True)
            took = time.monotonic() - t0
            assert r.returncode == 0, r.stderr
            assert took < 4.0, took  # the reload returns at once, it does not wait for the units
            try:
                assert client.recv(100) == b""  # closed by the reload
            except (OSError, ssl.SSLError):
                pass
    for node in ("lab1-lim1", "lab1-lim2"):  # the file changes after the order: no effect
        thelab.ssh(node, "cat > /etc/opt/eri_sn/certs/eri_sn_cert.pem", stdin=old)
    for ip in (f"{NET}.1.1", f"{NET}.1.2"):
        for port in (5061, 1300, 1301):
            assert port_closed(ip, port)
    order = thelab.command_entries()[-1]
    assert (order["host"], order["command"], order["exit"]) == ("lab1-lim2", "reload --system", 0)
    st = thelab.status()
    for node in ("lab1-lim1", "lab1-lim2"):
        assert st[node]["tls"] is False and st[node]["tls_state"] == "starting"
        assert st[node]["tls_problem"] is None
        assert abs(iso(st[node]["tls_back_at"]) - (iso(order["time"]) + 5)) < 0.01
    back = thelab.wait_tls(["lab1-lim1", "lab1-lim2"])
    assert 4.0 < back - t0 < 11.0, back - t0
    assert served_der(f"{NET}.1.1") == der(other["leaf"])
    assert served_der(f"{NET}.1.2", 1301) == der(other["leaf"])
    events = [e for e in thelab.journal() if "command" not in e]
    assert sorted(e["host"] for e in events[-2:]) == ["lab1-lim1", "lab1-lim2"]
    for e in events[-2:]:
        assert set(e) == {"time", "host", "event", "reload"} and e["event"] == "tls-up"
        assert e["reload"] == order["time"]
        assert 4.99 < iso(e["time"]) - iso(order["time"]) < 10.0
    text = lab(thelab.state, "journal", "lab1").stdout.splitlines()
    assert f"{events[-1]['time']} {events[-1]['host']} [tls-up after reload {order['time']}]" in text
    # back to the first bundle, for the tests that follow
    lab(thelab.state, "reload-time", "lab1", "1")
    assert thelab.ssh("lab1-lim1", "reload --system", sim=True).returncode == 0
    thelab.wait_tls(["lab1-lim1", "lab1-lim2"])
    assert served_der(f"{NET}.1.2") == der(pki["leaf"])


def test_slow_lim_and_reload_during_a_reload(thelab):
    # 8 s: room for the status polls and the second ssh below on a machine running modules side by side
    lab(thelab.state, "reload-time", "lab1", "8", "--lim", "2")
    times = json.loads(lab(thelab.state, "reload-time", "lab1", "--json").stdout)
    assert times["system_seconds"] == 1.0 and times["per_lim"] == {"lab1-lim2": 8.0}
    assert times["lims"] == {"lab1-lim1": 1.0, "lab1-lim2": 8.0}
    text = lab(thelab.state, "reload-time", "lab1").stdout
    assert "lab1-lim2: 8 s (set for this LIM)" in text and "lab1-lim1: 1 s\n" in text
    t0 = time.monotonic()
    r = thelab.ssh("lab1-lim1", "reload --system", sim=True)
    assert r.returncode == 0, r.stderr
    assert f"{NET}.1.1 ports 5061,1300,1301 back in 1 s" in r.stdout
    assert f"{NET}.1.2 ports 5061,1300,1301 back in 8 s" in r.stdout
    order = thelab.command_entries()[-1]["time"]
    thelab.wait_tls(["lab1-lim1"])
    # the slow LIM is not back (it is due 8 s after the order): a second reload is refused
    r = thelab.ssh("lab1-lim2", "reload --system", sim=True)
    assert r.returncode == 1
    assert r.stderr.strip() == (f"reload: a reload of system lab1 is in progress (ordered {order}; not back "
                                f"yet: lab1-lim2); try again when it has finished")
    assert r.stdout == ""
    back = thelab.wait_tls(["lab1-lim2"])
    assert back - t0 > 7.9, back - t0
    ups = [e for e in thelab.journal() if e.get("reload") == order]
    assert [e["host"] for e in ups] == ["lab1-lim1", "lab1-lim2"]
    assert 0.99 < iso(ups[0]["time"]) - iso(order) < 4.5
    assert 7.99 < iso(ups[1]["time"]) - iso(order) < 12.0
    # the refused reload changed nothing: no other reload, no other tls-up
    assert not [e for e in thelab.journal() if "event" in e and e["reload"] > order]
    lab(thelab.state, "reload-time", "lab1", "3", "--lim", "2")  # the next test works with a 3 s LIM


def test_down_and_clear_while_a_start_is_pending(thelab):
    t0 = time.monotonic()
    assert thelab.ssh("lab1-lim1", "reload --system", sim=True).returncode == 0
    lab(thelab.state, "fault", "lab1-lim2", "down")
    st = thelab.status()["lab1-lim2"]
    assert st["tls_state"] == "down" and st["tls_problem"] == "node down"
    lab(thelab.state, "fault", "lab1-lim2", "clear")
    st = thelab.status()["lab1-lim2"]
    assert st["tls_state"] in ("starting", "up")  # "up" only on a very slow machine (due 3 s after the order)
    back = thelab.wait_tls(["lab1-lim1", "lab1-lim2"])
    assert back - t0 > 2.9, back - t0  # not before its time
    lab(thelab.state, "reload-time", "lab1", "default", "--lim", "lab1-lim2")
    times = json.loads(lab(thelab.state, "reload-time", "lab1", "--json").stdout)
    assert times["per_lim"] == {} and times["lims"] == {"lab1-lim1": 1.0, "lab1-lim2": 1.0}


def test_labd_restart_restores_listeners(thelab):
    """A lab daemon that dies with starts pending brings them back when it starts again; no tls-up twice."""
    assert thelab.ssh("lab1-lim1", "reload --system", sim=True).returncode == 0
    order = thelab.command_entries()[-1]["time"]
    thelab.kill_labd()
    time.sleep(1.2)  # the LIMs were due while the daemon was away
    st = thelab.status()
    assert st["lab1-lim1"]["tls_state"] == "down" and "lab daemon" in st["lab1-lim1"]["tls_problem"]
    lab(thelab.state, "fault", "lab1-lim1", "clear")  # any lab command that syncs starts the daemon again
    st = thelab.status()
    assert st["lab1-lim1"]["tls_state"] == "up" and st["lab1-lim2"]["tls_state"] == "up"
    thelab.kill_labd()
    lab(thelab.state, "fault", "lab1-lim1", "clear")
    thelab.wait_tls(["lab1-lim1", "lab1-lim2"])
    ups = [e["host"] for e in thelab.journal() if e.get("reload") == order]
    assert sorted(ups) == ["lab1-lim1", "lab1-lim2"]


def test_certificate_before_key_takes_tls_down(thelab, pki):
    bad = pki["leaf"] + pki["key"] + pki["root"]
    thelab.ssh("lab1-lim2", "cat > /etc/opt/eri_sn/certs/eri_sn_cert.pem", stdin=bad)
    lab(thelab.state, "reload-time", "lab1", "4")  # long enough to see lim1 still starting on a loaded machine
    try:
        r = thelab.ssh("lab1-lim1", "reload --system", sim=True)
        assert r.returncode == 1
        assert "LIM 2 (lab1-lim2)" in r.stderr and "block 1 is a CERTIFICATE" in r.stderr
        assert "lab1-lim1" not in r.stderr
        st = thelab.status()
        assert st["lab1-lim1"]["tls_state"] == "starting" and port_closed(f"{NET}.1.1", 5061)
        assert st["lab1-lim2"]["tls_state"] == "down"
        assert st["lab1-lim2"]["tls_problem"].startswith(
            "/etc/opt/eri_sn/certs/eri_sn_cert.pem: block 1 is a CERTIFICATE; the server's private key must come "
            "first")
        thelab.wait_tls(["lab1-lim1"])
        st = thelab.status()
        assert st["lab1-lim1"]["tls"] and not st["lab1-lim2"]["tls"]
        assert st["lab1-lim2"]["tls_state"] == "down"
        assert port_closed(f"{NET}.1.2", 5061) and port_closed(f"{NET}.1.2", 1300)
    finally:  # the tests after this one need a good bundle and the usual reload time
        good = pki["key"] + pki["leaf"] + pki["root"]
        thelab.ssh("lab1-lim2", "cat > /etc/opt/eri_sn/certs/eri_sn_cert.pem", stdin=good)
        lab(thelab.state, "reload-time", "lab1", "1")


def test_reload_fails_fault(thelab):
    lab(thelab.state, "fault", "lab1-lim2", "reload-fails")
    r = thelab.ssh("lab1-lim1", "reload --system", sim=True)
    assert r.returncode == 1 and "reload-fails" in r.stderr
    st = thelab.status()
    assert not st["lab1-lim1"]["tls"] and not st["lab1-lim2"]["tls"]
    for node in ("lab1-lim1", "lab1-lim2"):
        assert st[node]["tls_state"] == "down" and st[node]["tls_problem"] == "reload-fails fault"
        assert st[node]["faults"] == []  # spent by that one reload
    time.sleep(1.2)  # no LIM comes back later either
    assert not any(thelab.status()[n]["tls"] for n in ("lab1-lim1", "lab1-lim2"))
    lab(thelab.state, "fault", "lab1-lim2", "clear")
    assert not thelab.status()["lab1-lim1"]["tls"]  # clear does not restart TLS
    r = thelab.ssh("lab1-lim2", "reload --system", sim=True)
    assert r.returncode == 0, r.stderr
    thelab.wait_tls(["lab1-lim1", "lab1-lim2"])


def test_mandatory_client_verification(thelab, pki, tmp_path):
    cafile = tmp_path / "ca.pem"
    cafile.write_text(pki["root"])
    client = tmp_path / "client.pem"  # the server bundle doubles as a client certificate
    client.write_text(pki["key"] + pki["leaf"])
    r = thelab.ssh("lab1-lim2", "sed -i 's/^TlsClientVerificationMode:.*/TlsClientVerificationMode:"
                                " mandatory/' /etc/opt/eri_sn/ip_telephony.conf && reload --system",
                   sim=False)
    assert r.returncode == 1 and "ca.pem: missing" in r.stderr
    thelab.commands.append(("lab1-lim2", "reload --system", 1))
    thelab.wait_tls(["lab1-lim1"])  # lim1 passed: wait for that reload to end before the next
    thelab.ssh("lab1-lim2", "cat > /etc/opt/eri_sn/certs/ca.pem", stdin=pki["root"])
    assert thelab.ssh("lab1-lim2", "reload --system", sim=True).returncode == 0
    thelab.wait_tls(["lab1-lim1", "lab1-lim2"])
    ctx = ssl.create_default_context(cafile=str(cafile))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with socket.create_connection((f"{NET}.1.2", 5061), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=f"lim2.{DOMAIN}") as tls:
                tls.sendall(b"OPTIONS sip:x SIP/2.0\r\n\r\n")
                tls.recv(100)
    ctx.load_cert_chain(str(client))
    with socket.create_connection((f"{NET}.1.2", 5061), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=f"lim2.{DOMAIN}") as tls:
            tls.sendall(b"OPTIONS sip:x SIP/2.0\r\n\r\n")
            assert tls.recv(100).startswith(b"SIP/2.0 200 OK")
    # lim1 stays at "none": no client certificate needed
    assert handshake(f"{NET}.1.1", 5061, f"lim1.{DOMAIN}", str(cafile), options=True)[1]


def test_down_and_disk_full_faults(thelab):
    lab(thelab.state, "fault", "lab1-lim2", "down")
    st = thelab.status()["lab1-lim2"]
    assert not st["up"] and not st["tls"] and "down" in st["faults"]
    assert thelab.ssh("lab1-lim2", "true").returncode == 255
    assert port_closed(f"{NET}.1.2", 5061)
    lab(thelab.state, "fault", "lab1-lim2", "clear")
    st = thelab.status()["lab1-lim2"]
    assert st["up"] and st["tls"]  # listeners come back: they were up before
    assert thelab.ssh("lab1-lim2", "cat /etc/opt/eri_sn/ip_telephony.conf").returncode == 0

    lab(thelab.state, "fault", "lab1-lim1", "disk-full")
    r = thelab.ssh("lab1-lim1", "echo x > /etc/opt/eri_sn/certs/new.pem")
    assert r.returncode != 0 and "No space left" in r.stderr
    assert thelab.ssh("lab1-lim1", "data_backup", sim=True).returncode == 1
    lab(thelab.state, "fault", "lab1-lim1", "clear")
    assert thelab.ssh("lab1-lim1", "echo x > /etc/opt/eri_sn/certs/new.pem && "
                                   "rm /etc/opt/eri_sn/certs/new.pem").returncode == 0


def test_journal_order(thelab):
    journal = thelab.journal()
    commands = [e for e in journal if "command" in e]
    assert [(e["host"], e["command"], e["exit"]) for e in commands] == list(thelab.commands)
    assert all(set(e) == {"time", "host", "command", "exit", "user", "as"} for e in commands)
    assert {(e["user"], e["as"]) for e in commands} == {("ops1", "root"), ("mxone_admin", "root")}
    assert [e["host"] for e in commands if e["user"] == "mxone_admin"] == ["lab1-lim2"]  # its one sudo -H
    events = [e for e in journal if "command" not in e]
    assert events and all(set(e) == {"time", "host", "event", "reload"} and e["event"] == "tls-up"
                          for e in events)
    # every tls-up belongs to a successful or partly failed reload, and comes after it
    reloads = {e["time"] for e in commands if e["command"].startswith("reload ") and e["exit"] in (0, 1)}
    assert all(e["reload"] in reloads and e["time"] > e["reload"] for e in events)
    times = [e["time"] for e in journal]
    assert times == sorted(times)
    text = lab(thelab.state, "journal", "lab1").stdout.splitlines()
    assert len(text) == len(journal)
    assert text[0].split(" ", 1)[1] == "lab1-lim1 license_status 0 by ops1 as root"


def test_download_server_http(thelab):
    r = thelab.ssh("dl1", "echo phone-ca > /srv/mxone-dl/ca.pem")
    assert r.returncode == 0, r.stderr
    st = thelab.status()["dl1"]
    with open(os.path.join(st["root"], "srv/mxone-dl/ca.pem")) as fh:
        assert fh.read() == "phone-ca\n"
    url = f"http://{NET}.200.1:{HTTP_PORT}/ca.pem"
    with urllib.request.urlopen(url, timeout=5) as resp:
        assert resp.read() == b"phone-ca\n"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(urllib.request.Request(url, data=b"x", method="POST"), timeout=5)
    assert err.value.code == 501
    assert thelab.ssh("dl1", "reload --system").returncode == 127  # not an MX-ONE node


def test_add_lim(thelab):
    lab(thelab.state, "add-lim", "lab1")
    st = thelab.status()["lab1-lim3"]
    assert st["up"] and st["ip"] == f"{NET}.1.3" and not st["tls"]
    assert st["tls_state"] == "down" and st["tls_problem"] == "never reloaded"
    assert f"lab1-lim3: {{ansible_host: {NET}.1.3, mxone_lim: 3}}" in open(thelab.inventory).read()


def test_root_login_and_become_sudo_options(thelab, tmp_path):
    """lab up --root-login: the old lab (root logs in with the key, no become); --become sudo: ops1 with sudo."""
    net = f"127.{150 + (os.getpid() + 5) % 10}"
    state = str(tmp_path / "state")
    inventory = str(tmp_path / "inv" / "hosts.yml")
    secrets = os.path.join(str(tmp_path), "inv", "group_vars", "all", "lab_secrets.yml")
    key = os.path.join(state, "ssh", "id_rsa")
    up = ("up", "--lims", "1", "--download-servers", "0", "--inventory", inventory, "--net", net,
          "--ssh-port", str(SSH_PORT + 1), "--http-port", str(HTTP_PORT + 1))
    lab(state, *up, "--root-login")
    try:
        inv = open(inventory).read()
        assert "    ansible_user: root\n" in inv and "ansible_become" not in inv
        assert "ansible_become_password" not in open(secrets).read()
        assert "PermitRootLogin prohibit-password" in open(os.path.join(state, "nodes", "lab1-lim1",
                                                                        "sshd_config")).read()
        r = subprocess.run(ssh_argv(key, SSH_PORT + 1, "root", f"{net}.1.1") + ["id -un; license_status >/dev/null"],
                           capture_output=True, text=True, timeout=30, check=False)
        assert r.returncode == 0 and r.stdout == "root\n", r.stderr
        entry = json.loads(lab(state, "journal", "lab1", "--json").stdout)[-1]
        assert (entry["command"], entry["user"], entry["as"]) == ("license_status", "root", "root")
    finally:
        lab(state, "down")
    lab(state, *up, "--become", "sudo")
    try:
        inv = open(inventory).read()
        assert "    ansible_user: ops1\n" in inv and "    ansible_become_method: sudo\n" in inv
        with open(os.path.join(state, "passwords.json")) as fh:
            ops1 = json.load(fh)["ops1"]
        assert f'ansible_become_password: "{ops1}"\n' in open(secrets).read()
        assert json.load(open(os.path.join(state, "lab.json")))["become"] == "sudo"
        ansible = os.path.join(REPO, ".venv", "bin", "ansible")
        if os.path.exists(ansible):
            env = dict(os.environ, ANSIBLE_PIPELINING="1", ANSIBLE_HOST_KEY_CHECKING="0",
                       ANSIBLE_SSH_CONTROL_PATH_DIR=str(tmp_path / "cp"))
            runs = {}
            for command in ("license_status", f"{VENDOR_BIN}/license_status"):
                runs[command] = subprocess.run([ansible, "-i", inventory, "lab1-lim1", "-m", "ansible.builtin.command",
                                                "-a", command], capture_output=True, text=True, env=env,
                                               timeout=120, check=False)
            assert runs["license_status"].returncode != 0  # sudo's secure_path has no vendor directory
            r = runs[f"{VENDOR_BIN}/license_status"]
            assert r.returncode == 0 and "VOIP-SECURITY" in r.stdout, r.stdout + r.stderr
            entry = json.loads(lab(state, "journal", "lab1", "--json").stdout)[-1]
            assert (entry["command"], entry["user"], entry["as"]) == ("license_status", "ops1", "root")
    finally:
        lab(state, "down")


def lab_processes(state, namespaces=()):
    """Live (non-zombie) processes that mention the state dir or are in one of the nodes' mount namespaces."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().decode(errors="replace")
            ns = os.readlink(f"/proc/{pid}/ns/mnt")
        except OSError:
            continue
        if state in cmd or ns in namespaces:
            found.append(cmd.replace("\0", " "))
    return found


def test_down_leaves_nothing(thelab):
    state = thelab.state
    namespaces = set()
    for name in os.listdir(os.path.join(state, "nodes")):
        with open(os.path.join(state, "nodes", name, "run.json")) as fh:
            namespaces.add(json.load(fh)["mntns"])
    assert os.readlink("/proc/self/ns/mnt") not in namespaces
    lab(state, "down")
    assert not os.path.exists(state)
    assert not os.path.exists(thelab.inventory)
    with open("/proc/self/mountinfo") as fh:
        assert state not in fh.read()
    deadline = time.monotonic() + 5  # ssh clients of the test itself exit on their own
    while (leftovers := lab_processes(state, namespaces)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftovers == []
    for port in (SSH_PORT, 5061):
        assert port_closed(f"{NET}.1.1", port)
    assert port_closed(f"{NET}.200.1", HTTP_PORT)
    assert lab(state, "down").returncode == 0  # safe to run twice
    # the host's own accounts, groups and sudoers: never touched (each node had copies of its own)
    assert file_hashes(HOST_ACCOUNT_FILES) == thelab.host_files
