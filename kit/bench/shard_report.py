"""The bench's section on Redis shards (issue 22): the fast variant and the Redis floor on N shards
(kit#3, floor-redis#3) beside the same on one Redis, with ratios to the floor on the same Redis, whether
the one-Redis figures stay within the spread of the passes, and the commands each shard carried.

"Within the spread": the one-Redis median lies inside the N-shard passes' lowest-highest, or the N-shard
median inside the one-Redis passes'; the two differ by no more than the passes of this run vary among
themselves. Both are measured in the same run, interleaved, so the comparison holds under the same load.
"""

from kit.bench.report import FIGURES, columns, fmt, with_spread

SUBJECTS = ("kit", "floor-redis")  # the fast variant and the Redis floor, each on one Redis and on shards
SHOWN = [(key, label) for key, label, _ in FIGURES if key != "memory_per_connection_kib"]  # what Redis can change
HOW = (
    "each Redis channel on the shard channels-redis's consistent hash of its name picks, so one device's "
    "pushes, and one group's broadcasts, all go through one shard; the shards share the load across devices "
    "and groups"
)


def calls_text(value):
    """A count of commands (a median over the passes may end in .5): no decimals."""
    return f"{value:,.0f}"


def within(one, sharded):
    """Whether two spreads ({"median", "min", "max"}) overlap at their medians (see the module's doc)."""
    return sharded["min"] <= one["median"] <= sharded["max"] or one["min"] <= sharded["median"] <= one["max"]


def comparisons(report):
    """[{"count", "subject", "sharded", "figure", "one", "many", "within"}] for each shard count measured,
    each subject measured both ways, and each figure both have."""
    found = []
    for count in report.get("shards", {}):
        for subject in SUBJECTS:
            sharded = f"{subject}#{count}"
            one, many = report["spread"].get(subject), report["spread"].get(sharded)
            if not one or not many:
                continue
            for key, _ in SHOWN:
                if one.get(key) and many.get(key):
                    row = {"count": count, "subject": subject, "sharded": sharded, "figure": key}
                    found.append({**row, "one": one[key], "many": many[key], "within": within(one[key], many[key])})
    return found


def verdict(row):
    if row["within"]:
        return "yes"
    return f"no ({fmt(row['one']['median'] / row['many']['median'])}x)"


def ratio(report, system, floor, key):
    return with_spread(report.get("ratios", {}).get(floor, {}).get(system, {}).get(key), "x")


def figure_rows(report, count):
    """The section's table: figures both ways, ratios to the floor on the same Redis, the verdicts."""
    rows = comparisons(report)
    subjects = [subject for subject in SUBJECTS if any(r["subject"] == subject and r["count"] == count for r in rows)]
    header = ["figure"]
    for subject in subjects:
        header += [subject, f"{subject}#{count}"]
    header += ["kit/floor-redis", f"kit#{count}/floor-redis#{count}"]
    header += [f"{subject}: within?" for subject in subjects]
    table = [header]
    for key, label in SHOWN:
        cells = [label]
        for subject in subjects:
            cells += [with_spread(report["spread"][name].get(key)) for name in (subject, f"{subject}#{count}")]
        cells += [ratio(report, "kit", "floor-redis", key), ratio(report, f"kit#{count}", f"floor-redis#{count}", key)]
        for subject in subjects:
            row = next((r for r in rows if (r["subject"], r["count"], r["figure"]) == (subject, count, key)), None)
            cells.append(verdict(row) if row else "n/a")
        table.append(cells)
    return table


def shard_lines(report, count):
    """What each shard carried: in each system's push and fan-out sections, and over the whole run."""
    out = []
    for name, details in report["details"].items():
        if not name.endswith(f"#{count}"):
            continue
        parts = []
        for section, what in (("latency", "push section"), ("fanout", "fan-out section")):
            shards = details.get(section, {}).get("redis_commands_by_shard", {})
            ordered = sorted(shards.items(), key=lambda item: int(item[0]))
            parts.append(f"{what}: " + ", ".join(f"shard {n} {calls_text(calls)}" for n, calls in ordered))
        out.append(f"{name}: " + "; ".join(parts))
    section = report["shards"][count]
    for number, (server, calls) in enumerate(zip(section["servers"], section["commands"]), 1):
        top = sorted(calls.items(), key=lambda item: -item[1])[:5]
        listed = ", ".join(f"{command} {calls_text(n)}" for command, n in top)
        total = calls_text(sum(calls.values()))
        out.append(f"shard {number} ({server['url']}), the whole run: {total} commands ({listed})")
    return out


def tally(report):
    """(figures whose one-Redis median stays within the spread, figures compared)."""
    rows = comparisons(report)
    return sum(row["within"] for row in rows), len(rows)


def lines(report):
    """The section as the bench prints it."""
    out = []
    for count in report.get("shards", {}):
        out += [
            "",
            f"on {count} Redis shards (SPEC#{count}: REDIS_URL lists {count} redis-servers the bench started; "
            f"{HOW}), beside one Redis; medians (lowest-highest) over the passes:",
            columns(figure_rows(report, count)),
            "commands each shard carried (INFO commandstats without INFO; medians over the passes):",
            *(f"  {line}" for line in shard_lines(report, count)),
        ]
    kept, compared = tally(report)
    if compared:
        out.append(
            f"one Redis within the spread of the passes (within?: the one-Redis median inside the shards' "
            f"lowest-highest, or the other way round; no (Nx): one Redis's median / the shards'): {kept} of "
            f"{compared} figures"
        )
    return out


def markdown(report):
    """The section for docs/bench.md ("" when no system was measured on shards)."""
    out = []
    for count in report.get("shards", {}):
        table = figure_rows(report, count)
        out += [
            "",
            f"On {count} Redis shards (`kit#{count}`, `floor-redis#{count}`: REDIS_URL lists {count} redis-servers "
            f"that the bench starts; {HOW}), beside one Redis, in the same passes:",
            "",
            "| " + " | ".join(table[0]) + " |",
            "| --- |" + " ---: |" * (len(table[0]) - 1),
            *("| " + " | ".join(row) + " |" for row in table[1:]),
            "",
            "Commands each shard carried (`INFO commandstats`, the bench's own INFO left out; medians over the "
            "passes):",
            "",
            *(f"- {line}" for line in shard_lines(report, count)),
        ]
    kept, compared = tally(report)
    if compared:
        out += [
            "",
            f"The one-Redis figures stay within the spread of the passes for **{kept} of {compared}** figures "
            "(the one-Redis median inside the shards' lowest-highest, or the other way round; `no (Nx)`: "
            "one Redis's median / the shards').",
        ]
    return "\n".join(out)
