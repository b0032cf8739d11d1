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

A row's status is the first that applies of: TLS failed (the probe failed),
stale (the LIM serves a certificate other than the PKI store's), expired,
expiring, no certificate, ok (``row_status()``); the certificate's own
expiry stays in ``expiry``. ``build_ca_rows()`` does the same for the CAs
the fleet trusts (the enterprise CA, customer CA chains), with their own
threshold.

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

DEFAULT_CA_WARN_DAYS = 180  # a CA is replaced with more notice: every phone must trust the new one first

TLS_FAILED, STALE, EXPIRED, EXPIRING, UNKNOWN, OK = "tls_failed", "stale", "expired", "expiring", "unknown", "ok"
# Most urgent first: a row's status is the first that applies; the page's default order and the Status
# column's sort key.
STATUS_RANK = {TLS_FAILED: 0, STALE: 1, EXPIRED: 2, EXPIRING: 3, UNKNOWN: 4, OK: 5}
ENTERPRISE_CA, CUSTOMER_CA = "enterprise", "customer"
PROBE_FAILED, PROBE_NOT_CHECKED, PROBE_OFF, PROBE_OK = "failed", "not checked", "off", "ok"
PROBE_RANK = {PROBE_FAILED: 0, PROBE_NOT_CHECKED: 1, PROBE_OFF: 2, PROBE_OK: 3}

# The facts a row keeps; the digest and both renderings use only these.
FACT_KEYS = ("subject", "common_name", "dns", "ips", "issuer", "issuer_common_name", "serial", "not_before",
             "not_after", "sha256_fingerprint")
# Label names as x509-certificate-exporter has them, plus where the certificate is in the fleet and what it is
# there: cert_role "lim" (the certificate a LIM serves) or "ca" (a CA in the PKI store; host and port empty).
CERT_LABELS = ("system", "host", "port", "cert_role", "filename", "filepath", "serial_number", "subject_CN",
               "issuer_CN")
ROLE_LIM, ROLE_CA = "lim", "ca"

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


def _expiry(cert, now, warn_days):
    """(expired|expiring|unknown|ok, days_left, seconds_left) of the certificate at ``now``."""
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


def row_status(probe, matches_store, expiry):
    """A row's status: the first that applies of TLS failed, stale, then the certificate's expiry.

    ``probe``: the TLS probe's state (``PROBE_*``); ``matches_store``: whether the served certificate is the
    PKI store's (None when either is missing); ``expiry``: expired, expiring, unknown or ok.
    """
    if probe == PROBE_FAILED:
        return TLS_FAILED
    if matches_store is False:
        return STALE
    return expiry


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
        # a verified handshake that only failed tls_check's stale comparison is a TLS success here: the row's
        # stale status comes from comparing the served certificate with the store's below
        handshake_ok = probe.get("ok") or (probe.get("stale") and probe.get("certificate_verified"))
        state, error = (PROBE_OK, None) if handshake_ok else (PROBE_FAILED, probe.get("error") or "failed")
    expiry, days, seconds = _expiry(facts, now, warn_days)
    store_status, store_days = _expiry(kept_store, now, warn_days)[:2]
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
    row = dict(
        system=lim["system"], host=host, lim=lim.get("lim"), fqdn=lim.get("fqdn"), address=lim.get("ip"),
        port=int(port) if port not in (None, "") else None,
        server_name=(probe or {}).get("server_name") or lim.get("fqdn"),
        certificate_id=cert.get("id"), file=(cert.get("paths") or {}).get("cert"),
        facts=facts, source=source, served=served is not None, matches_store=matches, store_note=store_note,
        store=kept_store, store_status=store_status, store_days_left=store_days,
        status=row_status(state, matches, expiry), expiry=expiry, days_left=days, seconds_left=seconds,
        probe=state, probe_error=error)
    row["problems"] = problems(row, warn_days)
    row["detail"] = row["problems"][0][1]
    return row


def _days(n):
    return "%d day%s" % (n, "" if abs(n) == 1 else "s")


def short_serial(serial, keep=4):
    """A long hex serial cut to its first and last ``keep`` characters (the page shows all of it on hover)."""
    serial = serial or "?"
    return serial if len(serial) <= 2 * keep + 2 else "%s\u2026%s" % (serial[:keep], serial[-keep:])


def stale_text(served_serial, store_serial):
    return "stale: serves serial %s, store has %s" % (served_serial or "?", store_serial or "?")


def problems(row, warn_days):
    """Every status that applies to a row, most urgent first, each with its sentence; ``[(ok, "OK")]`` if none.

    The first is the row's status; the page shows the others below it (a LIM down whose certificate has also
    expired says both).
    """
    found = []
    if row["probe"] == PROBE_FAILED:
        # No certificate came back: nothing answered TLS. With one, the handshake failed on it.
        found.append((TLS_FAILED, "TLS %s: %s" % ("failed" if row["served"] else "down", row["probe_error"])))
    if row["matches_store"] is False:
        found.append((STALE, stale_text(row["facts"].get("serial"), row["store"].get("serial"))))
    facts = row["facts"] or {}
    day = (facts.get("not_after") or "")[:10]
    if row["expiry"] == EXPIRED:
        found.append((EXPIRED, "expired on %s (%s ago)" % (day, _days(max(1, -row["days_left"])))))
    elif row["expiry"] == EXPIRING:
        found.append((EXPIRING, "expires on %s, in %s (within %d days)" % (day, _days(row["days_left"]), warn_days)))
    elif row["expiry"] == UNKNOWN:
        found.append((UNKNOWN, row["store_note"] or "no certificate"))
    return found or [(OK, "OK: expires on %s, in %s" % (day, _days(row["days_left"])))]


def needs_action(row):
    return row["status"] != OK


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


def _left(row):
    return row["seconds_left"] if row["seconds_left"] is not None else float("inf")


def sort_rows(rows):
    """Default order: TLS failed, stale, expired, expiring, no certificate, ok; failed probes first; fewest days
    left; then system, LIM."""
    return sorted(rows, key=lambda r: (STATUS_RANK[r["status"]], PROBE_RANK[r["probe"]], _left(r)) + _lim_key(r))


# -------------------------------------------------------------------- CAs


def ca_sources(plan):
    """The CA files the fleet trusts, as ``(kind, system, path, used)``: the enterprise CA of the PKI store
    (``plan.ca.cert``; ``used`` when a certificate is signed by it), then each customer-PKI certificate's
    chain (``paths.chain``, system set)."""
    certificates = sorted((plan.get("certificates") or {}).values(), key=lambda c: c.get("id") or "")
    external = [c for c in certificates if c.get("mode") == "external"]
    sources = []
    ca_cert = (plan.get("ca") or {}).get("cert")
    if ca_cert:
        sources.append((ENTERPRISE_CA, "", ca_cert, len(external) < len(certificates) or not certificates))
    for cert in external:
        chain = (cert.get("paths") or {}).get("chain")
        if chain:
            sources.append((CUSTOMER_CA, cert.get("system") or "", chain, True))
    return sources


def build_ca_rows(found, now, ca_warn_days=DEFAULT_CA_WARN_DAYS):
    """One row per CA certificate and system that trusts it, most urgent first.

    ``found``: per ``ca_sources()`` entry a dict of kind, system, file, used and either ``certs`` (the facts of
    each certificate in the file), ``None`` (no file) or ``unreadable`` (why). A customer chain not there yet
    (the customer has not signed) and an unused enterprise CA give no row; a CA file that is missing where it
    is used, or unreadable, gives a row without facts that says so. The same CA in several files of one system
    is one row (the first file).
    """
    ca_warn_days = check_warn_days(ca_warn_days, "ca_warn_days")
    rows, seen = [], set()
    for source in found:
        base = dict(kind=source["kind"], system=source.get("system") or "", file=source["file"])
        certs, note = source.get("certs"), source.get("unreadable")
        if note is None and certs is None:
            if source["kind"] == ENTERPRISE_CA and source.get("used"):
                note = "no CA certificate in the PKI store"
            else:
                continue
        if note is not None:
            rows.append(dict(base, facts=None, note=note, status=UNKNOWN, days_left=None, seconds_left=None))
            continue
        for cert in certs:
            kept = _kept(cert)
            if kept is None:
                continue
            key = (base["system"], kept["sha256_fingerprint"])
            if key in seen:
                continue
            seen.add(key)
            status, days, seconds = _expiry(kept, now, ca_warn_days)
            rows.append(dict(base, facts=kept, note=None, status=status, days_left=days, seconds_left=seconds))
    return sorted(rows, key=lambda r: (STATUS_RANK[r["status"]], _left(r), r["kind"], r["system"], r["file"]))


def ca_title(ca):
    """What a person calls the CA: its kind, and the system for a customer's."""
    if ca["kind"] == ENTERPRISE_CA:
        return "Enterprise CA"
    return "Customer CA (%s)" % ca["system"]


def check_warn_days(value, field="warn_days"):
    try:
        if isinstance(value, bool):
            raise ValueError
        days = int(value)
    except (TypeError, ValueError):
        raise MxonePkiError("%s must be a whole number of days, not %r" % (field, value), field=field)
    if days < 0:
        raise MxonePkiError("%s must be 0 or more, not %d" % (field, days), field=field)
    return days


def counts(rows):
    """What the page's header and the module's result say about the rows.

    ``expired``, ``expiring``, ``unknown``: the certificates' own state (a LIM down with an expired certificate
    counts there too); ``stale``: rows whose LIM serves a certificate other than the store's (whatever else
    failed); ``tls_failed``, ``ok``: the rows' status (``ok``: nothing to do); ``needs_action``: rows whose
    status is not ok.
    """
    return dict(
        systems=len(set(r["system"] for r in rows)), lims=len(set(r["host"] for r in rows)), endpoints=len(rows),
        needs_action=sum(1 for r in rows if needs_action(r)),
        tls_failed=sum(1 for r in rows if r["status"] == TLS_FAILED),
        stale=sum(1 for r in rows if r["matches_store"] is False),
        expired=sum(1 for r in rows if r["expiry"] == EXPIRED),
        expiring=sum(1 for r in rows if r["expiry"] == EXPIRING),
        unknown=sum(1 for r in rows if r["expiry"] == UNKNOWN),
        ok=sum(1 for r in rows if r["status"] == OK),
        probe_ok=sum(1 for r in rows if r["probe"] == PROBE_OK),
        probe_failed=sum(1 for r in rows if r["probe"] == PROBE_FAILED),
        probe_not_checked=sum(1 for r in rows if r["probe"] in (PROBE_NOT_CHECKED, PROBE_OFF)),
        served_not_in_store=sum(1 for r in rows if r["matches_store"] is False))


def system_summaries(rows):
    """Per system: its status (the worst of its rows), how many rows of each status, and the nearest expiry.

    Worst first, then nearest expiry, then name: the order of the page's tiles and chart.
    """
    systems = {}
    for row in rows:
        s = systems.setdefault(row["system"], dict(system=row["system"], endpoints=0, lims=set(),
                                                   by_status=dict((k, 0) for k in STATUS_RANK), nearest=None))
        s["endpoints"] += 1
        s["lims"].add(row["host"])
        s["by_status"][row["status"]] += 1
        if row["seconds_left"] is not None and (s["nearest"] is None
                                                or row["seconds_left"] < s["nearest"]["seconds_left"]):
            s["nearest"] = row
    out = []
    for s in systems.values():
        worst = min((k for k, n in s["by_status"].items() if n), key=lambda k: STATUS_RANK[k])
        nearest = s["nearest"]
        out.append(dict(
            system=s["system"], status=worst, endpoints=s["endpoints"], lims=len(s["lims"]),
            by_status=s["by_status"], needs_action=s["endpoints"] - s["by_status"][OK],
            nearest_days=nearest["days_left"] if nearest else None,
            nearest_seconds=nearest["seconds_left"] if nearest else None,
            nearest_host=nearest["host"] if nearest else None,
            nearest_not_after=(nearest["facts"] or {}).get("not_after") if nearest else None))
    return sorted(out, key=lambda s: (STATUS_RANK[s["status"]],
                                      s["nearest_seconds"] if s["nearest_seconds"] is not None else float("inf"),
                                      s["system"]))


def endpoint_label(row):
    return "%s:%s" % (row["host"], row["port"]) if row["port"] else row["host"]


# ---------------------------------------------------------------- digests


def _digest(data):
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def digests(rows, warn_days, cas=(), ca_warn_days=DEFAULT_CA_WARN_DAYS):
    """(rows, certs): short digests of the report's content without the run's time.

    ``rows``: everything the files show. ``certs``: only what needs no probe
    (each LIM's certificate in the PKI store, its status and days left, and
    the CAs), for check mode, in which mxone_verify does not probe.
    """
    ordered = sorted(rows, key=_lim_key)
    authorities = [[c["kind"], c["system"], c["file"], c["facts"], c["note"], c["status"], c["days_left"]]
                   for c in sorted(cas, key=lambda c: (c["kind"], c["system"], c["file"],
                                                       (c["facts"] or {}).get("sha256_fingerprint") or ""))]
    shown = [warn_days, ca_warn_days, authorities] + [
        [r["system"], r["host"], r["lim"], r["port"], r["server_name"], r["file"], r["source"], r["matches_store"],
         r["store_note"], r["status"], r["expiry"], r["days_left"], r["facts"], r["store"], r["probe"],
         r["probe_error"]] for r in ordered]
    stored, seen = [warn_days, ca_warn_days, authorities], set()
    for r in ordered:
        if r["host"] not in seen:
            seen.add(r["host"])
            stored.append([r["system"], r["host"], r["lim"], r["file"], r["store_note"], r["store"],
                           r["store_status"], r["store_days_left"]])
    return dict(rows=_digest(shown), certs=_digest(stored))


def _digest_text(rows, warn_days, cas=(), ca_warn_days=DEFAULT_CA_WARN_DAYS):
    d = digests(rows, warn_days, cas, ca_warn_days)
    return "mxone-pki-report rows=%s certs=%s" % (d["rows"], d["certs"])


def digests_in(text):
    """The digests a report file carries, or None (no file, or not one of ours)."""
    match = _DIGEST.search(text or "")
    return dict(rows=match.group(1), certs=match.group(2)) if match else None


# ------------------------------------------------------------------ HTML

# Status -> (fill of its rows and tiles, accent of its marks, bars and edges). One palette for the whole page.
PALETTE = {
    TLS_FAILED: ("#ff9e9e", "#b3001b"),
    STALE: ("#dcc4f5", "#6a2fa8"),
    EXPIRED: ("#ffb3b3", "#d32f2f"),
    EXPIRING: ("#ffe08a", "#a86e00"),
    UNKNOWN: ("#e0e0e0", "#616161"),
    OK: ("#ffffff", "#2e7d32"),
}
OK_TILE_FILL = "#e6f4e7"


def _palette_css():
    out = []
    for status, (fill, accent) in PALETTE.items():
        if status != OK:
            out.append("tr.%s td{background:%s}" % (status, fill))
            out.append("tr.%s td:first-child{box-shadow:inset 5px 0 %s}" % (status, accent))
        out.append(".tile.%s{background:%s;border-left-color:%s}" % (
            status, OK_TILE_FILL if status == OK else fill, accent))
        out.append(".%s .mark,.chip.%s{color:%s}" % (status, status, accent))
    return "\n".join(out)


_CSS = """
body{font:13px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fff}
header{background:#1f3a5f;color:#fff;padding:14px 20px}
header h1{font-size:20px;margin:0 0 6px}
header p{margin:2px 0}
header .verdict{font-size:16px;font-weight:bold}
.counts span{display:inline-block;margin-right:14px}
.counts .n-action{color:#ffb3b3;font-weight:bold}.counts .n-expiring{color:#ffe08a;font-weight:bold}
main{padding:12px 20px}
h2{font-size:15px;margin:14px 0 8px}
.tiles{display:flex;flex-wrap:wrap;gap:10px}
.tile{border:1px solid #c8c8c8;border-left:8px solid #888;border-radius:4px;padding:6px 10px;width:16em}
.tile-name{font-size:15px;font-weight:bold}.tile .clip{max-width:none}
.tile .mark{display:block;margin-top:2px}
.tile-big{font-size:14px;margin:2px 0}
.chips{list-style:none;margin:0 0 2px;padding:0}.chip{display:inline-block;margin-right:8px;font-weight:bold}
.tile-next{color:#333}
#days-chart{display:block;width:100%;max-width:960px;height:auto}
#days-chart text{font:12px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;fill:#1b1b1b}
#days-chart .axis text{fill:#555}
table{border-collapse:collapse;width:100%;font-size:12px}
th,td{border:1px solid #c8c8c8;padding:3px 5px;text-align:left;vertical-align:top}
th{background:#e4e9f0;cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td{overflow-wrap:break-word}
td.num,td.lim{white-space:nowrap}td.num{text-align:right}
.clip{display:block;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;max-width:10em}
td.status .clip{max-width:17em}td.probe .clip,td.probe-failed .clip{max-width:11em}
td.issuer .clip,td.serial .clip,td.source .clip{max-width:8em}
details summary{cursor:pointer;color:#1f3a5f}
small{color:#555}
.mark{font-weight:bold;white-space:nowrap}
td.probe-failed{color:#9b0000;font-weight:bold}
.legend{margin:8px 0 0;color:#555}
""".strip() + "\n" + _palette_css()

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

_MARKS = {TLS_FAILED: "\u2716 TLS FAILED", STALE: "\u2260 STALE", EXPIRED: "\u2716 EXPIRED",
          EXPIRING: "\u26a0 EXPIRING", UNKNOWN: "? NO CERTIFICATE", OK: "\u2714 OK"}
# What a tile's chips call a number of rows of each status.
_CHIPS = {TLS_FAILED: "TLS failed", STALE: "stale", EXPIRED: "expired", EXPIRING: "expiring",
          UNKNOWN: "no certificate"}
_MISSING_NUMBER = "1e300"  # sorts after every real number, either way round with the others
SHOWN_SANS = 2  # SANs shown in a row; the rest fold into a details element


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


def _clip(text, tag="span", title=None, cls="clip"):
    """One line, cut with an ellipsis by the browser; the full text on hover (title) and when copied."""
    return '<%s class="%s" title="%s">%s</%s>' % (tag, cls, e(text if title is None else title), e(text), tag)


def mark(row):
    """The status word of a row: TLS DOWN when nothing answered, TLS FAILED when a handshake failed on it."""
    if row["status"] == TLS_FAILED and not row["served"]:
        return "\u2716 TLS DOWN"
    return _MARKS[row["status"]]


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


def _problem_html(row, status, text, first):
    shown = text
    if status == STALE:  # serials are long: cut in the text, whole on hover
        shown = "serves %s, store has %s" % (short_serial(row["facts"].get("serial")),
                                             short_serial(row["store"].get("serial")))
    if first and status == TLS_FAILED:
        shown = row["probe_error"]
    elif not first:
        shown = "also %s%s" % ("stale: " if status == STALE else "", shown)
    return _clip(shown, tag="small", title=text)


def _status_html(row):
    found = row["problems"]
    body = '<span class="mark">%s</span>' % e(mark(row))
    if found[0][0] != OK:
        body += "".join(_problem_html(row, status, text, index == 0) for index, (status, text) in enumerate(found))
    return body


def _sans_html(names):
    shown = "".join(_clip(n) for n in names[:SHOWN_SANS])
    rest = names[SHOWN_SANS:]
    if len(rest) == 1:
        shown += _clip(rest[0])
    elif rest:
        shown += "<details><summary>+%d more</summary>%s</details>" % (len(rest), "".join(_clip(n) for n in rest))
    return shown


def _row_html(row):
    f = row["facts"] or {}
    keys = sort_keys(row)
    lim = _clip(row["host"]) + _clip(row["fqdn"], tag="small")
    if row["facts"]:
        subject = _clip(f.get("common_name")) + _clip(f.get("subject"), tag="small")
    else:
        subject = "<small>%s</small>" % e(row["store_note"] or "no certificate")
    if row["probe"] == PROBE_OK:
        probe = "\u2714 OK"
    elif row["probe"] == PROBE_FAILED:
        probe = _clip("\u2716 FAILED: %s" % row["probe_error"])
    elif row["probe"] == PROBE_OFF:
        probe = "TLS off"
    else:
        probe = "not checked"
    if row["source"] == "served":
        source = _clip("served by the LIM")
        if row["matches_store"] is False:
            source = '<strong class="clip" title="not the PKI store\'s certificate">served \u2260 store</strong>'
    elif row["source"] == "store":
        source = _clip("PKI store (no certificate from the LIM)")
    else:
        source = e(row["store_note"])
    if f.get("sha256_fingerprint"):
        source += _clip("SHA-256 %s" % f["sha256_fingerprint"], tag="small")
    not_after = _parse_time(f.get("not_after"))
    cells = dict(
        system=_cell(keys["system"], e(row["system"])),
        lim=_cell(keys["lim"], lim, cls="lim"),
        port=_cell(keys["port"], e(row["port"] or ""), cls="num"),
        status=_cell(keys["status"], _status_html(row), cls="status"),
        days_left=_cell(keys["days_left"], e(row["days_left"] if row["days_left"] is not None else ""), cls="num"),
        not_after=_cell(keys["not_after"], e(not_after.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
                                             if not_after else ""), cls="num", title=f.get("not_after")),
        probe=_cell(keys["probe"], probe, cls="probe-failed" if row["probe"] == PROBE_FAILED else "probe"),
        subject=_cell(keys["subject"], subject, cls="subject"),
        sans=_cell(keys["sans"], _sans_html(list(f.get("dns") or []) + list(f.get("ips") or [])), cls="sans"),
        issuer=_cell(keys["issuer"], _clip(f.get("issuer_common_name") or "", title=f.get("issuer") or ""),
                     cls="issuer"),
        serial=_cell(keys["serial"], _clip(f.get("serial") or "", tag="small"), cls="serial"),
        source=_cell(keys["source"], source, cls="source", title="file: %s" % row["file"] if row["file"] else None),
    )
    return '<tr class="%s" data-endpoint="%s">%s</tr>' % (
        row["status"], e(endpoint_label(row)), "".join(cells[column[0]] for column in COLUMNS))


def _day(value):
    parsed = _parse_time(value)
    return parsed.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d") if parsed else ""


def _nearest_text(summary):
    if summary["nearest_days"] is None:
        return "no certificate to date"
    if summary["nearest_seconds"] < 0:
        when = "expired %s ago" % _days(max(1, -summary["nearest_days"]))
    else:
        when = "in %s" % _days(summary["nearest_days"])
    return "Nearest expiry: %s (%s)" % (when, summary["nearest_host"])


def _tile(status, attrs, name, name_title, word, big, rest):
    return '<div class="tile %s" %s>%s<span class="mark">%s</span><div class="tile-big">%s</div>%s</div>' % (
        status, attrs, _clip(name, tag="div", cls="tile-name clip", title=name_title), e(word), e(big), rest)


def _system_tile(s):
    if s["needs_action"]:
        big = "%d of %d LIM endpoint(s) need action" % (s["needs_action"], s["endpoints"])
    else:
        big = "all %d LIM endpoint(s) OK" % s["endpoints"]
    chips = "".join('<li class="chip %s">%d %s</li>' % (status, s["by_status"][status], _CHIPS[status])
                    for status in sorted(_CHIPS, key=STATUS_RANK.get) if s["by_status"][status])
    rest = ('<ul class="chips">%s</ul>' % chips if chips else "") + '<div class="tile-next" title="%s">%s</div>' % (
        e(s["nearest_not_after"] or ""), e(_nearest_text(s)))
    return _tile(s["status"], 'data-system="%s"' % e(s["system"]), s["system"], None, _MARKS[s["status"]], big,
                 rest)


def _ca_tile(ca, ca_warn_days):
    f = ca["facts"] or {}
    if ca["facts"] is None:
        big, line = ca["note"], ca["file"]
    else:
        if ca["status"] == EXPIRED:
            big = "expired %s ago" % _days(max(1, -ca["days_left"]))
        else:
            big = "ends in %s" % _days(ca["days_left"])
        line = "%s \u00b7 ends %s" % (f.get("common_name") or f.get("subject"), _day(f.get("not_after")))
    word = _MARKS[ca["status"]]
    if ca["status"] == EXPIRING:
        word += " (within %d days)" % ca_warn_days
    title = "%s: %s, file %s" % (ca_title(ca), f.get("subject") or ca["note"], ca["file"])
    return _tile("ca " + ca["status"], 'data-ca="%s"' % e(ca["kind"]), ca_title(ca), title, word, big,
                 '<div class="tile-next" title="%s">%s</div>' % (e(title), e(line)))


def _tiles_html(summaries, cas, ca_warn_days):
    tiles = [(STATUS_RANK[s["status"]], 0, _system_tile(s)) for s in summaries]
    tiles += [(STATUS_RANK[c["status"]], 1, _ca_tile(c, ca_warn_days)) for c in cas]
    # What needs action first; among equals, systems before CAs (each list is already in its own order).
    return '<div class="tiles" id="tiles">%s</div>' % "".join(t[2] for t in sorted(tiles, key=lambda t: t[:2]))


def _nice_ceiling(value):
    """The next round number at or above ``value`` (1, 2, 2.5, 5 times a power of ten)."""
    step = 1
    while step * 10 <= value:
        step *= 10
    for factor in (1, 2, 2.5, 5, 10):
        if value <= step * factor:
            return int(step * factor)
    return int(step * 10)


def chart_scale(summaries, warn_days):
    """The chart's last day: every system's nearest expiry and the warning line fit, rounded up."""
    days = [s["nearest_days"] for s in summaries if s["nearest_days"] is not None]
    return _nice_ceiling(max([max(2 * warn_days, 10)] + days))


def _bar_text(s):
    if s["nearest_days"] is None:
        text = "no certificate"
    elif s["nearest_seconds"] < 0:
        text = "expired %s ago (%s)" % (_days(max(1, -s["nearest_days"])), s["nearest_host"])
    else:
        text = "%s (%s)" % (_days(s["nearest_days"]), s["nearest_host"])
    if s["needs_action"]:
        text += " \u00b7 %d need action" % s["needs_action"]
    return text


def _chart_svg(summaries, warn_days):
    """Days left per system as horizontal bars: the length is the system's nearest expiry, the colour its status;
    a dashed line marks the warning threshold. Plain SVG, nothing fetched."""
    label_w, plot_w, text_w, bar_h, gap, top = 150, 520, 290, 20, 10, 8
    width = label_w + plot_w + text_w
    scale = chart_scale(summaries, warn_days)
    height = top + len(summaries) * (bar_h + gap) + 24

    def x(days):
        return label_w + plot_w * min(max(days, 0), scale) / float(scale)

    parts = ['<svg id="days-chart" viewBox="0 0 %d %d" width="%d" height="%d" '
             'role="img" aria-labelledby="days-chart-title">' % (width, height, width, height),
             '<title id="days-chart-title">Days until the first certificate of each system ends</title>']
    axis_y = top + len(summaries) * (bar_h + gap)
    parts.append('<g class="axis">')
    step = _nice_ceiling(scale / 5.0)
    for tick in range(0, scale + 1, step):
        parts.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#d0d0d0"/>' % (
            x(tick), top - 4, x(tick), axis_y))
        parts.append('<text x="%.1f" y="%d" text-anchor="middle">%d d</text>' % (x(tick), axis_y + 16, tick))
    parts.append("</g>")
    for index, s in enumerate(summaries):
        y = top + index * (bar_h + gap)
        fill = PALETTE[s["status"]][1]
        days = s["nearest_days"] if s["nearest_days"] is not None else 0
        end = max(x(days), label_w + 3)  # an expired or missing certificate still shows a stub in its colour
        text = _bar_text(s)
        parts.append(
            '<g class="bar %s" data-system="%s"><title>%s: %s</title>'
            '<text x="%d" y="%d" text-anchor="end">%s</text>'
            '<rect class="track" x="%d" y="%d" width="%d" height="%d" fill="#f1f1f1"/>'
            '<rect class="value" x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>'
            '<text x="%.1f" y="%d">%s</text></g>' % (
                s["status"], e(s["system"]), e(s["system"]), e(text),
                label_w - 8, y + bar_h - 6, e(s["system"] if len(s["system"]) <= 20 else s["system"][:19] + "\u2026"),
                label_w, y, plot_w, bar_h,
                label_w, y, end - label_w, bar_h, fill,
                end + 6, y + bar_h - 6, e(text)))
    parts.append('<line class="warn" x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#a86e00" stroke-width="2" '
                 'stroke-dasharray="5,4"><title>warning threshold: %d days</title></line>' % (
                     x(warn_days), top - 4, x(warn_days), axis_y, warn_days))
    parts.append("</svg>")
    return "".join(parts)


def render_html(rows, generated, warn_days=DEFAULT_WARN_DAYS, title="MX-ONE certificate expiry", cas=(),
                ca_warn_days=DEFAULT_CA_WARN_DAYS):
    """One self-contained page (inline CSS, SVG and script, nothing fetched); every value escaped.

    What needs action leads: a verdict in the header, a tile per system and per CA (worst first), a chart of
    the days left per system, then the table of every LIM endpoint, most urgent first.
    """
    c = counts(rows)
    summaries = system_summaries(rows)
    cas_action = sum(1 for ca in cas if ca["status"] != OK)
    heads = "".join('<th data-col="%s"%s scope="col">%s</th>' % (key, ' data-type="num"' if num else "", e(text))
                    for key, text, num in COLUMNS)
    stamp = generated.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    if c["needs_action"]:
        verdict = "%d of %d LIM endpoint(s) need action" % (c["needs_action"], c["endpoints"])
    else:
        verdict = "All %d LIM endpoint(s) OK" % c["endpoints"]
    if cas_action:
        verdict += "; %d CA certificate(s) need action" % cas_action
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        # Nothing may load from elsewhere: the page works from a mail attachment or an air-gapped share.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="mxone-pki-report" content="%s">' % e(_digest_text(rows, warn_days, cas, ca_warn_days)),
        "<title>%s</title>" % e(title),
        "<style>%s</style>" % _CSS,
        "</head>",
        "<body>",
        "<header>",
        "<h1>%s</h1>" % e(title),
        '<p class="verdict" id="verdict">%s</p>' % e(verdict),
        '<p class="counts">'
        '<span>%d system(s)</span><span>%d LIM(s)</span><span>%d endpoint(s)</span>'
        '<span class="n-action">%d TLS failed</span><span class="n-action">%d stale</span>'
        '<span class="n-action">%d expired</span>'
        '<span class="n-expiring">%d expiring within %d days</span>'
        '<span>%d without certificate</span><span>%d ok</span>'
        '<span>TLS probes: %d ok, %d failed, %d not checked</span></p>' % (
            c["systems"], c["lims"], c["endpoints"], c["tls_failed"], c["stale"], c["expired"], c["expiring"],
            warn_days, c["unknown"], c["ok"], c["probe_ok"], c["probe_failed"], c["probe_not_checked"]),
        '<p>Generated at <time id="generated" datetime="%s">%s</time></p>' % (
            e(generated.astimezone(datetime.timezone.utc).isoformat()), e(stamp)),
        "</header>",
        "<main>",
        '<section id="action" aria-labelledby="action-title">',
        '<h2 id="action-title">%s</h2>' % ("Needs action" if c["needs_action"] or cas_action else "Systems"),
        _tiles_html(summaries, cas, ca_warn_days),
        "</section>",
        '<section id="chart" aria-labelledby="chart-title">',
        '<h2 id="chart-title">Days left per system</h2>',
        _chart_svg(summaries, warn_days),
        '<p class="legend">Each bar ends at the first certificate of the system to expire; its colour is the '
        "system's worst status. Dashed line: %d days (expiring).</p>" % warn_days,
        "</section>",
        '<section aria-labelledby="table-title">',
        '<h2 id="table-title">Every LIM endpoint</h2>',
        '<table id="certificates">',
        "<thead><tr>%s</tr></thead>" % heads,
        "<tbody>",
    ]
    lines.extend(_row_html(row) for row in rows)
    lines += [
        "</tbody>",
        "</table>",
        '<p class="legend">Status, most urgent first: TLS failed (down, or the handshake failed), stale (the LIM '
        "serves a certificate other than the PKI store's), expired, expiring within %d days, no certificate, OK. "
        "Click a column header to sort by it, again to reverse. Facts are those of the certificate each LIM served "
        "to the probe; the PKI store's where it served none. Hover over a cut value for all of it.</p>" % warn_days,
        "</section>",
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
    """Labels of a LIM's certificate: where it is served, and its file in the PKI store."""
    f = row["facts"]
    path = row["file"] or ""
    values = dict(system=row["system"], host=row["host"], port=row["port"] or "", cert_role=ROLE_LIM,
                  filename=os.path.basename(path), filepath=path,
                  serial_number=_serial_decimal(f.get("serial")),  # decimal, as x509-certificate-exporter
                  subject_CN=f.get("common_name") or "", issuer_CN=f.get("issuer_common_name") or "")
    return [(key, values[key]) for key in CERT_LABELS]


def ca_labels(ca):
    """Labels of a CA certificate: cert_role ca, no host or port; system empty for the enterprise CA (the whole
    fleet trusts it), the system for a customer's CA."""
    f = ca["facts"]
    values = dict(system=ca["system"], host="", port="", cert_role=ROLE_CA,
                  filename=os.path.basename(ca["file"]), filepath=ca["file"],
                  serial_number=_serial_decimal(f.get("serial")),
                  subject_CN=f.get("common_name") or "", issuer_CN=f.get("issuer_common_name") or "")
    return [(key, values[key]) for key in CERT_LABELS]


def endpoint_labels(row):
    return [("system", row["system"]), ("host", row["host"]), ("port", row["port"] or "")]


def _unix(value):
    parsed = _parse_time(value)
    return int(parsed.timestamp()) if parsed else None


def render_prometheus(rows, generated, warn_days=DEFAULT_WARN_DAYS, cas=(), ca_warn_days=DEFAULT_CA_WARN_DAYS):
    """The textfile for node_exporter's textfile collector: gauges only, no sample timestamps.

    ``x509_cert_*`` carry the LIMs' certificates (cert_role lim) and the CAs' (cert_role ca) with one label
    set; ``mxone_pki_certificate_matches_store`` says per probed endpoint whether the LIM serves the PKI store's
    certificate (only where the probe got a certificate and the store has one).
    """
    ordered = sorted(rows, key=_lim_key)  # a stable order keeps diffs small
    # (labels, facts, expired) of every certificate with facts: the LIMs', then the CAs'.
    certs = [(cert_labels(r), r["facts"], r["expiry"] == EXPIRED) for r in ordered if r["facts"]]
    certs += [(ca_labels(c), c["facts"], c["status"] == EXPIRED)
              for c in sorted(cas, key=lambda c: (c["kind"], c["system"], c["file"])) if c["facts"]]
    compared = [r for r in ordered if r["matches_store"] is not None]
    probed = [r for r in ordered if r["probe"] in (PROBE_OK, PROBE_FAILED)]
    now = int(generated.timestamp())
    lines = ["# %s" % _digest_text(rows, warn_days, cas, ca_warn_days)]
    lines += _family(
        "x509_cert_not_after", "Unix time at which the certificate stops being valid (NotAfter): the one a LIM "
        "serves (cert_role lim) or a CA in the PKI store (cert_role ca).",
        [_sample("x509_cert_not_after", labels, _unix(f["not_after"])) for labels, f, dummy in certs])
    lines += _family(
        "x509_cert_not_before", "Unix time from which the certificate is valid (NotBefore): the one a LIM serves "
        "(cert_role lim) or a CA in the PKI store (cert_role ca).",
        [_sample("x509_cert_not_before", labels, _unix(f["not_before"])) for labels, f, dummy in certs
         if _unix(f["not_before"]) is not None])
    lines += _family(
        "x509_cert_expired", "1 when the certificate had expired at the report's run, else 0.",
        [_sample("x509_cert_expired", labels, 1 if expired else 0) for labels, dummy, expired in certs])
    lines += _family(
        "mxone_pki_certificate_matches_store",
        "1 when the certificate the LIM served to the probe is the PKI store's, 0 when it is another (stale: "
        "a renewal that did not reach it, or a certificate put there by hand).",
        [_sample("mxone_pki_certificate_matches_store", endpoint_labels(r), 1 if r["matches_store"] else 0)
         for r in compared])
    lines += _family(
        "mxone_pki_tls_probe_success",
        "1 when the LIM completed a TLS handshake with chain and lim<N>.<domain> verified, else 0.",
        [_sample("mxone_pki_tls_probe_success", endpoint_labels(r) + [("server_name", r["server_name"] or "")],
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
