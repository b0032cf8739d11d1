"""The fleet expiry report (module_utils/report.py): rows, marking, sorting, escaping, both files, atomic writes.

Fixed clock; certificate facts are dicts as ``certs.facts()`` returns them (one test builds them from a real
certificate). The Prometheus text is read back with prometheus_client's own parser.
"""

import datetime
import html.parser
import os
import re

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.mxone.pki.plugins.module_utils import report
from ansible_collections.mxone.pki.plugins.module_utils.certs import facts
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError

ALERTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      "examples", "prometheus", "mxone-pki-alerts.yml")
UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 24, 12, tzinfo=UTC)
DAY = datetime.timedelta(days=1)


def cert_facts(cn, not_after, serial="1f", issuer="MXOneEnterpriseCA", fingerprint=None, dns=(), ips=()):
    return {"subject": "CN=%s" % cn, "common_name": cn, "dns": list(dns), "ips": list(ips),
            "issuer": "CN=%s" % issuer, "issuer_common_name": issuer, "serial": serial,
            "not_before": (not_after - 364 * DAY).isoformat(), "not_after": not_after.isoformat(),
            "days_left": 0, "expired": False, "sha256_fingerprint": fingerprint or "fp-" + cn + serial}


def make_plan(lims, tls_off=()):
    """lims: [(system, lim number)]; one certificate per LIM (id host), as mxone_cert_mode lim has it."""
    plan = {"systems": {}, "hosts": {}, "certificates": {}, "pki_dir": "/pki"}
    for system, number in lims:
        host = "%s-lim%d" % (system, number)
        plan["systems"].setdefault(system, {"tls": system not in tls_off})
        plan["hosts"][host] = {"system": system, "lim": number, "ip": "10.0.%d.%d" % (len(system), number),
                               "fqdn": "lim%d.%s.mx.test" % (number, system), "certificate": host}
        plan["certificates"][host] = {"id": host, "system": system,
                                      "paths": {"cert": "/pki/certs/%s/server.pem" % host}}
    return plan


def probe(host, cert=None, ok=True, error=None, port=5061):
    return {"name": host, "system": host.split("-")[0], "address": "10.0.0.1", "port": port,
            "server_name": "%s.mx.test" % host, "ok": ok, "error": error, "certificate": cert}


class Table(html.parser.HTMLParser):
    """Rows of the report's table: per row its class and each cell's data-sort, text, title and the titles inside
    it (``titles``), and which elements it has (``tags``); every script; the tiles (class, text) and the chart's
    bars (class, value width)."""

    def __init__(self):
        super().__init__()
        self.rows, self.heads, self.scripts, self.external, self.tiles, self.bars = [], [], [], [], [], []
        self.warn_line = None
        self._cell = self._in_script = self._tile = None
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for name in ("src", "href", "xlink:href"):
            if a.get(name):
                self.external.append((tag, a[name]))
        if tag == "tr" and "class" in a:
            self.rows.append({"class": a["class"], "endpoint": a.get("data-endpoint"), "cells": []})
        elif tag == "th":
            self.heads.append(a)
        elif tag == "td":
            self._cell = {"sort": a.get("data-sort"), "text": "", "title": a.get("title"), "titles": [], "tags": []}
            self.rows[-1]["cells"].append(self._cell)
        elif tag == "script":
            self._in_script = True
            self.scripts.append("")
        elif self._cell is not None:
            self._cell["tags"].append(tag)
            if a.get("title"):
                self._cell["titles"].append(a["title"])
        if tag == "div" and "tile" in (a.get("class") or "").split():
            self._tile = {"class": a["class"], "system": a.get("data-system"), "ca": a.get("data-ca"), "text": ""}
            self.tiles.append(self._tile)
            self._depth = 0
        elif tag == "div" and self._tile is not None:
            self._depth += 1
        if tag == "g" and "bar" in (a.get("class") or "").split():
            self.bars.append({"class": a["class"], "system": a.get("data-system")})
        elif tag == "rect" and a.get("class") == "value":
            self.bars[-1].update(width=float(a["width"]), fill=a["fill"])
        elif tag == "rect" and a.get("class") == "track":
            self.bars[-1].update(track=float(a["width"]))
        elif tag == "line" and a.get("class") == "warn":
            self.warn_line = float(a["x1"])

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None
        elif tag == "script":
            self._in_script = False
        elif tag == "div" and self._tile is not None:
            if self._depth == 0:
                self._tile = None
            else:
                self._depth -= 1

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data
        if self._in_script:
            self.scripts[-1] += data
        if self._tile is not None:
            self._tile["text"] += data + " "


def parse(page):
    table = Table()
    table.feed(page)
    return table


def column(name):
    return [entry[0] for entry in report.COLUMNS].index(name)


def families(text):
    return dict((f.name, f) for f in text_string_to_metric_families(text))


@pytest.fixture
def fleet():
    plan = make_plan([("sthlm", 1), ("sthlm", 2), ("sthlm", 10), ("malmo", 1)])
    store = {
        "sthlm-lim1": cert_facts("lim1", NOW + 200 * DAY),
        "sthlm-lim2": cert_facts("lim2", NOW + 12 * DAY),
        "sthlm-lim10": cert_facts("lim10", NOW - 2 * DAY),
        "malmo-lim1": cert_facts("malmo", NOW + 45 * DAY),
    }
    probes = [probe(host, store[host]) for host in ("sthlm-lim1", "sthlm-lim2", "malmo-lim1")]
    probes.append(probe("sthlm-lim10", None, ok=False, error="certificate verify failed: certificate has expired"))
    return plan, probes, store


# ------------------------------------------------------------------ rows and marking


def test_rows_are_marked_expired_expiring_ok_and_most_urgent_come_first(fleet):
    plan, probes, store = fleet
    rows = report.build_rows(plan, probes, store, NOW)
    assert [(r["host"], r["status"], r["expiry"], r["days_left"]) for r in rows] == [
        ("sthlm-lim10", "tls_failed", "expired", -2), ("sthlm-lim2", "expiring", "expiring", 12),
        ("malmo-lim1", "ok", "ok", 45), ("sthlm-lim1", "ok", "ok", 200)]
    expired = rows[0]
    assert expired["probe"] == "failed" and expired["source"] == "store"  # the LIM sent nothing: the store's facts
    assert [r["source"] for r in rows[1:]] == ["served"] * 3
    assert report.counts(rows) == dict(systems=2, lims=4, endpoints=4, needs_action=2, tls_failed=1, stale=0,
                                       expired=1, expiring=1, unknown=0, ok=2, probe_ok=3, probe_failed=1,
                                       probe_not_checked=0, served_not_in_store=0)


@pytest.mark.parametrize("days, warn, status", [
    (45, 30, "ok"), (30, 30, "expiring"), (29.9, 30, "expiring"), (12, 10, "ok"), (12, 60, "expiring"),
    (0.1, 0, "ok"), (-0.01, 30, "expired"), (-400, 30, "expired")])
def test_the_threshold_is_configurable_and_inclusive(days, warn, status):
    plan = make_plan([("s", 1)])
    rows = report.build_rows(plan, [], {"s-lim1": cert_facts("c", NOW + datetime.timedelta(days=days))}, NOW, warn)
    assert rows[0]["status"] == status


def test_bad_thresholds_and_textfile_names_are_refused():
    with pytest.raises(MxonePkiError) as info:
        report.build_rows(make_plan([("s", 1)]), [], {}, NOW, -1)
    assert info.value.field == "warn_days"
    with pytest.raises(MxonePkiError):
        report.check_warn_days("soon")
    with pytest.raises(MxonePkiError) as info:
        report.check_prom_path("/var/lib/node-exporter/mxone.txt")
    assert info.value.field == "prom_path" and ".prom" in info.value.msg
    assert report.check_prom_path("/x/mxone_pki.prom") == "/x/mxone_pki.prom"


def test_unprobed_tls_off_missing_and_mismatched_certificates_say_so():
    plan = make_plan([("a", 1), ("a", 2), ("b", 1), ("c", 1)], tls_off=("b",))
    store = {"a-lim1": cert_facts("a1", NOW + 100 * DAY), "a-lim2": cert_facts("a2", NOW + 100 * DAY),
             "b-lim1": cert_facts("b1", NOW + 100 * DAY), "c-lim1": {"unreadable": "not a certificate"}}
    served_other = cert_facts("a1", NOW + 300 * DAY, serial="99")  # the LIM still serves another certificate
    rows = dict((r["host"], r) for r in report.build_rows(plan, [probe("a-lim1", served_other)], store, NOW))
    assert rows["a-lim1"]["matches_store"] is False and rows["a-lim1"]["facts"]["serial"] == "99"
    assert rows["a-lim1"]["status"] == "stale" and rows["a-lim1"]["expiry"] == "ok"
    assert rows["a-lim1"]["detail"] == "stale: serves serial 99, store has 1f"
    assert rows["a-lim2"]["probe"] == "not checked" and rows["a-lim2"]["source"] == "store"
    assert rows["a-lim2"]["port"] is None
    assert rows["b-lim1"]["probe"] == "off"
    assert rows["c-lim1"]["status"] == "unknown" and rows["c-lim1"]["store_note"] == "not a certificate"
    page = report.render_html(list(rows.values()), NOW)
    assert "served \u2260 store" in page and "TLS off" in page and "not a certificate" in page
    assert "? NO CERTIFICATE" in page and "\u2260 STALE" in page


def test_one_row_per_probed_port_and_loop_results_are_flattened():
    plan = make_plan([("s", 1)])
    c = cert_facts("c", NOW + 100 * DAY)
    loop = [{"results": [probe("s-lim1", c, port=1301), probe("s-lim1", c, port=5061)], "item": {}},
            {"skipped": True, "item": {}}, {"changed": False, "skipped": True}]
    flat = report.flatten_probes(loop)
    assert [p["port"] for p in flat] == [1301, 5061]
    assert report.flatten_probes(flat) == flat  # endpoint results pass as they are
    rows = report.build_rows(plan, flat, {"s-lim1": c}, NOW)
    assert sorted(r["port"] for r in rows) == [1301, 5061]
    assert sorted(report.endpoint_label(r) for r in rows) == ["s-lim1:1301", "s-lim1:5061"]


def test_facts_of_a_real_certificate_fill_a_row():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "*.sthlm.mx.test")])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "MXOneEnterpriseCA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer).public_key(key.public_key())
            .serial_number(0x1234abcd).not_valid_before(NOW - DAY).not_valid_after(NOW + 20 * DAY)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("lim1.sthlm.mx.test")]), critical=False)
            .sign(key, hashes.SHA256()))
    f = facts(cert, NOW)
    rows = report.build_rows(make_plan([("sthlm", 1)]), [probe("sthlm-lim1", f)], {"sthlm-lim1": f}, NOW)
    assert rows[0]["status"] == "expiring" and rows[0]["days_left"] == 20 and rows[0]["matches_store"] is True
    labels = dict(report.cert_labels(rows[0]))
    assert labels["serial_number"] == str(0x1234abcd) and labels["subject_CN"] == "*.sthlm.mx.test"
    assert labels["issuer_CN"] == "MXOneEnterpriseCA"


# ------------------------------------------------------------------ status priority


@pytest.mark.parametrize("probe_state, matches, expiry, status", [
    ("failed", False, "expired", "tls_failed"),      # TLS failed beats everything
    ("failed", None, "ok", "tls_failed"),
    ("failed", True, "expiring", "tls_failed"),
    ("ok", False, "expired", "stale"),               # then a certificate that is not the store's
    ("ok", False, "ok", "stale"),
    ("ok", True, "expired", "expired"),              # then the certificate's own dates
    ("not checked", None, "expired", "expired"),
    ("ok", True, "expiring", "expiring"),
    ("off", None, "expiring", "expiring"),
    ("not checked", None, "unknown", "unknown"),
    ("ok", True, "ok", "ok"),
    ("ok", None, "ok", "ok"),                        # nothing to compare with (no store certificate): not stale
    ("off", None, "ok", "ok"),
])
def test_status_priority(probe_state, matches, expiry, status):
    assert report.row_status(probe_state, matches, expiry) == status


def lab_of_each_status():
    """One LIM per status (system x), plus a LIM both down and expired, and one both stale and failing."""
    names = ["ok", "expiring", "expired", "stale", "down", "unknown", "down_expired", "stale_failed"]
    plan = make_plan([("x", n) for n in range(1, len(names) + 1)])
    host = dict((name, "x-lim%d" % (i + 1)) for i, name in enumerate(names))
    store = dict((host[n], cert_facts(n, NOW + 100 * DAY)) for n in names)
    store[host["expiring"]] = cert_facts("expiring", NOW + 5 * DAY)
    store[host["expired"]] = cert_facts("expired", NOW - 3 * DAY)
    store[host["down_expired"]] = cert_facts("down_expired", NOW - 1 * DAY)
    store[host["unknown"]] = {}
    other = cert_facts("stale", NOW + 300 * DAY, serial="4f3a9c1e22b07d5590aa1c3e6b1d2f0e8a7c6b5d")
    probes = [probe(host[n], store[host[n]]) for n in ("ok", "expiring", "expired")]
    probes += [probe(host["stale"], other), probe(host["down"], None, ok=False, error="connection refused"),
               probe(host["down_expired"], None, ok=False, error="timeout: no TCP connection within the timeout"),
               probe(host["stale_failed"], other, ok=False, error="hostname mismatch: not valid for 'x'")]
    return plan, probes, store, host


def test_rows_sort_by_status_priority_and_say_every_problem():
    plan, probes, store, host = lab_of_each_status()
    rows = report.build_rows(plan, probes, store, NOW)
    by_host = dict((r["host"], r) for r in rows)
    assert [(r["host"], r["status"]) for r in rows] == [
        (host["down_expired"], "tls_failed"), (host["down"], "tls_failed"), (host["stale_failed"], "tls_failed"),
        (host["stale"], "stale"), (host["expired"], "expired"), (host["expiring"], "expiring"),
        (host["unknown"], "unknown"), (host["ok"], "ok")]  # within a status: fewest days left first
    assert by_host[host["down"]]["problems"] == [("tls_failed", "TLS down: connection refused")]
    assert by_host[host["down_expired"]]["problems"] == [
        ("tls_failed", "TLS down: timeout: no TCP connection within the timeout"),
        ("expired", "expired on 2026-11-23 (1 day ago)")]
    assert by_host[host["stale_failed"]]["problems"][:2] == [
        ("tls_failed", "TLS failed: hostname mismatch: not valid for 'x'"),  # a certificate came back: not down
        ("stale", "stale: serves serial 4f3a9c1e22b07d5590aa1c3e6b1d2f0e8a7c6b5d, store has 1f")]
    assert by_host[host["stale"]]["detail"] == "stale: serves serial 4f3a9c1e22b07d5590aa1c3e6b1d2f0e8a7c6b5d, " \
                                               "store has 1f"
    assert by_host[host["expiring"]]["detail"] == "expires on 2026-11-29, in 5 days (within 30 days)"
    assert by_host[host["unknown"]]["detail"] == "no certificate in the PKI store"
    assert by_host[host["ok"]]["problems"] == [("ok", "OK: expires on 2027-03-04, in 100 days")]
    c = report.counts(rows)
    assert (c["needs_action"], c["tls_failed"], c["stale"], c["expired"], c["expiring"], c["unknown"], c["ok"]) == (
        7, 3, 2, 2, 1, 1, 1)


def test_systems_are_summed_up_worst_first_with_their_nearest_expiry():
    plan = make_plan([("a", 1), ("a", 2), ("b", 1), ("c", 1), ("c", 2)])
    store = {"a-lim1": cert_facts("a1", NOW + 100 * DAY), "a-lim2": cert_facts("a2", NOW + 40 * DAY),
             "b-lim1": cert_facts("b1", NOW + 9 * DAY), "c-lim1": cert_facts("c1", NOW + 300 * DAY),
             "c-lim2": cert_facts("c2", NOW + 200 * DAY)}
    probes = [probe(h, store[h]) for h in ("a-lim2", "b-lim1", "c-lim1", "c-lim2")]
    probes.append(probe("a-lim1", None, ok=False, error="connection refused"))
    summaries = report.system_summaries(report.build_rows(plan, probes, store, NOW))
    assert [(s["system"], s["status"], s["needs_action"], s["endpoints"], s["nearest_days"], s["nearest_host"])
            for s in summaries] == [("a", "tls_failed", 1, 2, 40, "a-lim2"), ("b", "expiring", 1, 1, 9, "b-lim1"),
                                    ("c", "ok", 0, 2, 200, "c-lim2")]
    assert summaries[0]["by_status"]["tls_failed"] == 1 and summaries[0]["by_status"]["ok"] == 1


# ------------------------------------------------------------------ HTML


def test_failing_expired_and_expiring_rows_stand_out_by_class_and_by_text(fleet):
    plan, probes, store = fleet
    page = report.render_html(report.build_rows(plan, probes, store, NOW), NOW, warn_days=30)
    table = parse(page)
    marks = [(r["endpoint"], r["class"], r["cells"][column("status")]["text"]) for r in table.rows]
    assert marks == [
        ("sthlm-lim10:5061", "tls_failed", "\u2716 TLS DOWNcertificate verify failed: certificate has expired"
                                           "also expired on 2026-11-22 (2 days ago)"),
        ("sthlm-lim2:5061", "expiring", "\u26a0 EXPIRINGexpires on 2026-12-06, in 12 days (within 30 days)"),
        ("malmo-lim1:5061", "ok", "\u2714 OK"), ("sthlm-lim1:5061", "ok", "\u2714 OK")]
    for status, (fill, accent) in report.PALETTE.items():
        if status != "ok":
            assert "tr.%s td{background:%s}" % (status, fill) in page
    assert "tr.expired td{background:#ffb3b3}" in page and "tr.expiring td{background:#ffe08a}" in page
    assert len(set(fill for fill, accent in report.PALETTE.values())) == len(report.PALETTE)  # one colour each
    assert table.rows[0]["cells"][column("probe")]["text"].startswith("\u2716 FAILED: certificate verify failed")
    assert "1 expired" in page and "1 expiring within 30 days" in page and "Generated at" in page
    assert "2 of 4 LIM endpoint(s) need action" in page and "1 TLS failed" in page
    assert "2026-11-24 12:00:00 UTC" in page


def test_page_is_self_contained(fleet):
    plan, probes, store = fleet
    page = report.render_html(report.build_rows(plan, probes, store, NOW), NOW)
    table = parse(page)
    assert table.external == [] and len(table.scripts) == 1 and "<style>" in page
    assert "default-src 'none'" in page  # the browser is told to fetch nothing, too
    assert "http://" not in page and "https://" not in page and "@import" not in page


def test_everything_is_html_escaped():
    evil = '<script>alert("x")</script>&"\''
    plan = make_plan([("s", 1)])
    plan["systems"]["s"]["tls"] = True
    c = cert_facts(evil, NOW + 5 * DAY, dns=["<b>bold</b>.mx.test"], issuer='Evil "CA" <i>')
    c["subject"] = "CN=%s,O=<img src=x onerror=alert(1)>" % evil
    rows = report.build_rows(plan, [probe("s-lim1", c, ok=False, error="<iframe src=//x>")], {"s-lim1": c}, NOW)
    page = report.render_html(rows, NOW, title="<title>")
    table = parse(page)
    assert len(table.scripts) == 1 and table.external == []
    for raw in ("<script>alert", "<b>bold", "<img", "<iframe", "<i>", "<title><title>"):
        assert raw not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&quot;&#x27;" in page
    cells = table.rows[0]["cells"]
    assert cells[column("subject")]["text"].startswith(evil)  # the reader sees the text as it is
    assert cells[column("issuer")]["titles"] == ['CN=Evil "CA" <i>']
    assert cells[column("probe")]["text"] == "\u2716 FAILED: <iframe src=//x>"
    assert table.tiles[0]["system"] == "s" and table.bars[0]["system"] == "s"


def test_sort_data_orders_each_column_as_a_person_expects(fleet):
    plan, probes, store = fleet
    table = parse(report.render_html(report.build_rows(plan, probes, store, NOW), NOW))
    heads = dict((h["data-col"], h) for h in table.heads)
    assert set(heads) == set(entry[0] for entry in report.COLUMNS)
    assert [k for k, h in heads.items() if h.get("data-type") == "num"] == [
        "port", "status", "days_left", "not_after", "probe"]

    def order(name):
        # what the page's script does: numbers where the header says so, else text
        numeric = heads[name].get("data-type") == "num"
        key = (lambda r: float(r["cells"][column(name)]["sort"])) if numeric else (
            lambda r: r["cells"][column(name)]["sort"])
        return [r["endpoint"].split(":")[0] for r in sorted(table.rows, key=key)]

    assert order("days_left") == ["sthlm-lim10", "sthlm-lim2", "malmo-lim1", "sthlm-lim1"]
    assert order("not_after") == order("days_left")
    assert order("lim") == ["malmo-lim1", "sthlm-lim1", "sthlm-lim2", "sthlm-lim10"]  # lim10 after lim2
    assert order("status") == ["sthlm-lim10", "sthlm-lim2", "malmo-lim1", "sthlm-lim1"]  # stable within a rank
    assert order("probe")[0] == "sthlm-lim10"
    assert order("system") == ["malmo-lim1", "sthlm-lim10", "sthlm-lim2", "sthlm-lim1"]
    assert "mxoneSort" in table.scripts[0] and "data-sort" not in table.scripts[0].replace("dataset.sort", "")


def test_missing_numbers_sort_last():
    plan = make_plan([("s", 1), ("s", 2)])
    rows = report.build_rows(plan, [], {"s-lim1": cert_facts("a", NOW + 3 * DAY), "s-lim2": {}}, NOW)
    keys = [report.sort_keys(r) for r in rows]
    assert float(keys[1]["days_left"]) > float(keys[0]["days_left"])
    assert float(keys[1]["not_after"]) > 1e12 and float(keys[0]["port"]) > 65535


def test_the_page_leads_with_tiles_and_a_chart_of_days_left_per_system():
    plan, probes, store, host = lab_of_each_status()
    plan2 = make_plan([("y", 1)])
    plan["hosts"].update(plan2["hosts"])
    plan["systems"].update(plan2["systems"])
    plan["certificates"].update(plan2["certificates"])
    store["y-lim1"] = cert_facts("y", NOW + 250 * DAY)
    rows = report.build_rows(plan, probes + [probe("y-lim1", store["y-lim1"])], store, NOW)
    ca = dict(kind="enterprise", system="", file="/pki/ca/ca.pem", used=True,
              certs=[cert_facts("MXOneEnterpriseCA", NOW + 150 * DAY, serial="ca")])
    cas = report.build_ca_rows([ca], NOW)
    page = report.render_html(rows, NOW, warn_days=30, cas=cas)
    table = parse(page)
    # Tiles and chart come before the table: what needs action leads.
    assert page.index('id="tiles"') < page.index('id="days-chart"') < page.index('id="certificates"')
    assert [(t["system"], t["ca"], t["class"]) for t in table.tiles] == [
        ("x", None, "tile tls_failed"), (None, "enterprise", "tile ca expiring"), ("y", None, "tile ok")]
    x_tile, ca_tile, y_tile = (t["text"] for t in table.tiles)
    for words in ("7 of 8 LIM endpoint(s) need action", "3 TLS failed", "1 stale", "1 expired", "1 expiring",
                  "1 no certificate", "Nearest expiry: expired 3 days ago"):
        assert words in x_tile
    assert "Enterprise CA" in ca_tile and "within 180 days" in ca_tile and "ends in 150 days" in ca_tile
    assert "all 1 LIM endpoint(s) OK" in y_tile and "Nearest expiry: in 250 days (y-lim1)" in y_tile
    # One bar per system, worst first, in its status's accent colour, as long as its nearest expiry.
    assert [(b["system"], b["class"], b["fill"]) for b in table.bars] == [
        ("x", "bar tls_failed", report.PALETTE["tls_failed"][1]), ("y", "bar ok", report.PALETTE["ok"][1])]
    scale = report.chart_scale(report.system_summaries(rows), 30)
    assert scale == 250
    x_bar, y_bar = table.bars
    assert y_bar["width"] == pytest.approx(y_bar["track"])  # 250 of 250 days
    assert 0 < x_bar["width"] < 5  # expired: a stub, still in colour
    assert table.warn_line == pytest.approx(150 + y_bar["track"] * 30 / 250.0)  # the dashed line at 30 days
    assert "7 of 9 LIM endpoint(s) need action; 1 CA certificate(s) need action" in page


@pytest.mark.parametrize("days, scale", [([], 100), ([5], 100), ([45, 200], 200), ([201], 250), ([320], 500),
                                         ([364], 500), ([800], 1000), ([3650], 5000)])
def test_the_chart_scale_is_a_round_number_that_fits_every_bar(days, scale):
    summaries = [dict(nearest_days=d) for d in days]
    assert report.chart_scale(summaries, 30) == scale


def test_long_fields_are_cut_to_one_line_and_whole_on_hover():
    serial = "4f3a9c1e22b07d5590aa1c3e6b1d2f0e8a7c6b5d"
    sans = ["lim%d.sthlm.mx.test" % n for n in range(1, 31)]
    served = cert_facts("x" * 80, NOW + 100 * DAY, serial=serial, dns=sans, fingerprint="ab" * 32)
    served["subject"] = "CN=%s,OU=%s,O=Example" % ("x" * 80, "y" * 120)
    plan = make_plan([("s", 1)])
    error = "TLS handshake failed: " + "very long reason " * 20
    rows = report.build_rows(plan, [probe("s-lim1", served, ok=False, error=error)],
                             {"s-lim1": cert_facts("s", NOW + 100 * DAY)}, NOW)
    table = parse(report.render_html(rows, NOW))
    cells = table.rows[0]["cells"]
    assert "stale: serves serial %s, store has 1f" % serial in cells[column("status")]["titles"]
    assert "serves 4f3a\u20266b5d, store has 1f" in cells[column("status")]["text"]  # cut in the text
    assert serial in cells[column("serial")]["titles"]
    assert served["subject"] in cells[column("subject")]["titles"]
    assert "\u2716 FAILED: " + error in cells[column("probe")]["titles"]
    assert "SHA-256 " + "ab" * 32 in cells[column("source")]["titles"]
    assert cells[column("sans")]["tags"].count("details") == 1 and "+28 more" in cells[column("sans")]["text"]
    # Every long value sits in a one-line clip (CSS: no wrap, ellipsis).
    assert ".clip{display:block;overflow:hidden;text-overflow:ellipsis;white-space:nowrap" in report._CSS
    for name in ("status", "probe", "subject", "sans", "issuer", "serial", "source"):
        assert "span" in cells[column(name)]["tags"] or "small" in cells[column(name)]["tags"], name


# ------------------------------------------------------------------ Prometheus


def test_prometheus_text_parses_back_with_every_endpoint_and_value(fleet):
    plan, probes, store = fleet
    rows = report.build_rows(plan, probes, store, NOW)
    fams = families(report.render_prometheus(rows, NOW))
    assert sorted(fams) == ["mxone_pki_certificate_matches_store", "mxone_pki_report_last_run_timestamp_seconds",
                            "mxone_pki_tls_probe_success", "x509_cert_expired", "x509_cert_not_after",
                            "x509_cert_not_before"]
    assert all(f.type == "gauge" and f.documentation for f in fams.values())
    after = dict((s.labels["host"], s) for s in fams["x509_cert_not_after"].samples)
    assert set(after) == {"sthlm-lim1", "sthlm-lim2", "sthlm-lim10", "malmo-lim1"}
    assert after["sthlm-lim2"].value == (NOW + 12 * DAY).timestamp()
    assert after["sthlm-lim2"].labels == dict(
        system="sthlm", host="sthlm-lim2", port="5061", cert_role="lim", filename="server.pem",
        filepath="/pki/certs/sthlm-lim2/server.pem", serial_number="31", subject_CN="lim2",
        issuer_CN="MXOneEnterpriseCA")
    before = dict((s.labels["host"], s.value) for s in fams["x509_cert_not_before"].samples)
    assert before["sthlm-lim1"] == (NOW + 200 * DAY - 364 * DAY).timestamp()
    expired = dict((s.labels["host"], s.value) for s in fams["x509_cert_expired"].samples)
    assert expired == {"sthlm-lim1": 0, "sthlm-lim2": 0, "sthlm-lim10": 1, "malmo-lim1": 0}
    success = dict((s.labels["host"], s.value) for s in fams["mxone_pki_tls_probe_success"].samples)
    assert success == {"sthlm-lim1": 1, "sthlm-lim2": 1, "sthlm-lim10": 0, "malmo-lim1": 1}
    matches = dict((s.labels["host"], s.value) for s in fams["mxone_pki_certificate_matches_store"].samples)
    assert matches == {"sthlm-lim1": 1, "sthlm-lim2": 1, "malmo-lim1": 1}  # lim10 served nothing to compare
    assert [s.value for s in fams["mxone_pki_report_last_run_timestamp_seconds"].samples] == [NOW.timestamp()]
    assert all(s.timestamp is None for f in fams.values() for s in f.samples)  # the textfile collector refuses them


def test_unprobed_lims_keep_their_expiry_series_but_get_no_probe_sample():
    plan = make_plan([("a", 1), ("b", 1)], tls_off=("b",))
    store = {"a-lim1": cert_facts("a", NOW + 99 * DAY), "b-lim1": cert_facts("b", NOW + 99 * DAY)}
    fams = families(report.render_prometheus(report.build_rows(plan, [], store, NOW), NOW))
    assert sorted(s.labels["host"] for s in fams["x509_cert_not_after"].samples) == ["a-lim1", "b-lim1"]
    assert all(s.labels["port"] == "" for s in fams["x509_cert_not_after"].samples)
    assert fams["mxone_pki_tls_probe_success"].samples == []
    assert fams["mxone_pki_certificate_matches_store"].samples == []


def test_label_values_are_escaped():
    evil = 'a"b\\c\nd}e,f="g"'
    plan = make_plan([("s", 1)])
    c = cert_facts(evil, NOW + 99 * DAY, issuer="CA \\ \"x\"")
    text = report.render_prometheus(report.build_rows(plan, [probe("s-lim1", c)], {"s-lim1": c}, NOW), NOW)
    assert report.escape_label(evil) == 'a\\"b\\\\c\\nd}e,f=\\"g\\"'
    samples = families(text)["x509_cert_not_after"].samples
    assert len(samples) == 1
    assert samples[0].labels["subject_CN"] == evil and samples[0].labels["issuer_CN"] == "CA \\ \"x\""
    assert len([line for line in text.splitlines() if line.startswith("x509_cert_not_after{")]) == 1


def test_mismatch_metric_per_endpoint_says_which_lim_is_stale():
    plan, probes, store, host = lab_of_each_status()
    fams = families(report.render_prometheus(report.build_rows(plan, probes, store, NOW), NOW))
    samples = fams["mxone_pki_certificate_matches_store"].samples
    assert all(sorted(s.labels) == ["host", "port", "system"] for s in samples)
    assert dict((s.labels["host"], s.value) for s in samples) == {
        host["ok"]: 1, host["expiring"]: 1, host["expired"]: 1, host["stale"]: 0, host["stale_failed"]: 0}
    assert fams["mxone_pki_certificate_matches_store"].type == "gauge"


def test_the_cas_expiry_is_in_the_textfile_labelled_as_a_ca(fleet):
    plan, probes, store = fleet
    rows = report.build_rows(plan, probes, store, NOW)
    enterprise = cert_facts("MXOneEnterpriseCA", NOW + 3000 * DAY, serial="0a")
    root = cert_facts("Customer Root", NOW - DAY, serial="0b", issuer="Customer Root")
    issuing = cert_facts("Customer Issuing", NOW + 100 * DAY, serial="0c", issuer="Customer Root")
    cas = report.build_ca_rows([
        dict(kind="enterprise", system="", file="/pki/ca/ca.pem", used=True, certs=[enterprise]),
        dict(kind="customer", system="malmo", file="/pki/certs/malmo-lim1/chain.pem", used=True,
             certs=[issuing, root])], NOW)
    fams = families(report.render_prometheus(rows, NOW, cas=cas))
    for name in ("x509_cert_not_after", "x509_cert_not_before", "x509_cert_expired"):
        samples = fams[name].samples
        assert len(set(tuple(sorted(s.labels)) for s in samples)) == 1  # one label set, as the exporter has
        ca = dict((s.labels["subject_CN"], s) for s in samples if s.labels["cert_role"] == "ca")
        assert sorted(ca) == ["Customer Issuing", "Customer Root", "MXOneEnterpriseCA"]
        assert all(s.labels["cert_role"] == "lim" for s in samples if s.labels["host"])
    ca = dict((s.labels["subject_CN"], s) for s in fams["x509_cert_not_after"].samples
              if s.labels["cert_role"] == "ca")
    assert ca["MXOneEnterpriseCA"].labels == dict(
        system="", host="", port="", cert_role="ca", filename="ca.pem", filepath="/pki/ca/ca.pem",
        serial_number="10", subject_CN="MXOneEnterpriseCA", issuer_CN="MXOneEnterpriseCA")
    assert ca["MXOneEnterpriseCA"].value == (NOW + 3000 * DAY).timestamp()
    assert ca["Customer Issuing"].labels["system"] == "malmo"
    assert ca["Customer Issuing"].labels["filepath"] == "/pki/certs/malmo-lim1/chain.pem"
    expired = dict((s.labels["subject_CN"], s.value) for s in fams["x509_cert_expired"].samples
                   if s.labels["cert_role"] == "ca")
    assert expired == {"MXOneEnterpriseCA": 0, "Customer Root": 1, "Customer Issuing": 0}


def selectors(expr):
    """(metric, [(label, op, value)]) of every series selector of the report's metrics in a PromQL expression."""
    found = []
    for match in re.finditer(r"\b((?:x509_cert|mxone_pki)_[a-z_]+)(?:\{([^}]*)\})?", expr):
        matchers = re.findall(r'(\w+)\s*(=~|!=|=)\s*"([^"]*)"', match.group(2) or "")
        found.append((match.group(1), matchers))
    return found


def matches(labels, matchers):
    ops = {"=": lambda v, want: v == want, "!=": lambda v, want: v != want,
           "=~": lambda v, want: re.fullmatch(want, v) is not None}
    return all(ops[op](labels.get(name, ""), want) for name, op, want in matchers)


def test_the_example_alerts_select_the_series_the_textfile_has():
    plan, probes, store, host = lab_of_each_status()
    rows = report.build_rows(plan, probes, store, NOW)
    cas = report.build_ca_rows([dict(kind="enterprise", system="", file="/pki/ca/ca.pem", used=True,
                                     certs=[cert_facts("MXOneEnterpriseCA", NOW + 90 * DAY, serial="ca")])], NOW)
    fams = families(report.render_prometheus(rows, NOW, cas=cas))
    with open(ALERTS) as handle:
        rules = dict((r["alert"], r) for group in yaml.safe_load(handle)["groups"] for r in group["rules"])
    assert rules["MxoneCertificateNotFromStore"]["expr"] == "mxone_pki_certificate_matches_store == 0"
    assert rules["MxoneCaExpiringSoon"]["expr"] == '(x509_cert_not_after{cert_role="ca"} - time()) / 86400 < 180'
    assert rules["MxoneCaExpired"]["expr"] == 'x509_cert_expired{cert_role="ca"} == 1'
    for name, rule in rules.items():
        for metric, matchers in selectors(rule["expr"]):
            assert metric in fams, (name, metric)
            chosen = [s.labels for s in fams[metric].samples if matches(s.labels, matchers)]
            assert chosen, (name, metric, matchers)  # the selector finds the series it is meant for
            if name.startswith("MxoneCertificate"):  # a LIM's alert never picks a CA, nor a CA's a LIM
                assert all(labels.get("host") for labels in chosen), name
            if name.startswith("MxoneCa"):
                assert all(labels["cert_role"] == "ca" and not labels["host"] for labels in chosen), name
    stale = [s.labels["host"] for s in fams["mxone_pki_certificate_matches_store"].samples if s.value == 0]
    assert sorted(stale) == sorted([host["stale"], host["stale_failed"]])


# ------------------------------------------------------------------ CAs


def test_ca_sources_are_the_enterprise_ca_and_each_customer_chain():
    plan = make_plan([("a", 1), ("b", 1), ("b", 2)])
    for cert_id in ("b-lim1", "b-lim2"):
        plan["certificates"][cert_id].update(mode="external")
        plan["certificates"][cert_id]["paths"]["chain"] = "/pki/certs/%s/chain.pem" % cert_id
    plan["ca"] = {"cert": "/pki/ca/ca.pem", "key": "/pki/ca/ca.key"}
    assert report.ca_sources(plan) == [("enterprise", "", "/pki/ca/ca.pem", True),
                                       ("customer", "b", "/pki/certs/b-lim1/chain.pem", True),
                                       ("customer", "b", "/pki/certs/b-lim2/chain.pem", True)]
    del plan["certificates"]["a-lim1"]  # every certificate from the customer: the enterprise CA is not in use
    assert report.ca_sources(plan)[0] == ("enterprise", "", "/pki/ca/ca.pem", False)


@pytest.mark.parametrize("days, warn, status", [
    (3000, 180, "ok"), (181, 180, "ok"), (180, 180, "expiring"), (20, 180, "expiring"), (20, 10, "ok"),
    (-1, 180, "expired")])
def test_a_ca_has_its_own_threshold(days, warn, status):
    found = [dict(kind="enterprise", system="", file="/pki/ca/ca.pem", used=True,
                  certs=[cert_facts("CA", NOW + days * DAY)])]
    assert report.build_ca_rows(found, NOW, warn)[0]["status"] == status


def test_ca_rows_say_what_is_missing_and_count_a_ca_once_per_system():
    root = cert_facts("Root", NOW + 900 * DAY, serial="1")
    issuing = cert_facts("Issuing", NOW + 90 * DAY, serial="2", issuer="Root")
    found = [
        dict(kind="enterprise", system="", file="/pki/ca/ca.pem", used=True, certs=None),
        dict(kind="customer", system="b", file="/pki/certs/b-lim1/chain.pem", used=True, certs=[issuing, root]),
        dict(kind="customer", system="b", file="/pki/certs/b-lim2/chain.pem", used=True, certs=[issuing, root]),
        dict(kind="customer", system="c", file="/pki/certs/c-lim1/chain.pem", used=True, certs=[issuing, root]),
        dict(kind="customer", system="d", file="/pki/certs/d-lim1/chain.pem", used=True, certs=None),
        dict(kind="customer", system="e", file="/pki/certs/e-lim1/chain.pem", used=True, certs=None,
             unreadable="block 1 is not valid base64"),
    ]
    rows = report.build_ca_rows(found, NOW)
    assert [(r["kind"], r["system"], r["status"], (r["facts"] or {}).get("common_name"), r["note"]) for r in rows] == [
        ("customer", "b", "expiring", "Issuing", None), ("customer", "c", "expiring", "Issuing", None),
        ("customer", "e", "unknown", None, "block 1 is not valid base64"),
        ("enterprise", "", "unknown", None, "no CA certificate in the PKI store"),
        ("customer", "b", "ok", "Root", None), ("customer", "c", "ok", "Root", None)]
    assert rows[0]["file"] == "/pki/certs/b-lim1/chain.pem"  # the first file of system b
    unused = [dict(kind="enterprise", system="", file="/pki/ca/ca.pem", used=False, certs=None)]
    assert report.build_ca_rows(unused, NOW) == []  # a customer-PKI fleet: no enterprise CA, nothing to say
    with pytest.raises(MxonePkiError) as info:
        report.build_ca_rows(found, NOW, "soon")
    assert info.value.field == "ca_warn_days"


def test_ca_files_are_read_with_every_certificate(tmp_path, enterprise_ca):
    from ansible_collections.mxone.pki.plugins.modules import fleet_report
    from ansible_collections.mxone.pki.plugins.module_utils.certs import dump_certificate
    ca_cert = enterprise_ca.cert
    (tmp_path / "ca").mkdir()
    (tmp_path / "ca" / "ca.pem").write_bytes(dump_certificate(ca_cert))
    chain = tmp_path / "certs" / "b-lim1"
    chain.mkdir(parents=True)
    (chain / "chain.pem").write_bytes(b"# from the customer\n" + dump_certificate(ca_cert) * 2)
    (tmp_path / "certs" / "c-lim1").mkdir()
    (tmp_path / "certs" / "c-lim1" / "chain.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64!\n"
                                                              b"-----END CERTIFICATE-----\n")
    plan = {"ca": {"cert": str(tmp_path / "ca" / "ca.pem")}, "certificates": {
        "a-lim1": {"id": "a-lim1", "system": "a", "mode": "system", "paths": {}},
        "b-lim1": {"id": "b-lim1", "system": "b", "mode": "external",
                   "paths": {"chain": str(chain / "chain.pem")}},
        "c-lim1": {"id": "c-lim1", "system": "c", "mode": "external",
                   "paths": {"chain": str(tmp_path / "certs" / "c-lim1" / "chain.pem")}},
        "d-lim1": {"id": "d-lim1", "system": "d", "mode": "external",
                   "paths": {"chain": str(tmp_path / "certs" / "d-lim1" / "chain.pem")}}}}
    found = dict((f["system"], f) for f in fleet_report.ca_facts(plan, NOW))
    assert [c["common_name"] for c in found[""]["certs"]] == ["MXOneEnterpriseCA"]
    assert len(found["b"]["certs"]) == 2 and found["b"]["unreadable"] is None
    assert found["c"]["certs"] is None and "base64" in found["c"]["unreadable"]
    assert found["d"]["certs"] is None and found["d"]["unreadable"] is None  # the customer has not signed yet
    rows = report.build_ca_rows(fleet_report.ca_facts(plan, NOW), NOW)
    assert sorted((r["system"], r["status"]) for r in rows) == [("", "ok"), ("b", "ok"), ("c", "unknown")]


# ------------------------------------------------------------------ digests and files


def test_digests_ignore_the_time_of_the_run_but_not_the_content(fleet):
    plan, probes, store = fleet
    rows = report.build_rows(plan, probes, store, NOW)
    later = NOW - datetime.timedelta(minutes=5)  # the same whole days left
    same = report.build_rows(plan, probes, store, later)
    d = report.digests(rows, 30)
    assert report.digests(same, 30) == d
    assert report.digests_in(report.render_html(same, later)) == d
    assert report.digests_in(report.render_prometheus(same, later)) == d
    assert report.digests_in("<html>someone else's page</html>") is None
    failing = [dict(p, ok=False, error="timeout") if p["name"] == "sthlm-lim1" else p for p in probes]
    changed = report.digests(report.build_rows(plan, failing, store, NOW), 30)
    assert changed["rows"] != d["rows"] and changed["certs"] == d["certs"]  # check mode compares certs only
    unprobed = report.digests(report.build_rows(plan, [], store, NOW), 30)  # what check mode sees
    assert unprobed["certs"] == d["certs"] and unprobed["rows"] != d["rows"]
    assert report.digests(report.build_rows(plan, probes, store, NOW + DAY), 30)["certs"] != d["certs"]
    assert report.digests(rows, 31) != d
    # The CAs count in both: a renewed or a nearly expired CA is a change, with or without probes.
    ca = dict(kind="enterprise", system="", file="/pki/ca/ca.pem", used=True,
              certs=[cert_facts("CA", NOW + 3000 * DAY, serial="1")])
    with_ca = report.digests(rows, 30, report.build_ca_rows([ca], NOW))
    assert with_ca["rows"] != d["rows"] and with_ca["certs"] != d["certs"]
    renewed = report.build_ca_rows([dict(ca, certs=[cert_facts("CA", NOW + 3650 * DAY, serial="2")])], NOW)
    assert report.digests(rows, 30, renewed)["certs"] != with_ca["certs"]
    assert report.digests(rows, 30, report.build_ca_rows([ca], NOW), 365) != with_ca
    stale = [dict(p, certificate=cert_facts("other", NOW + 99 * DAY, serial="77")) if p["name"] == "sthlm-lim1"
             else p for p in probes]
    assert report.digests(report.build_rows(plan, stale, store, NOW), 30)["rows"] != d["rows"]


def test_write_is_atomic_with_mode_0644_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "textfiles" / "mxone_pki.prom"
    report.write_report(str(target), "first\n")
    assert target.read_text() == "first\n"
    assert os.stat(target).st_mode & 0o777 == 0o644
    assert os.stat(target.parent).st_mode & 0o777 == 0o755  # node_exporter's user must read it
    report.write_report(str(target), "second\n")
    assert os.listdir(target.parent) == ["mxone_pki.prom"] and target.read_text() == "second\n"


def test_a_failed_write_keeps_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "mxone_pki.prom"
    report.write_report(str(target), "old\n")

    def broken(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(MxonePkiError) as info:
        report.write_report(str(target), "new\n")
    assert "No space left" in info.value.msg and info.value.file == str(target)
    assert os.listdir(tmp_path) == ["mxone_pki.prom"] and target.read_text() == "old\n"


def test_a_probe_failed_only_as_stale_by_tls_check_is_a_stale_row_not_a_tls_failure():
    plan, probes, store, host = lab_of_each_status()
    marked = []
    for item in probes:  # as tls_check returns it with expected_cert: not ok, stale, the handshake verified
        if item["name"] == host["stale"]:
            item = dict(item, ok=False, stale=True, certificate_verified=True, error="stale: serves serial ...")
        marked.append(item)
    rows = dict((r["host"], r) for r in report.build_rows(plan, marked, store, NOW))
    assert rows[host["stale"]]["status"] == report.STALE and rows[host["stale"]]["probe"] == report.PROBE_OK
