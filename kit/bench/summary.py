"""From per-pass figures to the report: medians, spread, ratios to each floor, the issue's goals.

A ratio is taken within one pass (the system and the floor measured minutes apart at most, under
the same load) and its median over the passes is reported, with the lowest and highest.
"""

import statistics

FLOORS = ("floor", "floor-redis")
# Issue 14's goals for the kit: reported as met/MISSED rows, never asserted.
GOALS = [
    {"figure": "latency_p50_ms", "floor": "floor-redis", "at_most": 1.5, "text": "push p50 <= 1.5x the Redis floor's"},
    {"figure": "latency_p99_ms", "floor": "floor-redis", "at_most": 2.0, "text": "push p99 <= 2x the Redis floor's"},
    {"figure": "fanout_per_s", "floor": "floor-redis", "at_least": 0.5, "text": "fan-out >= 0.5x the Redis floor's"},
    {
        "figure": "command_rtt_p50_ms",
        "floor": "floor-redis",
        "floor_figure": "latency_p50_ms",
        "at_most": 3.0,
        "text": "command round trip p50 <= 3x the Redis floor's push p50",
    },
    {
        "figure": "memory_per_connection_kib",
        "at_most": 30.0,
        "unit": "KiB",
        "text": "memory per idle device socket <= 30 KiB",
    },
]


def sharded_floors(names):
    """The Redis floor on shards among the names measured (floor-redis#3): ratios are taken to it too."""
    return [name for name in names if name.startswith("floor-redis#") and "@" not in name]


def spread(values):
    values = [value for value in values if value is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "passes": values}


def medians(passes):
    """[{key: value}, one per pass] -> ({key: median}, {key: spread})."""
    keys = {key for figures in passes for key in figures}
    spreads = {key: spread([figures.get(key) for figures in passes]) for key in sorted(keys)}
    return {key: found["median"] for key, found in spreads.items() if found}, spreads


def median_details(passes):
    """Per-pass details (nested dicts of numbers) -> the median of each number; lost deliveries add up."""
    merged = {}
    for key in {key for details in passes for key in details}:
        values = [details[key] for details in passes if key in details]
        if isinstance(values[0], dict):
            merged[key] = median_details(values)
        elif key == "lost_deliveries":
            merged[key] = sum(values)
        elif all(isinstance(value, (int, float)) for value in values):
            merged[key] = statistics.median(values)
        else:
            merged[key] = values[-1]
    return merged


def ratios(per_pass, floor):
    """{system: {key: spread of (system / floor) per pass}} for every system but the floor itself."""
    found = {}
    for name, passes in per_pass.items():
        if name == floor or floor not in per_pass:
            continue
        pairs = list(zip(passes, per_pass[floor]))
        keys = {key for figures, floor_figures in pairs for key in figures if floor_figures.get(key)}
        found[name] = {
            key: spread(
                [
                    figures[key] / floor_figures[key]
                    for figures, floor_figures in pairs
                    if key in figures and floor_figures.get(key)
                ]
            )
            for key in sorted(keys)
        }
    return found


def goals(per_pass, systems, subject="kit", across=""):
    """The issue's goals for `subject`: {figure: {goal..., "value", "spread", "met"}}; goals whose floor
    was not measured are left out. across="@2": for kit@2 against the floors served the same way."""
    checks = {}
    subject = subject + across
    for goal in GOALS:
        figure, floor = goal["figure"], goal.get("floor") and goal["floor"] + across
        if figure not in systems.get(subject, {}) or (floor and floor not in per_pass):
            continue
        if floor:
            floor_figure = goal.get("floor_figure", figure)
            found = spread(
                [
                    mine[figure] / theirs[floor_figure]
                    for mine, theirs in zip(per_pass[subject], per_pass[floor])
                    if figure in mine and theirs.get(floor_figure)
                ]
            )
        else:
            found = spread([systems[subject][figure]])
        if not found:
            continue
        value = found["median"]
        met = value <= goal["at_most"] if "at_most" in goal else value >= goal["at_least"]
        checks[figure] = {**goal, "subject": subject, "value": value, "spread": found, "met": met}
    return checks
