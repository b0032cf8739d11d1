"""tls_probe against real TLS servers on loopback, and tls_check through ansible-playbook.

No mocks: every test talks to a threaded ``ssl`` server started here (127.0.0.1,
ephemeral ports) serving certificates made at test time with cryptography, or
to a real ``http.server`` for the phone-like ``ca_url`` check. EC keys keep
key generation out of the time budget.
"""

import datetime
import functools
import http.server
import ipaddress
import json
import os
import socket
import ssl
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from helpers import run_playbook  # tests/helpers.py (tests/ is on sys.path via its conftest)

from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.tls_probe import (
    check_endpoints, failure_message, parse_endpoints)

HOST = "127.0.0.1"
SERVER_NAME = "lim1.t.mx.test"
PASSPHRASE = "client-key-secret-42"
NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


# ------------------------------------------------------------------ test PKI


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(cn, key, issuer=None, issuer_key=None, ca=False, dns=(), ips=(), days=(-1, 30), client=False):
    builder = (x509.CertificateBuilder().subject_name(_name(cn))
               .issuer_name(issuer.subject if issuer else _name(cn)).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(NOW + days[0] * DAY).not_valid_after(NOW + days[1] * DAY)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    else:
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    san = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key, passphrase=None):
    encryption = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


class TestPki(object):
    """CA -> server leaf (lim1.t.mx.test, 127.0.0.1), CA -> client; an unrelated CA; an expired leaf."""

    __test__ = False

    def __init__(self, directory):
        self.dir = directory
        ca_key, other_key, leaf_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _i in range(4))
        self.ca = _cert("Test MX-ONE Enterprise CA", ca_key, ca=True)
        self.other_ca = _cert("Some Other CA", other_key, ca=True)
        self.leaf = _cert("*.t.mx.test", leaf_key, self.ca, ca_key, dns=[SERVER_NAME, "lim2.t.mx.test"],
                          ips=[HOST])
        self.expired = _cert("*.t.mx.test", leaf_key, self.ca, ca_key, dns=[SERVER_NAME], ips=[HOST],
                             days=(-40, -2))
        self.client = _cert("peer.t.mx.test", client_key, self.ca, ca_key, client=True)
        self.ca_pem = self.write("ca.pem", _pem(self.ca))
        self.ca_der = self.write("ca.der", self.ca.public_bytes(serialization.Encoding.DER))
        self.other_ca_pem = self.write("other-ca.pem", _pem(self.other_ca))
        self.server_bundle = self.write("server.pem", _key_pem(leaf_key) + _pem(self.leaf))
        self.expired_bundle = self.write("expired.pem", _key_pem(leaf_key) + _pem(self.expired))
        self.client_cert = self.write("client.pem", _pem(self.client))
        self.client_key = self.write("client.key", _key_pem(client_key, PASSPHRASE))
        self.client_combined = self.write("client-combined.pem", _key_pem(client_key) + _pem(self.client))
        self.wrong_key = self.write("wrong.key", _key_pem(leaf_key))

    def write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as handle:
            handle.write(data)
        return path

    @property
    def leaf_serial(self):
        return "%x" % self.leaf.serial_number


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return TestPki(str(tmp_path_factory.mktemp("tls")))


# ------------------------------------------------------------------ servers


class TlsServer(object):
    """A threaded TLS listener: each connection gets its own thread, handshake, then reads until closed.

    ``listen_after`` binds at once but listens only later: until then the
    kernel refuses connections, as a LIM whose listener is being reloaded.
    """

    def __init__(self, bundle, client_ca=None, host=HOST, max_version=None, delay=0.0, listen_after=0.0):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        if max_version:
            self.context.maximum_version = max_version
        self.context.load_cert_chain(bundle)
        if client_ca:
            self.context.load_verify_locations(cafile=client_ca)
            self.context.verify_mode = ssl.CERT_REQUIRED
        self.delay = delay
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.handshakes = 0
        self.stopped = False
        if listen_after:
            threading.Timer(listen_after, self._listen).start()
        else:
            self._listen()

    def _listen(self):
        if self.stopped:
            return
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self):
        while not self.stopped:
            try:
                conn, _addr = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.settimeout(5)
            if self.delay:
                time.sleep(self.delay)
            tls = self.context.wrap_socket(conn, server_side=True)
            self.handshakes += 1
            while tls.recv(1024):
                pass
            tls.close()
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def close(self):
        self.stopped = True
        self.sock.close()


@pytest.fixture
def servers():
    started = []

    def start(*args, **kwargs):
        server = TlsServer(*args, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture(scope="module")
def lim(pki):
    """The LIM everybody probes: the good leaf, no client verification."""
    server = TlsServer(pki.server_bundle)
    yield server
    server.close()


@pytest.fixture(scope="module")
def download_server(pki, tmp_path_factory):
    """A phone download server: real http.server serving a directory with ca.pem (and some HTML)."""
    root = str(tmp_path_factory.mktemp("download"))
    with open(os.path.join(root, "ca.pem"), "wb") as handle:
        handle.write(_pem(pki.ca))
    with open(os.path.join(root, "index.html"), "w") as handle:
        handle.write("<html><body>phone files</body></html>")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer((HOST, 0), functools.partial(Quiet, directory=root))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://%s:%d" % (HOST, httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


def free_port():
    """A port nothing listens on (bound and closed again)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def endpoint(port, server_name=SERVER_NAME, name="lim1", **extra):
    item = dict(name=name, address=HOST, port=port, server_name=server_name)
    item.update(extra)
    return item


def one(report):
    assert len(report["results"]) == 1
    return report["results"][0]


# ------------------------------------------------------------- handshakes


def test_right_ca_and_name_passes_and_reports_the_served_certificate(pki, lim):
    report = check_endpoints([endpoint(lim.port, system="t")], ca_path=pki.ca_pem)
    result = one(report)
    assert report["ok"] and report["failed_endpoints"] == [], result
    assert result["ok"] and result["error"] is None and result["attempts"] == 1
    assert result["tls_version"] in ("TLSv1.2", "TLSv1.3") and result["cipher"]
    assert (result["name"], result["system"], result["port"]) == ("lim1", "t", lim.port)
    cert = result["certificate"]
    assert result["certificate_verified"] is True
    assert cert["serial"] == pki.leaf_serial
    assert cert["dns"] == [SERVER_NAME, "lim2.t.mx.test"] and cert["ips"] == [HOST]
    assert cert["common_name"] == "*.t.mx.test" and cert["issuer"] == "CN=Test MX-ONE Enterprise CA"
    assert 28 <= cert["days_left"] <= 30 and cert["sha256_fingerprint"].count(":") == 31
    assert report["ca"]["certificates"][0]["subject"] == "CN=Test MX-ONE Enterprise CA"
    assert report["client_certificate"] is None


def test_ip_as_server_name_needs_the_ip_in_the_certificate(pki, lim):
    report = check_endpoints([endpoint(lim.port, server_name=HOST, name="by-ip"),
                              endpoint(lim.port, server_name="127.0.0.9", name="other-ip")], ca_path=pki.ca_der)
    by_ip, other_ip = report["results"]
    assert by_ip["ok"], by_ip
    assert not other_ip["ok"] and other_ip["error"].startswith("hostname mismatch"), other_ip
    assert "IP address '127.0.0.9'" in other_ip["error"]
    assert report["failed_endpoints"] == ["other-ip"] and report["ok"] is False


def test_name_and_server_name_default_to_the_address(pki, lim):
    report = check_endpoints([{"address": HOST, "port": lim.port}], ca_path=pki.ca_pem)
    result = one(report)
    assert (result["name"], result["server_name"], result["ok"]) == (HOST, HOST, True), result


def test_hostname_mismatch_fails_and_says_which_names_the_certificate_has(pki, lim):
    result = one(check_endpoints([endpoint(lim.port, server_name="lim9.t.mx.test")], ca_path=pki.ca_pem))
    assert not result["ok"]
    assert "hostname" in result["error"] and "lim9.t.mx.test" in result["error"], result["error"]
    assert "lim1.t.mx.test" in result["error"]  # what the certificate does name
    assert result["certificate"]["serial"] == pki.leaf_serial and result["certificate_verified"] is False


def test_wrong_ca_fails_verification_and_still_reports_the_served_certificate(pki, lim):
    result = one(check_endpoints([endpoint(lim.port)], ca_path=pki.other_ca_pem, retries=3))
    assert not result["ok"]
    assert result["error"].startswith("certificate verify failed"), result["error"]
    assert result["certificate"]["serial"] == pki.leaf_serial
    assert pki.leaf_serial in result["error"]
    assert result["certificate"]["issuer"] == "CN=Test MX-ONE Enterprise CA"
    assert result["attempts"] == 1  # verification failures are not retried


def test_expired_certificate_fails_verification(pki, servers):
    server = servers(pki.expired_bundle)
    result = one(check_endpoints([endpoint(server.port)], ca_path=pki.ca_pem))
    assert "certificate verify failed" in result["error"] and "expired" in result["error"], result["error"]
    assert result["certificate"]["expired"] is True


def test_refused_port_fails_with_refused(pki):
    result = one(check_endpoints([endpoint(free_port())], ca_path=pki.ca_pem))
    assert not result["ok"] and "refused" in result["error"], result
    assert result["certificate"] is None and result["attempts"] == 1


def test_silent_listener_times_out_and_timeouts_are_retried(pki):
    with socket.socket() as silent:  # accepts TCP (kernel backlog) but never speaks TLS
        silent.bind((HOST, 0))
        silent.listen(8)
        started = time.monotonic()
        result = one(check_endpoints([endpoint(silent.getsockname()[1])], ca_path=pki.ca_pem, timeout=0.3,
                                     retries=1, retry_delay=0))
        elapsed = time.monotonic() - started
    assert not result["ok"] and result["error"].startswith("timeout"), result
    assert result["attempts"] == 2 and elapsed < 2


def test_retries_wait_for_a_listener_that_comes_up_late(pki, servers):
    late = servers(pki.server_bundle, listen_after=0.5)
    started = time.monotonic()
    result = one(check_endpoints([endpoint(late.port)], ca_path=pki.ca_pem, retries=10, retry_delay=0.2))
    assert result["ok"], result
    assert result["attempts"] >= 2 and time.monotonic() - started < 3


def test_no_retries_means_one_refused_attempt(pki, servers):
    late = servers(pki.server_bundle, listen_after=0.5)
    result = one(check_endpoints([endpoint(late.port)], ca_path=pki.ca_pem))
    assert not result["ok"] and "refused" in result["error"] and result["attempts"] == 1


# -------------------------------------------------------------- mutual TLS


@pytest.mark.parametrize("max_version", [None, ssl.TLSVersion.TLSv1_2], ids=["tls1.3", "tls1.2"])
def test_mandatory_client_verification_fails_without_and_passes_with_a_client_certificate(
        pki, servers, max_version):
    server = servers(pki.server_bundle, client_ca=pki.ca_pem, max_version=max_version)
    without = one(check_endpoints([endpoint(server.port)], ca_path=pki.ca_pem))
    assert not without["ok"], without
    assert "client certificate" in without["error"], without["error"]
    assert without["certificate"] is None or without["certificate"]["serial"] == pki.leaf_serial

    report = check_endpoints([endpoint(server.port)], ca_path=pki.ca_pem, client_cert_path=pki.client_cert,
                             client_key_path=pki.client_key, client_key_passphrase=PASSPHRASE)
    assert one(report)["ok"], one(report)
    assert one(report)["tls_version"] == ("TLSv1.2" if max_version else "TLSv1.3")
    assert report["client_certificate"]["subject"] == "CN=peer.t.mx.test"
    dumped = json.dumps(report)
    assert PASSPHRASE not in dumped and "PRIVATE KEY" not in dumped


def test_client_certificate_from_another_ca_is_refused(pki, servers, tmp_path):
    other = TestPki(str(tmp_path))  # same names, different CA: the server does not trust its client cert
    server = servers(pki.server_bundle, client_ca=pki.ca_pem)
    result = one(check_endpoints([endpoint(server.port)], ca_path=pki.ca_pem,
                                 client_cert_path=other.client_combined))
    assert not result["ok"] and "refused the client certificate" in result["error"], result["error"]


def test_client_key_problems_fail_up_front_naming_the_field_without_the_passphrase(pki, lim):
    with pytest.raises(MxonePkiError) as wrong:
        check_endpoints([endpoint(lim.port)], ca_path=pki.ca_pem, client_cert_path=pki.client_cert,
                        client_key_path=pki.client_key, client_key_passphrase="not-" + PASSPHRASE)
    assert wrong.value.field == "client_key_path" and "passphrase" in wrong.value.msg
    assert PASSPHRASE not in str(wrong.value)
    with pytest.raises(MxonePkiError) as mismatch:
        check_endpoints([endpoint(lim.port)], ca_path=pki.ca_pem, client_cert_path=pki.client_cert,
                        client_key_path=pki.wrong_key)
    assert "does not belong" in mismatch.value.msg
    with pytest.raises(MxonePkiError) as no_key:
        check_endpoints([endpoint(lim.port)], ca_path=pki.ca_pem, client_cert_path=pki.client_cert)
    assert no_key.value.field == "client_key_path"


# ------------------------------------------------------------ CA from URL


def test_ca_url_from_the_download_server_is_used_alone(pki, lim, download_server, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # phones fetch directly; so does the probe
    report = check_endpoints([endpoint(lim.port), endpoint(lim.port, name="lim1-again")],
                             ca_url=download_server + "/ca.pem")
    assert report["ok"], report["results"]
    assert report["ca"]["source"] == download_server + "/ca.pem" and report["ca"]["error"] is None


@pytest.mark.parametrize("path, words", [("/missing.pem", "HTTP 404"), ("/index.html", "holds no certificate")])
def test_ca_url_without_a_ca_fails_every_endpoint_with_the_reason(pki, lim, download_server, path, words):
    report = check_endpoints([endpoint(lim.port, name="a"), endpoint(lim.port, name="b")],
                             ca_url=download_server + path)
    assert report["failed_endpoints"] == ["a", "b"] and not report["ok"]
    for result in report["results"]:
        assert words in result["error"] and path in result["error"], result["error"]
        assert result["attempts"] == 0
    assert words in report["ca"]["error"]


def test_ca_url_credentials_never_show(pki, lim):
    report = check_endpoints([endpoint(lim.port)], ca_url="http://user:s3cret@127.0.0.1:%d/ca.pem" % free_port(),
                             timeout=1)
    assert "s3cret" not in json.dumps(report)
    assert "could not fetch the CA" in one(report)["error"]


def test_missing_ca_file_fails_every_endpoint(pki, lim, tmp_path):
    report = check_endpoints([endpoint(lim.port)], ca_path=str(tmp_path / "nope.pem"))
    assert "does not exist" in one(report)["error"]


# -------------------------------------------------------------- many at once


def test_twenty_endpoints_are_probed_in_parallel_and_reported_in_order(pki, servers):
    slow = servers(pki.server_bundle, delay=0.4)  # every handshake takes 0.4 s on the server
    wanted = []
    for index in range(20):
        name = SERVER_NAME if index % 7 else "lim%d.elsewhere.test" % index
        wanted.append(endpoint(slow.port, server_name=name, name="ep%02d" % index))
    started = time.monotonic()
    report = check_endpoints(wanted, ca_path=pki.ca_pem, parallel=20)
    elapsed = time.monotonic() - started
    assert [r["name"] for r in report["results"]] == ["ep%02d" % i for i in range(20)]
    assert report["failed_endpoints"] == ["ep00", "ep07", "ep14"]
    assert all(r["ok"] for r in report["results"] if r["name"] not in report["failed_endpoints"])
    assert elapsed < 3, "20 x 0.4 s handshakes took %.1f s: not parallel" % elapsed


# ---------------------------------------------------------- options, message


@pytest.mark.parametrize("raw, field", [
    ([], "endpoints"),
    ([{"port": 5061}], "endpoints[0].address"),
    ([{"address": HOST}, {"address": HOST, "port": "sip"}], "endpoints[1].port"),
    ([{"address": HOST, "port": 70000}], "endpoints[0].port"),
    ([{"address": HOST, "sever_name": "x"}], "endpoints[0]"),
    (["127.0.0.1"], "endpoints[0]"),
])
def test_bad_endpoints_name_the_field(raw, field):
    with pytest.raises(MxonePkiError) as error:
        parse_endpoints(raw)
    assert error.value.field == field


def test_endpoint_defaults():
    parsed = parse_endpoints([{"address": HOST}, {"name": "n", "address": HOST, "port": "1300",
                                                  "server_name": "lim1.x", "system": "s"}])
    assert [p.as_dict() for p in parsed] == [
        dict(name=HOST, system=None, address=HOST, port=5061, server_name=HOST),
        dict(name="n", system="s", address=HOST, port=1300, server_name="lim1.x")]


@pytest.mark.parametrize("kwargs, field", [
    (dict(ca_path="x", ca_url="http://h/ca.pem"), "ca_path"),
    (dict(), "ca_path"),
    (dict(ca_url="ftp://h/ca.pem"), "ca_url"),
    (dict(ca_path="x", parallel=0), "parallel"),
    (dict(ca_path="x", timeout=0), "timeout"),
    (dict(ca_path="x", retries=-1), "retries"),
])
def test_bad_options_name_the_field(kwargs, field):
    with pytest.raises(MxonePkiError) as error:
        check_endpoints([{"address": HOST}], **kwargs)
    assert error.value.field == field


def test_failure_message_lists_each_failed_endpoint_on_its_own_line(pki, lim):
    refused = free_port()
    report = check_endpoints([endpoint(lim.port, name="good"), endpoint(refused, name="down"),
                              endpoint(lim.port, server_name="lim9.t.mx.test", name="wrong")],
                             ca_path=pki.ca_pem)
    lines = failure_message(report["results"]).splitlines()
    assert lines[0] == "2 of 3 TLS endpoint(s) failed verification:"
    assert lines[1] == "down (127.0.0.1:%d, %s): connection refused" % (refused, SERVER_NAME)
    assert lines[2].startswith("wrong (127.0.0.1:%d, lim9.t.mx.test): hostname mismatch" % lim.port)
    assert len(lines) == 3


# ------------------------------------------------------ through ansible-playbook

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: A passing check, in check mode
      mxone.pki.tls_check:
        ca_path: "{{ ca }}"
        endpoints:
          - {name: lim1, system: t, address: 127.0.0.1, port: "{{ port }}", server_name: lim1.t.mx.test}
      check_mode: true
      register: good

    - name: Failing endpoints, reported without failing
      mxone.pki.tls_check:
        ca_path: "{{ ca }}"
        endpoints:
          - {name: wrong, address: 127.0.0.1, port: "{{ port }}", server_name: lim9.t.mx.test}
        fail_on_error: false
      register: soft

    - name: Failing endpoints fail the task
      block:
        - name: With a client certificate whose key is encrypted
          mxone.pki.tls_check:
            ca_path: "{{ ca }}"
            client_cert_path: "{{ client_cert }}"
            client_key_path: "{{ client_key }}"
            client_key_passphrase: "{{ passphrase }}"
            endpoints:
              - {name: lim1, address: 127.0.0.1, port: "{{ port }}", server_name: lim1.t.mx.test}
              - {name: down, address: 127.0.0.1, port: "{{ refused }}", server_name: lim1.t.mx.test}
              - {name: wrong, address: 127.0.0.1, port: "{{ port }}", server_name: lim9.t.mx.test}
          register: hard
      rescue:
        - name: Keep what the failed task returned
          ansible.builtin.set_fact:
            hard_failed: "{{ ansible_failed_result }}"

    - name: Write the results for the test to read
      ansible.builtin.copy:
        content: "{{ {'good': good, 'soft': soft, 'hard': hard_failed | default(None)} | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
"""


def test_module_through_ansible_playbook(pki, lim, tmp_path):
    playbook = tmp_path / "tls_check.yml"
    playbook.write_text(PLAYBOOK)
    out = tmp_path / "out.json"
    refused = free_port()
    run = run_playbook(str(playbook), dict(ca=pki.ca_pem, port=lim.port, refused=refused, out=str(out),
                                           client_cert=pki.client_cert, client_key=pki.client_key,
                                           passphrase=PASSPHRASE), timeout=120)
    assert run.rc == 0, run.output
    assert PASSPHRASE not in run.output and "PRIVATE KEY" not in run.output
    data = json.loads(out.read_text())

    good = data["good"]
    assert good["ok"] is True and good["changed"] is False and not good.get("failed"), good
    assert good["results"][0]["certificate"]["serial"] == pki.leaf_serial
    assert good["results"][0]["system"] == "t"

    soft = data["soft"]
    assert soft["ok"] is False and not soft.get("failed") and soft["failed_endpoints"] == ["wrong"]

    hard = data["hard"]
    assert hard is not None and hard["failed"] is True and hard["changed"] is False
    assert hard["failed_endpoints"] == ["down", "wrong"]
    assert [r["ok"] for r in hard["results"]] == [True, False, False]
    lines = hard["msg"].splitlines()
    assert lines[0] == "2 of 3 TLS endpoint(s) failed verification:"
    assert lines[1] == "down (127.0.0.1:%d, lim1.t.mx.test): connection refused" % refused
    assert lines[2].startswith("wrong (127.0.0.1:%d, lim9.t.mx.test): hostname mismatch" % lim.port)
    assert PASSPHRASE not in json.dumps(data)


def test_a_verified_answer_with_another_certificate_than_the_stores_is_stale(tmp_path):
    from ansible_collections.mxone.pki.plugins.module_utils.tls_probe import stale_check
    store = tmp_path / "server.pem"
    key = ec.generate_private_key(ec.SECP256R1())
    store.write_bytes(_pem(_cert("lim1.t.mx.test", key)))
    result = dict(ok=True, error=None, certificate=dict(sha256_fingerprint="aa:bb", serial="1f", not_after="2027"))
    stale_check(result, str(store), {})
    assert result["ok"] is False and result["stale"] is True
    assert result["error"].startswith("stale: serves serial 1f (valid until 2027), the PKI store has serial ")
    same = dict(ok=True, error=None, certificate=dict(result["certificate"]))
    cache = {}
    stale_check(same, str(tmp_path / "missing.pem"), cache)  # nothing in the store yet: nothing to compare
    assert same["ok"] is True and cache == {str(tmp_path / "missing.pem"): None}
