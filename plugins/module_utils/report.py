# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet's certificate expiry report: an HTML page for people, a Prometheus textfile for alerts.

Plain Python over the standard library: no AnsibleModule, no cryptography.
The caller hands in the fleet plan, the ``tls_check`` results and the facts
(``certs.facts()``) of each certificate in the PKI store; ``build_rows()``
makes one row per LIM endpoint, ``render_html()`` and ``render_prometheus()``
turn the rows into text, ``write_report()`` puts a file in place atomically.

Each row carries the facts of the certificate the LIM *served* to the probe;
when the probe got none (LIM down, TLS off, not probed in this run) the
store's certificate stands in, and the row says so. Every LIM of the plan
gets a row, probed or not, so a run limited to one system does not drop the
others' expiry series from the textfile.

Both files embed a digest of their rows without the time of the run, so a
caller can tell a report whose content changed from one that was only
re-stamped (``digests_in()``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import html
import json
import os
import re

from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.files import PUBLIC_MODE, write_atomic

DEFAULT_WARN_DAYS = 30
PROM_SUFFIX = ".prom"  # node_exporter's textfile collector reads only these

EXPIRED, EXPIRING, UNKNOWN, OK = "expired", "expiring", "unknown", "ok"
# Most urgent first: the page's default order and the Status column's sort key.
STATUS_RANK = {EXPIRED: 0, EXPIRING: 1, UNKNOWN: 2, OK: 3}
PROBE_FAILED, PROBE_NOT_CHECKED, PROBE_OFF, PROBE_OK = "failed", "not checked", "off", "ok"
PROBE_RANK = {PROBE_FAILED: 0, PROBE_NOT_CHECKED: 1, PROBE_OFF: 2, PROBE_OK: 3}

# The facts a row keeps; the digest and both renderings use only these.
FACT_KEYS = ("subject", "common_name", "dns", "ips", "issuer", "issuer_common_name", "serial", "not_before",
             "not_after", "sha256_fingerprint")
# Label names as x509-certificate-exporter has them, plus where the certificate is in the fleet.
CERT_LABELS = ("system", "host", "port", "filename", "filepath", "serial_number", "subject_CN", "issuer_CN")
PROBE_LABELS = ("system", "host", "port", "server_name")

_DIGEST = re.compile(r"mxone-pki-report rows=([0-9a-f]{16}) certs=([0-9a-f]{16})")


# ------------------------------------------------------------------ rows


def _parse_time(value):
    if not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)


def flatten_probes(results):
    """Endpoint results from ``tls_check`` output: a loop's ``results`` (one per call) or endpoint dicts.

    Skipped loop items (check mode, no endpoints) contribute nothing.
    """
    flat = []
    for item in results or []:
        if not isinstance(item, dict) or item.get("skipped"):
            continue
        if isinstance(item.get("results"), list):
            flat.extend(r for r in item["results"] if isinstance(r, dict) and r.get("name"))
        elif item.get("name") and "ok" in item:
            flat.append(item)
    return flat


def _usable(cert_facts):
    return bool(cert_facts) and bool(cert_facts.get("not_after")) and "unreadable" not in cert_facts


def _kept(cert_facts):
    return dict((key, cert_facts.get(key)) for key in FACT_KEYS) if _usable(cert_facts) else None


def _status(cert, now, warn_days):
    """(status, days_left, seconds_left) of the certificate at ``now``."""
    if cert is None:
        return UNKNOWN, None, None
    not_after = _parse_time(cert["not_after"])
    if not_after is None:
        return UNKNOWN, None, None
    left = (not_after - now).total_seconds()
    days = int(left // 86400)  # as certs.days_left() counts
    if left < 0:
        return EXPIRED, days, left
    if left <= warn_days * 86400:
        return EXPIRING, days, left
    return OK, days, left


def _row(host, lim, cert, probe, store, now, warn_days, tls_on):
    served = _kept((probe or {}).get("certificate"))
    kept_store = _kept(store)
    if served is not None:
        facts, source = served, "served"
    elif kept_store is not None:
        facts, source = kept_store, "store"
    else:
        facts, source = None, None
    if probe is None:
        state, error = (PROBE_NOT_CHECKED if tls_on else PROBE_OFF), None
    else:
        state, error = (PROBE_OK, None) if probe.get("ok") else (PROBE_FAILED, probe.get("error") or "failed")
    status, days, seconds = _status(facts, now, warn_days)
    store_status, store_days = _status(kept_store, now, warn_days)[:2]
    if served is not None and kept_store is not None:
        matches = served["sha256_fingerprint"] == kept_store["sha256_fingerprint"]
    else:
        matches = None
    store_note = None
    if store and "unreadable" in store:
        store_note = store["unreadable"]
    elif not store:
        store_note = "no certificate in the PKI store"
    port = (probe or {}).get("port")
    return dict(
        system=lim["system"], host=host, lim=lim.get("lim"), fqdn=lim.get("fqdn"), address=lim.get("ip"),
        port=int(port) if port not in (None, "") else None,
        server_name=(probe or {}).get("server_name") or lim.get("fqdn"),
        certificate_id=cert.get("id"), file=(cert.get("paths") or {}).get("cert"),
        facts=facts, source=source, matches_store=matches, store_note=store_note,
        store=kept_store, store_status=store_status, store_days_left=store_days,
        status=status, days_left=days, seconds_left=seconds, probe=state, probe_error=error)


def build_rows(plan, probes, store_facts, now, warn_days=DEFAULT_WARN_DAYS):
    """One row per LIM and probed port (one row for a LIM not probed), most urgent first.

    ``probes``: endpoint results of ``tls_check`` (``flatten_probes()``);
    ``store_facts``: certificate id -> ``certs.facts()`` of the store's
    certificate, ``{}`` when absent, ``{"unreadable": why}`` when unreadable.
    """
    warn_days = check_warn_days(warn_days)
    by_host = {}
    for probe in probes or []:
        by_host.setdefault(probe.get("name"), []).append(probe)
    rows = []
    for host, lim in sorted((plan.get("hosts") or {}).items()):
        cert = (plan.get("certificates") or {}).get(lim.get("certificate")) or {}
        store = store_facts.get(cert.get("id")) or {}
        tls_on = ((plan.get("systems") or {}).get(lim["system"]) or {}).get("tls", True)
        found = sorted(by_host.get(host, []), key=lambda p: int(p.get("port") or 0))
        for probe in found or [None]:
            rows.append(_row(host, lim, cert, probe, store, now, warn_days, tls_on))
    return sort_rows(rows)


def _lim_key(row):
    return (row["system"], row["lim"] if isinstance(row["lim"], int) else 0, row["host"], row["port"] or 0)


def sort_rows(rows):
    """Default order: expired, expiring, unknown, ok; failed probes first; fewest days left; then system, LIM."""
    return sorted(rows, key=lambda r: (STATUS_RANK[r["status"]], PROBE_RANK[r["probe"]],
                                       r["seconds_left"] if r["seconds_left"] is not None else float("inf"))
                  + _lim_key(r))


def check_warn_days(value):
    try:
        if isinstance(value, bool):
            raise ValueError
        days = int(value)
    except (TypeError, ValueError):
        raise MxonePkiError("warn_days must be a whole number of days, not %r" % (value,), field="warn_days")
    if days < 0:
        raise MxonePkiError("warn_days must be 0 or more, not %d" % days, field="warn_days")
    return days


def counts(rows):
    """What the page's header and the module's result say about the rows."""
    return dict(
        systems=len(set(r["system"] for r in rows)), lims=len(set(r["host"] for r in rows)), endpoints=len(rows),
        expired=sum(1 for r in rows if r["status"] == EXPIRED),
        expiring=sum(1 for r in rows if r["status"] == EXPIRING),
        unknown=sum(1 for r in rows if r["status"] == UNKNOWN),
        ok=sum(1 for r in rows if r["status"] == OK),
        probe_ok=sum(1 for r in rows if r["probe"] == PROBE_OK),
        probe_failed=sum(1 for r in rows if r["probe"] == PROBE_FAILED),
        probe_not_checked=sum(1 for r in rows if r["probe"] in (PROBE_NOT_CHECKED, PROBE_OFF)),
        served_not_in_store=sum(1 for r in rows if r["matches_store"] is False))


def endpoint_label(row):
    return "%s:%s" % (row["host"], row["port"]) if row["port"] else row["host"]


# ---------------------------------------------------------------- digests


def _digest(data):
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def digests(rows, warn_days):
    """(rows, certs): short digests of the report's content without the run's time.

    ``rows``: everything the files show. ``certs``: only what needs no probe
    (each LIM's certificate in the PKI store, its status and days left), for
    check mode, in which mxone_verify does not probe.
    """
    ordered = sorted(rows, key=_lim_key)
    shown = [warn_days] + [[r["system"], r["host"], r["lim"], r["port"], r["server_name"], r["file"], r["source"],
                            r["matches_store"], r["store_note"], r["status"], r["days_left"], r["facts"], r["probe"],
                            r["probe_error"]] for r in ordered]
    stored, seen = [warn_days], set()
    for r in ordered:
        if r["host"] not in seen:
            seen.add(r["host"])
            stored.append([r["system"], r["host"], r["lim"], r["file"], r["store_note"], r["store"],
                           r["store_status"], r["store_days_left"]])
    return dict(rows=_digest(shown), certs=_digest(stored))


def _digest_text(rows, warn_days):
    d = digests(rows, warn_days)
    return "mxone-pki-report rows=%s certs=%s" % (d["rows"], d["certs"])


def digests_in(text):
    """The digests a report file carries, or None (no file, or not one of ours)."""
    match = _DIGEST.search(text or "")
    return dict(rows=match.group(1), certs=match.group(2)) if match else None


# ------------------------------------------------------------------ HTML

_CSS = """
body{font:13px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fff}
header{background:#1f3a5f;color:#fff;padding:14px 20px}
header h1{font-size:20px;margin:0 0 6px}
header p{margin:2px 0}
.counts span{display:inline-block;margin-right:14px}
.counts .n-expired{color:#ffb3b3;font-weight:bold}.counts .n-expiring{color:#ffe08a;font-weight:bold}
main{padding:12px 20px}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #c8c8c8;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#e4e9f0;cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td{overflow-wrap:break-word}
td.num,td.lim{white-space:nowrap}td.num{text-align:right}
td.probe,td.probe-failed,td.serial{overflow-wrap:anywhere}td.probe,td.probe-failed{min-width:12em}
small{color:#555}
tr.expired td{background:#ffb3b3}
tr.expiring td{background:#ffe08a}
tr.unknown td{background:#e0e0e0}
.mark{font-weight:bold}
td.probe-failed{color:#9b0000;font-weight:bold}
.legend{margin:8px 0 0;color:#555}
""".strip()

# Sort by the clicked column (data-sort of its cells; numbers where the header says so); again reverses.
_JS = """
document.documentElement.classList.add('js');
function mxoneSort(th){var t=th.closest('table'),b=t.tBodies[0],i=th.cellIndex,num=th.dataset.type==='num';
var asc=th.getAttribute('aria-sort')!=='ascending',rows=Array.prototype.slice.call(b.rows);
rows.sort(function(p,q){var x=p.cells[i].dataset.sort,y=q.cells[i].dataset.sort;
if(num){x=parseFloat(x);y=parseFloat(y);}var c=x<y?-1:(x>y?1:0);return asc?c:-c;});
t.querySelectorAll('th').forEach(function(h){h.removeAttribute('aria-sort');});
th.setAttribute('aria-sort',asc?'ascending':'descending');rows.forEach(function(r){b.appendChild(r);});}
document.querySelectorAll('th[data-col]').forEach(function(th){th.tabIndex=0;th.title='Sort by '+th.textContent;
th.addEventListener('click',function(){mxoneSort(th);});
th.addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){e.preventDefault();mxoneSort(th);}});});
""".strip()

# (key, header, numeric)
COLUMNS = (
    ("system", "System", False), ("lim", "LIM", False), ("port", "Port", True), ("status", "Status", True),
    ("days_left", "Days left", True), ("not_after", "Not after (UTC)", True), ("probe", "Live TLS probe", True),
    ("subject", "Certificate (CN / subject)", False), ("sans", "SANs", False), ("issuer", "Issuer", False),
    ("serial", "Serial", False), ("source", "Facts from", False),
)

_MARKS = {EXPIRED: "\u2716 EXPIRED", EXPIRING: "\u26a0 EXPIRING", UNKNOWN: "? NO CERTIFICATE", OK: "OK"}
_MISSING_NUMBER = "1e300"  # sorts after every real number, either way round with the others


def e(value):
    """HTML-escaped text (quotes too: the same helper fills attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def _cell(sort, body, cls=None, title=None):
    attrs = ' data-sort="%s"' % e(sort)
    if cls:
        attrs += ' class="%s"' % cls
    if title:
        attrs += ' title="%s"' % e(title)
    return "<td%s>%s</td>" % (attrs, body)


def sort_keys(row):
    """The ``data-sort`` value of each column: what clicking its header orders by."""
    f = row["facts"] or {}
    not_after = _parse_time(f.get("not_after"))
    sans = list(f.get("dns") or []) + list(f.get("ips") or [])
    return dict(
        system=row["system"].lower(),
        lim="%s|%06d|%s" % (row["system"].lower(), row["lim"] if isinstance(row["lim"], int) else 0, row["host"]),
        port=str(row["port"]) if row["port"] else _MISSING_NUMBER,
        subject=(f.get("common_name") or f.get("subject") or "").lower(),
        sans=", ".join(sans).lower(), issuer=(f.get("issuer_common_name") or f.get("issuer") or "").lower(),
        serial=(f.get("serial") or "").lower(),
        not_after=str(int(not_after.timestamp())) if not_after else _MISSING_NUMBER,
        days_left=str(row["days_left"]) if row["days_left"] is not None else _MISSING_NUMBER,
        status=str(STATUS_RANK[row["status"]]), probe=str(PROBE_RANK[row["probe"]]),
        source=row["source"] or "")


def _status_html(row, warn_days):
    mark = '<span class="mark">%s</span>' % e(_MARKS[row["status"]])
    if row["status"] == EXPIRING:
        mark += "<br><small>within %d days</small>" % warn_days
    return mark


def _row_html(row, warn_days):
    f = row["facts"] or {}
    keys = sort_keys(row)
    lim = "%s<br><small>%s</small>" % (e(row["host"]), e(row["fqdn"]))
    if row["facts"]:
        subject = "%s<br><small>%s</small>" % (e(f.get("common_name")), e(f.get("subject")))
    else:
        subject = "<small>%s</small>" % e(row["store_note"] or "no certificate")
    sans = "<br>".join(e(n) for n in list(f.get("dns") or []) + list(f.get("ips") or []))
    if row["probe"] == PROBE_OK:
        probe = "\u2714 OK"
    elif row["probe"] == PROBE_FAILED:
        probe = "\u2716 FAILED: %s" % e(row["probe_error"])
    elif row["probe"] == PROBE_OFF:
        probe = "TLS off"
    else:
        probe = "not checked"
    if row["source"] == "served":
        source = "served by the LIM"
        if row["matches_store"] is False:
            source += "<br><strong>\u2260 PKI store</strong> (not the store's certificate)"
    elif row["source"] == "store":
        source = "PKI store (no certificate from the LIM)"
    else:
        source = e(row["store_note"])
    not_after = _parse_time(f.get("not_after"))
    cells = dict(
        system=_cell(keys["system"], e(row["system"])),
        lim=_cell(keys["lim"], lim, cls="lim"),
        port=_cell(keys["port"], e(row["port"] or ""), cls="num"),
        status=_cell(keys["status"], _status_html(row, warn_days), cls="status"),
        days_left=_cell(keys["days_left"], e(row["days_left"] if row["days_left"] is not None else ""), cls="num"),
        not_after=_cell(keys["not_after"], e(not_after.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
                                             if not_after else ""), cls="num", title=f.get("not_after")),
        probe=_cell(keys["probe"], probe, cls="probe-failed" if row["probe"] == PROBE_FAILED else "probe"),
        subject=_cell(keys["subject"], subject),
        sans=_cell(keys["sans"], sans),
        issuer=_cell(keys["issuer"], e(f.get("issuer_common_name")), title=f.get("issuer")),
        serial=_cell(keys["serial"], "<small>%s</small>" % e(f.get("serial")), cls="serial"),
        source=_cell(keys["source"], source, cls="source", title="file: %s" % row["file"] if row["file"] else None),
    )
    return '<tr class="%s" data-endpoint="%s">%s</tr>' % (
        row["status"], e(endpoint_label(row)), "".join(cells[column[0]] for column in COLUMNS))


def render_html(rows, generated, warn_days=DEFAULT_WARN_DAYS, title="MX-ONE certificate expiry"):
    """One self-contained page (inline CSS and script, nothing fetched); every value escaped."""
    c = counts(rows)
    heads = "".join('<th data-col="%s"%s scope="col">%s</th>' % (key, ' data-type="num"' if num else "", e(text))
                    for key, text, num in COLUMNS)
    stamp = generated.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        # Nothing may load from elsewhere: the page works from a mail attachment or an air-gapped share.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="mxone-pki-report" content="%s">' % e(_digest_text(rows, warn_days)),
        "<title>%s</title>" % e(title),
        "<style>%s</style>" % _CSS,
        "</head>",
        "<body>",
        "<header>",
        "<h1>%s</h1>" % e(title),
        '<p>Generated at <time id="generated" datetime="%s">%s</time></p>' % (
            e(generated.astimezone(datetime.timezone.utc).isoformat()), e(stamp)),
        '<p class="counts">'
        '<span>%d system(s)</span><span>%d LIM(s)</span><span>%d endpoint(s)</span>'
        '<span class="n-expired">%d expired</span>'
        '<span class="n-expiring">%d expiring within %d days</span>'
        '<span>%d without certificate</span><span>%d ok</span>'
        '<span>TLS probes: %d ok, %d failed, %d not checked</span></p>' % (
            c["systems"], c["lims"], c["endpoints"], c["expired"], c["expiring"], warn_days, c["unknown"],
            c["ok"], c["probe_ok"], c["probe_failed"], c["probe_not_checked"]),
        "</header>",
        "<main>",
        '<table id="certificates">',
        "<thead><tr>%s</tr></thead>" % heads,
        "<tbody>",
    ]
    lines.extend(_row_html(row, warn_days) for row in rows)
    lines += [
        "</tbody>",
        "</table>",
        '<p class="legend">Most urgent first. Click a column header to sort by it, again to reverse. '
        "Facts are those of the certificate each LIM served to the probe; the PKI store's where it served "
        "none.</p>",
        "</main>",
        "<script>%s</script>" % _JS,
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------- Prometheus


def escape_label(value):
    """A label value in the text exposition format: backslash, double quote and newline escaped."""
    return ("" if value is None else str(value)).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def _escape_help(text):
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _sample(name, labels, value):
    if labels:
        inner = ",".join('%s="%s"' % (key, escape_label(val)) for key, val in labels)
        return "%s{%s} %s" % (name, inner, value)
    return "%s %s" % (name, value)


def _family(name, help_text, samples):
    out = ["# HELP %s %s" % (name, _escape_help(help_text)), "# TYPE %s gauge" % name]
    out.extend(samples)
    return out


def _serial_decimal(serial_hex):
    try:
        return str(int(serial_hex, 16))
    except (TypeError, ValueError):
        return ""


def cert_labels(row):
    f = row["facts"]
    path = row["file"] or ""
    values = dict(system=row["system"], host=row["host"], port=row["port"] or "",
                  filename=os.path.basename(path), filepath=path,
                  serial_number=_serial_decimal(f.get("serial")),  # decimal, as x509-certificate-exporter
                  subject_CN=f.get("common_name") or "", issuer_CN=f.get("issuer_common_name") or "")
    return [(key, values[key]) for key in CERT_LABELS]


def _unix(value):
    parsed = _parse_time(value)
    return int(parsed.timestamp()) if parsed else None


def render_prometheus(rows, generated, warn_days=DEFAULT_WARN_DAYS):
    """The textfile for node_exporter's textfile collector: gauges only, no sample timestamps."""
    ordered = sorted(rows, key=_lim_key)  # a stable order keeps diffs small
    with_cert = [r for r in ordered if r["facts"]]
    probed = [r for r in ordered if r["probe"] in (PROBE_OK, PROBE_FAILED)]
    now = int(generated.timestamp())
    lines = ["# %s" % _digest_text(rows, warn_days)]
    lines += _family(
        "x509_cert_not_after", "Unix time at which the certificate a LIM serves stops being valid (NotAfter).",
        [_sample("x509_cert_not_after", cert_labels(r), _unix(r["facts"]["not_after"])) for r in with_cert])
    lines += _family(
        "x509_cert_not_before", "Unix time from which the certificate a LIM serves is valid (NotBefore).",
        [_sample("x509_cert_not_before", cert_labels(r), _unix(r["facts"]["not_before"])) for r in with_cert
         if _unix(r["facts"]["not_before"]) is not None])
    lines += _family(
        "x509_cert_expired", "1 when the certificate had expired at the report's run, else 0.",
        [_sample("x509_cert_expired", cert_labels(r), 1 if r["status"] == EXPIRED else 0) for r in with_cert])
    lines += _family(
        "mxone_pki_tls_probe_success",
        "1 when the LIM completed a TLS handshake with chain and lim<N>.<domain> verified, else 0.",
        [_sample("mxone_pki_tls_probe_success",
                 [("system", r["system"]), ("host", r["host"]), ("port", r["port"] or ""),
                  ("server_name", r["server_name"] or "")],
                 1 if r["probe"] == PROBE_OK else 0) for r in probed])
    lines += _family(
        "mxone_pki_report_last_run_timestamp_seconds", "Unix time of the mxone.pki report run that wrote this file.",
        [_sample("mxone_pki_report_last_run_timestamp_seconds", None, now)])
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------- files


def check_prom_path(path):
    if path and not path.endswith(PROM_SUFFIX):
        raise MxonePkiError("prom_path %s must end with %s: node_exporter's textfile collector reads only those"
                            % (path, PROM_SUFFIX), file=path, field="prom_path")
    return path


def write_report(path, text):
    """Write one report file in one rename (temporary file beside it), mode 0644.

    A missing directory is made 0755: node_exporter, which runs as its own
    user, must be able to read its textfile directory.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        try:
            os.makedirs(directory, mode=0o755)
        except OSError as exc:
            raise MxonePkiError("cannot create %s: %s" % (directory, exc.strerror), file=path)
    return write_atomic(path, text.encode("utf-8"), PUBLIC_MODE)
