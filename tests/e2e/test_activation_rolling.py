"""Activation as MX-ONE behaves: reloads that take seconds to minutes, one system at a time, a maintenance
window, stop after a failure, the licence first; against the lab, whose reload keeps TLS down for a while.

Outage windows are read from the lab's journal (the reload's start, then the time each LIM's TLS came back),
not from the product's own report. The tests run in file order on one lab and build on each other.
"""

import datetime
import json
import os
import shutil

import pytest

from helpers import ROOT, ansible_env, lab, LabFleet, run_playbook, summary_row

NET = "127.%d" % (50 + os.getpid() % 10)
SSH_PORT, HTTP_PORT = 3122, 8880
SYSTEMS = ("lab1", "lab2", "lab3")
ACTIVATION = ["media_encryption_enable -type extension", "data_backup", "reload --system"]
RELOAD_SECONDS = 3

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")


class Fleet(LabFleet):
    def play(self, name, *args):
        return run_playbook(os.path.join(ROOT, "playbooks", name), inventory=self.inventory, args=args,
                            env=ansible_env(ANSIBLE_HOST_KEY_CHECKING="false"))

    def renew_all(self, *args):
        return self.play("rollout.yml", "-e", "mxone_issue_force=true", *args)

    def marks(self):
        """Where each system's journal ends now: later calls look only at what came after."""
        return dict((s, len(self.journal_entries(s))) for s in SYSTEMS)

    def since(self, marks, system):
        return self.journal_entries(system)[marks[system]:]

    def commands_since(self, marks, system):
        return [e["command"] for e in self.since(marks, system) if "command" in e]

    def outages(self, marks):
        """system -> [(reload start, last LIM back)] for the reloads after ``marks``, from the lab's journal."""
        windows = {}
        for system in SYSTEMS:
            entries = self.since(marks, system)
            for entry in entries:
                if entry.get("command", "").startswith("reload") and entry["exit"] == 0:
                    backs = [e["time"] for e in entries if e.get("event") == "tls-up" and e["reload"] == entry["time"]]
                    assert backs, "no LIM of %s came back after the reload at %s" % (system, entry["time"])
                    windows.setdefault(system, []).append((_t(entry["time"]), max(_t(b) for b in backs)))
        return windows

    def pending_markers(self, system):
        return [n["name"] for n in self.lims() if n["system"] == system
                and os.path.exists(os.path.join(n["eri_sn"], "certs", ".mxone-activation-pending"))]


def _t(text):
    return datetime.datetime.fromisoformat(text)


def _most_at_once(windows):
    edges = sorted([(start, 1) for spans in windows.values() for start, dummy in spans]
                   + [(end, -1) for spans in windows.values() for dummy, end in spans])
    most = current = 0
    for dummy, step in edges:
        current += step
        most = max(most, current)
    return most


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("activation"))
    with f.running(3, 2, 1, NET, SSH_PORT, HTTP_PORT, reload_seconds=RELOAD_SECONDS):
        yield f


def test_first_rollout_waits_for_every_lim_one_system_at_a_time(fleet):
    lab(fleet.state, "reload-time", "lab2", str(RELOAD_SECONDS * 2), "--lim", "2")  # one LIM slower than the rest
    marks = fleet.marks()
    run = fleet.play("rollout.yml", "-e", "mxone_activate_progress_interval=1")
    assert run.rc == 0, run.output
    for system in SYSTEMS:  # one activation each, no rollback, no second reload
        assert fleet.commands_since(marks, system) == ["license_status"] + ACTIVATION, run.output
        row = summary_row(run.output, system)
        assert row["result"] == "CHANGED" and row["TLS"] == "2/2 ok", run.output
        assert row["outage (wait)"].endswith("s)"), row
    windows = fleet.outages(marks)
    assert _most_at_once(windows) == 1, windows  # parallel 1: the outages never overlap
    lab2 = windows["lab2"][0]
    assert (lab2[1] - lab2[0]).total_seconds() >= RELOAD_SECONDS * 2
    # progress while the slow LIM was missing, naming the one that was back
    assert "system lab2: 1/2 LIM(s) serve the new certificate (lab2-lim1 after" in run.output
    assert "waiting for lab2-lim2" in run.output
    assert [n["name"] for n in fleet.lims() if n["tls_state"] != "up"] == []


def test_second_run_changes_nothing_and_reloads_nothing(fleet):
    marks = fleet.marks()
    run = fleet.play("rollout.yml")
    assert run.rc == 0 and run.changed == 0, run.output
    for system in SYSTEMS:
        assert fleet.commands_since(marks, system) == ["license_status"]


def test_renewal_with_parallel_2_reloads_at_most_two_systems_at_once(fleet):
    lab(fleet.state, "reload-time", "lab2", "default", "--lim", "2")
    marks = fleet.marks()
    run = fleet.renew_all("-e", "mxone_activate_parallel=2")
    assert run.rc == 0, run.output
    windows = fleet.outages(marks)
    assert sorted(windows) == list(SYSTEMS) and all(len(w) == 1 for w in windows.values()), windows
    assert _most_at_once(windows) == 2, windows  # two at once, never three
    for system in SYSTEMS:
        assert fleet.commands_since(marks, system) == ["license_status"] + ACTIVATION


def test_a_failed_system_stops_the_rest_and_the_next_run_completes_them(fleet):
    lab(fleet.state, "fault", "lab1", "reload-fails")
    marks = fleet.marks()
    before = dict((n["name"], fleet.served(n["name"]).serial_number) for n in fleet.lims())
    certs = os.path.join(fleet.status()["lab1-lim1"]["eri_sn"], "certs")
    with open(os.path.join(certs, "ca.pem.previous"), "w") as handle:
        handle.write("a stale ca.pem from an older delivery\n")  # this run does not replace ca.pem
    with open(os.path.join(certs, "ca.pem"), "rb") as handle:
        ca_now = handle.read()
    run = fleet.renew_all()
    assert run.rc != 0, run.output
    assert "rolled back" in summary_row(run.output, "lab1")["result"], run.output
    for system in ("lab2", "lab3"):  # untouched after lab1 failed: delivered, pending, no command
        assert summary_row(run.output, system)["result"] == \
            "NOT ACTIVATED (not activated: stopped after lab1 failed; delivered, pending)", run.output
        assert fleet.commands_since(marks, system) == ["license_status"]
        assert sorted(fleet.pending_markers(system)) == ["%s-lim1" % system, "%s-lim2" % system]
        for lim in ("%s-lim1" % system, "%s-lim2" % system):
            assert fleet.served(lim).serial_number == before[lim]  # still the running certificate
    assert fleet.commands_since(marks, "lab1") == ["license_status"] + ACTIVATION + ["reload --system"]
    for lim in ("lab1-lim1", "lab1-lim2"):
        assert fleet.served(lim).serial_number == before[lim]  # rolled back and serving again
    with open(os.path.join(certs, "ca.pem"), "rb") as handle:
        assert handle.read() == ca_now  # the rollback put back only what the run replaced

    marks = fleet.marks()
    again = fleet.play("rollout.yml")
    assert again.rc == 0, again.output
    for system in SYSTEMS:
        assert fleet.commands_since(marks, system) == ["license_status"] + ACTIVATION, again.output
        assert fleet.pending_markers(system) == []
    for system in ("lab2", "lab3"):
        for lim in ("%s-lim1" % system, "%s-lim2" % system):
            assert fleet.served(lim).serial_number != before[lim]  # the renewed certificate, at last
    assert fleet.play("rollout.yml").changed == 0


def _closed_window():
    """A window that opens in two hours (UTC), so it is closed now."""
    start = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=2)
    end = start + datetime.timedelta(hours=1)
    return "%s-%s" % (start.strftime("%H:%M"), end.strftime("%H:%M"))


def test_outside_the_window_files_are_delivered_and_activation_waits(fleet):
    window = ["-e", "mxone_activate_window=%s" % _closed_window(), "-e", "mxone_activate_timezone=UTC"]
    check = fleet.renew_all("--check", *window)
    assert check.rc == 0, check.output
    assert summary_row(check.output, "lab1")["result"].startswith("PENDING (not activated: outside the maintenance "
                                                                  "window"), check.output
    marks = fleet.marks()
    run = fleet.renew_all(*window)
    assert run.rc == 0, run.output
    for system in SYSTEMS:
        row = summary_row(run.output, system)
        assert row["result"].startswith("PENDING (not activated: outside the maintenance window"), run.output
        assert "(UTC); it opens at " in row["result"]
        assert fleet.commands_since(marks, system) == ["license_status"]
        assert len(fleet.pending_markers(system)) == 2
    # still pending on the next run outside the window, and nothing else changes
    run = fleet.play("rollout.yml", *window)
    assert run.rc == 0 and summary_row(run.output, "lab2")["result"].startswith("PENDING"), run.output
    # mxone_activate_now: the operator decides to go now
    marks = fleet.marks()
    run = fleet.play("rollout.yml", *window, "-e", "mxone_activate_now=true")
    assert run.rc == 0, run.output
    for system in SYSTEMS:
        assert fleet.commands_since(marks, system) == ["license_status"] + ACTIVATION
        assert fleet.pending_markers(system) == []


def test_without_the_licence_a_system_is_left_untouched_and_the_others_complete(fleet):
    lab(fleet.state, "fault", "lab2", "no-licence")
    try:
        before = fleet.node_hashes()
        marks = fleet.marks()
        run = fleet.renew_all()
        assert run.rc != 0, run.output
        assert "system lab2: license_status on lab2-lim1 shows 'VOIP-SECURITY" in run.output
        assert "VOIP-SECURITY licence" in run.output
        after = fleet.node_hashes()
        lab2 = [p for p in before if "/lab2-lim" in p]
        assert lab2 and all(after.get(p) == before[p] for p in lab2)  # no byte changed on lab2
        assert fleet.commands_since(marks, "lab2") == ["license_status"]
        for system in ("lab1", "lab3"):
            assert fleet.commands_since(marks, system) == ["license_status"] + ACTIVATION
    finally:
        lab(fleet.state, "fault", "lab2", "clear")


def test_a_limit_to_one_lim_of_a_changing_system_delivers_nothing_and_verify_names_a_stale_lim(fleet):
    before = fleet.node_hashes()
    marks = fleet.marks()
    run = fleet.renew_all("-l", "lab3-lim1")
    assert run.rc != 0, run.output
    assert ("system lab3: the limit selects lab3-lim1 but not lab3-lim2, and certificate lab3 (forced) changes; "
            "reload acts on every LIM of the system, so nothing is delivered to it") in run.output
    assert fleet.node_hashes() == before and fleet.commands_since(marks, "lab3") == ["license_status"]
    # on purpose: only lab3-lim1 gets the new certificate; the whole system reloads
    run = fleet.renew_all("-l", "lab3-lim1", "-e", "mxone_activate_partial=true")
    assert run.rc == 0, run.output
    verify = fleet.play("verify.yml")
    assert verify.rc != 0, verify.output
    assert "lab3-lim2: stale: serves serial" in verify.output and "the PKI store has serial" in verify.output
    assert "lab3-lim1: stale" not in verify.output
    # a run on the whole system puts it right
    assert fleet.play("rollout.yml").rc == 0
    verify = fleet.play("verify.yml")
    assert verify.rc == 0, verify.output


def test_a_reload_of_about_20_seconds_is_waited_for_with_progress(fleet):
    lab(fleet.state, "reload-time", "lab3", "20")
    marks = fleet.marks()
    run = fleet.renew_all("-l", "mxone_lab3", "-e", "mxone_activate_progress_interval=5")
    assert run.rc == 0, run.output
    assert fleet.commands_since(marks, "lab3") == ["license_status"] + ACTIVATION  # no false rollback
    (start, end), = fleet.outages(marks)["lab3"]
    assert (end - start).total_seconds() >= 20
    assert run.output.count("system lab3: 0/2 LIM(s) serve the new certificate; waiting for lab3-lim1, lab3-lim2") >= 3
    assert float(summary_row(run.output, "lab3")["outage (wait)"].split()[0]) >= 19
    status = json.loads(lab(fleet.state, "status", "--json"))
    assert all(n["tls_state"] == "up" for n in status if n["kind"] == "lim")


def test_replacing_the_fleets_ca_on_purpose(fleet, tmp_path):
    """A new store is refused by the CA interlock; mxone_ca_create: true replaces the CA, and every LIM serves a
    chain from the new one."""
    copy = tmp_path / "inventory"
    shutil.copytree(os.path.dirname(fleet.inventory), copy, ignore=shutil.ignore_patterns("pki"))
    new = Fleet(tmp_path)
    new.state, new.inventory, new.pki = fleet.state, str(copy / "hosts.yml"), str(copy / "pki")
    refused = new.play("rollout.yml")
    assert refused.rc != 0 and "the fleet already trusts this CA: CN=MXOneEnterpriseCA" in refused.output
    run = new.play("rollout.yml", "-e", "mxone_ca_create=true")
    assert run.rc == 0, run.output
    for lim in fleet.lims():
        assert new.served(lim["name"]).issuer.rfc4514_string() == "CN=MXOneEnterpriseCA"  # verified by the new CA
