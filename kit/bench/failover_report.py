"""The failover drill's figures (kit/bench/failover.py), its printed report and its timeline.

A push answered 202 and never delivered is counted by what its publisher was told:
- told_offline: the 202 said "online": false (at most once: a push to an offline device is lost);
- told_not_queued: the 202 said "not_queued" (a member's queue was full);
- silent: the 202 said nothing of it. These are what no server can know (see kit/primary.py):
  a message the old primary took and the replica never copied (asynchronous replication; after a forced
  failover, a write to the old node in the moment it was still a primary), one queued for a socket that
  then closed, or a PUBLISH delivered to a subscriber connection of a Redis killed before it was read.
"""

from collections import Counter

GUARANTEE = (
    "Delivery is at most once: channels-redis has no retry and no acknowledgement, so a push answered 202 "
    "can still be lost in a failover. The drill counts every such loss by what its publisher was told. A 503 "
    "(Retry-After) means not accepted: the push reached nobody (a layer call cut off after 4 s may have reached "
    "someone), so a publisher retries it, with an id the device uses to drop one it has seen."
)


def _lost_kind(body):
    if body.get("online") in (False, 0):
        return "told_offline"
    return "told_not_queued" if body.get("not_queued") else "silent"


def figures_of(answers, received, kill, closed_by_server, reconnected, online, devices, force):
    """answers: seq -> (status, Retry-After, body, sent at, answered at); received: seq -> [arrival times];
    kill: {"at", "promoted"}; times are time.monotonic(). -> the drill's figures, times relative to the kill."""
    kill_at = kill["at"]
    accepted = {n for n, answer in answers.items() if answer[0] == 202}
    lost = sorted(accepted - set(received))
    after_kill = [min(times) for n, times in received.items() if answers[n][3] >= kill_at]
    # The gap: the longest silence between two deliveries from the kill on (a push already on its way when
    # the primary died may still arrive at once); it ends when pushes flow again.
    arrivals = sorted([kill_at, *(t for times in received.values() for t in times if t >= kill_at)])
    silences = [(later - earlier, later) for earlier, later in zip(arrivals, arrivals[1:])]
    gap, resumed = max(silences) if silences else (None, None)
    refusals = Counter(a[2].get("error", "")[:40] for a in answers.values() if a[0] == 503)
    return {
        "how": "SENTINEL FAILOVER forced" if force else "primary SIGKILLed",
        "pushes": len(answers),
        "statuses": dict(Counter(str(answer[0]) for answer in answers.values())),
        "statuses_after_kill": dict(Counter(str(a[0]) for a in answers.values() if a[4] >= kill_at)),
        "503_reasons": dict(refusals),
        "503_without_retry_after": sum(1 for a in answers.values() if a[0] == 503 and not a[1]),
        "slowest_answer_s": round(max(a[4] - a[3] for a in answers.values()), 2),
        "accepted_lost": lost,
        "lost_after_202": dict(Counter(_lost_kind(answers[n][2]) for n in lost)),
        "accepted_lost_sent_after_kill_s": [round(answers[n][3] - kill_at, 2) for n in lost][:: max(1, len(lost) // 8)],
        "delivered_not_accepted": len(set(received) - accepted),
        "duplicates": sum(len(times) - 1 for times in received.values()),
        "promotion_s": None if kill["promoted"] is None else round(kill["promoted"], 2),
        "kill_to_first_delivery_s": round(min(after_kill) - kill_at, 2) if after_kill else None,
        "longest_silence_s": None if gap is None else round(gap, 2),
        "flowing_again_after_kill_s": None if resumed is None else round(resumed - kill_at, 2),
        "devices_closed_by_server": [(device, code, round(at - kill_at, 2)) for device, code, at in closed_by_server],
        "devices_reconnected_after_s": [(device, round(at - kill_at, 2)) for device, at in reconnected],
        "online_afterwards": sorted(online),
        "devices": devices,
        "timeline": [  # (seq, sent, status, first delivery or None), seconds after the kill
            (n, round(a[3] - kill_at, 3), a[0], round(min(received[n]) - kill_at, 3) if n in received else None)
            for n, a in sorted(answers.items())
        ],
        "guarantee": GUARANTEE,
    }


def report_lines(name, figures):
    """The figures as printed by the test and the bench (the timeline left out: see timeline())."""
    lines = [f"[failover drill: {name}]"]
    for key, value in figures.items():
        if key == "timeline":
            continue
        if key == "accepted_lost":
            value = f"{len(value)} {value[:20]}"
        lines.append(f"  {key}: {value}")
    return lines


def timeline(figures, width=72, start=-1.0, end=None):
    """A text timeline: one row per kind of answer, one column per time slice from `start` to `end`
    seconds after the kill. A column shows how many pushes sent then got that: . none, digits, + over 9.
    Rows: delivered (202 and delivered), lost (202, never delivered), 503, other. K the kill, P the promotion."""
    rows = {"delivered": Counter(), "lost after 202": Counter(), "503 refused": Counter(), "other": Counter()}
    end = end if end is not None else max(sent for _, sent, _, _ in figures["timeline"])
    step = (end - start) / width
    for _, sent, status, delivered in figures["timeline"]:
        column = int((sent - start) / step)
        if not 0 <= column < width:
            continue
        kind = "503 refused" if status == 503 else "other" if status != 202 else "lost after 202"
        rows["delivered" if delivered is not None and status == 202 else kind][column] += 1

    def marks():
        line = [" "] * width
        for mark, at in (("K", 0.0), ("P", figures["promotion_s"])):
            if at is not None and 0 <= int((at - start) / step) < width:
                line[int((at - start) / step)] = mark
        return "".join(line)

    lines = [f"{'':>15} {marks()}"]
    for label, counts in rows.items():
        cells = "".join("." if not counts[c] else str(counts[c]) if counts[c] < 10 else "+" for c in range(width))
        lines.append(f"{label:>15} {cells}")
    lines.append(f"{'':>15} {start:<+.1f} s{'':{width - 14}}{end:+.1f} s after the kill")
    return "\n".join(lines)


def timeline_svg(figures, width=640, height=260):
    """The timeline as an SVG (no plotting library): each push a dot, its sequence number against when it
    was sent, coloured by what became of it; the kill and the promotion as vertical lines."""
    points = figures["timeline"]
    x0, x1 = min(p[1] for p in points), max(p[1] for p in points)
    y1 = max(p[0] for p in points) or 1
    left, bottom = 40, height - 30

    def x(at):
        return left + (at - x0) / ((x1 - x0) or 1) * (width - left - 10)

    def y(seq):
        return bottom - seq / y1 * (bottom - 10)

    colours = {"delivered": "#2a7", "lost after 202": "#d22", "503 refused": "#e90", "other": "#888"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11">']
    for seq, sent, status, delivered in points:
        kind = "503 refused" if status == 503 else "other" if status != 202 else "lost after 202"
        colour = colours["delivered" if status == 202 and delivered is not None else kind]
        parts.append(f'<circle cx="{x(sent):.1f}" cy="{y(seq):.1f}" r="1.6" fill="{colour}"/>')
    for label, at in (("kill", 0.0), ("promotion", figures["promotion_s"])):
        if at is not None:
            parts.append(f'<line x1="{x(at):.1f}" y1="10" x2="{x(at):.1f}" y2="{bottom}" stroke="#333" '
                         f'stroke-dasharray="4 3"/><text x="{x(at) + 3:.1f}" y="20">{label}</text>')  # fmt: skip
    parts.append(f'<text x="{left}" y="{height - 8}">seconds after the kill: {x0:+.1f} to {x1:+.1f}; '
                 f"y: push sequence number, 0 to {y1}</text>")  # fmt: skip
    for n, (label, colour) in enumerate(colours.items()):
        parts.append(f'<text x="{width - 120}" y="{bottom - 12 * (4 - n)}" fill="{colour}">● {label}</text>')
    parts.append("</svg>")
    return "".join(parts)
