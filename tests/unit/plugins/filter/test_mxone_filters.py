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
