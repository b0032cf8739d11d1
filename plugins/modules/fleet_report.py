#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: fleet_report
short_description: Write the fleet's certificate expiry report (HTML page and Prometheus textfile)
version_added: 0.1.0
description:
  - From the fleet plan (M(mxone.pki.fleet_plan)), the results of M(mxone.pki.tls_check) and the certificates in
    the PKI store, writes on the controller a self-contained HTML page and a Prometheus textfile for
    node_exporter's textfile collector. Run it once per run (C(run_once), C(delegate_to=localhost)).
  - One row per LIM and probed port; a LIM not probed in this run (another system was selected with C(--limit),
    TLS is off, check mode) still gets a row from the PKI store's certificate, so its expiry series stay in the
    textfile.
  - Each row shows the certificate the LIM served to the probe (the store's when it served none), with its
    CN and subject, SANs, issuer, serial, not-after, days left, and the probe's result.
  - "Each row has a status, the first that applies of C(tls_failed) (the probe failed; C(TLS DOWN) on the page
    when nothing answered), C(stale) (the LIM serves a certificate other than the PKI store's; the page says
    C(stale: serves serial X, store has Y)), C(expired), C(expiring) (within O(warn_days)), C(unknown) (no
    certificate), C(ok). The page shows it by colour and by text, most urgent first; columns sort when their
    header is clicked. Long values (subject, serial, fingerprint, probe errors) are cut to one line, whole on
    hover; more than three SANs fold away."
  - The page leads with what needs action, a tile per system (its worst status, how many endpoints need action
    and why, the nearest expiry) and per CA certificate, and a chart of the days left per system (inline SVG).
  - The CAs are the enterprise CA of the PKI store (C(ca/ca.pem)) and the chain of each customer-PKI certificate
    (C(certs/<id>/chain.pem)); a CA that ends within O(ca_warn_days) is marked expiring.
  - The textfile has C(x509_cert_not_after), C(x509_cert_not_before) and C(x509_cert_expired) with the label names
    of x509-certificate-exporter (C(serial_number) in decimal, C(subject_CN), C(issuer_CN), C(filename),
    C(filepath), the certificate's file in the PKI store) plus C(system), C(host), C(port) and C(cert_role)
    (C(lim) for the certificate a LIM serves; C(ca) for a CA, with C(host) and C(port) empty and C(system) empty
    for the enterprise CA); C(mxone_pki_certificate_matches_store) (1 or 0) per endpoint whose served certificate
    could be compared with the store's; C(mxone_pki_tls_probe_success) per probed endpoint and
    C(mxone_pki_report_last_run_timestamp_seconds).
  - Both files are written atomically (a temporary file beside the target, then a rename), mode 0644, on every
    run that is not check mode, so the run's time is always current. The files hold public certificate facts
    only, never key material.
author:
  - mxone.pki contributors (!UNKNOWN)
extends_documentation_fragment:
  - mxone.pki.attributes
  - mxone.pki.cryptography
attributes:
  check_mode:
    support: full
    details:
      - Writes nothing. Compares the report it would write with the files in place. The mxone_verify role does not
        probe in check mode; when O(probes) is empty in check mode, only what needs no probe is compared (each
        LIM's certificate in the PKI store, its status and days left).
  diff_mode:
    support: full
    details:
      - The text of each file that changes, before and after (the files hold no secrets).
      - None in check mode without O(probes); the text would show rows and results that no probe produced.
options:
  plan:
    description: The fleet plan, C(mxone_fleet.plan) of the mxone.pki.mxone_plan role.
    type: dict
    required: true
  probes:
    description:
      - Results of M(mxone.pki.tls_check); either the endpoint results (its RV(mxone.pki.tls_check#module:results))
        or the registered results of a loop over it (each with C(results)). Skipped items are ignored.
    type: list
    elements: dict
    default: []
  html_path:
    description: Where to write the HTML page; empty to skip it.
    type: path
    default: ""
  prom_path:
    description:
      - Where to write the Prometheus textfile; empty to skip it. Must end with C(.prom). Point it into the
        directory node_exporter reads with C(--collector.textfile.directory).
    type: path
    default: ""
  warn_days:
    description: A certificate that ends within this many days is marked as expiring.
    type: int
    default: 30
  ca_warn_days:
    description:
      - A CA certificate that ends within this many days is marked as expiring. A new CA must reach every phone
        before the LIMs switch to it, so this is longer than O(warn_days).
    type: int
    default: 180
    version_added: 0.2.0
  title:
    description: Title of the HTML page.
    type: str
    default: MX-ONE certificate expiry
  now:
    description: Take this ISO 8601 time as the current time (tests, what-if reports). Default the clock.
    type: str
seealso:
  - module: mxone.pki.tls_check
  - module: mxone.pki.fleet_plan
notes:
  - C(changed) says whether the report's content differs from the files in place, leaving aside the run's time
    (the generated-at line and C(mxone_pki_report_last_run_timestamp_seconds)); a day later the days left differ,
    which counts.
"""

EXAMPLES = r"""
- name: Probe every LIM
  mxone.pki.tls_check:
    endpoints: "{{ endpoints }}"
    ca_path: pki/ca/ca.pem
  delegate_to: localhost
  run_once: true
  register: probes

- name: Expiry report for people and for node_exporter
  mxone.pki.fleet_report:
    plan: "{{ mxone_fleet.plan }}"
    probes: "{{ probes.results }}"
    html_path: /var/www/html/mxone-pki/index.html
    prom_path: /var/lib/prometheus/node-exporter/mxone_pki.prom
    warn_days: 45
  delegate_to: localhost
  run_once: true
  register: report

- name: Fail when a certificate has expired or a LIM serves one that is not the PKI store's
  ansible.builtin.assert:
    that:
      - report.counts.expired == 0
      - report.counts.stale == 0
    fail_msg: "expired: {{ report.expired | join(', ') }}; stale: {{ report.stale | join(', ') }}"
  run_once: true
"""

RETURN = r"""
msg:
  description: One line for a person; counts and the files.
  returned: always
  type: str
  sample: "2 LIM endpoint(s) in 1 system(s), 2 need action: 1 TLS probe(s) failed, 0 stale, 0 expired, 1 expiring
    within 30 days; CA certificate(s) ok (none ends within 180 days)"
html_path:
  description: The HTML page (written, or would be in check mode); empty when skipped.
  returned: always
  type: str
prom_path:
  description: The Prometheus textfile; empty when skipped.
  returned: always
  type: str
written:
  description: Files written by this run (none in check mode).
  returned: always
  type: list
  elements: str
counts:
  description:
    - systems, lims, endpoints; needs_action, tls_failed, ok (rows by status; ok is nothing to do); stale (the
      LIM serves a certificate other than the PKI store's); expired, expiring, unknown (no certificate) by the
      certificate's own dates, whatever the probe said; probe_ok, probe_failed, probe_not_checked;
      served_not_in_store (the same as stale, kept for older callers).
  returned: always
  type: dict
expired:
  description: Endpoints (C(host:port), or C(host) when not probed) whose certificate has expired.
  returned: always
  type: list
  elements: str
expiring:
  description: Endpoints whose certificate ends within O(warn_days).
  returned: always
  type: list
  elements: str
probe_failed:
  description: Endpoints whose TLS probe failed.
  returned: always
  type: list
  elements: str
stale:
  description: Endpoints that serve a certificate other than the PKI store's.
  returned: always
  type: list
  elements: str
  version_added: 0.2.0
needs_action:
  description: Endpoints whose status is not C(ok), most urgent first.
  returned: always
  type: list
  elements: str
  version_added: 0.2.0
rows:
  description:
    - "The report's rows, most urgent first; system, host, port, status (tls_failed, stale, expired, expiring,
      unknown, ok), detail (the status in words, for example C(stale: serves serial 1f, store has 2a)), expiry
      (the certificate's own; expired, expiring, unknown, ok), days_left, not_after, probe (ok, failed,
      not checked, off), probe_error, source (served, store), serial, store_serial."
  returned: always
  type: list
  elements: dict
cas:
  description:
    - The CA certificates, most urgent first; kind (enterprise, customer), system (empty for the enterprise CA),
      file, subject, serial, not_after, days_left, status (expired, expiring within O(ca_warn_days), unknown, ok),
      note (why there are no facts).
  returned: always
  type: list
  elements: dict
  version_added: 0.2.0
probes_compared:
  description: Whether the probe results took part in deciding C(changed) (not in check mode without probes).
  returned: always
  type: bool
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mxone.pki.plugins.module_utils._crypto import require_cryptography
from ansible_collections.mxone.pki.plugins.module_utils.certs import facts, load_certificate
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.files import PUBLIC_MODE, read_bytes
from ansible_collections.mxone.pki.plugins.module_utils.module_glue import facts_of_file, fail, parse_now
from ansible_collections.mxone.pki.plugins.module_utils.pem import certificate_ders
from ansible_collections.mxone.pki.plugins.module_utils.report import (
    EXPIRED, EXPIRING, OK, PROBE_FAILED, build_ca_rows, build_rows, ca_sources, ca_title, check_prom_path,
    check_warn_days, counts, digests, digests_in, endpoint_label, flatten_probes, render_html, render_prometheus,
    write_report)


def store_facts(plan, now):
    """Facts of every certificate in the PKI store: {} when absent, {unreadable: why} when unreadable."""
    found = {}
    for cert_id, cert in (plan.get("certificates") or {}).items():
        path = (cert.get("paths") or {}).get("cert")
        found[cert_id] = facts_of_file(path, now) if path else {}
    return found


def certificates_in(path, now):
    """(facts of every certificate in a PEM or DER file, None) or (None, why unreadable); (None, None): no file."""
    data = read_bytes(path)
    if data is None:
        return None, None
    try:
        if b"-----BEGIN" in data:
            found = [facts(load_certificate(der, source=path), now) for der in certificate_ders(data, source=path)]
        else:
            found = [facts(load_certificate(data, source=path), now)]
    except MxonePkiError as error:
        return None, error.msg
    if not found:
        return None, "%s holds no certificate" % path
    return found, None


def ca_facts(plan, now):
    """The CA files of ``report.ca_sources()`` with the facts of their certificates, for ``build_ca_rows()``."""
    found = []
    for kind, system, path, used in ca_sources(plan):
        certs, why = certificates_in(path, now)
        found.append(dict(kind=kind, system=system, file=path, used=used, certs=certs, unreadable=why))
    return found


def ca_words(cas, ca_warn_days):
    """The CAs in the module's one line: those that need action by name, else that they are fine."""
    if not cas:
        return "no CA certificate in the PKI store"
    bad = [ca for ca in cas if ca["status"] != OK]
    if not bad:
        return "CA certificate(s) ok (none ends within %d days)" % ca_warn_days
    words = []
    for ca in bad:
        if ca["facts"] is None:
            words.append("%s: %s" % (ca_title(ca), ca["note"]))
        else:
            words.append("%s %s %s: %s, %d day(s) left" % (
                ca_title(ca), ca["facts"]["common_name"], ca["status"], ca["facts"]["not_after"][:10], ca["days_left"]))
    return "CA: " + "; ".join(words)


def differs(path, text, wanted, key):
    """(changed, current text): content other than the run's time differs, or the mode is not 0644."""
    data = read_bytes(path)
    if data is None:
        return True, ""
    current = data.decode("utf-8", "replace")
    found = digests_in(current)
    mode = os.stat(path).st_mode & 0o7777
    return found is None or found[key] != wanted[key] or mode != PUBLIC_MODE, current


def main():
    module = AnsibleModule(
        argument_spec=dict(
            plan=dict(type="dict", required=True),
            probes=dict(type="list", elements="dict", default=[]),
            html_path=dict(type="path", default=""),
            prom_path=dict(type="path", default=""),
            warn_days=dict(type="int", default=30),
            ca_warn_days=dict(type="int", default=180),
            title=dict(type="str", default="MX-ONE certificate expiry"),
            now=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    require_cryptography(module)
    params = module.params
    try:
        now = parse_now(params["now"])
        warn_days = check_warn_days(params["warn_days"])
        ca_warn_days = check_warn_days(params["ca_warn_days"], "ca_warn_days")
        html_path = params["html_path"] or ""
        prom_path = check_prom_path(params["prom_path"] or "")
        probes = flatten_probes(params["probes"])
        rows = build_rows(params["plan"], probes, store_facts(params["plan"], now), now, warn_days)
        cas = build_ca_rows(ca_facts(params["plan"], now), now, ca_warn_days)
        wanted = digests(rows, warn_days, cas, ca_warn_days)
        # Check mode gets no probe results from mxone_verify: compare what it can know.
        key = "rows" if probes or not module.check_mode else "certs"
        files = []
        if html_path:
            files.append((html_path, render_html(rows, now, warn_days, params["title"], cas, ca_warn_days)))
        if prom_path:
            files.append((prom_path, render_prometheus(rows, now, warn_days, cas, ca_warn_days)))
        changed, diffs, written = False, [], []
        for path, text in files:
            file_changed, before = differs(path, text, wanted, key)
            changed = changed or file_changed
            # Without probes the text would show rows and results no probe produced: no diff then.
            if file_changed and module._diff and key == "rows":
                diffs.append(dict(before=before, after=text, before_header=path, after_header=path))
        if not module.check_mode:
            # Always rewritten: the run's time (generated-at, last-run metric) must be current for staleness alerts.
            for path, text in files:
                written.append(write_report(path, text))
    except MxonePkiError as error:
        fail(module, error)
    c = counts(rows)
    msg = ("%d LIM endpoint(s) in %d system(s), %d need action: %d TLS probe(s) failed, %d stale, %d expired, "
           "%d expiring within %d days; %s" % (
               c["endpoints"], c["systems"], c["needs_action"], c["probe_failed"], c["stale"], c["expired"],
               c["expiring"], warn_days, ca_words(cas, ca_warn_days)))
    if key == "certs":
        msg += " (check mode: no TLS probe ran; compared the PKI store's certificates only)"
    result = dict(
        changed=changed, msg=msg, html_path=html_path, prom_path=prom_path, written=written, counts=c,
        expired=[endpoint_label(r) for r in rows if r["expiry"] == EXPIRED],
        expiring=[endpoint_label(r) for r in rows if r["expiry"] == EXPIRING],
        probe_failed=[endpoint_label(r) for r in rows if r["probe"] == PROBE_FAILED],
        stale=[endpoint_label(r) for r in rows if r["matches_store"] is False],
        needs_action=[endpoint_label(r) for r in rows if r["status"] != OK],
        rows=[dict(system=r["system"], host=r["host"], port=r["port"], status=r["status"], detail=r["detail"],
                   expiry=r["expiry"], days_left=r["days_left"], not_after=(r["facts"] or {}).get("not_after"),
                   probe=r["probe"], probe_error=r["probe_error"], source=r["source"],
                   serial=(r["facts"] or {}).get("serial"), store_serial=(r["store"] or {}).get("serial"))
              for r in rows],
        cas=[dict(kind=ca["kind"], system=ca["system"], file=ca["file"], subject=(ca["facts"] or {}).get("subject"),
                  serial=(ca["facts"] or {}).get("serial"), not_after=(ca["facts"] or {}).get("not_after"),
                  days_left=ca["days_left"], status=ca["status"], note=ca["note"]) for ca in cas],
        probes_compared=key == "rows")
    if diffs:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
