"""python -m kit.bench [--quick] [--out FILE] [--systems kit,seed,floor]: the table, the ratios, a JSON file."""
import argparse
import asyncio
import json
import sys
from pathlib import Path

from kit import REPO_DIR, redis_service
from kit.bench import runner
from kit.bench.systems import FloorSystem, KitSystem, SeedSystem

FIGURES = [  # key, label, better
    ("latency_p50_ms", "HTTP->device latency p50 (ms)", "lower"),
    ("latency_p99_ms", "HTTP->device latency p99 (ms)", "lower"),
    ("fanout_per_s", "fan-out deliveries/s", "higher"),
    ("command_rtt_p50_ms", "command round trip p50 (ms)", "lower"),
    ("memory_per_connection_kib", "memory per idle socket (KiB)", "lower"),
]
BUILDERS = {"kit": KitSystem, "seed": SeedSystem, "floor": FloorSystem}


def build(spec, redis_url):
    """kit | floor | seed | seed:LAYER:CONSUMER (e.g. seed:pubsub:async, seed:redis:async-nocleanup)."""
    name, *options = spec.split(":")
    if name == "seed" and options:
        return SeedSystem(redis_url, *options, name=spec)
    return BUILDERS[name](redis_url)


def table(report):
    names = list(report["systems"])
    ratio_names = [name for name in names if name in report["ratios_to_floor"]]
    header = ["figure", *names, *(f"{name}/floor" for name in ratio_names), "kit target"]
    rows = [header]
    for key, label, _ in FIGURES:
        cells = [label]
        cells += [fmt(report["systems"][name].get(key)) for name in names]
        cells += [fmt(report["ratios_to_floor"][name].get(key), "x") for name in ratio_names]
        cells.append(target_cell(report["targets"].get(key)))
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in
                       enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def fmt(value, suffix=""):
    if value is None:
        return "n/a"
    return (f"{value:,.0f}" if value >= 100 else f"{value:.2f}") + suffix


def target_cell(check):
    if not check:
        return ""
    if "at_most" in check:
        goal = f"<= {check['at_most']}"
    elif "at_most_times_floor" in check:
        goal = f"<= {check['at_most_times_floor']}x floor"
    else:
        goal = f">= {check['at_least_times_floor']}x floor"
    return f"{goal}: {'met' if check['met'] else 'MISSED'}"


def cost_lines(report):
    """Server CPU per operation, the py-spy shares and the hop timings: what each figure is made of."""
    coarse = " (coarse in --quick: CPU time is counted in ticks)" if report.get("quick") else ""
    per_operation = [f"  {name}: {d['latency']['server_cpu_ms_per_push']:.2f} ms/push ({d['latency']['client_cpu_ms_per_push']:.2f}), "
                     f"{d['fanout']['server_cpu_us_per_delivery']:.0f} us/delivery ({d['fanout']['client_cpu_us_per_delivery']:.0f})"
                     for name, d in report["details"].items() if "latency" in d and "fanout" in d]
    lines = [""] + ([f"CPU per operation, server (the bench's own client in brackets){coarse}:"] + per_operation
                    if per_operation else [])
    for name, details in report["details"].items():
        for section in ("latency", "fanout"):
            found = details.get(section, {}).get("profile")
            if found and found["cpu_share"]:
                shares = ", ".join(f"{part} {share:.0%}" for part, share in list(found["cpu_share"].items())[:7])
                lines.append(f"{name} {section} CPU by component (py-spy, {found['samples']} samples): {shares}")
            elif found:
                lines.append(f"{name} {section}: no profile ({found['error']})")
    for name, hops in report.get("hops", {}).items():
        parts = ", ".join(f"{hop} {value['median_ms']:.2f}" for hop, value in hops["hops"].items())
        lines.append(f"{name} push p50 {hops['latency_p50_ms']:.2f} ms; hop medians (ms; counts are counts): {parts}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kit.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small workload, a few seconds per system (CI)")
    parser.add_argument("--out", default=str(REPO_DIR / "bench-results.json"), help="JSON file to write")
    parser.add_argument("--systems", default="kit,seed,floor", help="comma-separated: kit, seed, floor, seed:LAYER:CONSUMER "
                        "(LAYER redis|pubsub|memory, CONSUMER sync|async|async-nocleanup)")
    parser.add_argument("--progress", choices=["auto", "on", "off"], default="auto",
                        help="progress bars on stderr (auto: only on a terminal)")
    parser.add_argument("--profile", default=None,
                        help="systems to sample with py-spy, comma-separated (default: kit in a full run, none in --quick)")
    parser.add_argument("--hops", type=int, default=None,
                        help="requests for the kit's hop-by-hop timing (kit/bench/hops.py); default 300 full, 0 quick")
    parser.add_argument("--figures", default=",".join(runner.ALL_FIGURES),
                        help=f"comma-separated subset of {','.join(runner.ALL_FIGURES)}")
    args = parser.parse_args(argv)
    workload = runner.QUICK if args.quick else runner.FULL
    names = [name.strip() for name in args.systems.split(",") if name.strip()]
    unknown = {name for name in names if name.split(":")[0] not in BUILDERS}
    if unknown:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")
    with redis_service.running() as redis:
        print(f"Bench ({'quick' if args.quick else 'full'}): {', '.join(names)}; workload {workload}", file=sys.stderr)
        progress = {"auto": None, "on": True, "off": False}[args.progress]
        profile = args.profile if args.profile is not None else ("" if args.quick else "kit")
        report = runner.run([build(name, redis.url) for name in names], workload, progress=progress,
                            profile=[name.strip() for name in profile.split(",") if name.strip()],
                            figures_wanted=tuple(part.strip() for part in args.figures.split(",")))
        hops = args.hops if args.hops is not None else (0 if args.quick else 300)
        if hops:
            report["hops"] = {"kit": asyncio.run(runner.hops_async(redis.url, hops, progress)),
                              "kit-lean": asyncio.run(runner.hops_async(redis.url, hops, progress, lean=True))}
    report["quick"] = args.quick
    report["redis"] = {"source": redis.source}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(cost_lines(report))
    lost = {name: d["lost_deliveries"] for name, d in report["details"].items() if d.get("lost_deliveries")}
    if lost:
        print(f"lost deliveries in fan-out: {lost}")
    machine = report["machine"]
    print(f"\nmachine: {machine['cpus']} CPUs ({machine['cpu_model']}), Python {machine['python']}, "
          f"load before {machine['load_average_before'][0]:.2f}; figures written to {Path(args.out).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
