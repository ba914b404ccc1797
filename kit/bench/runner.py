"""Runs the measurements on each system in turn (one server at a time) and collects the figures."""
import asyncio
import os
import platform
import resource
import sys
import time
from datetime import datetime, timezone

from kit.bench import measure
from kit.bench.systems import KitSystem

FULL = {"latency_requests": 500, "fanout_devices": 100, "fanout_rounds": 50, "command_requests": 200,
        "idle_connections": 1000}
QUICK = {"latency_requests": 30, "fanout_devices": 20, "fanout_rounds": 5, "command_requests": 10,
         "idle_connections": 100}
# Targets for the kit, relative to the floor (memory: absolute). Reported, never asserted.
TARGETS = {
    "latency_p50_ms": {"at_most_times_floor": 1.5},
    "fanout_per_s": {"at_least_times_floor": 0.5},
    "memory_per_connection_kib": {"at_most": 60},
}


def raise_file_limit(needed):
    """Each idle socket is a file descriptor in this process and in the server (which inherits this)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(soft, needed) if hard == resource.RLIM_INFINITY else min(hard, max(soft, needed))
    if wanted != soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted < needed:
        print(f"warning: open-file limit {wanted} < {needed}; lower idle_connections or raise `ulimit -Hn`",
              file=sys.stderr)
    return wanted


def machine():
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), model)
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "platform": platform.platform(),
            "python": platform.python_version(), "load_average_before": list(os.getloadavg())}


async def measure_system(system, workload, progress, figures_wanted, profile=False):
    """profile: sample the server with py-spy during the latency and fan-out sections."""
    figures, extra, samples = {}, {}, {}
    if "latency" in figures_wanted:
        found, samples["latency_ms"], details = await measure.latency(
            system, workload["latency_requests"], progress, profile=profile)
        figures.update(found)
        extra["latency"] = details
    if "fanout" in figures_wanted:
        found, details = await measure.fanout(system, workload["fanout_devices"], workload["fanout_rounds"],
                                              progress, profile=profile)
        figures.update(found)
        extra["fanout"] = details
        extra["lost_deliveries"] = details["lost_deliveries"]
    if "command" in figures_wanted and system.supports_command:
        found, samples["command_ms"] = await measure.command_rtt(system, workload["command_requests"], progress)
        figures.update(found)
    if "memory" in figures_wanted:
        found, rss = await measure.idle_memory(system, workload["idle_connections"], progress)
        figures.update(found)
        extra.update(rss)
    return figures, extra, samples


ALL_FIGURES = ("latency", "fanout", "command", "memory")


def run(systems, workload, progress=None, figures_wanted=ALL_FIGURES, profile=()):
    """-> the report dict (see README, bench section). From a script; a notebook awaits run_async."""
    return asyncio.run(run_async(systems, workload, progress, figures_wanted, profile))


async def run_async(systems, workload, progress=None, figures_wanted=ALL_FIGURES, profile=()):
    """profile: names of the systems to sample with py-spy (kit.bench.profile)."""
    """Each system's server is started, measured, and stopped before the next one starts."""
    raise_file_limit(workload["idle_connections"] * 2 + 256)
    report = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "workload": dict(workload), "systems": {}, "labels": {}, "details": {}, "samples": {},
              "not_measured": {}}
    for system in systems:
        started = time.monotonic()
        devices = max(workload["fanout_devices"], workload["idle_connections"]) + 8
        try:
            system.start(devices)
            figures, extra, samples = await measure_system(system, workload, progress, figures_wanted,
                                                          profile=system.name in profile)
        finally:
            system.stop()
        report["systems"][system.name] = figures
        report["labels"][system.name] = system.label
        report["details"][system.name] = {**extra, "seconds": round(time.monotonic() - started, 1)}
        report["samples"][system.name] = samples
        if "command" in figures_wanted and not system.supports_command:
            report["not_measured"][system.name] = {"command_rtt_p50_ms": "the pattern has no request/reply"}
    add_ratios(report)
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


def add_ratios(report):
    floor = report["systems"].get("floor", {})
    report["ratios_to_floor"] = {
        name: {key: value / floor[key] for key, value in figures.items() if floor.get(key)}
        for name, figures in report["systems"].items() if name != "floor" and floor
    }
    kit, kit_ratios = report["systems"].get("kit", {}), report["ratios_to_floor"].get("kit", {})
    checks = {}
    for key, target in TARGETS.items():
        if "at_most" in target and key in kit:
            checks[key] = {**target, "kit": kit[key], "met": kit[key] <= target["at_most"]}
        elif "at_most_times_floor" in target and key in kit_ratios:
            checks[key] = {**target, "kit_ratio": kit_ratios[key], "met": kit_ratios[key] <= target["at_most_times_floor"]}
        elif "at_least_times_floor" in target and key in kit_ratios:
            checks[key] = {**target, "kit_ratio": kit_ratios[key], "met": kit_ratios[key] >= target["at_least_times_floor"]}
    report["targets"] = checks
