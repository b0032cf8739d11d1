# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the roles use to turn per-host results into per-system decisions."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mxone.pki.plugins.module_utils import licence
from ansible_collections.mxone.pki.plugins.module_utils.activation import COMMAND_PATH_DEFAULT
from ansible_collections.mxone.pki.plugins.module_utils.fleet import delivery_targets


def delivered(delivery, host):
    """Whether the fleet delivery (the run_once mxone.pki.deliver result) changed this host's files."""
    return bool((((delivery or {}).get("results") or {}).get(host) or {}).get("changed"))


def changed_lims(plan, delivery, play_hosts, system_id):
    """The LIMs of a system whose files this run changed, lowest LIM number first."""
    live = set(play_hosts)
    return [host for host in plan["systems"][system_id]["hosts"]  # sorted by LIM number in the plan
            if host in live and delivered(delivery, host)]


def activation_hosts(plan, delivery, play_hosts):
    """System id -> the host that runs its activation: the first changed LIM of each changed system."""
    chosen = {}
    for system_id in plan["systems"]:
        changed = changed_lims(plan, delivery, play_hosts, system_id)
        if changed:
            chosen[system_id] = changed[0]
    return chosen


def activation_plan(plan, delivery, play_hosts, play_hosts_all):
    """The systems to activate, in inventory order: one entry each for mxone.pki.activate's ``systems``.

    A system needs activation when this run changed files on one of its LIMs (or found a delivered bundle
    still pending) and it has encryption on. Its commands run on the first changed LIM; every LIM still
    in the play is checked after reload against the certificate the PKI store holds for it.
    """
    systems = []
    for system_id in plan.get("order") or sorted(plan["systems"]):
        system = plan["systems"][system_id]
        changed = changed_lims(plan, delivery, play_hosts_all, system_id)
        if not changed or not system["encryption"]:
            continue
        live = [h for h in system["hosts"] if h in set(play_hosts)]
        checked = [h for h in system["hosts"] if h in set(play_hosts_all)]
        tls = system.get("tls", True)
        systems.append(dict(
            system=system_id, host=changed[0], lims=live, changed_lims=changed,
            media_encryption_types=system["media_encryption_types"] if tls else [],
            reload=system["reload"], window=system.get("window"), timezone=system.get("timezone"),
            command_path=system.get("command_path", COMMAND_PATH_DEFAULT),
            expected=dict((h, public_path(plan, plan["certificates"][plan["hosts"][h]["certificate"]]["paths"]["cert"]))
                          for h in checked) if tls else {},
            tls_groups=verify_endpoints(plan, checked, [5061], system_id) if tls else []))
    return systems


def licence_problem(result, system, node):
    """Why ``license_status`` (its registered result on ``node``) leaves ``system`` alone, or an empty string."""
    return licence.result_problem(result, system, node)


def public_path(plan, path):
    """Where the controller reads a public certificate of the store: with a PKI host, its copy there."""
    return (plan.get("public_copies") or {}).get(path, path)


def verify_endpoints(plan, play_hosts, ports=(5061,), system=None):
    """TLS endpoints of the selected systems' LIMs, grouped for one ``tls_check`` call each.

    A group shares the CA chain its certificates are checked against and the client certificate
    presented: a LIM with ``TlsClientVerificationMode`` optional or mandatory is offered its own
    certificate (EKU clientAuth), as a peer on a mutual-TLS SIP route would offer its own.
    """
    groups = {}
    live = set(play_hosts)
    for host, lim in sorted(plan["hosts"].items()):
        if lim["system"] not in plan.get("selected_systems", []) or host not in live:
            continue
        if system is not None and lim["system"] != system:
            continue
        if not plan["systems"][lim["system"]].get("tls", True):
            continue  # TLS switched off on this system: nothing to shake hands with
        cert = plan["certificates"][lim["certificate"]]
        mutual = lim.get("tls_client_verification") in ("optional", "mandatory")
        key = "%s|%s" % (cert["paths"]["chain"], cert["id"] if mutual else "")
        # With a PKI host the client key stays there: no client certificate is offered from the controller.
        group = groups.setdefault(key, dict(ca_path=public_path(plan, cert["paths"]["chain"]),
                                            client=cert["paths"] if mutual and not plan.get("pki_remote") else None,
                                            endpoints=[],
                                            phone_endpoints=[]))
        for port in ports:
            endpoint = dict(name=host, address=lim["ip"], port=int(port), server_name=lim["fqdn"],
                            system=lim["system"], expected_cert=public_path(plan, cert["paths"]["cert"]))
            group["endpoints"].append(endpoint)
            if lim.get("tls_client_verification") != "mandatory":  # SIPLP does no mutual TLS for phones
                # phones check the trust only; which certificate a LIM serves is the other check's business
                group["phone_endpoints"].append(dict((k, v) for k, v in endpoint.items() if k != "expected_cert"))
    return [groups[key] for key in sorted(groups)]


def rollout_summary(plan, hostvars, play_hosts_all, play_hosts, issue_results=None, verify_results=None,
                    delivery=None, activation=None):
    """Per selected system: what changed and why, the activation (commands, waits, outage), the TLS result.

    ``activation`` is mxone.pki.activate's fleet result (``mxone_activate_result``).
    """
    activations = (activation or {}).get("systems") or {}
    issued = dict((r["item"]["key"], r) for r in (issue_results or []) if "item" in r)
    probes = {}
    for group in verify_results or []:
        for probe in group.get("results", []):
            probes.setdefault(probe.get("name"), []).append(probe)
    live, everyone = set(play_hosts), set(play_hosts_all)
    summary = []
    for system_id in plan.get("selected_systems", []):
        system = plan["systems"][system_id]
        hosts = [h for h in system["hosts"] if h in everyone]
        certificates = []
        for cert_id in system["certificates"]:
            result = issued.get(cert_id, {})
            certificates.append(dict(id=cert_id, changed=bool(result.get("changed")), reason=result.get("reason"),
                                     detail=result.get("detail") or result.get("msg")))
        nodes_changed = [h for h in hosts if delivered(delivery, h)]
        node_changes = ["%s: %s" % (h, ((delivery or {}).get("results") or {}).get(h, {}).get("reason") or "changed")
                        for h in nodes_changed]
        activated = activations.get(system_id) or {}
        tls = [p for h in hosts for p in probes.get(h, [])]
        if activated.get("state") in ("pending", "stopped") or not system.get("encryption", True):
            # not activated on purpose (window, stopped, mxone_encryption false): the old certificate still runs
            tls = [dict(p, ok=True) if p.get("stale") else p for p in tls]
        runner = activated.get("host")
        failure = activated.get("failure")
        # The host that reports a stopped activation fails for it; that is not a failure of its own.
        failed = [h for h in hosts if h not in live and not (h == runner and activated.get("state") == "stopped")]
        restored = list(activated.get("rolled_back") or [])
        # why its LIMs failed, when the product said so before they left the play: the licence check's message
        stopped_by = _licence_stop(hostvars, system_id, system.get("leader")) if failed else None
        summary.append(dict(
            system=system_id, changed=bool(nodes_changed) or any(c["changed"] for c in certificates),
            tls=system.get("tls", True),
            certificates=certificates, nodes_changed=nodes_changed, node_changes=node_changes, nodes_failed=failed,
            failed_why=stopped_by,
            commands=list(activated.get("commands") or []), activation_host=runner,
            failure=(failure or "").strip() or None, rolled_back=restored,
            activation=activated.get("state"), activation_reason=activated.get("reason"),
            would_run=list(activated.get("would_run") or []),
            outage=(activated.get("outage") or {}).get("seconds"),
            outage_window=dict(activated["outage"]) if activated.get("outage") else None,
            waited=(activated.get("waited") or {}).get("elapsed"),
            tls_ok=sum(1 for p in tls if p.get("ok")), tls_checked=len(tls),
            tls_errors=["%s: %s" % (p.get("name"), p.get("error")) for p in tls if not p.get("ok")],
            lims=_lim_tls(hosts, tls)))
    return summary


def _licence_stop(hostvars, system_id, leader):
    """The licence check's message for a system it stopped, or None.

    The check is one run_once task for the fleet (mxone_activate, licence.yml): every host holds its result, with
    each system's raw answer under ``licence``.
    """
    try:
        result = (hostvars or {})[leader].get("__mxone_activate_licence") if leader else None
    except KeyError:
        return None
    answer = ((result or {}).get("licence") or {}).get(system_id)
    if not answer:
        return None
    return licence_problem(answer, system_id, leader) or None


def _lim_tls(hosts, probes):
    """Per LIM of a system: its TLS state (verified, problem, not checked) and the problem, from its probes."""
    lims = {}
    for host in hosts:
        mine = [p for p in probes if p.get("name") == host]
        errors = ["%s: %s" % (p.get("port"), p.get("error")) if p.get("port") else str(p.get("error"))
                  for p in mine if not p.get("ok")]
        lims[host] = dict(tls="problem" if errors else "verified" if mine else "not checked",
                          problem="; ".join(errors) or None)
    return lims


SUMMARY_COLUMNS = ("system", "result", "certificate (why)", "nodes changed", "commands", "outage (wait)", "TLS")


def system_result(entry):
    """A system's outcome in one word, from its summary entry: failed, stopped (delivered, not activated after
    another system failed), pending (delivered, waiting for its window), changed or unchanged.

    The summary table's result cell and the job artifact (P(mxone.pki.job_artifact#filter)) both say this one.
    """
    if entry.get("failure") or entry["nodes_failed"]:
        return "failed"
    if entry.get("activation") in ("stopped", "pending"):
        return entry["activation"]
    return "changed" if entry["changed"] else "unchanged"


def _result_cell(entry):
    result = system_result(entry)
    if entry.get("failure"):
        return "FAILED (%s; rolled back on %s)" % (entry["failure"], ", ".join(entry["rolled_back"]) or "no LIM")
    if result == "failed":
        why = entry.get("failed_why")
        return "FAILED on %s%s" % (", ".join(entry["nodes_failed"]), " (%s)" % why if why else "")
    if result == "stopped":
        return "NOT ACTIVATED (%s; delivered, pending)" % (entry.get("activation_reason") or "stopped")
    if result == "pending":
        return "PENDING (%s)" % entry.get("activation_reason")
    if entry["changed"] and entry.get("node_changes") and not any(c.get("reason") for c in entry["certificates"]):
        return "CHANGED (%s)" % "; ".join(entry["node_changes"])  # no new certificate: say what did change
    return "CHANGED" if entry["changed"] else "unchanged"


def summary_rows(summary):
    """One row per system: the cells of the summary table, as text."""
    rows = []
    for entry in summary:
        why = "; ".join("%s %s" % (c["id"], ("%s (%s)" % (c["reason"], c["detail"])) if c["reason"] else "kept")
                        for c in entry["certificates"])
        commands = ", ".join("%s%s" % (c["command"], "" if c["rc"] == 0 else " [exit %s]" % c["rc"])
                             for c in entry["commands"]) or (
            "would run: " + ", ".join(entry["would_run"]) if entry.get("would_run") else "none")
        tls = "%d/%d ok" % (entry["tls_ok"], entry["tls_checked"]) if entry["tls_checked"] else (
            "off" if entry.get("tls") is False else "not checked")
        if entry["tls_errors"]:
            tls += " (" + "; ".join(entry["tls_errors"]) + ")"
        outage = "-"
        if entry.get("outage") is not None:
            outage = "%s s (waited %s s)" % (entry["outage"], entry.get("waited"))
        rows.append((entry["system"], _result_cell(entry), why, str(len(entry["nodes_changed"])), commands, outage,
                     tls))
    return rows


def summary_table(summary):
    """The per-system summary as an aligned text table (header, rule, one row per system)."""
    rows = [SUMMARY_COLUMNS] + summary_rows(summary)
    widths = [max(len(row[i]) for row in rows) for i in range(len(SUMMARY_COLUMNS))]

    def line(cells):
        return " | ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()
    return "\n".join([line(rows[0]), "-+-".join("-" * w for w in widths)] + [line(row) for row in rows[1:]])


def summary_lines(summary):
    """The summary as one line per system."""
    return ["%s: %s | certificate: %s | nodes updated: %s | commands: %s | outage: %s | TLS %s" % row
            for row in summary_rows(summary)]


def job_artifact(summary, check_mode=False, playbook=None):
    """The per-system summary as a job artifact (``set_stats`` data; AWX shows it and passes it on in a workflow).

    Only reshapes the summary (no second decision): per system whether it changed and why, the commands run with
    their exit codes, the outage window the activation measured, the TLS state of each LIM, and the fleet totals.
    Data only: the summary holds no key, passphrase or password.
    """
    systems = {}
    for entry in summary or []:
        result = system_result(entry)
        lims = entry.get("lims") or {}
        systems[entry["system"]] = dict(
            result=result, ok=result != "failed" and not entry["tls_errors"], changed=bool(entry["changed"]),
            why=[dict(certificate=c["id"], reason=c["reason"], detail=c["detail"])
                 for c in entry["certificates"] if c.get("reason")],
            node_changes=list(entry.get("node_changes") or []),
            commands=[dict(command=c["command"], rc=c["rc"]) for c in entry["commands"]],
            would_run=list(entry.get("would_run") or []),
            activation=entry.get("activation"), activation_reason=entry.get("activation_reason"),
            failure=entry.get("failure") or entry.get("failed_why"), nodes_changed=list(entry["nodes_changed"]),
            nodes_failed=list(entry["nodes_failed"]), rolled_back=list(entry.get("rolled_back") or []),
            outage=entry.get("outage_window"),
            tls=dict((host, lim["tls"]) for host, lim in lims.items()),
            tls_problems=dict((host, lim["problem"]) for host, lim in lims.items() if lim.get("problem")))
    results = list(systems.values())
    return dict(
        playbook=playbook, mode="check" if check_mode else "apply", ok=all(s["ok"] for s in results),
        systems=systems,
        totals=dict(systems=len(results), changed=sum(1 for s in results if s["changed"]),
                    failed=sum(1 for s in results if not s["ok"]),
                    waiting=sum(1 for s in results if s["result"] in ("pending", "stopped")),
                    unchanged=sum(1 for s in results if s["result"] == "unchanged")),
        changed_systems=sorted(name for name, s in systems.items() if s["changed"]),
        failed_systems=sorted(name for name, s in systems.items() if not s["ok"]))


def renew_report(plan, summary, issue_results=None, check_mode=False, generated=None):
    """The renewal run as data: per certificate the decision, per system the outcome, and the totals.

    ``due_not_renewed`` lists the certificates that were due but whose system did not complete
    (issue, delivery, activation or TLS failed, or its activation was stopped after another system
    failed); CI fails on it. ``pending_activation`` lists those delivered but waiting for their
    system's maintenance window: the next run inside it activates them.
    """
    results = dict((r["item"]["key"], r) for r in (issue_results or []) if "item" in r)
    by_system = dict((entry["system"], entry) for entry in summary or [])
    certificates = []
    for cert_id, cert in sorted(plan["certificates"].items()):
        if cert["system"] not in plan.get("selected_systems", []):
            continue
        result = results.get(cert_id, {})
        before = result.get("previous") or {}
        due = bool(result.get("renew", result.get("changed")))
        outcome = by_system.get(cert["system"], {})
        completed = bool(outcome) and not outcome.get("nodes_failed") and not outcome.get("failure") \
            and not outcome.get("tls_errors") and not result.get("failed") \
            and outcome.get("activation") not in ("stopped", "pending")
        pending = outcome.get("activation") == "pending"
        certificates.append(dict(
            id=cert_id, system=cert["system"], lim=cert["lim"], mode=cert["mode"],
            not_after=before.get("not_after"), days_left=before.get("days_left"),
            decision="renew" if due else "keep", reason=result.get("reason"),
            detail=result.get("detail") or result.get("msg"),
            renewed=bool(due and completed and not check_mode), pending_activation=bool(due and pending),
            new_not_after=(result.get("certificate") or {}).get("not_after") if due else None))
    due = [c for c in certificates if c["decision"] == "renew"]
    return dict(
        generated=generated, mode="check" if check_mode else "apply", certificates=certificates,
        systems=summary or [], due=len(due), renewed=sum(1 for c in due if c["renewed"]),
        pending_activation=[c["id"] for c in due if c["pending_activation"]],
        due_not_renewed=[] if check_mode else [c["id"] for c in due if not c["renewed"] and not c["pending_activation"]])


def report_lines(report):
    """The renewal plan/result as lines: one per certificate."""
    lines = ["%-16s %-8s %-26s %9s  %-6s %s" % ("certificate", "system", "not after", "days left", "plan",
                                                "reason")]
    for c in report["certificates"]:
        lines.append("%-16s %-8s %-26s %9s  %-6s %s" % (
            c["id"], c["system"], c["not_after"] or "-", "-" if c["days_left"] is None else c["days_left"],
            c["decision"], c["reason"] or c["detail"] or ""))
    not_renewed = ", NOT renewed: " + ", ".join(report["due_not_renewed"]) if report["due_not_renewed"] else ""
    pending = report.get("pending_activation") or []
    waiting = ", delivered and waiting for the maintenance window: " + ", ".join(pending) if pending else ""
    lines.append("%d due, %d renewed%s%s" % (report["due"], report["renewed"], not_renewed, waiting))
    return lines


class FilterModule(object):
    def filters(self):
        return {"activation_hosts": activation_hosts, "activation_plan": activation_plan, "changed_lims": changed_lims,
                "delivery_targets": delivery_targets, "job_artifact": job_artifact,
                "licence_problem": licence_problem, "renew_report": renew_report,
                "report_lines": report_lines, "rollout_summary": rollout_summary,
                "summary_lines": summary_lines, "summary_table": summary_table, "verify_endpoints": verify_endpoints}
