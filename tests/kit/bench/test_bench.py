"""`make bench` cannot rot: its quick mode runs here, end to end, with real servers and Redis.

Checks the JSON report's shape and that every figure is a positive number. Speed is never
asserted: the figures and the goals' met/MISSED are printed for people to read (docs/bench.md).
"""

import asyncio
import math
import subprocess
import sys

import pytest

from bench_support import run_bench
from kit.bench.__main__ import FIGURES
from kit.bench.client import HttpClient, chunked_body
from kit.bench.device_client import DeviceClient, client_frame
from kit.bench.profile import Sampler, py_spy
from kit.bench.report import DOCS_END, DOCS_START, SUMMARY_END, SUMMARY_START, with_spread
from kit.bench.servers import ServerProcess

SYSTEMS = ("kit", "kit-plain", "floor", "floor:uvicorn", "floor-redis", "seed", "kit@2", "floor-redis@2")
FLOORS = ("floor", "floor-redis")


@pytest.fixture(scope="module")
def quick_run(redis_url, tmp_path_factory):
    # --profile and --hops: the full run's explanations (py-spy, hop timing) are exercised here too.
    stdout, report, docs, readme = run_bench(
        tmp_path_factory.mktemp("bench"), redis_url, "--quick", "--profile", "kit", "--hops", "20", "--passes", "3"
    )
    return stdout, report, docs + readme


def positive(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


@pytest.mark.timeout(300)
def test_quick_bench_reports_every_figure_for_every_system(quick_run):
    _, report, _ = quick_run
    assert report["quick"] is True and report["passes"] == 3
    assert list(report["systems"]) == list(SYSTEMS)  # measured in this order in every pass
    for name in SYSTEMS:
        figures = report["systems"][name]
        expected = {key for key, _, _ in FIGURES} - set(report["not_measured"].get(name, {}))
        assert set(figures) == expected, name
        bad = {key: value for key, value in figures.items() if not positive(value)}
        assert not bad, f"{name}: figures that are not positive numbers: {bad}"
        assert figures["latency_p99_ms"] >= figures["latency_p50_ms"]
        assert report["details"][name]["lost_deliveries"] == 0, name


@pytest.mark.timeout(300)
def test_each_figure_is_the_median_of_the_passes_with_its_spread(quick_run):
    _, report, _ = quick_run
    for name in SYSTEMS:
        for key, value in report["systems"][name].items():
            found = report["spread"][name][key]
            once = key == "memory_per_connection_kib"  # measured once, on the fresh server
            assert len(found["passes"]) == (1 if once else 3), (name, key)
            assert found["min"] <= value == found["median"] <= found["max"]
            assert sorted(found["passes"])[len(found["passes"]) // 2] == value


@pytest.mark.timeout(300)
def test_only_the_seed_pattern_lacks_command_round_trips(quick_run):
    _, report, _ = quick_run
    assert set(report["not_measured"]) == {"seed"}
    assert set(report["not_measured"]["seed"]) == {"command_rtt_p50_ms"}


@pytest.mark.timeout(300)
def test_ratios_to_both_floors_are_taken_pass_by_pass(quick_run):
    _, report, _ = quick_run
    assert set(report["ratios"]) == set(FLOORS)
    for floor in FLOORS:
        for name in set(SYSTEMS) - {floor}:
            ratios = report["ratios"][floor][name]
            assert set(ratios) == set(report["systems"][name])
            for key, found in ratios.items():
                mine, theirs = report["spread"][name][key]["passes"], report["spread"][floor][key]["passes"]
                per_pass = sorted(a / b for a, b in zip(mine, theirs))
                assert all(positive(ratio) for ratio in per_pass)
                assert math.isclose(found["median"], per_pass[len(per_pass) // 2]), (floor, name, key)


@pytest.mark.timeout(300)
def test_the_issues_goals_are_reported_not_asserted(quick_run):
    _, report, _ = quick_run
    goals = report["targets"]
    assert set(goals) == {
        "latency_p50_ms",
        "latency_p99_ms",
        "fanout_per_s",
        "command_rtt_p50_ms",
        "memory_per_connection_kib",
    }
    kit, redis_floor = report["spread"]["kit"], report["spread"]["floor-redis"]
    command = sorted(
        a / b for a, b in zip(kit["command_rtt_p50_ms"]["passes"], redis_floor["latency_p50_ms"]["passes"])
    )
    assert math.isclose(goals["command_rtt_p50_ms"]["value"], command[1])  # against the floor's PUSH p50
    for key, check in goals.items():
        bound = check.get("at_most", check.get("at_least"))
        assert check["met"] == (check["value"] <= bound if "at_most" in check else check["value"] >= bound), key
    assert goals["memory_per_connection_kib"]["value"] == report["systems"]["kit"]["memory_per_connection_kib"]


@pytest.mark.timeout(300)
def test_the_goals_across_processes_compare_kit_at_2_with_the_floors_on_two_processes(quick_run):
    _, report, _ = quick_run
    across = report["targets_across"]
    assert set(across) == set(report["targets"])
    mine, floor = report["spread"]["kit@2"], report["spread"]["floor-redis@2"]
    push = sorted(a / b for a, b in zip(mine["latency_p50_ms"]["passes"], floor["latency_p50_ms"]["passes"]))
    assert math.isclose(across["latency_p50_ms"]["value"], push[1])


@pytest.mark.timeout(120)
def test_two_processes_take_the_requests_on_one_and_the_devices_on_the_other(redis_url):
    """SPEC@2 (kit/bench/systems.py TwoProcesses): a push POSTed to the second process reaches a device
    connected to the first, so it crossed processes through Redis."""
    from kit.bench import measure
    from kit.bench.systems import FloorRedisSystem, TwoProcesses

    system = TwoProcesses(FloorRedisSystem(redis_url)).start(1)
    try:
        assert system.port != system.ws_port and system.second.process.pid != system.pid

        async def push_across():
            client, (device,) = measure.http_client(system), await measure.open_devices(system, 1, False, "")
            try:
                status, _ = await client.post(system.push_path.format(system.device_id(0)), {"data": {"seq": 7}})
                assert status == 202
                await device.wait_for_seq(7)
            finally:
                await client.close()
                await measure.close_devices([device])

        asyncio.run(push_across())
    finally:
        system.stop()


@pytest.mark.timeout(300)
def test_table_shows_figures_ratios_and_goals(quick_run):
    stdout, report, _ = quick_run
    for _, label, _ in FIGURES:
        assert label in stdout
    for column in ("kit/floor", "kit/floor-redis", "seed/floor", "seed/floor-redis"):
        assert column in stdout
    for check in report["targets"].values():  # each goal's row says what the JSON says
        row = next(line for line in stdout.splitlines() if line.strip().startswith(check["text"]))
        assert row.rstrip().endswith(": met" if check["met"] else ": MISSED"), row


@pytest.mark.timeout(300)
def test_make_bench_writes_its_figures_into_the_docs(quick_run):
    _, report, docs = quick_run
    before, _, rest = docs.partition(DOCS_START)
    written, _, after = rest.partition(DOCS_END)
    assert before.startswith("# Scaling out") and "## From step 3's design" in after  # the rest is kept
    assert "(filled in by `make bench`)" not in written
    assert "| figure | " + " | ".join(SYSTEMS) + " |" in written
    for check in report["targets"].values():
        assert f"{check['text']}: " in written and ("**met**" if check["met"] else "**MISSED**") in written


@pytest.mark.timeout(300)
def test_make_bench_writes_the_goals_table_into_the_readme(quick_run):
    _, report, docs = quick_run
    written = docs.partition(SUMMARY_START)[2].partition(SUMMARY_END)[0]
    assert "| the fast variant against the Redis floor | one process | across two processes (`@2`) | goal |" in written
    row = next(line for line in written.splitlines() if line.startswith("| push p50 |"))
    one, across = (with_spread(report[key]["latency_p50_ms"]["spread"], "x") for key in ("targets", "targets_across"))
    assert row == f"| push p50 | {one} | {across} | <= 1.5x |", row


@pytest.mark.timeout(300)
def test_cpu_per_operation_counts_server_client_and_redis(quick_run):
    stdout, report, _ = quick_run
    for name in SYSTEMS:
        latency, fanout = report["details"][name]["latency"], report["details"][name]["fanout"]
        for value in (
            latency["server_cpu_ms_per_push"],
            latency["client_cpu_ms_per_push"],
            latency["redis_cpu_ms_per_push"],
            fanout["client_cpu_us_per_delivery"],
            fanout["redis_cpu_us_per_delivery"],
        ):
            assert isinstance(value, float) and value >= 0, name  # CPU ticks: a quick section may show 0
        assert f"  {name}: " in stdout
    # Whatever goes through Redis makes Redis work; the in-process floor leaves it (nearly) idle.
    assert report["details"]["kit"]["fanout"]["redis_cpu_us_per_delivery"] > 0


@pytest.mark.timeout(300)
def test_kit_push_is_split_into_hops(quick_run):
    _, report, _ = quick_run
    for variant in ("kit-plain", "kit-plain-lean"):
        hops = report["hops"][variant]["hops"]
        for hop in (
            "API key check (DB)",
            "device lookup (DB)",
            "group_send (Redis)",
            "layer to consumer",
            "consumer handler",
            "whole HTTP request",
        ):
            assert positive(hops[hop]["median_ms"]) and hops[hop]["count"] == 20, (variant, hop)
    # Without middleware the request makes fewer thread hand-offs: what lean_settings is there to show.
    assert (
        report["hops"]["kit-plain-lean"]["hops"]["thread hops per request (count)"]["median_ms"]
        < report["hops"]["kit-plain"]["hops"]["thread hops per request (count)"]["median_ms"]
    )


def py_spy_can_attach_to_a_sibling():
    """Whether py-spy may sample a process it did not start, as the bench's py-spy samples the server
    (both are the bench's children): root, or ptrace rights that Linux's Yama or macOS may withhold."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        probe = subprocess.run(
            [py_spy(), "dump", "--pid", str(sleeper.pid)], capture_output=True, text=True, timeout=60
        )
        return probe.returncode == 0, probe.stderr[-300:]
    finally:
        sleeper.kill()
        sleeper.wait(5)


@pytest.mark.timeout(300)
def test_kit_server_is_profiled_in_a_pass_of_its_own_wherever_py_spy_may_attach(quick_run):
    stdout, report, _ = quick_run
    assert set(report["profiles"]) == {"kit"}
    assert all("profile" not in report["details"][name]["latency"] for name in SYSTEMS)  # measured passes: none
    profile = report["profiles"]["kit"]["latency"]
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


def test_lean_client_reads_chunked_bodies_only_when_whole():
    body = b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"a"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n'
    start = body.index(b"\r\n\r\n") + 4
    assert chunked_body(bytearray(body), start) == (b'{"a": 1}', len(body))
    assert chunked_body(bytearray(body[:-3]), start) is None


@pytest.mark.parametrize("size", [0, 5, 125, 126, 70000])
def test_lean_client_masks_what_it_sends(size):
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    frame = client_frame(1, payload)
    assert frame[0] == 0x81 and frame[1] & 0x80  # FIN + text, masked
    start = 2 + {126: 2, 127: 8}.get(frame[1] & 0x7F, 0)
    mask, masked = frame[start : start + 4], frame[start + 4 :]
    assert bytes(byte ^ mask[i % 4] for i, byte in enumerate(masked)) == payload


@pytest.mark.timeout(120)
def test_redis_floor_delivers_across_processes(redis_url):
    """The Redis floor is the least a cross-process design pays only if it really crosses processes:
    a device on server A gets a push and answers a command POSTed to server B."""
    env = {"REDIS_URL": redis_url, "FLOOR_PREFIX": "floortest"}
    servers = [ServerProcess("kit.bench.floor_redis:application", env, server="uvicorn") for _ in range(2)]

    async def scenario(a, b):
        device = await DeviceClient(f"ws://127.0.0.1:{a.port}/ws/devices/d1/").open()
        client = HttpClient("127.0.0.1", b.port)
        try:
            status, answer = await client.post("/push/d1/", {"data": {"seq": 7}})
            await device.wait_for_seq(7)
            command = await client.post("/command/d1/", {"data": {"blink": 2}, "timeout": 5})
            offline = await client.post("/command/nobody/", {"data": 1})
            return (status, answer["online"]), command, offline[0]
        finally:
            await client.close()
            await device.close()

    try:
        for server in servers:
            server.start()
        pushed, (status, answer), offline = asyncio.run(scenario(*servers))
    finally:
        for server in servers:
            server.stop()
    assert pushed == (202, True)
    assert status == 200 and answer["reply"] == {"blink": 2}
    assert offline == 409
