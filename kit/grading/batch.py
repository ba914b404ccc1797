"""Grading a whole class: every submission in a folder, isolated, in parallel, into a gradebook.

    make grade SUBMISSIONS=/tmp/class-submissions [GRADES=/tmp/grades]
    python -m kit.grading.batch SUBMISSIONS [--grades DIR] [--jobs N] [--public-only]

SUBMISSIONS holds one entry per learner: a project folder or a .zip of one (manage.py at the top
or a few levels down). Each is graded by kit.grading.grade in a sandbox of its own (kit.grading.sandbox), with
its own Redis, up to --jobs at a time (default: twice the machine's cores, as grading mostly waits
on sockets: on 2 cores, 20 submissions took 159 s four at a time and 202 s two at a time). Written to GRADES (default:
<SUBMISSIONS>-grades, next to it), by this process only:

    gradebook.csv              one row per submission: a column per step, the total, a note
    <submission>/results.json  Gradescope's format, as `make grade PROJECT=...` writes it

A submission that is broken, hostile, or not a project at all gets 0 with the reason in its
note; the batch keeps going. Before anyone is graded, the canary (kit.grading.canary) proves that a
submission's process can start in this sandbox; if not, the batch stops, writing nothing. A
submission the grader could not grade for its own reasons (the canary fails for it, Redis or the
machine failed) is tried once more, then marked `grader error` in the gradebook with the reason:
no score, its results.json says so, and the batch exits 1.
"""

import argparse
import concurrent.futures
import csv
import json
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from tqdm import tqdm

from kit.grading import canary, grade, sandbox

MAX_UNZIPPED = 200 * 2**20  # bytes: a zip bomb is refused, not unpacked
STEP_JOBS = 2  # steps of one submission at once: they mostly wait on sockets, so overlap them
STEP_COLUMNS = [f"step{step} {name} /{points}" for step, (name, points) in grade.STEPS.items()]
COLUMNS = ["submission", *STEP_COLUMNS, "total", "status", "note", "seconds"]
GRADED, GRADER_ERROR = "graded", "grader error"
ATTEMPTS = 2  # a grader error is retried once


class NotAProject(Exception):
    """The entry is not something to grade (no manage.py, a bad or unsafe zip): the submission's fault."""


def submissions_in(folder):
    """The entries to grade, in name order: folders and .zip files (hidden files skipped)."""
    entries = [path for path in sorted(Path(folder).iterdir()) if not path.name.startswith((".", "__"))]
    return [path for path in entries if path.is_dir() or path.suffix.lower() == ".zip"]


def name_of(entry):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", entry.stem if entry.suffix.lower() == ".zip" else entry.name)


def find_project(folder, depth=3):
    """The folder with manage.py: folder itself or one below it (a zip's wrapping folder), else None."""
    folder = Path(folder)
    if (folder / "manage.py").is_file():
        return folder
    if depth == 0:
        return None
    for child in sorted(folder.iterdir()):
        if child.is_dir() and not child.is_symlink() and child.name != "__MACOSX":
            found = find_project(child, depth - 1)
            if found:
                return found
    return None


def unzip(archive, dest):
    """Extracts a submission's zip safely (no absolute or ../ paths, no links, bounded size) -> dest."""
    with zipfile.ZipFile(archive) as bundle:
        members = bundle.infolist()
        if sum(member.file_size for member in members) > MAX_UNZIPPED:
            raise NotAProject(f"the zip unpacks to more than {MAX_UNZIPPED // 2**20} MiB")
        for member in members:
            target = (Path(dest) / member.filename).resolve()
            if not target.is_relative_to(Path(dest).resolve()) or (member.external_attr >> 16) & 0o170000 == 0o120000:
                raise NotAProject(f"the zip holds an unsafe entry: {member.filename}")
        bundle.extractall(dest)
    return Path(dest)


def grade_one(entry, grades_dir, hidden=True):
    """Grades one entry -> its gradebook row. Never raises: the submission's failure is a 0 with its
    reason; the grader's own (GraderError, or any error of the grader's code) is tried once more,
    then a `grader error` row with no score."""
    started = time.monotonic()
    for attempt in range(ATTEMPTS):
        try:
            row, payload = _graded(entry, hidden)
            break
        except Exception as exc:  # a hostile submission must not stop the batch, nor a grader bug
            reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
            reason = " ".join(reason.split())
            if attempt + 1 < ATTEMPTS:
                continue
            row = {"submission": name_of(entry), **{column: "" for column in STEP_COLUMNS}, "total": ""}
            row.update(status=GRADER_ERROR, note=f"grader error (tried {ATTEMPTS} times): {reason}"[:300])
            payload = grade.grader_error_json(reason, time.monotonic() - started)
    out = Path(grades_dir) / row["submission"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    row["seconds"] = round(time.monotonic() - started, 1)
    return row


def _graded(entry, hidden):
    """-> (gradebook row, results.json payload); raises on the grader's failures."""
    row = {"submission": name_of(entry), **{column: 0.0 for column in STEP_COLUMNS}, "total": 0.0}
    row.update(status=GRADED, note="")
    started = time.monotonic()
    unpacked = Path(tempfile.mkdtemp(prefix="kit-batch-"))
    try:
        try:
            folder = unzip(entry, unpacked) if entry.suffix.lower() == ".zip" else entry
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise NotAProject(f"the zip cannot be opened: {exc}") from exc
        project = find_project(folder)
        if project is None:
            raise NotAProject("no manage.py found: not a Django project")
        results, seconds, problem = grade.grade(
            project, hidden=hidden, quiet=True, jobs=STEP_JOBS, private_redis=True, canary_first=False
        )
    except NotAProject as exc:
        problem = f"not graded: {exc}"
        row["note"] = problem[:200]
        return row, grade.results_json([], time.monotonic() - started, problem)
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)
    payload = grade.results_json(results, seconds, problem)
    for result, column in zip(results, STEP_COLUMNS):
        row[column] = round(float(result.points()), 2)
    row.update(total=payload["score"], note=problem.splitlines()[0][:200] if problem else "")
    return row, payload


def default_jobs():
    return 2 * (os.cpu_count() or 1)


def grade_all(submissions, grades_dir=None, jobs=None, hidden=True, progress=True):
    """Grades every submission in the folder -> (rows in name order, gradebook path)."""
    submissions = Path(submissions).resolve()
    grades_dir = Path(grades_dir or submissions.parent / f"{submissions.name}-grades").resolve()
    grades_dir.mkdir(parents=True, exist_ok=True)
    entries = submissions_in(submissions)
    if entries:
        canary.check()  # raises SandboxNotReady before anyone is graded or anything is written
    rows = []
    with concurrent.futures.ThreadPoolExecutor(jobs or default_jobs()) as pool:
        futures = [pool.submit(grade_one, entry, grades_dir, hidden) for entry in entries]
        bar = tqdm(
            concurrent.futures.as_completed(futures),
            total=len(futures),
            unit="submission",
            desc="grading",
            disable=not progress,
            file=sys.stderr,
        )
        for future in bar:
            rows.append(future.result())
            total = rows[-1]["total"]
            bar.set_postfix_str(f"{rows[-1]['submission']}: {total if total == '' else format(total, 'g')}")
    rows.sort(key=lambda row: row["submission"])
    gradebook = grades_dir / "gradebook.csv"
    with open(gradebook, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return rows, gradebook


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m kit.grading.batch", description="Grade every submission in a folder."
    )
    parser.add_argument("submissions", help="a folder of project folders and/or .zip files")
    parser.add_argument("--grades", help="where to write gradebook.csv and results (default: <submissions>-grades)")
    parser.add_argument("--jobs", type=int, default=None, help="submissions graded at once (default: twice the cores)")
    parser.add_argument("--public-only", action="store_true", help="leave out the hidden tests")
    args = parser.parse_args(argv)
    if not Path(args.submissions).is_dir():
        print(f"no such folder: {args.submissions}", file=sys.stderr)
        return 2
    print(f"Sandbox: {sandbox.describe()}")
    started = time.monotonic()
    try:
        rows, gradebook = grade_all(args.submissions, args.grades, args.jobs, hidden=not args.public_only)
    except grade.GraderError as exc:
        print(f"The grader could not run, so nobody was graded and nothing was written: {exc}", file=sys.stderr)
        return 2
    for row in rows:
        total = "-" if row["status"] == GRADER_ERROR else format(row["total"], "g")
        print(f"{row['submission']:<30} {total:>7}  {row['note']}")
    errors = sum(row["status"] == GRADER_ERROR for row in rows)
    print(
        f"{len(rows) - errors} submissions graded, {errors} grader errors (not scored: grade them again) "
        f"in {time.monotonic() - started:.0f} s; wrote {gradebook}"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
