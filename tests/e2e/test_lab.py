"""End-to-end tests of the lab itself (tests/lab): real sshd nodes, real TLS.

Needs root (mount namespaces, tmpfs).  One lab (1 system x 2 LIMs + 1
download server) on its own loopback net, ssh port and state dir serves the
whole module; tests run in file order and build on each other's state where
noted.  The last test takes the lab down and checks nothing is left.
"""

import datetime
import json
import os
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
NET = f"127.{150 + os.getpid() % 50}"
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
        return json.loads(lab(self.state, "journal", "lab1", "--json").stdout)


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


def test_valid_bundle_gives_tls(thelab, pki, tmp_path):
    bundle = pki["key"] + pki["leaf"] + pki["root"]
    for node in ("lab1-lim1", "lab1-lim2"):
        r = thelab.ssh(node, "umask 077; cat > /etc/opt/eri_sn/certs/eri_sn_cert.pem", stdin=bundle)
        assert r.returncode == 0, r.stderr
    r = thelab.ssh("lab1-lim1", "reload -u TLP65,CSTServer,SIPLP,IPLP", sim=True)
    assert r.returncode == 0, r.stderr
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


def test_certificate_before_key_takes_tls_down(thelab, pki):
    bad = pki["leaf"] + pki["key"] + pki["root"]
    thelab.ssh("lab1-lim2", "cat > /etc/opt/eri_sn/certs/eri_sn_cert.pem", stdin=bad)
    r = thelab.ssh("lab1-lim1", "reload --system", sim=True)
    assert r.returncode == 1
    assert "LIM 2 (lab1-lim2)" in r.stderr and "block 1 is a CERTIFICATE" in r.stderr
    assert "lab1-lim1" not in r.stderr
    st = thelab.status()
    assert st["lab1-lim1"]["tls"] and not st["lab1-lim2"]["tls"]
    assert port_closed(f"{NET}.1.2", 5061) and port_closed(f"{NET}.1.2", 1300)
    good = pki["key"] + pki["leaf"] + pki["root"]
    thelab.ssh("lab1-lim2", "cat > /etc/opt/eri_sn/certs/eri_sn_cert.pem", stdin=good)


def test_reload_fails_fault(thelab):
    lab(thelab.state, "fault", "lab1-lim2", "reload-fails")
    r = thelab.ssh("lab1-lim1", "reload --system", sim=True)
    assert r.returncode == 1 and "reload-fails" in r.stderr
    st = thelab.status()
    assert not st["lab1-lim1"]["tls"] and not st["lab1-lim2"]["tls"]
    lab(thelab.state, "fault", "lab1-lim2", "clear")
    assert not thelab.status()["lab1-lim1"]["tls"]  # clear does not restart TLS
    r = thelab.ssh("lab1-lim2", "reload --system", sim=True)
    assert r.returncode == 0, r.stderr
    st = thelab.status()
    assert st["lab1-lim1"]["tls"] and st["lab1-lim2"]["tls"]


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
    thelab.ssh("lab1-lim2", "cat > /etc/opt/eri_sn/certs/ca.pem", stdin=pki["root"])
    assert thelab.ssh("lab1-lim2", "reload --system", sim=True).returncode == 0
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
    assert [(e["host"], e["command"], e["exit"]) for e in journal] == list(thelab.commands)
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
