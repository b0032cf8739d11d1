"""A real Kamailio as the TLS SIP proxy: devices.yml writes its certificate, key, CA list and tls.cfg, then
``kamcmd tls.reload`` swaps the certificate without a restart.

Kamailio (Debian packages kamailio, kamailio-tls-modules; scripts/install-kamailio) runs in the foreground as
this test's child on a free 127.x address, with its control socket and runtime files under tmp, and is
stopped in the fixture's finalizer. The SIP OPTIONS request is sent with Python's ssl, not sipp: Debian's
sip-tester is built without OpenSSL ("To use a TLS transport you must compile SIPp with OpenSSL").
"""

import glob
import os
import random
import shutil
import socket
import ssl
import subprocess
import time
import uuid

import pytest
import yaml
from cryptography import x509

from helpers import ROOT, run_playbook

PLAYBOOK = os.path.join(ROOT, "playbooks", "devices.yml")
PASS = "proxy-passphrase-1"
NAME = "sip.devices.test"
PORT = 5061


def kamailio_modules():
    found = glob.glob("/usr/lib/*/kamailio/modules/tls.so") + glob.glob("/usr/lib/kamailio/modules/tls.so")
    return os.path.dirname(found[0]) if found else None


def ensure_kamailio():
    if shutil.which("kamailio") and shutil.which("kamcmd") and kamailio_modules():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("Kamailio is not installed and cannot be (needs root and apt-get): run scripts/setup as root")
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "install-kamailio")], capture_output=True, text=True,
                          timeout=300, check=False)
    if proc.returncode != 0 or not kamailio_modules():
        pytest.skip("could not install Kamailio: %s" % (proc.stderr.strip() or proc.stdout.strip())[-300:])


def free_loopback():
    """An address in 127.0.0.0/8 (not 127.0.0.1) where nothing listens on the SIP TLS port."""
    for _attempt in range(50):
        address = "127.%d.%d.%d" % (random.randint(1, 254), random.randint(0, 255), random.randint(2, 254))
        probe = socket.socket()
        try:
            probe.bind((address, PORT))
            return address
        except OSError:
            continue
        finally:
            probe.close()
    pytest.skip("no free loopback address for port %d" % PORT)


KAMAILIO_CFG = """#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=2
disable_tcp=no
enable_tls=yes
auto_aliases=no
listen=tls:{address}:{port}
mpath="{modules}/"
loadmodule "tls.so"
loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "ctl.so"
modparam("tls", "config", "{tls_cfg}")
modparam("ctl", "binrpc", "unix:{ctl}")
request_route {{
    if (is_method("OPTIONS")) {{
        sl_send_reply("200", "OK");
        exit;
    }}
    sl_send_reply("404", "Not here");
}}
"""


class Proxy(object):
    def __init__(self, base, address):
        self.base = base
        self.address = address
        self.tls_dir = base / "tls"
        self.pki = base / "pki"
        self.ctl = base / "kamailio_ctl"
        self.inventory = base / "hosts.yml"
        self.process = None
        self.inventory.write_text(yaml.safe_dump({"all": {
            "children": {"sip_proxies": {"hosts": {"kam1": {
                "ansible_connection": "local",
                "sip_proxy_common_name": NAME,
                "sip_proxy_ips": [address],
                "sip_proxy_tls_dir": str(self.tls_dir),
                "sip_proxy_kamcmd_socket": "unix:%s" % self.ctl,
                "sip_proxy_verify_address": address,
                "sip_proxy_verify_port": PORT}}}},
            "vars": {"mxone_pki_dir": str(self.pki)}}}))

    def run(self, *args, **extra):
        extra_vars = {"mxone_ca_passphrase": PASS}
        extra_vars.update(extra)
        return run_playbook(PLAYBOOK, extra_vars, args, inventory=str(self.inventory))

    def start(self):
        config = self.base / "kamailio.cfg"
        config.write_text(KAMAILIO_CFG.format(address=self.address, port=PORT, modules=kamailio_modules(),
                                              tls_cfg=self.tls_dir / "tls.cfg", ctl=self.ctl))
        (self.base / "run").mkdir(exist_ok=True)
        self.log = open(str(self.base / "kamailio.log"), "wb")
        self.process = subprocess.Popen(
            ["kamailio", "-f", str(config), "-DD", "-E", "-Y", str(self.base / "run"),
             "-P", str(self.base / "kamailio.pid"), "-m", "32", "-M", "8"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("kamailio exited: %s" % (self.base / "kamailio.log").read_text()[-2000:])
            try:
                socket.create_connection((self.address, PORT), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("kamailio did not listen on %s:%d" % (self.address, PORT))

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if getattr(self, "log", None):
            self.log.close()

    def context(self, client=False):
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca" / "ca.pem"))
        if client:
            ctx.load_cert_chain(str(self.tls_dir / "cert.pem"), str(self.tls_dir / "key.pem"))
        return ctx

    def handshake(self, server_name=NAME, client=False):
        """(serial, TLS version) of the certificate the proxy serves, chain and host name checked."""
        with socket.create_connection((self.address, PORT), timeout=15) as raw:
            with self.context(client).wrap_socket(raw, server_hostname=server_name) as tls:
                der = tls.getpeercert(binary_form=True)
                return x509.load_der_x509_certificate(der).serial_number, tls.version()

    def options(self, client=False):
        """Send a SIP OPTIONS over TLS and return the status line of the answer."""
        call_id = uuid.uuid4().hex
        request = (
            "OPTIONS sip:{name} SIP/2.0\r\n"
            "Via: SIP/2.0/TLS 127.0.0.1:5099;branch=z9hG4bK{branch}\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:probe@devices.test>;tag={tag}\r\n"
            "To: <sip:{name}>\r\n"
            "Call-ID: {call_id}@devices.test\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n").format(name=NAME, branch=call_id[:10], tag=call_id[10:18], call_id=call_id)
        with socket.create_connection((self.address, PORT), timeout=15) as raw:
            with self.context(client).wrap_socket(raw, server_hostname=NAME) as tls:
                tls.sendall(request.encode("ascii"))
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    data += chunk
        return data.decode("ascii", "replace").split("\r\n", 1)[0]

    def delivered_serial(self):
        return x509.load_pem_x509_certificate((self.tls_dir / "cert.pem").read_bytes()).serial_number


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    ensure_kamailio()
    base = tmp_path_factory.mktemp("sip-proxy")
    proxy = Proxy(base, free_loopback())
    # Kamailio reads its certificate at start: deliver first (nothing to reload or check yet), then start it.
    first = proxy.run(sip_proxy_reload=False, sip_proxy_verify=False)
    assert first.rc == 0, first.output
    proxy.first = first
    try:
        proxy.start()
        yield proxy
    finally:
        proxy.stop()


def test_role_delivers_certificate_key_ca_list_and_tls_cfg(proxy):
    names = sorted(os.listdir(proxy.tls_dir))
    assert names == ["ca.pem", "cert.pem", "key.pem", "tls.cfg"]
    assert os.stat(proxy.tls_dir / "key.pem").st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate((proxy.tls_dir / "cert.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [NAME]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == [proxy.address]
    assert "BEGIN" not in proxy.first.output


def test_tls_handshake_checks_chain_and_host_name(proxy):
    serial, version = proxy.handshake()
    assert serial == proxy.delivered_serial()
    assert version in ("TLSv1.2", "TLSv1.3")
    with pytest.raises(ssl.SSLCertVerificationError):
        proxy.handshake(server_name="other.devices.test")


def test_sip_options_over_tls_is_answered_200(proxy):
    assert proxy.options() == "SIP/2.0 200 OK"


def test_reissue_and_tls_reload_swap_the_certificate_without_restart(proxy):
    pid, old_serial = proxy.process.pid, proxy.delivered_serial()
    pid_file = (proxy.base / "kamailio.pid").read_text().strip()
    run = proxy.run(mxone_devices_force=True)
    assert run.rc == 0, run.output
    assert "RUNNING HANDLER [mxone.pki.mxone_devices : Reload the SIP proxy's TLS settings without a restart]" \
        in run.output
    new_serial = proxy.delivered_serial()
    assert new_serial != old_serial
    serial, _version = proxy.handshake()
    assert serial == new_serial
    assert proxy.process.poll() is None and proxy.process.pid == pid
    assert (proxy.base / "kamailio.pid").read_text().strip() == pid_file
    assert proxy.options() == "SIP/2.0 200 OK"


def test_second_run_changes_nothing_and_does_not_reload(proxy):
    run = proxy.run()
    assert run.rc == 0, run.output
    assert run.changed == 0, run.output
    assert "Reload the SIP proxy's TLS settings" not in run.output


def test_mutual_tls_after_reload(proxy):
    run = proxy.run(sip_proxy_verify_client=True, sip_proxy_verify=False)
    assert run.rc == 0, run.output
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        # TLS 1.3: the refusal may come only when the first read after the handshake fails
        assert proxy.options() != "SIP/2.0 200 OK"
    assert proxy.options(client=True) == "SIP/2.0 200 OK"
