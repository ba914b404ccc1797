"""How fast grading is: the reference project alone, then a class of submissions in a batch.

    make bench-grade [BENCH_GRADE_ARGS="--class-size 20"]
    python -m kit.grading.speed_bench [--class-size 20] [--starters 4]

Goals on a 2-core machine (issue 12): the reference graded in 12 s or less, 20 submissions in
3 minutes or less, wall clock. Printed, never asserted: a busy machine is slower, not wrong.
"""

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from kit import PROJECT_DIR
from kit.grading import batch
from kit.grading import grade
from kit.authoring import starter

GOALS = {"reference": 12, "class": 180}  # seconds


def cpu_seconds():
    """CPU used so far by this process and every process it waited for (servers, pytest, manage.py)."""
    return sum(
        resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )


def load():
    """The machine's 1-minute load average: on a shared machine, why a figure is slower than its goal."""
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "?"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kit.grading.speed_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--class-size", type=int, default=20)
    parser.add_argument("--starters", type=int, default=4, help="how many of the class are untouched starter copies")
    parser.add_argument("--jobs", type=int, default=None, help="submissions at once (default: cores)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="kit-grade-bench-"))
    try:
        started, cpu = time.monotonic(), cpu_seconds()
        results, _, _ = grade.grade(PROJECT_DIR, quiet=True)
        single = time.monotonic() - started
        print(
            f"reference graded alone: {single:.1f} s wall clock, {cpu_seconds() - cpu:.1f} s CPU, score "
            f"{float(grade.total(results)):g} (goal <= {GOALS['reference']} s); load average {load()}",
            flush=True,
        )
        submissions = work / "class"
        submissions.mkdir()
        starter.write(work / "starter")
        for number in range(args.class_size):
            source = work / "starter" / "project" if number < args.starters else PROJECT_DIR
            shutil.copytree(
                source,
                submissions / f"learner-{number:02d}" / "project",
                ignore=shutil.ignore_patterns("__pycache__", "db.sqlite3*"),
            )
        started, cpu = time.monotonic(), cpu_seconds()
        rows, _ = batch.grade_all(submissions, work / "grades", jobs=args.jobs)
        whole, cpu = time.monotonic() - started, cpu_seconds() - cpu
        scores = sorted({row["total"] for row in rows})
        print(
            f"{len(rows)} submissions ({args.starters} starter copies) graded in {whole:.1f} s wall clock, "
            f"{whole / max(len(rows), 1):.1f} s each, {args.jobs or batch.default_jobs()} at a time on "
            f"{os.cpu_count()} cores (goal <= {GOALS['class']} s); scores seen: {scores}"
        )
        print(
            f"  CPU {cpu:.0f} s in all ({cpu / max(len(rows), 1):.1f} s a submission): at least "
            f"{cpu / (os.cpu_count() or 1):.0f} s on this machine's cores alone; load average now {load()}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
