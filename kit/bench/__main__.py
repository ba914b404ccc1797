"""python -m kit.bench [--quick] [--out FILE] [--systems kit,floor,floor-redis,seed] [--passes N] [--failover N]:
the figures, the ratios to both floors, the issue's goals, three Redis shards beside one, the failover
drill's medians, a JSON file."""

import argparse
import asyncio
import json
import sys
from pathlib import Path

from kit import REPO_DIR
from kit.serving import redis_service
from kit.bench import failover_bench, runner, shard_report, shards
from kit.bench.report import FIGURES, cost_lines, table, write_docs, write_summary  # noqa: F401  (FIGURES: the tests' rows)
from kit.bench.systems import FloorRedisSystem, FloorSystem, KitSystem, SeedSystem, TwoProcesses

BUILDERS = {
    "kit": KitSystem,
    "kit-plain": KitSystem,
    "floor": FloorSystem,
    "floor-redis": FloorRedisSystem,
    "seed": SeedSystem,
}
# Both floors on the kit's server (uvicorn), the in-process floor on kit-plain's (daphne) too.
QUICK_SYSTEMS = "kit,kit-plain,floor,floor:uvicorn,floor-redis,seed,kit@2,floor-redis@2"
# A full run adds the fast variant and the Redis floor on three shards (issue 22); --quick leaves them out,
# so `make bench-quick` starts no extra Redis (tests/kit/bench/test_shard_bench.py runs them small).
DEFAULT_SYSTEMS = QUICK_SYSTEMS + ",kit#3,floor-redis#3"
KIT_SERVER = "uvicorn"  # what the fast variant is served by (compose's web and `make demo` too)


def build(spec, redis_url, shard_sets=None):
    """kit | kit-plain | kit:CHANGES:SERVER | floor[:SERVER] | floor-redis[:SERVER] | seed[:LAYER:CONSUMER]
    (e.g. kit:api+cache:daphne, floor:uvicorn, seed:pubsub:async); SPEC@2: served by two processes, the
    requests sent to the one the devices are not on (kit@2, floor-redis@2); SPEC#N: on N Redis shards,
    shard_sets[N]'s (kit#3, floor-redis#3; kit/bench/shards.py)."""
    if spec.endswith("@2"):
        return TwoProcesses(build(spec[:-2], redis_url, shard_sets))
    base, shard_count = shards.split_spec(spec)
    if shard_count:
        system = build(base, shard_sets[shard_count].url)
        system.name, system.label = spec, f"{system.label}, on {shard_count} Redis shards"
        return system
    name, *options = spec.split(":")
    if name == "kit":
        changes, server = (options + ["all", KIT_SERVER])[:2] if options else ("all", KIT_SERVER)
        fast = "all" if changes == "all" else [change for change in changes.split("+") if change and change != "none"]
        return KitSystem(redis_url, fast=fast, server=server, name=spec)
    if name == "kit-plain":
        return KitSystem(redis_url, name="kit-plain")
    if name == "seed" and options:
        return SeedSystem(redis_url, *options, name=spec)
    if name.startswith("floor") and options:
        return BUILDERS[name](redis_url, server=options[0])
    return BUILDERS[name](redis_url)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kit.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small workload, a few seconds per system (CI)")
    parser.add_argument("--out", default=str(REPO_DIR / "bench-results.json"), help="JSON file to write")
    parser.add_argument(
        "--systems",
        default=None,
        help="comma-separated, measured in this order in every pass: kit (the fast variant "
        "as served), kit-plain (step 3's design), kit:CHANGES:SERVER (CHANGES api+cache+nocleanup+pubsub "
        "or none), floor[:SERVER], "
        "floor-redis[:SERVER] (SERVER daphne|uvicorn), seed[:LAYER:CONSUMER] "
        "(LAYER redis|pubsub|memory, CONSUMER sync|async|async-nocleanup); SPEC@2 the same on two "
        "processes, requests to the one without the devices (kit@2, floor-redis@2); SPEC#N the same on N Redis "
        "shards the bench starts (kit#3, floor-redis#3; kit, kit-plain, floor-redis). Default: "
        f"{DEFAULT_SYSTEMS}; --quick: {QUICK_SYSTEMS}",
    )
    parser.add_argument(
        "--write-docs",
        default=None,
        metavar="FILE",
        help="also write the figures as Markdown between FILE's bench markers (make bench: docs/bench.md)",
    )
    parser.add_argument(
        "--write-summary",
        default=None,
        metavar="FILE",
        help="also write the goals' table between FILE's bench-summary markers (make bench: README.md)",
    )
    parser.add_argument("--passes", type=int, default=runner.PASSES, help="interleaved measured passes")
    parser.add_argument(
        "--progress",
        choices=["auto", "on", "off"],
        default="auto",
        help="progress bars on stderr (auto: only on a terminal)",
    )
    parser.add_argument(
        "--profile",
        default=None,
        help="systems to sample with py-spy in a pass of their own, comma-separated "
        "(default: kit in a full run, none in --quick)",
    )
    parser.add_argument(
        "--hops",
        type=int,
        default=None,
        help="requests for the kit's hop-by-hop timing (kit/bench/hops.py); default 300 full, 0 quick",
    )
    parser.add_argument(
        "--failover",
        type=int,
        default=None,
        help="runs per way of serving of the failover drill on a Sentinel set (kit/bench/failover_bench.py); "
        "default 3 full, 0 quick",
    )
    parser.add_argument(
        "--figures",
        default=",".join(runner.ALL_FIGURES),
        help=f"comma-separated subset of {','.join(runner.ALL_FIGURES)}",
    )
    args = parser.parse_args(argv)
    workload = runner.QUICK if args.quick else runner.FULL
    systems = args.systems or (QUICK_SYSTEMS if args.quick else DEFAULT_SYSTEMS)
    names = [name.strip() for name in systems.split(",") if name.strip()]
    try:
        shard_counts = shards.counts(names)
    except ValueError as exc:
        parser.error(str(exc))
    unknown = {name for name in names if name.removesuffix("@2").split("#")[0].split(":")[0] not in BUILDERS}
    if unknown:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")
    if args.passes < 1:
        parser.error("--passes must be at least 1")
    with redis_service.running() as redis, shards.started(shard_counts) as shard_sets:
        print(
            f"Bench ({'quick' if args.quick else 'full'}): {', '.join(names)}; {args.passes} passes of "
            f"workload {workload}; Redis {redis.url} ({redis.source})"
            + "".join(f"; {count} shards {shard_set.url}" for count, shard_set in shard_sets.items()),
            file=sys.stderr,
        )
        progress = {"auto": None, "on": True, "off": False}[args.progress]
        profile = args.profile if args.profile is not None else ("" if args.quick else "kit")
        report = runner.run(
            [build(name, redis.url, shard_sets) for name in names],
            workload,
            progress=progress,
            profile=[name.strip() for name in profile.split(",") if name.strip()],
            figures_wanted=tuple(part.strip() for part in args.figures.split(",")),
            passes=args.passes,
        )
        if shard_sets:  # what each shard carried over the whole run, and where it listened
            report["shards"] = {str(count): shard_set.section() for count, shard_set in shard_sets.items()}
        hops = args.hops if args.hops is not None else (0 if args.quick else 300)
        if hops:
            # Step 3's design as served (kit-plain), hop by hop; and the same without middleware.
            report["hops"] = {
                "kit-plain": asyncio.run(runner.hops_async(redis.url, hops, progress)),
                "kit-plain-lean": asyncio.run(runner.hops_async(redis.url, hops, progress, lean=True)),
            }
    failover_runs = args.failover if args.failover is not None else (0 if args.quick else 3)
    if failover_runs:  # a Sentinel set of its own per run: not the Redis above
        report["failover"] = failover_bench.run(failover_runs, progress=progress is not False)
    report["quick"] = args.quick
    report["redis"] = {"source": redis.source}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    if args.write_docs:
        write_docs(args.write_docs, report)
    if args.write_summary and report.get("targets"):
        write_summary(args.write_summary, report)
    print(table(report))
    print(cost_lines(report))
    if report.get("shards"):
        print("\n".join(shard_report.lines(report)))
    lost = {name: d["lost_deliveries"] for name, d in report["details"].items() if d.get("lost_deliveries")}
    if lost:
        print(f"lost deliveries in fan-out: {lost}")
    failed = {name: d["command"] for name, d in report["details"].items() if d.get("command", {}).get("failed")}
    if failed:
        print(
            "commands not answered (HTTP status: count, summed over the passes), "
            f"and the device's error frames: {failed}"
        )
    if report.get("failover"):
        print("\n".join(failover_bench.lines(report["failover"])))
    machine = report["machine"]
    print(
        f"\nmachine: {machine['cpus']} CPUs ({machine['cpu_model']}), Python {machine['python']}, "
        f"load before {machine['load_average_before'][0]:.2f}; {report['passes']} passes in {report['seconds']:.0f} s; "
        f"figures written to {Path(args.out).resolve()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
