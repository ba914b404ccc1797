"""Grading: the contract's four steps, each run as its own pytest process against a project.

    make grade PROJECT=/tmp/class/project OUT=results.json
    python -m kit.grade PROJECT [--out results.json] [--steps 1,3] [--public-only]
    kit.grade.self_check(1)     # in a notebook: step 1's public tests against project/

The submission is copied to a temporary directory first (nothing is written into it). A quick
start-up check runs first; then every step gets its own pytest process, and through the grading
conftest its own server, database, port and Redis key prefix. Every wait has a limit: a test
(pytest-timeout), a step (wall clock), the start-up check. Points per step are shared equally
among its test functions (a parametrized one counts once, its cases share its part).
"""
import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from kit import PROJECT_DIR, REPO_DIR
from kit.live_server import LiveServer, ServerFailed, stop_process_group

GRADING_DIR = REPO_DIR / "tests" / "grading"
STEPS = {1: ("echo", 20), 2: ("groups", 30), 3: ("bridge", 30), 4: ("commands & presence", 20)}
STEP_TIMEOUT = 300  # seconds of wall clock for one step's pytest process
TEST_TIMEOUT = 45  # seconds for one test (pytest-timeout)
START_TIMEOUT = 30  # seconds for the submission's server to answer in the start-up check
SELF_CHECK_TIMEOUT = 240
COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "db.sqlite3*", ".ipynb_checkpoints")


class GraderError(RuntimeError):
    """The grader itself cannot run (no project directory, no Redis, no pytest)."""


@dataclass
class StepResult:
    step: int
    tests: list = field(default_factory=list)  # the plugin's lines, one per test case
    note: str = ""  # why the step's run ended early, if it did
    seconds: float = 0.0

    @property
    def name(self):
        return STEPS[self.step][0]

    @property
    def max_points(self):
        return STEPS[self.step][1]

    def functions(self):
        """Test functions in order: {function: [cases]}."""
        grouped = {}
        for case in self.tests:
            grouped.setdefault(case["function"], []).append(case)
        return grouped

    def credit(self, cases):
        return Fraction(sum(case["outcome"] == "passed" for case in cases), len(cases))

    def points(self):
        functions = self.functions()
        if not functions:
            return Fraction(0)
        return self.max_points * sum(self.credit(cases) for cases in functions.values()) / len(functions)

    def passed_functions(self):
        return sum(self.credit(cases) == 1 for cases in self.functions().values())

    def first_failure(self, reveal_hidden=True):
        """The first failed test and why: public tests first; a hidden one unnamed unless revealed."""
        failed = [case for case in self.tests if case["outcome"] != "passed"]
        for case in sorted(failed, key=lambda case: case["hidden"]):
            if case["hidden"] and not reveal_hidden:
                return "a hidden test failed (details after grades are published)"
            return f"{case['title']}: {case['reason']}"
        return self.note


# -- running one step's tests ---------------------------------------------------------------
def marker_expression(step, hidden):
    return f"step{step}" if hidden else f"step{step} and not hidden"


def _pytest(args, env, timeout, log_path):
    """Runs pytest in its own process group; kills the whole group when time is up. -> note."""
    command = [sys.executable, "-m", "pytest", str(GRADING_DIR), "-p", "kit.grading_plugin",
               "-p", "no:cacheprovider", "-q", "--no-header", "-o", "console_output_style=classic",
               # --tb=line: no source formatting. The plugin says why in plain words, and Python 3.11's
               # ast.parse can fail inside pytest's formatting after a deep failure (an INTERNALERROR).
               "--tb=line", *args]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, cwd=REPO_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            stop_process_group(process)
            return f"the step ran out of time ({timeout} s) and was stopped"
    if process.returncode not in (0, 1):  # 1 = some tests failed; others = pytest could not run
        return f"pytest ended with status {process.returncode}"
    return ""


def _read_report(path):
    with contextlib.suppress(FileNotFoundError):
        with open(path, encoding="utf-8") as lines:
            return [json.loads(line) for line in lines if line.strip()]
    return []


def _base_env(project_dir, redis_url, report_path):
    env = {**os.environ, "KIT_PROJECT_DIR": str(project_dir), "KIT_GRADING_REPORT": str(report_path),
           "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("KIT_GRADING_COLLECT", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def collect(steps, hidden, workdir):
    """The test cases of steps (from the kit's tests, not the submission): the denominators."""
    report = Path(workdir) / f"collect-{uuid.uuid4().hex[:6]}.jsonl"
    env = {**_base_env(PROJECT_DIR, None, report), "KIT_GRADING_COLLECT": "1"}
    expression = " or ".join(f"({marker_expression(step, hidden)})" for step in steps)
    note = _pytest(["--collect-only", "-m", expression], env, 60, Path(workdir) / "collect.log")
    cases = {step: [case for case in _read_report(report) if case["step"] == step] for step in steps}
    for step, found in cases.items():
        if not found:
            raise GraderError(f"could not collect the grading tests of step {step} ({note or 'none found'}); "
                              f"see {Path(workdir) / 'collect.log'}")
    return cases


def run_step(step, project_dir, hidden=True, redis_url=None, workdir=None, timeout=STEP_TIMEOUT,
             skip_reason=None, expected=None):
    """One step's tests against project_dir in a pytest process of its own -> StepResult."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="kit-grade-"))
    started = time.monotonic()
    expected = expected or collect([step], hidden, workdir)[step]
    result = StepResult(step)
    if skip_reason:
        result.note = skip_reason
        result.tests = [{**case, "outcome": "failed", "reason": skip_reason} for case in expected]
        return result
    report = workdir / f"step{step}.jsonl"
    env = _base_env(project_dir, redis_url, report)
    result.note = _pytest(["-m", marker_expression(step, hidden), f"--timeout={TEST_TIMEOUT}"], env, timeout,
                          workdir / f"step{step}.log")
    done = {case["nodeid"]: case for case in _read_report(report)}
    missing = result.note or "the test did not run (the test process ended early)"
    result.tests = [done.get(case["nodeid"]) or {**case, "outcome": "failed", "reason": missing} for case in expected]
    result.seconds = time.monotonic() - started
    return result


# -- the whole submission ---------------------------------------------------------------------
def copy_submission(project_dir, workdir):
    copy = Path(workdir) / "project"
    shutil.copytree(project_dir, copy, ignore=COPY_IGNORE, symlinks=True)
    return copy


def startup_check(project_copy, redis_url):
    """Migrates and starts the submission once. -> "" if it answered, else the reason in plain words."""
    if not (project_copy / "manage.py").is_file():
        return "there is no manage.py in the project directory"
    server = LiveServer(project_dir=project_copy, redis_url=redis_url, layer_prefix=f"check{uuid.uuid4().hex[:8]}",
                        env={"PYTHONDONTWRITEBYTECODE": "1"}, start_timeout=START_TIMEOUT)
    try:
        server.manage("migrate", "--noinput", timeout=START_TIMEOUT)
        server.migrated = True
        server.start()
        return ""
    except subprocess.TimeoutExpired:
        return f"`manage.py migrate` did not finish within {START_TIMEOUT} s (an import that never ends?)"
    except ServerFailed as exc:  # "<why>. Last lines of its log:\n..." -> why, and the log's last line
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        why = lines[0].split(". Last lines of its log:")[0]
        return f"the project does not start: {why}; its last log line: {lines[-1][:300]}"
    finally:
        server.close()


def grade(project_dir, steps=(1, 2, 3, 4), hidden=True, redis_url=None, quiet=False):
    """Grades project_dir -> (list of StepResult, seconds, startup problem or "")."""
    from kit import redis_service

    project_dir = Path(project_dir).resolve()
    if not project_dir.is_dir():
        raise GraderError(f"no such project directory: {project_dir}")
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="kit-grade-"))
    try:
        with contextlib.ExitStack() as stack:
            if not redis_url:
                try:
                    redis_url = stack.enter_context(redis_service.running(quiet=True)).url
                except redis_service.RedisUnavailable as exc:
                    raise GraderError(f"no Redis to grade with: {exc}")
            expected = collect(steps, hidden, workdir)
            copy = copy_submission(project_dir, workdir)
            problem = startup_check(copy, redis_url)
            if problem and not quiet:
                print(f"The submission does not start, every step gets 0: {problem.splitlines()[0]}")
            results = []
            for step in steps:
                result = run_step(step, copy, hidden=hidden, redis_url=redis_url, workdir=workdir,
                                  skip_reason=problem or None, expected=expected[step])
                if not quiet:
                    print(f"step {step} ({result.name}): {float(result.points()):g}/{result.max_points}"
                          f" in {result.seconds:.0f} s", flush=True)
                results.append(result)
            return results, time.monotonic() - started, problem
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def total(results):
    return sum((result.points() for result in results), Fraction(0))


def table(results, reveal_hidden=True):
    rows = [("step", "tests passed", "points", "first failure")]
    for result in results:
        functions = len(result.functions())
        reason = result.first_failure(reveal_hidden) or "-"
        rows.append((f"{result.step} {result.name}", f"{result.passed_functions()}/{functions}",
                     f"{float(result.points()):.2f}/{result.max_points}", reason.splitlines()[0][:110]))
    maximum = sum(result.max_points for result in results)
    rows.append(("total", "", f"{float(total(results)):.2f}/{maximum}", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}  {d}" for a, b, c, d in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)


def results_json(results, seconds, problem=""):
    """Gradescope's results.json: one entry per test function."""
    tests = []
    for result in results:
        functions = result.functions()
        share = Fraction(result.max_points, len(functions)) if functions else Fraction(0)
        for cases in functions.values():
            first = cases[0]
            failed = [case for case in cases if case["outcome"] != "passed"]
            output = "; ".join(sorted({case["reason"] for case in failed}))[:2000] if failed else "passed"
            if failed and first["doc"]:
                output = f"{output}\nWhat is checked: {first['doc']}"
            if failed and len(cases) > 1:
                output = f"{len(cases) - len(failed)}/{len(cases)} cases passed. {output}"
            tests.append({
                "name": f"Step {result.step} ({result.name}): {first['title']}",
                "score": round(float(share * result.credit(cases)), 4),
                "max_score": round(float(share), 4),
                "status": "failed" if failed else "passed",
                "output": output,
                "visibility": "after_published" if first["hidden"] else "visible",
            })
    return {
        "score": round(float(total(results)), 2),
        "execution_time": round(seconds, 1),
        "output": (f"The submission does not start: {problem}\n\n" if problem else "") + table(results, False),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


RESULTS_SCHEMA = {
    "type": "object",
    "required": ["score", "execution_time", "tests"],
    "properties": {
        "score": {"type": "number", "minimum": 0},
        "execution_time": {"type": "number", "minimum": 0},
        "output": {"type": "string"},
        "visibility": {"enum": ["visible", "hidden", "after_due_date", "after_published"]},
        "stdout_visibility": {"enum": ["visible", "hidden", "after_due_date", "after_published"]},
        "tests": {"type": "array", "items": {
            "type": "object",
            "required": ["name", "score", "max_score", "status", "output", "visibility"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "score": {"type": "number", "minimum": 0},
                "max_score": {"type": "number", "minimum": 0},
                "status": {"enum": ["passed", "failed"]},
                "output": {"type": "string"},
                "visibility": {"enum": ["visible", "hidden", "after_due_date", "after_published"]},
            },
        }},
    },
}


# -- the notebooks' self-check ------------------------------------------------------------------
SELF_CHECK_NEEDS = {"pytest": "pytest", "pytest_asyncio": "pytest-asyncio", "pytest_timeout": "pytest-timeout"}


def missing_for_self_check():
    """The packages the grading tests need that this Python lacks (pip names)."""
    import importlib.util

    return [package for module, package in SELF_CHECK_NEEDS.items() if importlib.util.find_spec(module) is None]


def self_check(step, project_dir=None, timeout=SELF_CHECK_TIMEOUT):
    """Runs step's PUBLIC grading tests against project_dir (default: KIT_PROJECT_DIR, the project
    the notebook cells write to, else project/) and prints each
    test with PASS or FAIL, and for a failure what is wrong in plain words. -> True if all passed.

    Safe in a notebook kernel: the tests run in a separate process, bounded by timeout. When it
    cannot run, it says what is missing and the command that fixes it; a log it names is kept.
    """
    project_dir = Path(project_dir or os.environ.get("KIT_PROJECT_DIR") or PROJECT_DIR).resolve()
    name, points = STEPS[step]
    print(f"Self-check, step {step} ({name}): the public grading tests against {project_dir}")
    missing = missing_for_self_check()
    if missing:
        print(f"The self-check could not run: {', '.join(missing)} not installed in {sys.executable}.\n"
              f"Fix: {sys.executable} -m pip install -r {REPO_DIR / 'requirements.txt'}  (then run this cell again)")
        return False
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="kit-self-check-"))  # kept when a message names a log in it
    try:
        result = run_step(step, project_dir, hidden=False, timeout=timeout, workdir=workdir)
    except GraderError as exc:
        print(f"The self-check could not run: {exc}")
        return False
    for cases in result.functions().values():
        failed = [case for case in cases if case["outcome"] != "passed"]
        label = cases[0]["title"] + (f" ({len(cases) - len(failed)}/{len(cases)} cases)" if len(cases) > 1 else "")
        print(f"  {'FAIL' if failed else 'PASS'}  {label}")
        if failed:
            if cases[0]["doc"]:
                print(f"        checks: {cases[0]['doc']}")
            print(f"        why:    {failed[0]['reason'].splitlines()[0][:300]}")
    passed, count = result.passed_functions(), len(result.functions())
    print(f"{passed}/{count} passed in {time.monotonic() - started:.0f} s" + (f"; {result.note}" if result.note else ""))
    if result.note:
        print(f"The tests' output: {workdir / f'step{step}.log'}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    if passed == count:
        print(f"Step {step} is done: the public tests pass ({points} points if the hidden ones pass too).")
    return passed == count and not result.note


# -- command line ----------------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kit.grade", description="Grade a project by the contract's steps.")
    parser.add_argument("project", help="the project directory to grade (the one with manage.py)")
    parser.add_argument("--out", default="results.json", help="where to write Gradescope's results.json")
    parser.add_argument("--steps", default="1,2,3,4", help="which steps, e.g. 1,2")
    parser.add_argument("--public-only", action="store_true", help="leave out the hidden tests")
    args = parser.parse_args(argv)
    try:
        steps = [int(step) for step in args.steps.split(",")]
        if not set(steps) <= set(STEPS):
            raise GraderError(f"steps are 1 to 4, not {args.steps}")
        print(f"Grading {Path(args.project).resolve()} (a temporary copy; the directory is not touched)")
        results, seconds, problem = grade(args.project, steps=steps, hidden=not args.public_only)
    except GraderError as exc:
        print(f"The grader could not run: {exc}", file=sys.stderr)
        return 2
    payload = results_json(results, seconds, problem)
    Path(args.out).write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print()
    print(table(results))
    print(f"\nScore {payload['score']:g}/{sum(r.max_points for r in results)} in {seconds:.0f} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
