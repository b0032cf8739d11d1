"""End-to-end tests of the lab itself (tests/lab): real sshd nodes, real TLS.

Needs root (mount namespaces, tmpfs).  One lab (1 system x 2 LIMs + 1
download server) on its own loopback net, ssh port and state dir serves the
whole module; tests run in file order and build on each other's state where
noted.  The last test takes the lab down and checks nothing is left.

A reload takes time in the lab (2 s by default): the tests set 1-3 s with
``lab reload-time`` and poll ``lab status`` until the listeners are back.
"""

import datetime
import json
import os
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


class Lab:
    def __init__(self, state, inventory):
        self.state = state
        self.inventory = inventory
        self.key = os.path.join(state, "ssh", "id_ed25519")
        self.commands = []  # simulator commands run by these tests, in order

    def status(self):
        return {n["name"]: n for n in json.loads(lab(self.state, "status", "--json").stdout)}

    def ssh(self, node, command, stdin=None, sim=False, timeout=30):
        ip = f"{NET}.200.1" if node == "dl1" else f"{NET}.1.{node[-1]}"
        r = subprocess.run(
            ["ssh", "-i", self.key, "-p", str(SSH_PORT), "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o",
             "ConnectTimeout=5", "-o", "BatchMode=yes", f"root@{ip}", command],
            input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
        if sim:
            self.commands.append((node, command, r.returncode))
        return r

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
    try:
        t0 = time.monotonic()
        lab(state, "up", "--systems", "1", "--lims", "2", "--download-servers", "1",
            "--inventory", inventory, "--net", NET, "--ssh-port", str(SSH_PORT),
            "--http-port", str(HTTP_PORT))
        print(f"lab up took {time.monotonic() - t0:.2f}s", file=sys.stderr)
        yield Lab(state, inventory)
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


def test_reload_takes_time_and_serves_the_bundle_of_the_order(thelab, pki):
    """TLS goes down at the order, for every LIM, and comes back N s later with the bundle of the order."""
    other = make_pki([f"lim1.{DOMAIN}", f"lim2.{DOMAIN}"])
    new = other["key"] + other["leaf"] + other["root"]
    old = pki["key"] + pki["leaf"] + pki["root"]
    for node in ("lab1-lim1", "lab1-lim2"):
        thelab.ssh(node, "cat > /etc/opt/eri_sn/certs/eri_sn_cert.pem", stdin=new)
    lab(thelab.state, "reload-time", "lab1", "3")
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
        assert abs(iso(st[node]["tls_back_at"]) - (iso(order["time"]) + 3)) < 0.01
    back = thelab.wait_tls(["lab1-lim1", "lab1-lim2"])
    assert 2.0 < back - t0 < 9.0, back - t0
    assert served_der(f"{NET}.1.1") == der(other["leaf"])
    assert served_der(f"{NET}.1.2", 1301) == der(other["leaf"])
    events = [e for e in thelab.journal() if "command" not in e]
    assert sorted(e["host"] for e in events[-2:]) == ["lab1-lim1", "lab1-lim2"]
    for e in events[-2:]:
        assert set(e) == {"time", "host", "event", "reload"} and e["event"] == "tls-up"
        assert e["reload"] == order["time"]
        assert 2.99 < iso(e["time"]) - iso(order["time"]) < 8.0
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
    assert all(set(e) == {"time", "host", "command", "exit"} for e in commands)
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
    assert text[0].split(" ", 1)[1] == "lab1-lim1 license_status 0"


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


def lab_processes(state):
    """Live (non-zombie) processes that mention the state dir."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().decode(errors="replace")
            with open(f"/proc/{pid}/environ", "rb") as fh:
                env = fh.read().decode(errors="replace")
        except OSError:
            continue
        if state in cmd or f"MXONE_LAB_DIR={state}" in env:
            found.append(cmd.replace("\0", " "))
    return found


def test_down_leaves_nothing(thelab):
    state = thelab.state
    lab(state, "down")
    assert not os.path.exists(state)
    assert not os.path.exists(thelab.inventory)
    with open("/proc/self/mountinfo") as fh:
        assert state not in fh.read()
    deadline = time.monotonic() + 5  # ssh clients of the test itself exit on their own
    while (leftovers := lab_processes(state)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftovers == []
    for port in (SSH_PORT, 5061):
        assert port_closed(f"{NET}.1.1", port)
    assert port_closed(f"{NET}.200.1", HTTP_PORT)
    assert lab(state, "down").returncode == 0  # safe to run twice
