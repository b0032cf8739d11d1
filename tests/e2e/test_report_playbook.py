"""End to end: the fleet expiry report (playbooks/report.yml, and verify.yml's) against the lab, read back with
prometheus_client and rendered in headless Chromium.

One lab of 1 system x 2 LIMs + 1 download server on its own loopback net. Each LIM has its own certificate
(mxone_cert_mode: lim); lab1-lim2's is valid for 20 days, so its row is expiring (30-day threshold), while
lab1-lim1's has the default 364. The tests run in file order on one lab and build on each other.

(Not named test_report.py: that basename belongs to tests/unit/ and pytest refuses two alike.)
"""

import json
import os
import shutil
import socket
import struct
import subprocess
import time
import urllib.request
import zlib

import pytest
import yaml
from cryptography import x509
from prometheus_client.parser import text_string_to_metric_families

from helpers import ROOT, ansible_env, lab, LabFleet, run_playbook

NET = "127.241"
SSH_PORT, HTTP_PORT = 2961, 8961
PLAYBOOKS = os.path.join(ROOT, "playbooks")
LIMS = ("lab1-lim1", "lab1-lim2")
EXPIRING_RGB = (0xFF, 0xE0, 0x8A)  # tr.expiring td{background:#ffe08a} in module_utils/report.py
WIDTH, HEIGHT = 1280, 900

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")


class Fleet(LabFleet):
    def __init__(self, base):
        super(Fleet, self).__init__(base)
        self.reports = str(base / "reports")
        self.html = os.path.join(self.reports, "fleet.html")
        self.prom = os.path.join(self.reports, "mxone_pki.prom")

    def play(self, name, *args):
        return run_playbook(os.path.join(PLAYBOOKS, name), inventory=self.inventory, args=args,
                            env=ansible_env(ANSIBLE_HOST_KEY_CHECKING="false"))

    def report(self, *args):
        return self.play("report.yml", "-e", "mxone_report_html_path=%s" % self.html,
                         "-e", "mxone_report_prom_path=%s" % self.prom, *args)


def read(path):
    with open(path) as handle:
        return handle.read()


def metrics(path):
    """{metric name: {host: (labels, value)}} of a textfile, parsed by prometheus_client."""
    found = {}
    for family in text_string_to_metric_families(read(path)):
        for sample in family.samples:
            found.setdefault(sample.name, {})[sample.labels.get("host")] = (sample.labels, sample.value)
    return found


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("report"))
    with f.running(1, 2, 1, NET, SSH_PORT, HTTP_PORT):
        with open(f.inventory) as handle:
            data = yaml.safe_load(handle)
        data["all"]["children"]["mxone_systems"]["children"]["mxone_lab1"]["vars"]["mxone_cert_mode"] = "lim"
        with open(f.inventory, "w") as handle:
            handle.write(yaml.safe_dump(data))
        # Both LIMs get 20-day certificates; then lim1's is removed from the store and re-issued with the
        # default validity, while a 10-day renew-before window keeps lim2's: one expiring row, one ok.
        run = f.play("rollout.yml", "-e", "mxone_issue_validity_days=20")
        assert run.rc == 0, run.output
        os.unlink(os.path.join(f.pki, "certs", "lab1-lim1", "server.pem"))
        run = f.play("rollout.yml", "-e", "mxone_issue_renew_before=10")
        assert run.rc == 0, run.output
        yield f


def test_report_has_every_lim_with_the_served_dates_and_marks_the_expiring_one(fleet):
    started = time.time()
    run = fleet.report()
    assert run.rc == 0, run.output
    assert "expiring: lab1-lim2:5061" in run.output and "1 expiring within 30 days" in run.output
    m = metrics(fleet.prom)
    assert set(m["x509_cert_not_after"]) == set(LIMS)
    for host in LIMS:
        served = fleet.served(host)
        labels, not_after = m["x509_cert_not_after"][host]
        assert not_after == served.not_valid_after_utc.timestamp()
        assert m["x509_cert_not_before"][host][1] == served.not_valid_before_utc.timestamp()
        assert labels["serial_number"] == str(served.serial_number)
        assert labels["subject_CN"] == served.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        assert labels["filepath"] == os.path.join(fleet.pki, "certs", host, "server.pem")
        assert labels["system"] == "lab1" and labels["port"] == "5061" and labels["issuer_CN"] == "MXOneEnterpriseCA"
        assert m["x509_cert_expired"][host][1] == 0
        assert m["mxone_pki_tls_probe_success"][host][1] == 1
    days = dict((h, (m["x509_cert_not_after"][h][1] - started) / 86400) for h in LIMS)
    assert 19 <= days["lab1-lim2"] <= 20 and days["lab1-lim1"] > 300
    last_run = m["mxone_pki_report_last_run_timestamp_seconds"][None][1]
    assert started - 1 <= last_run <= time.time() + 1
    for path in (fleet.html, fleet.prom):
        assert os.stat(path).st_mode & 0o777 == 0o644
    assert sorted(os.listdir(fleet.reports)) == ["fleet.html", "mxone_pki.prom"]  # no temporary file left
    page = read(fleet.html)
    assert 'class="expiring" data-endpoint="lab1-lim2:5061"' in page and "EXPIRING" in page
    assert 'class="ok" data-endpoint="lab1-lim1:5061"' in page


def test_a_second_run_and_check_mode_change_nothing(fleet):
    first = metrics(fleet.prom)["mxone_pki_report_last_run_timestamp_seconds"][None][1]
    time.sleep(1.1)  # the run's time moves on: the file is rewritten, yet that is no change
    run = fleet.report()
    assert run.rc == 0 and run.changed == 0, run.output
    assert metrics(fleet.prom)["mxone_pki_report_last_run_timestamp_seconds"][None][1] > first
    before = dict((p, read(p)) for p in (fleet.html, fleet.prom))
    check = fleet.report("--check", "--diff")
    assert check.rc == 0 and check.changed == 0, check.output
    assert dict((p, read(p)) for p in before) == before
    # a changed threshold is a change; check mode says so and writes nothing
    check = fleet.report("--check", "--diff", "-e", "mxone_report_warn_days=10")
    assert check.rc == 0 and check.changed == 1, check.output
    assert dict((p, read(p)) for p in before) == before
    assert "no TLS probe ran; compared the PKI store" in check.output  # check mode does not probe
    assert "+++ after" not in check.output  # a text diff would show rows no probe produced


def test_verify_yml_writes_the_report_into_the_pki_store_and_changes_nothing(fleet):
    run = fleet.play("verify.yml")
    assert run.rc == 0 and run.changed == 0, run.output
    reports = os.path.join(fleet.pki, "reports")
    assert sorted(os.listdir(reports)) == ["mxone-pki-expiry.html", "mxone_pki.prom"]
    assert set(metrics(os.path.join(reports, "mxone_pki.prom"))["x509_cert_not_after"]) == set(LIMS)
    assert run.output.count("LIM endpoint(s) in 1 system(s)") == 1  # once per run, not per host


# ------------------------------------------------------------------ the page in a browser


def chromium():
    """(chromium, chromedriver) paths; installed here if missing and possible, else the test skips."""
    def found():
        return shutil.which("chromium"), shutil.which("chromedriver")
    if not all(found()) and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=600, check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium", "chromium-driver"],
                       capture_output=True, timeout=1200, check=False,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    browser, driver = found()
    if not browser or not driver:
        pytest.skip("chromium and chromium-driver are missing and could not be installed here (needs root and apt; "
                    "scripts/setup installs them)")
    return browser, driver


BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--force-color-profile=srgb", "--hide-scrollbars"]


def run_browser(tmp_path, *args):
    browser = chromium()[0]
    cmd = [browser] + BROWSER_FLAGS + ["--user-data-dir=%s" % (tmp_path / "profile")] + list(args)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def decode_png(data):
    """(width, height, rows of RGB(A) bytes): a small PNG reader (8-bit RGB/RGBA, no interlace) over zlib."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        assert zlib.crc32(kind + chunk) == struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        elif kind == b"IEND":
            break
        pos += 12 + length
    width, height, depth, colour, dummy, dummy2, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = previous[i], previous[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, bpp, rows


def test_the_page_renders_in_headless_chromium_with_the_expiring_row_highlighted(fleet, tmp_path):
    shot = tmp_path / "report.png"
    run_browser(tmp_path, "--screenshot=%s" % shot, "--window-size=%d,%d" % (WIDTH, HEIGHT),
                "file://" + fleet.html)
    width, height, bpp, rows = decode_png(shot.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    colours = {}
    for line in rows:
        for x in range(0, width * bpp, bpp):
            rgb = tuple(line[x:x + 3])
            colours[rgb] = colours.get(rgb, 0) + 1
    assert len(colours) > 20, "a blank page"  # text, header band, table lines and row colours
    white = colours.get((255, 255, 255), 0)
    assert white < width * height * 0.98
    assert colours.get(EXPIRING_RGB, 0) > 2000, "the expiring row is not highlighted"


def test_the_dom_after_the_script_ran(fleet, tmp_path):
    dom = run_browser(tmp_path, "--dump-dom", "file://" + fleet.html)
    assert '<html lang="en" class="js">' in dom  # the inline script ran
    assert dom.count('tabindex="0"') == 12  # every header was made sortable
    assert dom.index('data-endpoint="lab1-lim2:5061"') < dom.index('data-endpoint="lab1-lim1:5061"')


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def webdriver(base, method, path, body=None):
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None
                                     else None, headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=120) as response:
        return json.loads(response.read())["value"]


def test_clicking_a_header_sorts_the_rows(fleet, tmp_path):
    browser, driver = chromium()
    port = free_port()
    proc = subprocess.Popen([driver, "--port=%d" % port], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = "http://127.0.0.1:%d" % port
    try:
        for dummy in range(100):
            try:
                if webdriver(base, "GET", "/status").get("ready"):
                    break
            except OSError:
                pass
            time.sleep(0.1)
        session = webdriver(base, "POST", "/session", {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": {
                "binary": browser, "args": BROWSER_FLAGS + ["--user-data-dir=%s" % (tmp_path / "wd")]}}}})["sessionId"]
        s = "/session/" + session
        webdriver(base, "POST", s + "/url", {"url": "file://" + fleet.html})
        order = "return Array.from(document.querySelectorAll('#certificates tbody tr')).map(r => r.dataset.endpoint)"

        def rows():
            return webdriver(base, "POST", s + "/execute/sync", {"script": order, "args": []})

        def click(column):
            element = webdriver(base, "POST", s + "/element",
                                {"using": "css selector", "value": "th[data-col=%s]" % column})
            webdriver(base, "POST", s + "/element/%s/click" % list(element.values())[0], {})

        assert rows() == ["lab1-lim2:5061", "lab1-lim1:5061"]  # most urgent first
        click("lim")
        assert rows() == ["lab1-lim1:5061", "lab1-lim2:5061"]
        click("lim")
        assert rows() == ["lab1-lim2:5061", "lab1-lim1:5061"]
        click("days_left")
        assert rows() == ["lab1-lim2:5061", "lab1-lim1:5061"]
        click("days_left")
        assert rows() == ["lab1-lim1:5061", "lab1-lim2:5061"]
        sort = webdriver(base, "POST", s + "/execute/sync", {
            "script": "return document.querySelector('th[data-col=days_left]').getAttribute('aria-sort')", "args": []})
        assert sort == "descending"
        webdriver(base, "DELETE", s)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# ------------------------------------------------------------------ a LIM down


def test_a_lim_down_fails_the_run_but_the_report_is_written_with_the_store_facts(fleet):
    lab(fleet.state, "fault", "lab1-lim1", "down")
    try:
        run = fleet.report()
        assert run.rc != 0, run.output
        m = metrics(fleet.prom)
        assert m["mxone_pki_tls_probe_success"]["lab1-lim1"][1] == 0
        assert m["mxone_pki_tls_probe_success"]["lab1-lim2"][1] == 1
        assert set(m["x509_cert_not_after"]) == set(LIMS)  # lim1's expiry series stays, from the PKI store
        page = read(fleet.html)
        assert "FAILED" in page and "PKI store (no certificate from the LIM)" in page
    finally:
        lab(fleet.state, "fault", "lab1-lim1", "clear")
