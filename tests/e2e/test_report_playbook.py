"""End to end: the fleet expiry report (playbooks/report.yml, and verify.yml's) against the lab, read back with
prometheus_client and rendered in headless Chromium.

One lab of 1 system x 2 LIMs + 1 download server on its own loopback net. Each LIM has its own certificate
(mxone_cert_mode: lim); lab1-lim2's is valid for 20 days, so its row is expiring (30-day threshold), while
lab1-lim1's has the default 364. The tests run in file order on one lab and build on each other; the last one
takes lab1-lim1 down and makes lab1-lim2 stale (the PKI store gets another certificate for it than the one it
serves), and checks their colours in a screenshot.

(Not named test_report.py: that basename belongs to tests/unit/ and pytest refuses two alike.)
"""

import base64
import contextlib
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
# The report's palette (PALETTE in module_utils/report.py): row and tile fills, and the TLS-failed accent.
EXPIRING_RGB = (0xFF, 0xE0, 0x8A)  # tr.expiring td{background:#ffe08a}
TLS_FAILED_RGB = (0xFF, 0x9E, 0x9E)  # tr.tls_failed td{background:#ff9e9e}
STALE_RGB = (0xDC, 0xC4, 0xF5)  # tr.stale td{background:#dcc4f5}
TLS_FAILED_ACCENT = "#b3001b"  # the bar of a system with a failing LIM
WIDTH, HEIGHT = 1280, 900


def rgb(colour):
    """(r, g, b) of a #rrggbb colour."""
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


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
    """{metric name: {host: (labels, value)}} of a textfile, parsed by prometheus_client; CA samples (no host) are
    left out (see ``ca_metrics``)."""
    found = {}
    for family in text_string_to_metric_families(read(path)):
        for sample in family.samples:
            if sample.labels.get("cert_role") != "ca":
                found.setdefault(sample.name, {})[sample.labels.get("host")] = (sample.labels, sample.value)
    return found


def ca_metrics(path):
    """{metric name: {filepath: (labels, value)}} of the samples labelled as a CA's (cert_role ca)."""
    found = {}
    for family in text_string_to_metric_families(read(path)):
        for sample in family.samples:
            if sample.labels.get("cert_role") == "ca":
                found.setdefault(sample.name, {})[sample.labels["filepath"]] = (sample.labels, sample.value)
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


def test_the_cas_expiry_is_on_the_page_and_in_the_textfile(fleet):
    ca_path = os.path.join(fleet.pki, "ca", "ca.pem")
    with open(ca_path, "rb") as handle:
        ca = x509.load_pem_x509_certificate(handle.read())
    cas = ca_metrics(fleet.prom)
    labels, not_after = cas["x509_cert_not_after"][ca_path]
    assert not_after == ca.not_valid_after_utc.timestamp()
    assert labels == dict(system="", host="", port="", cert_role="ca", filename="ca.pem", filepath=ca_path,
                          serial_number=str(ca.serial_number), subject_CN="MXOneEnterpriseCA",
                          issuer_CN="MXOneEnterpriseCA")
    assert cas["x509_cert_not_before"][ca_path][1] == ca.not_valid_before_utc.timestamp()
    assert cas["x509_cert_expired"][ca_path][1] == 0
    assert all(labels["cert_role"] == "lim" for labels, dummy in metrics(fleet.prom)["x509_cert_not_after"].values())
    page = read(fleet.html)
    tile = page[page.index('data-ca="enterprise"'):]
    tile = tile[:tile.index("</div></div>")]
    assert "Enterprise CA" in tile and ca.not_valid_after_utc.strftime("%Y-%m-%d") in tile
    assert "ends in %d days" % ((ca.not_valid_after_utc.timestamp() - time.time()) // 86400) in tile


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


@contextlib.contextmanager
def browser_session(tmp_path, width=WIDTH, height=HEIGHT):
    """A headless Chromium over chromedriver's WebDriver API: yields ``call(method, path, body)`` for the session."""
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
                "binary": browser, "args": BROWSER_FLAGS + ["--user-data-dir=%s" % (tmp_path / "wd"),
                                                            "--window-size=%d,%d" % (width, height)]}}}})["sessionId"]

        def call(method, path, body=None):
            return webdriver(base, method, "/session/%s%s" % (session, path), body)
        try:
            yield call
        finally:
            webdriver(base, "DELETE", "/session/" + session)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def script(call, text, *args):
    return call("POST", "/execute/sync", {"script": text, "args": list(args)})


def test_clicking_a_header_sorts_the_rows(fleet, tmp_path):
    with browser_session(tmp_path) as call:
        call("POST", "/url", {"url": "file://" + fleet.html})
        order = "return Array.from(document.querySelectorAll('#certificates tbody tr')).map(r => r.dataset.endpoint)"

        def rows():
            return script(call, order)

        def click(column):
            element = call("POST", "/element", {"using": "css selector", "value": "th[data-col=%s]" % column})
            call("POST", "/element/%s/click" % list(element.values())[0], {})

        assert rows() == ["lab1-lim2:5061", "lab1-lim1:5061"]  # most urgent first
        click("lim")
        assert rows() == ["lab1-lim1:5061", "lab1-lim2:5061"]
        click("lim")
        assert rows() == ["lab1-lim2:5061", "lab1-lim1:5061"]
        click("days_left")
        assert rows() == ["lab1-lim2:5061", "lab1-lim1:5061"]
        click("days_left")
        assert rows() == ["lab1-lim1:5061", "lab1-lim2:5061"]
        sort = script(call, "return document.querySelector('th[data-col=days_left]').getAttribute('aria-sort')")
        assert sort == "descending"


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


def share(rows, box, colour, ratio):
    """The share of the pixels inside ``box`` (x, y, width, height; screen pixels) that are exactly ``colour``."""
    x0, y0, w, h = (int(round(v * ratio)) for v in box)
    hits = total = 0
    for line in rows[y0 + 2:y0 + h - 2]:  # inside the cell borders
        for x in range(x0 + 2, x0 + w - 2):
            total += 1
            hits += tuple(line[x * 4:x * 4 + 3]) == colour
    return hits / float(total)


def test_a_lim_down_and_a_stale_lim_show_their_colours_first_with_tiles_and_chart(fleet, tmp_path):
    """lab1-lim1 down (TLS down), and the PKI store holds another certificate for lab1-lim2 than it serves (as
    after a renewal that did not reach it): in a screenshot both rows carry their status's colour, not OK's white;
    the tile of lab1 and the chart's bar say the worst; the textfile has the mismatch. Every check is made and
    the failures are listed together."""
    store_cert = os.path.join(fleet.pki, "certs", "lab1-lim2", "server.pem")
    other_cert = os.path.join(fleet.pki, "certs", "lab1-lim1", "server.pem")
    kept = read(store_cert)
    served = fleet.served("lab1-lim2")
    with open(other_cert, "rb") as handle:
        other = x509.load_pem_x509_certificate(handle.read())
    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)

    lab(fleet.state, "fault", "lab1-lim1", "down")
    try:
        shutil.copyfile(other_cert, store_cert)
        run = fleet.report()
        assert run.rc != 0, run.output  # lab1-lim1's TLS check failed
        shot = tmp_path / "report-failing.png"
        with browser_session(tmp_path, WIDTH, 1400) as call:
            call("POST", "/url", {"url": "file://" + fleet.html})
            found = script(call, """
                const box = e => { const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; };
                const row = n => document.querySelector('#certificates tr[data-endpoint="' + n + '"]');
                const status = n => row(n).querySelector('td:nth-child(4)');
                return {ratio: window.devicePixelRatio, inner: [innerWidth, innerHeight],
                        page: document.documentElement.scrollHeight,
                        order: Array.from(document.querySelectorAll('#certificates tbody tr'))
                                    .map(r => [r.dataset.endpoint, r.className]),
                        down: [box(status('lab1-lim1:5061')), status('lab1-lim1:5061').textContent],
                        stale: [box(status('lab1-lim2:5061')), status('lab1-lim2:5061').textContent,
                                Array.from(status('lab1-lim2:5061').querySelectorAll('[title]')).map(e => e.title)],
                        tiles: Array.from(document.querySelectorAll('#tiles .tile'))
                                    .map(t => [t.className, t.dataset.system || t.dataset.ca, box(t)]),
                        bars: Array.from(document.querySelectorAll('#days-chart g.bar'))
                                   .map(g => [g.dataset.system, g.querySelector('rect.value').getAttribute('fill'),
                                              box(g.querySelector('rect.value'))]),
                        chart: document.querySelector('#days-chart') ? box(document.querySelector('#days-chart'))
                                                                     : null};""")
            shot.write_bytes(base64.b64decode(call("GET", "/screenshot")))
        assert found["page"] <= found["inner"][1], "the page does not fit the screenshot"
        width, height, bpp, rows = decode_png(shot.read_bytes())
        if bpp == 3:
            rows = [bytes(b for i in range(0, len(line), 3) for b in line[i:i + 3] + b"\xff") for line in rows]
        ratio = found["ratio"]
        # The two rows: their status's colour in the screenshot, and their words.
        check(share(rows, found["down"][0], TLS_FAILED_RGB, ratio) > 0.5, "the LIM down is not in the failing colour")
        check(share(rows, found["stale"][0], STALE_RGB, ratio) > 0.5, "the stale LIM is not in the stale colour")
        check(found["order"] == [["lab1-lim1:5061", "tls_failed"], ["lab1-lim2:5061", "stale"]],
              "rows and their status: %s" % found["order"])
        check(found["down"][1].startswith("\u2716 TLS DOWN"), "the LIM down says %r" % found["down"][1])
        stale = "stale: serves serial %x, store has %x" % (served.serial_number, other.serial_number)
        check(found["stale"][1].startswith("\u2260 STALE") and stale in found["stale"][2],
              "the stale LIM says %r (titles %s), not %r" % (found["stale"][1], found["stale"][2], stale))
        # The tiles and the chart lead: lab1's tile in the failing colour, the enterprise CA's; lab1's bar.
        tiles = dict((name, (cls, box)) for cls, name, box in found["tiles"])
        check(tiles.get("lab1", [None])[0] == "tile tls_failed", "lab1's tile: %s" % (tiles.get("lab1"),))
        check(tiles.get("enterprise", [None])[0] == "tile ca ok", "the CA's tile: %s" % (tiles.get("enterprise"),))
        check("lab1" in tiles and share(rows, tiles["lab1"][1], TLS_FAILED_RGB, ratio) > 0.5,
              "lab1's tile is not in the failing colour on the screen")
        bars = dict((system, (fill, box)) for system, fill, box in found["bars"])
        check(list(bars) == ["lab1"] and bars["lab1"][0] == TLS_FAILED_ACCENT,
              "the chart's bars: %s" % found["bars"])
        check("lab1" in bars and bars["lab1"][1][2] > 50  # 19 of 100 days
              and share(rows, bars["lab1"][1], rgb(bars["lab1"][0]), ratio) > 0.9,
              "lab1's bar is not drawn on the screen")
        check(found["chart"] is not None and found["chart"][1] + found["chart"][3] < found["down"][0][1],
              "the chart does not come before the table")
        # The run's words and the textfile.
        check("stale: lab1-lim2:5061" in run.output and "TLS failed: lab1-lim1:5061" in run.output,
              "the run does not name the stale and the failing LIM")
        matches = metrics(fleet.prom).get("mxone_pki_certificate_matches_store", {})
        check(matches.get("lab1-lim2", (None, None))[1] == 0 and "lab1-lim1" not in matches,
              "mxone_pki_certificate_matches_store: %s" % matches)
        assert not failures, "\n".join(failures)
    finally:
        with open(store_cert, "w") as handle:
            handle.write(kept)
        lab(fleet.state, "fault", "lab1-lim1", "clear")
        fleet.wait_tls(list(LIMS))
