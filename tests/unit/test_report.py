"""The fleet expiry report (module_utils/report.py): rows, marking, sorting, escaping, both files, atomic writes.

Fixed clock; certificate facts are dicts as ``certs.facts()`` returns them (one test builds them from a real
certificate). The Prometheus text is read back with prometheus_client's own parser.
"""

import datetime
import html.parser
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.mxone.pki.plugins.module_utils import report
from ansible_collections.mxone.pki.plugins.module_utils.certs import facts
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError

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
    """Rows of the report's table: per row its class and each cell's data-sort and text; and every script."""

    def __init__(self):
        super().__init__()
        self.rows, self.heads, self.scripts, self.external = [], [], [], []
        self._cell = self._in_script = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for name in ("src", "href"):
            if a.get(name):
                self.external.append((tag, a[name]))
        if tag == "tr" and "class" in a:
            self.rows.append({"class": a["class"], "endpoint": a.get("data-endpoint"), "cells": []})
        elif tag == "th":
            self.heads.append(a)
        elif tag == "td":
            self._cell = {"sort": a.get("data-sort"), "text": "", "title": a.get("title")}
            self.rows[-1]["cells"].append(self._cell)
        elif tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None
        elif tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data
        if self._in_script:
            self.scripts[-1] += data


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
    assert [(r["host"], r["status"], r["days_left"]) for r in rows] == [
        ("sthlm-lim10", "expired", -2), ("sthlm-lim2", "expiring", 12), ("malmo-lim1", "ok", 45),
        ("sthlm-lim1", "ok", 200)]
    expired = rows[0]
    assert expired["probe"] == "failed" and expired["source"] == "store"  # the LIM sent nothing: the store's facts
    assert [r["source"] for r in rows[1:]] == ["served"] * 3
    assert report.counts(rows) == dict(systems=2, lims=4, endpoints=4, expired=1, expiring=1, unknown=0, ok=2,
                                       probe_ok=3, probe_failed=1, probe_not_checked=0, served_not_in_store=0)


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
    assert rows["a-lim2"]["probe"] == "not checked" and rows["a-lim2"]["source"] == "store"
    assert rows["a-lim2"]["port"] is None
    assert rows["b-lim1"]["probe"] == "off"
    assert rows["c-lim1"]["status"] == "unknown" and rows["c-lim1"]["store_note"] == "not a certificate"
    page = report.render_html(list(rows.values()), NOW)
    assert "\u2260 PKI store" in page and "TLS off" in page and "not a certificate" in page
    assert "? NO CERTIFICATE" in page


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


# ------------------------------------------------------------------ HTML


def test_expired_and_expiring_rows_stand_out_by_class_and_by_text(fleet):
    plan, probes, store = fleet
    page = report.render_html(report.build_rows(plan, probes, store, NOW), NOW, warn_days=30)
    table = parse(page)
    marks = [(r["endpoint"], r["class"], r["cells"][column("status")]["text"]) for r in table.rows]
    assert marks == [("sthlm-lim10:5061", "expired", "\u2716 EXPIRED"),
                     ("sthlm-lim2:5061", "expiring", "\u26a0 EXPIRINGwithin 30 days"),
                     ("malmo-lim1:5061", "ok", "OK"), ("sthlm-lim1:5061", "ok", "OK")]
    assert "tr.expired td{background:#ffb3b3}" in page and "tr.expiring td{background:#ffe08a}" in page
    assert table.rows[0]["cells"][column("probe")]["text"].startswith("\u2716 FAILED: certificate verify failed")
    assert "1 expired" in page and "1 expiring within 30 days" in page and "Generated at" in page
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
    assert cells[column("issuer")]["title"] == 'CN=Evil "CA" <i>'
    assert cells[column("probe")]["text"] == "\u2716 FAILED: <iframe src=//x>"


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


# ------------------------------------------------------------------ Prometheus


def test_prometheus_text_parses_back_with_every_endpoint_and_value(fleet):
    plan, probes, store = fleet
    rows = report.build_rows(plan, probes, store, NOW)
    fams = families(report.render_prometheus(rows, NOW))
    assert sorted(fams) == ["mxone_pki_report_last_run_timestamp_seconds", "mxone_pki_tls_probe_success",
                            "x509_cert_expired", "x509_cert_not_after", "x509_cert_not_before"]
    assert all(f.type == "gauge" and f.documentation for f in fams.values())
    after = dict((s.labels["host"], s) for s in fams["x509_cert_not_after"].samples)
    assert set(after) == {"sthlm-lim1", "sthlm-lim2", "sthlm-lim10", "malmo-lim1"}
    assert after["sthlm-lim2"].value == (NOW + 12 * DAY).timestamp()
    assert after["sthlm-lim2"].labels == dict(
        system="sthlm", host="sthlm-lim2", port="5061", filename="server.pem",
        filepath="/pki/certs/sthlm-lim2/server.pem", serial_number="31", subject_CN="lim2",
        issuer_CN="MXOneEnterpriseCA")
    before = dict((s.labels["host"], s.value) for s in fams["x509_cert_not_before"].samples)
    assert before["sthlm-lim1"] == (NOW + 200 * DAY - 364 * DAY).timestamp()
    expired = dict((s.labels["host"], s.value) for s in fams["x509_cert_expired"].samples)
    assert expired == {"sthlm-lim1": 0, "sthlm-lim2": 0, "sthlm-lim10": 1, "malmo-lim1": 0}
    success = dict((s.labels["host"], s.value) for s in fams["mxone_pki_tls_probe_success"].samples)
    assert success == {"sthlm-lim1": 1, "sthlm-lim2": 1, "sthlm-lim10": 0, "malmo-lim1": 1}
    assert [s.value for s in fams["mxone_pki_report_last_run_timestamp_seconds"].samples] == [NOW.timestamp()]
    assert all(s.timestamp is None for f in fams.values() for s in f.samples)  # the textfile collector refuses them


def test_unprobed_lims_keep_their_expiry_series_but_get_no_probe_sample():
    plan = make_plan([("a", 1), ("b", 1)], tls_off=("b",))
    store = {"a-lim1": cert_facts("a", NOW + 99 * DAY), "b-lim1": cert_facts("b", NOW + 99 * DAY)}
    fams = families(report.render_prometheus(report.build_rows(plan, [], store, NOW), NOW))
    assert sorted(s.labels["host"] for s in fams["x509_cert_not_after"].samples) == ["a-lim1", "b-lim1"]
    assert all(s.labels["port"] == "" for s in fams["x509_cert_not_after"].samples)
    assert fams["mxone_pki_tls_probe_success"].samples == []


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
