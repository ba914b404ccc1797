"""`make bench` cannot rot: its quick mode runs here, end to end, with real servers and Redis.

Checks the JSON report's shape and that every figure is a positive number. Speed is never
asserted: the figures are printed for people to read (README, bench section).
"""
import json
import math
import os
import subprocess
import sys

import pytest

from kit import REPO_DIR
from kit.bench.__main__ import FIGURES
from kit.bench.profile import Sampler, py_spy

SYSTEMS = ("kit", "seed", "floor")


@pytest.fixture(scope="module")
def quick_run(redis_url, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    # --profile and --hops: the full run's explanations (py-spy, hop timing) are exercised here too.
    command = [sys.executable, "-m", "kit.bench", "--quick", "--progress", "off", "--out", str(out),
               "--profile", "kit", "--hops", "20"]
    result = subprocess.run(command,
                            cwd=REPO_DIR, env={**os.environ, "REDIS_URL": redis_url}, capture_output=True,
                            text=True, timeout=240, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout, json.loads(out.read_text())


def positive(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


@pytest.mark.timeout(300)
def test_quick_bench_reports_every_figure_for_every_system(quick_run):
    _, report = quick_run
    assert report["quick"] is True
    assert set(report["systems"]) == set(SYSTEMS)
    for name in SYSTEMS:
        figures = report["systems"][name]
        expected = {key for key, _, _ in FIGURES} - set(report["not_measured"].get(name, {}))
        assert set(figures) == expected, name
        bad = {key: value for key, value in figures.items() if not positive(value)}
        assert not bad, f"{name}: figures that are not positive numbers: {bad}"
        assert figures["latency_p99_ms"] >= figures["latency_p50_ms"]
        assert report["details"][name]["lost_deliveries"] == 0, name


@pytest.mark.timeout(300)
def test_only_the_seed_pattern_lacks_command_round_trips(quick_run):
    _, report = quick_run
    assert set(report["not_measured"]) == {"seed"}
    assert set(report["not_measured"]["seed"]) == {"command_rtt_p50_ms"}


@pytest.mark.timeout(300)
def test_ratios_and_targets_are_reported_not_asserted(quick_run):
    _, report = quick_run
    floor = report["systems"]["floor"]
    for name in ("kit", "seed"):
        ratios = report["ratios_to_floor"][name]
        assert set(ratios) == set(report["systems"][name])
        for key, ratio in ratios.items():
            assert positive(ratio)
            assert math.isclose(ratio, report["systems"][name][key] / floor[key])
    assert set(report["targets"]) == {"latency_p50_ms", "fanout_per_s", "memory_per_connection_kib"}
    assert all(isinstance(check["met"], bool) for check in report["targets"].values())
    assert report["workload"]["idle_connections"] > 0 and report["machine"]["cpus"] >= 1


@pytest.mark.timeout(300)
def test_table_is_printed_with_ratios(quick_run):
    stdout, report = quick_run
    for _, label, _ in FIGURES:
        assert label in stdout
    assert "kit/floor" in stdout and "seed/floor" in stdout
    labels = {key: label for key, label, _ in FIGURES}
    for key, check in report["targets"].items():  # each target's row says what the JSON says
        row = next(line for line in stdout.splitlines() if line.startswith(labels[key]))
        assert row.rstrip().endswith(": met" if check["met"] else ": MISSED"), row


@pytest.mark.timeout(300)
def test_kit_push_is_split_into_hops(quick_run):
    _, report = quick_run
    for variant in ("kit", "kit-lean"):
        hops = report["hops"][variant]["hops"]
        for hop in ("API key check (DB)", "device lookup (DB)", "group_send (Redis)", "layer to consumer",
                    "consumer handler", "whole HTTP request"):
            assert positive(hops[hop]["median_ms"]) and hops[hop]["count"] == 20, (variant, hop)
    # Without middleware the request makes fewer thread hand-offs: what lean_settings is there to show.
    assert (report["hops"]["kit-lean"]["hops"]["thread hops per request (count)"]["median_ms"]
            < report["hops"]["kit"]["hops"]["thread hops per request (count)"]["median_ms"])


def py_spy_can_attach_to_a_sibling():
    """Whether py-spy may sample a process it did not start, as the bench's py-spy samples the server
    (both are the bench's children): root, or ptrace rights that Linux's Yama or macOS may withhold."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        probe = subprocess.run([py_spy(), "dump", "--pid", str(sleeper.pid)], capture_output=True, text=True,
                               timeout=60)
        return probe.returncode == 0, probe.stderr[-300:]
    finally:
        sleeper.kill()
        sleeper.wait(5)


@pytest.mark.timeout(300)
def test_kit_server_is_profiled_wherever_py_spy_may_attach(quick_run):
    stdout, report = quick_run
    profile = report["details"]["kit"]["latency"]["profile"]
    can_attach, why_not = py_spy_can_attach_to_a_sibling()
    assert (profile["error"] is None) == can_attach, (profile["error"], why_not)
    if can_attach:
        assert profile["samples"] > 0
        assert math.isclose(sum(profile["cpu_share"].values()), 1.0)
        assert "kit latency CPU by component" in stdout
    else:  # e.g. no ptrace rights: the report names the reason instead of a profile
        assert "py-spy" in profile["error"] and "kit latency: no profile" in stdout


def test_a_process_py_spy_cannot_sample_gives_a_reason_not_a_crash():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(30)
    with Sampler(gone.pid) as sampler:  # a pid with no process behind it
        pass
    assert sampler.error is not None and "py-spy" in sampler.error
