"""Per-system decisions from the fleet delivery result (plugins/filter/mxone.py)."""

from ansible_collections.mxone.pki.plugins.filter.mxone import activation_hosts, changed_lims, rollout_summary

PLAN = dict(systems=dict(a=dict(hosts=["a-lim1", "a-lim2", "a-lim3"], certificates=["a"], tls=True),
                         b=dict(hosts=["b-lim1"], certificates=["b"], tls=True)),
            hosts={}, certificates={}, selected_systems=["a", "b"])
DELIVERY = dict(results={"a-lim1": dict(changed=False), "a-lim2": dict(changed=True), "a-lim3": dict(changed=True),
                         "b-lim1": dict(changed=False)})


def test_changed_lims_in_lim_order_and_only_live_ones():
    assert changed_lims(PLAN, DELIVERY, ["a-lim1", "a-lim2", "a-lim3"], "a") == ["a-lim2", "a-lim3"]
    assert changed_lims(PLAN, DELIVERY, ["a-lim3"], "a") == ["a-lim3"]


def test_one_activation_host_per_changed_system():
    assert activation_hosts(PLAN, DELIVERY, ["a-lim1", "a-lim2", "a-lim3", "b-lim1"]) == {"a": "a-lim2"}
    assert activation_hosts(PLAN, {}, ["a-lim1"]) == {}


def test_summary_reads_the_fleet_activation_result():
    failed = dict(host="a-lim2", state="failed", commands=[dict(command="reload --system", rc=1)],
                  failure="reload --system failed (exit 1): x", rolled_back=["a-lim2", "a-lim3"])
    activation = dict(systems=dict(a=failed))
    summary = dict((s["system"], s) for s in rollout_summary(
        PLAN, {}, ["a-lim1", "a-lim2", "a-lim3", "b-lim1"], ["a-lim1", "a-lim2", "a-lim3", "b-lim1"],
        delivery=DELIVERY, activation=activation))
    assert summary["a"]["nodes_changed"] == ["a-lim2", "a-lim3"] and summary["a"]["rolled_back"] == ["a-lim2", "a-lim3"]
    assert summary["a"]["commands"] == [dict(command="reload --system", rc=1)]
    assert summary["b"]["changed"] is False and summary["b"]["commands"] == []


def test_summary_table_aligns_one_row_per_system():
    from ansible_collections.mxone.pki.plugins.filter.mxone import summary_table
    entry = dict(system="a", changed=True, certificates=[dict(id="a", reason="expiring", detail="in 3 days")],
                 nodes_changed=["a-lim1"], nodes_failed=[], failure=None, rolled_back=[], tls=True, tls_ok=1,
                 tls_checked=2, tls_errors=["a-lim2: connection refused"],
                 commands=[dict(command="data_backup", rc=0), dict(command="reload --system", rc=1)])
    quiet = dict(entry, system="bb", changed=False, certificates=[dict(id="bb", reason=None, detail=None)],
                 nodes_changed=[], commands=[], tls_ok=0, tls_checked=0, tls_errors=[], tls=False)
    lines = summary_table([entry, quiet]).splitlines()
    assert lines[0].split(" | ")[0].strip() == "system" and set(lines[1]) <= set("-+")
    assert [cell.strip() for cell in lines[2].split(" | ")] == [
        "a", "CHANGED", "a expiring (in 3 days)", "1", "data_backup, reload --system [exit 1]", "-",
        "1/2 ok (a-lim2: connection refused)"]
    assert [cell.strip() for cell in lines[3].split(" | ")] == ["bb", "unchanged", "bb kept", "0", "none", "-", "off"]
    assert len(set(line.index("|") for line in lines[2:])) == 1  # columns line up


def test_summary_row_says_stopped_pending_and_the_outage():
    from ansible_collections.mxone.pki.plugins.filter.mxone import summary_rows
    base = dict(system="a", changed=True, certificates=[dict(id="a", reason="expiring", detail="in 3 days")],
                nodes_changed=["a-lim1"], nodes_failed=[], failure=None, rolled_back=[], tls=True, tls_ok=1,
                tls_checked=1, tls_errors=[], commands=[dict(command="reload --system", rc=0)])
    done = summary_rows([dict(base, activation="activated", outage=31.5, waited=31.2)])[0]
    assert done[1] == "CHANGED" and done[5] == "31.5 s (waited 31.2 s)"
    stopped = summary_rows([dict(base, commands=[], activation="stopped",
                                 activation_reason="not activated: stopped after b failed")])[0]
    assert stopped[1] == "NOT ACTIVATED (not activated: stopped after b failed; delivered, pending)"
    pending = summary_rows([dict(base, commands=[], activation="pending", activation_reason="outside the window")])[0]
    assert pending[1] == "PENDING (outside the window)"
    check = summary_rows([dict(base, commands=[], activation="would-activate", would_run=["data_backup"])])[0]
    assert check[4] == "would run: data_backup"


def _probe(name, port, ok, error=None):
    return dict(name=name, port=port, ok=ok, error=error)


def test_summary_keeps_the_outage_window_and_the_tls_state_of_each_lim():
    done = dict(host="a-lim2", state="activated", commands=[dict(command="reload --system", rc=0)],
                outage=dict(start="2026-12-01T02:00:00Z", end="2026-12-01T02:00:31Z", seconds=31.0))
    verify = [dict(results=[_probe("a-lim1", 5061, True), _probe("a-lim2", 5061, True),
                            _probe("a-lim3", 5061, False, "connection refused")])]
    summary = dict((s["system"], s) for s in rollout_summary(
        PLAN, {}, ["a-lim1", "a-lim2", "a-lim3", "b-lim1"], ["a-lim1", "a-lim2", "a-lim3", "b-lim1"],
        verify_results=verify, delivery=DELIVERY, activation=dict(systems=dict(a=done))))
    assert summary["a"]["outage"] == 31.0
    assert summary["a"]["outage_window"] == dict(start="2026-12-01T02:00:00Z", end="2026-12-01T02:00:31Z",
                                                 seconds=31.0)
    assert summary["a"]["lims"] == {"a-lim1": dict(tls="verified", problem=None),
                                    "a-lim2": dict(tls="verified", problem=None),
                                    "a-lim3": dict(tls="problem", problem="5061: connection refused")}
    assert summary["b"]["outage_window"] is None
    assert summary["b"]["lims"] == {"b-lim1": dict(tls="not checked", problem=None)}


def _entry(system, **changes):
    entry = dict(system=system, changed=False, certificates=[dict(id=system, changed=False, reason=None, detail=None)],
                 nodes_changed=[], node_changes=[], nodes_failed=[], failure=None, rolled_back=[], tls=True,
                 commands=[], would_run=[], activation=None, activation_reason=None, outage=None, outage_window=None,
                 tls_ok=1, tls_checked=1, tls_errors=[], lims={"%s-lim1" % system: dict(tls="verified", problem=None)})
    entry.update(changes)
    return entry


def test_job_artifact_reshapes_the_summary_per_system_with_fleet_totals():
    from ansible_collections.mxone.pki.plugins.filter.mxone import job_artifact
    window = dict(start="2026-12-01T02:00:00Z", end="2026-12-01T02:00:01Z", seconds=0.6)
    changed = _entry("a", changed=True, activation="activated", outage=0.6, outage_window=window,
                     certificates=[dict(id="a", changed=True, reason="missing", detail="no certificate yet")],
                     nodes_changed=["a-lim1"], node_changes=["a-lim1: changed"],
                     commands=[dict(command="media_encryption_enable -type extension", rc=0),
                               dict(command="data_backup", rc=0), dict(command="reload --system", rc=0)])
    failed = _entry("b", nodes_failed=["b-lim1"], lims={"b-lim1": dict(tls="not checked", problem=None)})
    waiting = _entry("c", changed=True, activation="pending", activation_reason="outside the window")
    bad_tls = _entry("d", tls_errors=["d-lim1: 5061 refused"], lims={"d-lim1": dict(tls="problem", problem="5061: refused")})
    quiet = _entry("e")
    artifact = job_artifact([changed, failed, waiting, bad_tls, quiet], False, "Roll out")
    assert artifact["playbook"] == "Roll out" and artifact["mode"] == "apply" and artifact["ok"] is False
    assert artifact["totals"] == dict(systems=5, changed=2, failed=2, waiting=1, unchanged=2)
    assert artifact["changed_systems"] == ["a", "c"] and artifact["failed_systems"] == ["b", "d"]
    a = artifact["systems"]["a"]
    assert (a["result"], a["ok"], a["changed"]) == ("changed", True, True)
    assert a["why"] == [dict(certificate="a", reason="missing", detail="no certificate yet")]
    assert [c["command"] for c in a["commands"]] == ["media_encryption_enable -type extension", "data_backup",
                                                     "reload --system"]
    assert a["outage"] == window and a["tls"] == {"a-lim1": "verified"} and a["tls_problems"] == {}
    assert artifact["systems"]["b"]["result"] == "failed" and artifact["systems"]["b"]["nodes_failed"] == ["b-lim1"]
    assert artifact["systems"]["c"]["result"] == "pending"
    assert artifact["systems"]["d"]["tls_problems"] == {"d-lim1": "5061: refused"}
    e = artifact["systems"]["e"]
    assert (e["result"], e["changed"], e["why"], e["commands"], e["outage"]) == ("unchanged", False, [], [], None)
    assert job_artifact([], True)["mode"] == "check" and job_artifact([], True)["ok"] is True


def test_the_table_and_the_artifact_say_the_same_result():
    from ansible_collections.mxone.pki.plugins.filter.mxone import job_artifact, summary_rows
    for entry, cell in [(_entry("a", failure="reload failed", rolled_back=["a-lim1"]), "FAILED"),
                        (_entry("a", activation="stopped", changed=True), "NOT ACTIVATED"),
                        (_entry("a", changed=True), "CHANGED"), (_entry("a"), "unchanged")]:
        result = job_artifact([entry])["systems"]["a"]["result"]
        assert summary_rows([entry])[0][1].startswith(cell)
        assert result == {"FAILED": "failed", "NOT ACTIVATED": "stopped", "CHANGED": "changed",
                          "unchanged": "unchanged"}[cell]


def test_summary_says_why_the_licence_check_stopped_a_system():
    plan = dict(PLAN, systems=dict(PLAN["systems"], a=dict(PLAN["systems"]["a"], leader="a-lim1"),
                                   b=dict(PLAN["systems"]["b"], leader="b-lim1")))
    trial = dict(rc=0, stdout="Feature          Licensed\nVOIP-SECURITY    no\n", stderr="")
    checked = dict(changed=False, licence=dict(a=trial), stopped=["a"])  # the fleet's one licence task, on every host
    hostvars = {"a-lim1": {"__mxone_activate_licence": checked}, "b-lim1": {"__mxone_activate_licence": checked}}
    summary = dict((s["system"], s) for s in rollout_summary(
        plan, hostvars, ["a-lim1", "a-lim2", "a-lim3", "b-lim1"], ["b-lim1"], delivery={}))
    assert "VOIP-SECURITY" in summary["a"]["failed_why"] and "a-lim1" in summary["a"]["failed_why"]
    assert summary["b"]["failed_why"] is None  # not asked (no media encryption), and no failed LIM: nothing to say
    from ansible_collections.mxone.pki.plugins.filter.mxone import job_artifact, summary_rows
    assert summary_rows([summary["a"]])[0][1].startswith("FAILED on a-lim1, a-lim2, a-lim3 (system a: ")
    assert job_artifact([summary["a"]])["systems"]["a"]["failure"] == summary["a"]["failed_why"]
