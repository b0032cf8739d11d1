"""Smoke runs of the benchmark: bench/run --quick and the smallest reload scenario; each runs end to end.

1 system x 2 LIMs + 1 download server, each contender once: the bare-SSH floor, our rollout (first
and second run), 20 certificates through the core and through bare cryptography, and the
community.crypto reference only when bench/.venv is already there (the smoke run does not install it:
that takes ~30 s and 550 MB; the full `bench/run` does). No timing is asserted, only that the results
JSON has its keys, that every contender was verified against the lab and that the second run
changed nothing. The reload scenario's smoke (2 systems x 2 LIMs, reload 1 s, one at a time, ~25 s)
checks its ideal, ratio, outage overlap and time split the same way. Skip with MXONE_SKIP_BENCH=1.
"""

import json
import os
import subprocess

import pytest

from helpers import ROOT

RUN = os.path.join(ROOT, "bench", "run")
NET = "127.%d" % (91 + os.getpid() % 8)  # the full benchmark uses 127.90; the other e2e tests stay off 90..99
SSH_PORT, HTTP_PORT = 2923, 8981

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.skipif(os.environ.get("MXONE_SKIP_BENCH") == "1", reason="MXONE_SKIP_BENCH=1"),
]

KEYS = ("reference_s", "floor_s", "ours_first_s", "ours_second_s", "issue_1000_ours_s", "issue_1000_bare_s",
        "ratio_reference_over_ours_first", "ratio_ours_first_over_second", "ratio_ours_first_over_floor",
        "ratio_issue_ours_over_bare", "machine", "versions", "lims", "forks", "date", "targets", "measurements")


def test_quick_benchmark_writes_every_figure(tmp_path):
    out = tmp_path / "quick.json"
    state = "/tmp/mxone-bench-smoke-%d" % os.getpid()
    proc = subprocess.run([RUN, "--quick", "--out", str(out), "--state-root", state, "--net", NET,
                           "--ssh-port", str(SSH_PORT), "--http-port", str(HTTP_PORT)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    lab_left = os.path.exists(os.path.join(state, "lab"))
    subprocess.run(["rm", "-rf", state], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not lab_left, "the benchmark left its lab up"
    res = json.loads(out.read_text())
    for key in KEYS:
        assert key in res, key
    assert (res["lims"], res["forks"], res["issue_count"]) == (2, 3, 20)
    for key in ("floor_s", "ours_first_s", "ours_second_s", "issue_1000_ours_s", "issue_1000_bare_s"):
        assert isinstance(res[key], float), (key, res[key])
    assert res["ours_second_changed"] == [0]
    assert res["all_verified"] is True, json.dumps(res["measurements"], indent=1)[:3000]
    assert "| ours: rollout.yml, first run |" in proc.stdout  # the table


def test_reload_scenario_smoke(tmp_path):
    """bench/run --reload-scenario at its smallest: 2 systems x 2 LIMs, reload 1 s, one at a time, once.

    Only that it runs end to end, verifies every run, keeps to one system in outage at a time and writes
    the ideal, the ratio and where the time went; no timing is asserted (~30 s)."""
    out = tmp_path / "reload.json"
    state = "/tmp/mxone-bench-smoke-reload-%d" % os.getpid()
    proc = subprocess.run([RUN, "--reload-scenario", "--reload-systems", "2", "--reload-lims", "2",
                           "--reload-seconds", "1", "--reload-parallel", "1", "--repeat", "1",
                           "--reload-floor-repeat", "0", "--quiet-wait", "0", "--no-history", "--out", str(out),
                           "--state-root", state, "--net", NET, "--ssh-port", str(SSH_PORT),
                           "--http-port", str(HTTP_PORT)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    lab_left = os.path.exists(os.path.join(state, "lab"))
    subprocess.run(["rm", "-rf", state], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not lab_left, "the benchmark left its lab up"
    sec = json.loads(out.read_text())["reload_scenario"]
    assert (sec["systems"], sec["reload_seconds"], sec["parallel"]) == (2, 1.0, [1])
    assert sec["all_verified"] is True, json.dumps(sec, indent=1)[:3000]
    entry = sec["by_parallel"]["1"]
    assert entry["waves"] == 2 and entry["max_overlap"] == 1
    assert isinstance(entry["ideal_s"], float) and isinstance(entry["ratio"], float)
    assert abs(entry["ideal_s"] - 2.0 - sec["delivery_floor"]["median_s"]) < 0.01
    assert entry["ours"]["runs"][0]["timeline"]["per_system"].keys() == {"lab1", "lab2"}
    gap = sum(entry["excess_median"].values())
    assert abs(gap - (entry["ours"]["median_s"] - entry["ideal_s"])) < 0.05, entry["excess_median"]
    assert "| parallel k |" in proc.stdout  # the table
