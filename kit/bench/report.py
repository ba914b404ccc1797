"""The bench's report as text: the figures (median and spread over the passes), the ratios to each
floor, the issue's goals as met/MISSED rows, and what each operation cost in CPU and where it went."""

from kit.bench.summary import FLOORS

FIGURES = [  # key, label, better
    ("latency_p50_ms", "HTTP->device latency p50 (ms)", "lower"),
    ("latency_p99_ms", "HTTP->device latency p99 (ms)", "lower"),
    ("fanout_per_s", "fan-out deliveries/s", "higher"),
    ("command_rtt_p50_ms", "command round trip p50 (ms)", "lower"),
    ("memory_per_connection_kib", "memory per idle socket (KiB)", "lower"),
]


def fmt(value, suffix=""):
    if value is None:
        return "n/a"
    return (f"{value:,.0f}" if value >= 100 else f"{value:.2f}") + suffix


def with_spread(found, suffix=""):
    """median (lowest-highest over the passes); the median alone when there was one value."""
    if not found:
        return "n/a"
    if len(found["passes"]) < 2:
        return fmt(found["median"], suffix)
    return f"{fmt(found['median'], suffix)} ({fmt(found['min'])}-{fmt(found['max'])})"


def columns(rows):
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in enumerate(zip(row, widths))
        )
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def table(report):
    """Figures per system, then each system's ratio to each floor measured (pass by pass, medians)."""
    names = list(report["systems"])
    rows = [["figure", *names]]
    for key, label, _ in FIGURES:
        rows.append(
            [label]
            + [
                with_spread(report.get("spread", {}).get(name, {}).get(key))
                if report.get("spread")
                else fmt(report["systems"][name].get(key))
                for name in names
            ]
        )
    ratio_columns = [
        (name, floor)
        for name in names
        for floor in FLOORS
        if name not in FLOORS and name in report.get("ratios", {}).get(floor, {})
    ]
    text = columns(rows)
    if ratio_columns:
        rows = [["ratio, pass by pass", *(f"{name}/{floor}" for name, floor in ratio_columns)]]
        for key, label, _ in FIGURES:
            rows.append(
                [label] + [with_spread(report["ratios"][floor][name].get(key), "x") for name, floor in ratio_columns]
            )
        text += "\n\n" + columns(rows)
    return text + goal_lines(report)


GOAL_BLOCKS = [
    ("targets", "goals (issue 14), for the kit"),
    ("targets_across", "the same, across processes (kit@2 against the floors on two processes)"),
    ("targets_shards", "the same, on Redis shards (kit#3 against the Redis floor on the same shards)"),
]


def goal_lines(report):
    lines = []
    for key, title in GOAL_BLOCKS:
        if report.get(key):
            lines += ["", "", f"{title}:"]
            for check in report[key].values():
                unit = f" {check['unit']}" if "unit" in check else "x"
                lines.append(
                    f"  {check['text']}: {with_spread(check['spread'], unit)}: {'met' if check['met'] else 'MISSED'}"
                )
    return "\n".join(lines)


def cost_lines(report):
    """CPU per operation (server, the bench's client, Redis), the py-spy shares and the hop timings."""
    coarse = " (coarse in --quick: CPU time is counted in ticks)" if report.get("quick") else ""
    lines = [
        "",
        f"CPU per operation, medians over the passes{coarse}:",
        "  system: per push (server / bench client / Redis) | per fan-out delivery (same)",
    ]
    for name, details in report["details"].items():
        if "latency" not in details or "fanout" not in details:
            continue
        push, delivery = details["latency"], details["fanout"]
        lines.append(
            f"  {name}: {fmt(push['server_cpu_ms_per_push'])} / {fmt(push['client_cpu_ms_per_push'])} / "
            f"{fmt(push.get('redis_cpu_ms_per_push'))} ms | {fmt(delivery['server_cpu_us_per_delivery'])} / "
            f"{fmt(delivery['client_cpu_us_per_delivery'])} / {fmt(delivery.get('redis_cpu_us_per_delivery'))} us"
        )
    for name, sections in report.get("profiles", {}).items():
        for section, found in sections.items():
            if found["cpu_share"]:
                shares = ", ".join(f"{part} {share:.0%}" for part, share in list(found["cpu_share"].items())[:7])
                lines.append(
                    f"{name} {section} CPU by component (py-spy, a pass of its own, {found['samples']} "
                    f"samples): {shares}"
                )
            else:
                lines.append(f"{name} {section}: no profile ({found['error']})")
    for name, hops in report.get("hops", {}).items():
        parts = ", ".join(f"{hop} {value['median_ms']:.2f}" for hop, value in hops["hops"].items())
        lines.append(f"{name} push p50 {hops['latency_p50_ms']:.2f} ms; hop medians (ms; counts are counts): {parts}")
    return "\n".join(lines)


DOCS_START, DOCS_END = "<!-- bench:start (make bench writes this part) -->", "<!-- bench:end -->"


def markdown(report):
    """The figures, the ratios to the Redis floor and the goals as Markdown, for docs/bench.md."""
    names = list(report["systems"])
    lines = ["| figure | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
    for key, label, _ in FIGURES:
        lines.append(
            f"| {label} | " + " | ".join(with_spread(report["spread"][name].get(key)) for name in names) + " |"
        )
    subjects = [name for name in names if name in report.get("ratios", {}).get("floor-redis", {})]
    if subjects:
        lines += [
            "",
            "| ratio to the Redis floor, pass by pass | " + " | ".join(subjects) + " |",
            "| --- |" + " ---: |" * len(subjects),
        ]
        for key, label, _ in FIGURES:
            lines.append(
                f"| {label} | "
                + " | ".join(with_spread(report["ratios"]["floor-redis"][name].get(key), "x") for name in subjects)
                + " |"
            )
    for key, title in GOAL_BLOCKS:
        if report.get(key):
            lines += ["", f"{title[0].upper()}{title[1:]}:", ""]
            for check in report[key].values():
                unit = f" {check['unit']}" if "unit" in check else "x"
                lines.append(
                    f"- {check['text']}: {with_spread(check['spread'], unit)}: "
                    f"**{'met' if check['met'] else 'MISSED'}**"
                )
    from kit.bench.shard_report import markdown as shards_markdown  # here: it imports this module

    if report.get("shards"):
        lines.append(shards_markdown(report))
    machine = report["machine"]
    lines += [
        "",
        f"Measured {report['created']}: {machine['cpus']} CPUs ({machine['cpu_model']}), Python "
        f"{machine['python']}, load average {machine['load_average_before'][0]:.1f} before the run, "
        f"{report['passes']} interleaved passes (median, lowest-highest), Redis: {report['redis']['source']}.",
    ]
    return "\n".join(lines)


SUMMARY_START, SUMMARY_END = "<!-- bench-summary:start (make bench writes this part) -->", "<!-- bench-summary:end -->"


def summary_markdown(report):
    """The goals' figures in one table, on one process and across two, for the README."""
    columns = [key for key in ("targets", "targets_across", "targets_shards") if report.get(key)]
    titles = {
        "targets": "one process",
        "targets_across": "across two processes (`@2`)",
        "targets_shards": "on three Redis shards (`#3`)",
    }
    lines = [
        "| the fast variant against the Redis floor | " + " | ".join(titles[key] for key in columns) + " | goal |",
        "| --- |" + " ---: |" * (len(columns) + 1),
    ]
    for figure, check in report.get("targets", {}).items():
        unit = f" {check['unit']}" if "unit" in check else "x"
        bound = f"<= {check['at_most']:g}" if "at_most" in check else f">= {check['at_least']:g}"
        cells = [
            with_spread(report[key][figure]["spread"], unit) if figure in report[key] else "n/a" for key in columns
        ]
        label = check["text"].split(" <")[0].split(" >")[0] + (
            " (against the floor's push p50)" if "floor_figure" in check else ""
        )
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {bound}{unit} |")
    plain = report.get("ratios", {}).get("floor-redis", {}).get("kit-plain")
    if plain:
        lines += [
            "",
            f"Step 3's design (kit-plain), for comparison: push p50 {plain['latency_p50_ms']['median']:.0f}x "
            f"the Redis floor's, fan-out {plain['fanout_per_s']['median']:.2f}x, "
            f"{report['systems']['kit-plain']['memory_per_connection_kib']:.0f} KiB per socket.",
        ]
    from kit.bench.shard_report import tally  # here: it imports this module

    kept, compared = tally(report)
    if compared:
        lines += [
            "",
            f"On three Redis shards beside one Redis (the fast variant and the Redis floor; push, fan-out, "
            f"command): the one-Redis figures stay within the spread of the passes for {kept} of {compared} "
            "figures ([docs/bench.md](docs/bench.md)).",
        ]
    machine = report["machine"]
    lines += [
        "",
        f"Measured {report['created'][:10]} by `make bench` ({machine['cpus']} CPUs, {report['passes']} passes; "
        "ratios taken within each pass, median and lowest-highest).",
    ]
    return "\n".join(lines)


def write_docs(path, report, start_marker=DOCS_START, end_marker=DOCS_END, render=markdown):
    """Replaces the part of `path` between the markers with render(report)."""
    from pathlib import Path

    text = Path(path).read_text()
    start, end = text.index(start_marker) + len(start_marker), text.index(end_marker)
    Path(path).write_text(text[:start] + "\n" + render(report) + "\n" + text[end:])


def write_summary(path, report):
    write_docs(path, report, SUMMARY_START, SUMMARY_END, summary_markdown)
