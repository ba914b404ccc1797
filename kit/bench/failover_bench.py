"""`make bench`'s failover section (issue 23): the failover drill (kit/bench/failover.py) at a small size,
a few runs per way of serving, the medians printed. Needs redis-server on PATH for the Sentinel set.

    python -m kit.bench --failover 3            # 3 runs each (0: the section is skipped)
"""

import asyncio
import statistics
import sys

from kit.bench.failover import Size, run_drill
from kit.serving.redis_service import RedisUnavailable

SMALL = Size(before=1.0, after=6.0, rate=0.02, devices=4)
SERVED = ("fast", "plain", "pubsub")
MEDIANS = {  # the figure's name in the section -> how to read it from one drill's figures
    "pushes": lambda f: f["pushes"],
    "503": lambda f: f["statuses"].get("503", 0),
    "lost after 202": lambda f: len(f["accepted_lost"]),
    "of which silent": lambda f: f["lost_after_202"].get("silent", 0),
    "duplicates": lambda f: f["duplicates"],
    "promotion s": lambda f: f["promotion_s"],
    "flowing again s": lambda f: f["flowing_again_after_kill_s"],
    "devices closed": lambda f: len(f["devices_closed_by_server"]),
}


def run(runs, how="kill", served=SERVED, size=SMALL, progress=True):
    """-> {served: {figure: median}, "runs": runs, "how": how} (or {"skipped": why})."""
    section = {"runs": runs, "how": how, "size": vars(size)}
    for name in served:
        drills = []
        for n in range(runs):
            if progress:
                print(f"failover drill: {name}, {how}, run {n + 1} of {runs}", file=sys.stderr, flush=True)
            try:
                drills.append(asyncio.run(run_drill(name, how, size)))
            except RedisUnavailable as exc:
                return {"skipped": str(exc)}
        section[name] = {
            figure: statistics.median(v for v in map(read, drills) if v is not None) if drills else None
            for figure, read in MEDIANS.items()
        }
        section[name]["500 or hang"] = sum(f["statuses"].get("500", 0) + f["statuses"].get("hang", 0) for f in drills)
    return section


def lines(section):
    """The section as printed at the end of the bench."""
    if "skipped" in section:
        return [f"failover drill: skipped ({section['skipped']})"]
    served = [name for name in SERVED if name in section]
    out = [
        f"failover drill (primary {'SIGKILLed' if section['how'] == 'kill' else 'failed over'}; medians of "
        f"{section['runs']} runs; a push every {section['size']['rate'] * 1000:.0f} ms; at most once):",
        f"  {'':<18}" + "".join(f"{name:>12}" for name in served),
    ]
    for figure in [*MEDIANS, "500 or hang"]:
        out.append(f"  {figure:<18}" + "".join(f"{section[name][figure]!s:>12}" for name in served))
    return out
