"""`make bench` on three Redis shards (issue 22): kit#3 and floor-redis#3 beside one Redis.

A tiny run (quick workload, two passes, the two systems both ways) checks that the bench starts
its three redis-servers and leaves none behind, that every shard carried traffic, and that the
report has the section. The figures are printed, never asserted.
"""

import asyncio
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import psutil
import pytest
import redis
from channels_redis.utils import _consistent_hash

from bench_support import run_bench
from kit import REPO_DIR
from kit.bench import shard_report, shards
from kit.bench.__main__ import build
from kit.bench.report import DOCS_END, DOCS_START, SUMMARY_END, SUMMARY_START
from kit.serving.redis_service import ping, shard_urls

SYSTEMS = ("kit", "floor-redis", "kit#3", "floor-redis#3")
THREE = "redis://127.0.0.1:1/0,redis://127.0.0.1:2/0,redis://127.0.0.1:3/0"


def test_the_shard_spec_parses():
    assert shards.split_spec("kit#3") == ("kit", 3)
    assert shards.split_spec("floor-redis:daphne#3") == ("floor-redis:daphne", 3)
    assert shards.split_spec("floor-redis") == ("floor-redis", None)
    assert shards.counts(["kit", "kit#3@2", "floor-redis#3", "kit-plain#2"]) == [2, 3]
    for bad in ("floor#3", "seed#3", "kit#1", "kit#three", "kit#"):
        with pytest.raises(ValueError):
            shards.split_spec(bad)


def test_a_sharded_spec_builds_its_system_on_the_shards_url():
    shard_sets = {3: SimpleNamespace(url=THREE)}
    system = build("floor-redis#3", "redis://127.0.0.1:9/0", shard_sets)
    assert (system.name, system.redis_url) == ("floor-redis#3", THREE)
    assert system.server.env["REDIS_URL"] == THREE and "3 Redis shards" in system.label
    across = build("floor-redis#3@2", "redis://127.0.0.1:9/0", shard_sets)
    assert across.name == "floor-redis#3@2" and across.second.env["REDIS_URL"] == THREE


def test_an_unknown_sharded_system_is_refused_before_any_redis_starts():
    result = subprocess.run(
        [sys.executable, "-m", "kit.bench", "--systems", "floor#3"], cwd=REPO_DIR, capture_output=True, text=True
    )
    assert result.returncode == 2 and "only kit, kit-plain, floor-redis" in result.stderr


def test_within_the_spread_means_either_median_inside_the_others_range():
    one = {"median": 1.0, "min": 0.9, "max": 1.1}
    assert shard_report.within(one, {"median": 1.3, "min": 1.0, "max": 1.4})  # 1.0 inside 1.0-1.4
    assert shard_report.within(one, {"median": 1.05, "min": 1.05, "max": 1.5})  # 1.05 inside 0.9-1.1
    assert not shard_report.within(one, {"median": 1.3, "min": 1.2, "max": 1.4})


@pytest.fixture(scope="module")
def shard_run(redis_url, tmp_path_factory):
    folder, systems = tmp_path_factory.mktemp("shard-bench"), ",".join(SYSTEMS)
    found = run_bench(
        folder, redis_url, "--quick", "--passes", "2", "--systems", systems, "--profile", "", "--hops", "0"
    )
    return (*found, redis_url)


def gone(pid):
    """True once the process has exited (or only its pid is left over, reused by something else)."""
    try:
        return "redis-server" not in " ".join(psutil.Process(pid).cmdline())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return True


@pytest.mark.timeout(300)
def test_the_run_starts_three_redis_servers_of_its_own_and_stops_them(shard_run):
    _, report, _, _, redis_url = shard_run
    servers = report["shards"]["3"]["servers"]
    urls = [server["url"] for server in servers]
    assert len(set(urls)) == 3 and all(url.startswith("redis://127.0.0.1:") for url in urls)
    assert not set(urls) & set(shard_urls(redis_url))  # not the one-Redis systems' Redis
    assert all(gone(server["pid"]) for server in servers), servers
    assert not any(ping(url, timeout=0.5) for url in urls)


@pytest.mark.timeout(300)
def test_every_shard_carried_traffic(shard_run):
    _, report, _, _, _ = shard_run
    # Hundreds of device sockets, each SUBSCRIBEd to its channel on the shard its name hashes to: every
    # shard has some (all but surely). PUBLISHes go to a handful of channels only (one device's, one
    # broadcast's, the reply inboxes), which may by chance all hash to two shards: not asserted per shard.
    carried = report["shards"]["3"]["commands"]
    for number, calls in enumerate(carried, 1):
        assert calls.get("subscribe", 0) > 0 and calls.get("unsubscribe", 0) > 0, (number, calls)
    assert sum(calls.get("publish", 0) for calls in carried) >= 2 * report["workload"]["latency_requests"]
    for name in ("kit#3", "floor-redis#3"):  # each push went to one shard or another: none left uncounted
        by_shard = report["details"][name]["latency"]["redis_commands_by_shard"]
        assert set(by_shard) == {"1", "2", "3"} and sum(by_shard.values()) >= report["workload"]["latency_requests"]
    assert set(report["details"]["floor-redis"]["latency"]["redis_commands_by_shard"]) == {"1"}


@pytest.mark.timeout(300)
def test_the_report_puts_three_shards_beside_one_redis(shard_run):
    stdout, report, docs, readme, _ = shard_run
    assert list(report["systems"]) == list(SYSTEMS)
    kit, floor = report["spread"]["kit#3"]["latency_p50_ms"], report["spread"]["floor-redis#3"]["latency_p50_ms"]
    per_pass = sorted(a / b for a, b in zip(kit["passes"], floor["passes"]))
    assert report["ratios"]["floor-redis#3"]["kit#3"]["latency_p50_ms"]["median"] == pytest.approx(sum(per_pass) / 2)
    kept, compared = shard_report.tally(report)
    assert compared == 8  # push p50, p99, fan-out, command; for the fast variant and the floor
    assert "one Redis within the spread of the passes" in stdout and f"{kept} of {compared} figures" in stdout
    written = docs.partition(DOCS_START)[2].partition(DOCS_END)[0]
    assert "On 3 Redis shards" in written and f"**{kept} of {compared}**" in written
    assert "| figure | kit | kit#3 | floor-redis | floor-redis#3 | kit/floor-redis | kit#3/floor-redis#3 |" in written
    assert all(f"- shard {number} (redis://127.0.0.1:" in written for number in (1, 2, 3))
    summary = readme.partition(SUMMARY_START)[2].partition(SUMMARY_END)[0]
    assert "on three Redis shards (`#3`)" in summary and f"for {kept} of {compared} figures" in summary


def subscribed_on(url):
    """The Redis channels that someone SUBSCRIBEs to on one shard."""
    client = redis.Redis.from_url(url)
    try:
        return {name.decode() for name in client.pubsub_channels()}
    finally:
        client.close()


DEVICES = 40


@pytest.mark.timeout(120)
def test_the_redis_floor_puts_each_channel_on_the_shard_channels_redis_picks():
    """floor-redis#3 SUBSCRIBEs a device's channel on the shard channels-redis's hash picks, nowhere else."""
    from kit.bench import measure
    from kit.bench.systems import FloorRedisSystem

    with shards.started([3]) as sets:
        url = sets[3].url
        system = FloorRedisSystem(url).start(DEVICES)
        try:
            prefix = system.server.env["FLOOR_PREFIX"]

            async def subscribed():
                devices = await measure.open_devices(system, DEVICES, False, "")
                try:
                    return [subscribed_on(one) for one in shard_urls(url)]
                finally:
                    await measure.close_devices(devices)

            found = asyncio.run(subscribed())
        finally:
            system.stop()
    for index in range(DEVICES):
        name = f"{prefix}.device.bench-{index}"
        where = [number for number, channels in enumerate(found) if name in channels]
        assert where == [_consistent_hash(name, 3)], (name, where)
    assert all(found), found  # 40 devices' channels: every shard has some (all but surely)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
@pytest.mark.timeout(60)
def test_shards_stop_when_the_bench_is_terminated_or_killed(how):
    """SIGTERM unwinds like Ctrl-C; SIGKILL leaves the servers to die with their parent (Linux)."""
    if how == signal.SIGKILL and not sys.platform.startswith("linux"):
        pytest.skip("dying with the parent is Linux's PR_SET_PDEATHSIG")
    script = (
        "import sys, time; from kit.bench import shards\n"
        "with shards.started([3]) as sets:\n"
        "    print(' '.join(str(s.process.pid) for s in sets[3].servers), flush=True); time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_DIR, stdout=subprocess.PIPE, text=True)
    pids = [int(pid) for pid in child.stdout.readline().split()]
    assert len(pids) == 3 and not any(gone(pid) for pid in pids)
    child.send_signal(how)
    child.wait(30)
    deadline = time.monotonic() + 15
    while not all(gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(gone(pid) for pid in pids), pids
