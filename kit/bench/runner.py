"""Runs the measurements: every system's server up at once, measured in interleaved passes."""

import asyncio
import os
import platform
import resource
import sys
import time
from datetime import datetime, timezone

from kit.bench import measure, summary
from kit.bench.systems import KitSystem

FULL = {
    "latency_requests": 500,
    "fanout_devices": 100,
    "fanout_rounds": 50,
    "command_requests": 200,
    "idle_connections": 1000,
}
QUICK = {
    "latency_requests": 30,
    "fanout_devices": 20,
    "fanout_rounds": 5,
    "command_requests": 10,
    "idle_connections": 100,
}
PASSES = 3  # interleaved measured passes of a full or quick run (the profile pass comes on top)


def raise_file_limit(needed):
    """Each idle socket is a file descriptor in this process and in the server (which inherits this)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(soft, needed) if hard == resource.RLIM_INFINITY else min(hard, max(soft, needed))
    if wanted != soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted < needed:
        print(
            f"warning: open-file limit {wanted} < {needed}; lower idle_connections or raise `ulimit -Hn`",
            file=sys.stderr,
        )
    return wanted


def machine():
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), model)
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_before": list(os.getloadavg()),
    }


async def measure_system(system, workload, progress, figures_wanted, profile=False):
    """One system's latency, fan-out and command figures (memory: run_async measures it once).
    profile: sample the server with py-spy during the latency and fan-out sections."""
    figures, extra, samples = {}, {}, {}
    if "latency" in figures_wanted:
        found, samples["latency_ms"], details = await measure.latency(
            system, workload["latency_requests"], progress, profile=profile
        )
        figures.update(found)
        extra["latency"] = details
    if "fanout" in figures_wanted:
        found, details = await measure.fanout(
            system, workload["fanout_devices"], workload["fanout_rounds"], progress, profile=profile
        )
        figures.update(found)
        extra["fanout"] = details
        extra["lost_deliveries"] = details["lost_deliveries"]
    if "command" in figures_wanted and system.supports_command:
        found, samples["command_ms"], extra["command"] = await measure.command_rtt(
            system, workload["command_requests"], progress
        )
        figures.update(found)
    return figures, extra, samples


ALL_FIGURES = ("latency", "fanout", "command", "memory")


def run(systems, workload, progress=None, figures_wanted=ALL_FIGURES, profile=(), passes=1):
    """-> the report dict (see docs/bench.md). From a script; a notebook awaits run_async."""
    return asyncio.run(run_async(systems, workload, progress, figures_wanted, profile, passes))


async def run_async(systems, workload, progress=None, figures_wanted=ALL_FIGURES, profile=(), passes=1):
    """Every system's server is started, then measured in `passes` interleaved passes (each pass
    measures every system in turn, so a change of load over the run falls on all of them alike),
    then stopped. Memory is measured once, first, on fresh servers. profile: names of the systems
    to sample with py-spy, in a pass of its own after the measured ones (its figures are not kept)."""
    raise_file_limit(workload["idle_connections"] * 2 + 256)
    report = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "workload": dict(workload),
        "passes": passes,
        "systems": {},
        "spread": {},
        "labels": {},
        "details": {},
        "samples": {},
        "not_measured": {},
    }
    per_pass = {system.name: [{} for _ in range(passes)] for system in systems}
    details = {system.name: [] for system in systems}
    samples = {system.name: {} for system in systems}
    devices = max(workload["fanout_devices"], workload["idle_connections"]) + 8
    started = time.monotonic()
    try:
        for system in systems:  # one at a time: a server started from a worker thread would get
            system.start(devices)  # SIGTERM when that thread ends (LiveServer's parent-death signal)
        if "memory" in figures_wanted:
            for system in systems:
                found, rss = await measure.idle_memory(system, workload["idle_connections"], progress)
                per_pass[system.name][0].update(found)
                report["details"][system.name] = dict(rss)
        wanted = tuple(figure for figure in figures_wanted if figure != "memory")
        for number in range(passes):
            for system in systems:
                figures, extra, found = await measure_system(system, workload, progress, wanted)
                per_pass[system.name][number].update(figures)
                details[system.name].append(extra)
                for key, values in found.items():
                    samples[system.name].setdefault(key, []).extend(values)
        for system in systems:
            if system.name in profile:
                _, extra, _ = await measure_system(system, workload, progress, ("latency", "fanout"), profile=True)
                report.setdefault("profiles", {})[system.name] = {
                    section: extra[section]["profile"] for section in ("latency", "fanout")
                }
    finally:
        for system in systems:
            system.stop()
    for system in systems:
        name = system.name
        report["systems"][name], report["spread"][name] = summary.medians(per_pass[name])
        report["labels"][name] = system.label
        report["details"][name] = {**report["details"].get(name, {}), **summary.median_details(details[name])}
        report["samples"][name] = samples[name]
        if "command" in figures_wanted and not system.supports_command:
            report["not_measured"][name] = {"command_rtt_p50_ms": "the pattern has no request/reply"}
    report["seconds"] = round(time.monotonic() - started, 1)
    floors = [*summary.FLOORS, *summary.sharded_floors(per_pass)]
    report["ratios"] = {floor: summary.ratios(per_pass, floor) for floor in floors if floor in per_pass}
    report["targets"] = summary.goals(per_pass, report["systems"])
    # The same goals across processes (kit@2: requests to one process, devices on another), for the record.
    report["targets_across"] = summary.goals(per_pass, report["systems"], across="@2")
    # And on Redis shards (kit#3 against floor-redis#3), when measured.
    for floor in summary.sharded_floors(per_pass)[:1]:
        report["targets_shards"] = summary.goals(per_pass, report["systems"], across=floor.removeprefix("floor-redis"))
    return report


async def hops_async(redis_url, requests, progress=None, lean=False):
    """The kit's push latency split by hop (kit/bench/hops.py): {"latency_p50_ms", "hops": {...}}."""
    system = KitSystem(redis_url, hops=True, lean=lean)
    try:
        system.start(8)
        figures, hops = await measure.hop_breakdown(system, requests, progress)
    finally:
        system.stop()
    return {**figures, "requests": requests, "hops": hops}
