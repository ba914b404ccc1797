"""Grading: the contract's four steps, each run as its own pytest process against a project.

    make grade PROJECT=/tmp/class/project OUT=results.json
    python -m kit.grading.grade PROJECT [--out results.json] [--steps 1,3] [--public-only]
    kit.grading.grade.self_check(1)     # in a notebook: step 1's public tests against project/

The submission is copied into a sandbox area (kit.grading.sandbox; nothing is written into the directory
given), migrated and given its grading credentials once (kit.grading.credentials). Then the start-up
check and the steps run in parallel: every step its own pytest process and, through the grading
conftest, its own sandboxed server, copy of the database, port and Redis key prefix. Every wait
has a limit: a test (pytest-timeout), a step (wall clock), the preparation, the start-up check.
Points and reports: kit.grading.report. A whole class: kit.grading.batch; Gradescope: kit.grading.gradescope.
"""

import argparse
import concurrent.futures
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from kit import PROJECT_DIR, REPO_DIR
from kit.grading import canary, credentials
from kit.grading.errors import GraderError, SandboxNotReady  # noqa: F401 (part of this module's API)

# The grade's parts and reports, part of this module's API (kit.grading.grade.total, results_json, ...).
from kit.grading.report import (  # noqa: F401
    RESULTS_SCHEMA,
    STEPS,
    StepResult,
    grader_error_json,
    results_json,
    table,
    total,
)
from kit.serving.live_server import LiveServer, ServerFailed, stop_process_group
from kit.grading.sandbox import ENV_VAR, describe, slot

GRADING_DIR = REPO_DIR / "tests" / "grading"


def time_limit(name, default):
    """Seconds: KIT_GRADE_<name> when set (a slow machine lengthens, a test shortens), else default."""
    value = os.environ.get(f"KIT_GRADE_{name}")
    try:
        seconds = float(value) if value else default
    except ValueError:
        raise SystemExit(f"KIT_GRADE_{name}={value!r}: give a number of seconds") from None
    if seconds <= 0:
        raise SystemExit(f"KIT_GRADE_{name}={value!r}: give a number of seconds above 0")
    return seconds


STEP_TIMEOUT = time_limit("STEP_TIMEOUT", 300)  # seconds of wall clock for one step's pytest process
TEST_TIMEOUT = time_limit("TEST_TIMEOUT", 45)  # seconds for one test (pytest-timeout)
START_TIMEOUT = time_limit("START_TIMEOUT", 30)  # seconds for the server to answer in the start-up check
SELF_CHECK_TIMEOUT = 240
COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "db.sqlite3*", ".ipynb_checkpoints")


# -- running one step's tests ---------------------------------------------------------------
def marker_expression(step, hidden):
    return f"step{step}" if hidden else f"step{step} and not hidden"


def _pytest(args, env, timeout, log_path):
    """Runs pytest in its own process group; kills the whole group when time is up. -> note."""
    # Only the plugins grading needs: autoloading every installed one costs 1.5 s per process.
    env = {**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(GRADING_DIR),
        "-p",
        "kit.grading.pytest_plugin",
        "-p",
        "pytest_asyncio.plugin",
        "-p",
        "pytest_timeout",
        "-p",
        "no:cacheprovider",
        "-q",
        "--no-header",
        "-o",
        "console_output_style=classic",
        # --tb=line: no source formatting. The plugin says why in plain words, and Python 3.11's
        # ast.parse can fail inside pytest's formatting after a deep failure (an INTERNALERROR).
        "--tb=line",
        *args,
    ]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
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


def _base_env(project_dir, redis_url, report_path, sandbox=None, db_template=None, seed=None):
    env = {
        **os.environ,
        "KIT_PROJECT_DIR": str(project_dir),
        "KIT_GRADING_REPORT": str(report_path),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for name in ("KIT_GRADING_COLLECT", "KIT_GRADING_DB", "KIT_GRADING_SEED", ENV_VAR):
        env.pop(name, None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    if sandbox:
        env[ENV_VAR] = sandbox.to_env()
    if db_template:  # a database the grader migrated and seeded once, and its credentials
        env.update(KIT_GRADING_DB=str(db_template), KIT_GRADING_SEED=str(seed))
    return env


_collected = {}  # (steps, hidden) -> cases: the kit's tests do not change while a process grades


def collect(steps, hidden, workdir):
    """The test cases of steps (from the kit's tests, not the submission): the denominators."""
    key = (tuple(steps), hidden)
    if key not in _collected:
        _collected[key] = _collect(steps, hidden, workdir)
    return {step: list(cases) for step, cases in _collected[key].items()}


def _collect(steps, hidden, workdir):
    report = Path(workdir) / f"collect-{uuid.uuid4().hex[:6]}.jsonl"
    env = {**_base_env(PROJECT_DIR, None, report), "KIT_GRADING_COLLECT": "1"}
    expression = " or ".join(f"({marker_expression(step, hidden)})" for step in steps)
    note = _pytest(["--collect-only", "-m", expression], env, 60, Path(workdir) / "collect.log")
    cases = {step: [case for case in _read_report(report) if case["step"] == step] for step in steps}
    for step, found in cases.items():
        if not found:
            raise GraderError(
                f"could not collect the grading tests of step {step} ({note or 'none found'}); "
                f"see {Path(workdir) / 'collect.log'}"
            )
    return cases


def run_step(
    step,
    project_dir,
    hidden=True,
    redis_url=None,
    workdir=None,
    timeout=STEP_TIMEOUT,
    skip_reason=None,
    expected=None,
    sandbox=None,
    db_template=None,
    seed=None,
):
    """One step's tests against project_dir in a pytest process of its own -> StepResult."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="kit-grade-"))
    started = time.monotonic()
    expected = expected or collect([step], hidden, workdir)[step]
    result = StepResult(step)
    if skip_reason:
        result.tests = expected
        return skipped(result, skip_reason)
    report = workdir / f"step{step}.jsonl"
    env = _base_env(project_dir, redis_url, report, sandbox, db_template, seed)
    result.note = _pytest(
        ["-m", marker_expression(step, hidden), f"--timeout={TEST_TIMEOUT}"], env, timeout, workdir / f"step{step}.log"
    )
    done = {case["nodeid"]: case for case in _read_report(report)}
    missing = result.note or "the test did not run (the test process ended early)"
    result.tests = [done.get(case["nodeid"]) or {**case, "outcome": "failed", "reason": missing} for case in expected]
    result.seconds = time.monotonic() - started
    return result


# -- the whole submission ---------------------------------------------------------------------
def copy_submission(project_dir, area):
    """The submission's copy in its sandbox area (symlinks copied as links, never followed)."""
    copy = Path(area) / "project"
    shutil.copytree(project_dir, copy, ignore=COPY_IGNORE, symlinks=True)
    return copy


def _server(project_copy, redis_url, sandbox, db_path):
    return LiveServer(
        project_dir=project_copy,
        redis_url=redis_url,
        layer_prefix=f"check{uuid.uuid4().hex[:8]}",
        env={"PYTHONDONTWRITEBYTECODE": "1"},
        start_timeout=START_TIMEOUT,
        db_path=db_path,
        launcher=sandbox.launcher if sandbox else None,
    )


def prepare(project_copy, redis_url, sandbox, db_path, seed_path):
    """Migrates the submission into db_path (the database every step copies) and creates the grading
    credentials there, in one `manage.py shell`. -> "" or why the project cannot be graded."""
    if not (project_copy / "manage.py").is_file():
        return "there is no manage.py in the project directory"
    server = _server(project_copy, redis_url, sandbox, db_path)
    script = credentials.script(credentials.new_device_ids(credentials.SEED_DEVICES), "grader", migrate=True)
    try:
        seed = credentials.parse(server.manage("shell", "-c", script, timeout=START_TIMEOUT))
    except subprocess.TimeoutExpired:
        return f"`manage.py migrate` did not finish within {START_TIMEOUT} s (an import that never ends?)"
    except ServerFailed as exc:
        return f"`manage.py migrate` failed: {exc.last_line() or 'it ended without a word (a limit hit?)'}"
    finally:
        server.close()
    if not seed["migrated"]:
        return "`manage.py migrate` did not finish (the project's shell printed nothing)"
    Path(seed_path).write_text(json.dumps(seed), encoding="utf-8")
    return ""


def startup_check(project_copy, redis_url, sandbox=None, db_template=None):
    """Starts the (migrated) submission once. -> "" if it answered, else the reason in plain words."""
    db_path = Path(sandbox.area) / "check.sqlite3" if sandbox else None
    server = _server(project_copy, redis_url, sandbox, db_path)
    if db_template:
        shutil.copyfile(db_template, server.db_path)
        sandbox.own(server.db_path)
    server.migrated = bool(db_template)
    try:
        server.start()
        return ""
    except subprocess.TimeoutExpired:
        return f"`manage.py migrate` did not finish within {START_TIMEOUT} s (an import that never ends?)"
    except ServerFailed as exc:
        return f"the project does not start: {exc.reason}; its last log line: {exc.last_line() or '(none)'}"
    finally:
        server.close()


LONGEST_FIRST = (3, 4, 2, 1)  # parallel steps finish soonest when the slow ones start first


def grade(
    project_dir,
    steps=(1, 2, 3, 4),
    hidden=True,
    redis_url=None,
    quiet=False,
    jobs=None,
    sandbox_mode=None,
    private_redis=False,
    canary_first=True,
):
    """Grades project_dir -> (list of StepResult, seconds, startup problem or "").

    Raises GraderError when the grader, not the submission, is at fault: no Redis, or the canary
    (kit.grading.canary) finds that no submission could start in this sandbox. canary_first: the
    canary runs before the submission (one project); else (a batch, whose canary ran once before
    anyone) only when the submission does not start, to tell whose fault that is.

    The submission runs in a sandbox of its own (kit.grading.sandbox). It is migrated once; then the
    start-up check and the steps run `jobs` at a time (default: all: they mostly wait), each step with
    its own server on a copy of the migrated database. private_redis: a Redis started for this
    submission alone (batch grading), never a shared one."""
    from kit.serving import redis_service

    project_dir = Path(project_dir).resolve()
    if not project_dir.is_dir():
        raise GraderError(f"no such project directory: {project_dir}")
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="kit-grade-"))  # the grader's own: reports, logs, the seed
    try:
        with contextlib.ExitStack() as stack:
            if not redis_url:
                try:
                    skip = ("REDIS_URL", "localhost:6379") if private_redis else ()
                    redis_url = stack.enter_context(redis_service.running(quiet=True, skip=skip, guarded=True)).url
                except redis_service.RedisUnavailable as exc:
                    raise GraderError(f"no Redis to grade with: {exc}")
            pool = stack.enter_context(concurrent.futures.ThreadPoolExecutor(jobs or len(steps)))
            side = stack.enter_context(concurrent.futures.ThreadPoolExecutor(1))  # collect, then the start-up check
            collecting = side.submit(collect, steps, hidden, workdir)
            box = canary.open_sandbox(stack.enter_context(slot()), sandbox_mode)
            stack.callback(box.remove)  # kills whatever the submission left running, removes its area
            copy = copy_submission(project_dir, box.area)
            box.own(box.area)
            if canary_first:  # the grader's fault, not the submission's: stop before any score
                canary.prove(box, copy, START_TIMEOUT)
            db_template, seed = Path(box.area) / "migrated.sqlite3", workdir / "seed.json"
            problem = prepare(copy, redis_url, box, db_template, seed)
            if problem:
                blame_the_grader_if(box, copy, redis_url, canary_first)
            expected = collecting.result()
            checking = side.submit(startup_check, copy, redis_url, box, db_template) if not problem else None
            futures = [
                pool.submit(
                    run_step,
                    step,
                    copy,
                    hidden=hidden,
                    redis_url=redis_url,
                    workdir=workdir,
                    skip_reason=problem or None,
                    expected=expected[step],
                    sandbox=box,
                    db_template=db_template,
                    seed=seed,
                )
                for step in sorted(steps, key=LONGEST_FIRST.index)
            ]
            if not problem:
                problem = checking.result()
                if problem:
                    blame_the_grader_if(box, copy, redis_url, canary_first)
            if problem and not quiet:
                print(f"The submission does not start, every step gets 0: {problem.splitlines()[0]}")
            done = {}
            for future in concurrent.futures.as_completed(futures):
                result = future.result()
                done[result.step] = skipped(result, problem) if problem else result
                if not quiet:
                    print(
                        f"step {result.step} ({result.name}): {float(done[result.step].points()):g}/"
                        f"{result.max_points} in {result.seconds:.0f} s",
                        flush=True,
                    )
            if problem or any(result.note for result in done.values()):
                redis_still_answers(redis_url)
            return [done[step] for step in steps], time.monotonic() - started, problem
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def blame_the_grader_if(box, copy, redis_url, canary_ran):
    """The submission did not start: raises GraderError if the grader is why (the canary fails now,
    or Redis is gone); returns if the submission is."""
    redis_still_answers(redis_url)
    if not canary_ran:
        box.cleanup()  # the submission's own processes must not count against the canary's limits
        canary.prove(box, copy, START_TIMEOUT)


def redis_still_answers(redis_url):
    """GraderError if the Redis is gone. A Redis that answers with an error (BUSY: a submission's
    endless script) still answers: what the submission did to it is its own doing."""
    import redis

    from kit.serving import redis_service

    single = redis_url and "," not in redis_url and redis_url.startswith(("redis://", "rediss://"))
    if not single:
        return
    for timeout in (3, 8):  # a script runs 5 s before Redis answers BUSY to others
        client = redis_service.shard_client(redis_url, timeout)
        try:
            client.ping()
            return
        except redis.ResponseError:
            return
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            pass
        finally:
            client.close()
    raise GraderError(
        f"the Redis at {redis_url} stopped answering while grading",
        "check the machine (memory, disk) and grade again; with REDIS_URL set, check that Redis",
    )


def skipped(result, reason):
    """A step of a submission that does not start: every test failed, for that reason."""
    result.note = reason
    result.tests = [{**case, "outcome": "failed", "reason": reason} for case in result.tests]
    return result


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
        print(
            f"The self-check could not run: {', '.join(missing)} not installed in {sys.executable}.\n"
            f"Fix: {sys.executable} -m pip install -r {REPO_DIR / 'requirements.txt'}  (then run this cell again)"
        )
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
    print(
        f"{passed}/{count} passed in {time.monotonic() - started:.0f} s" + (f"; {result.note}" if result.note else "")
    )
    if result.note:
        print(f"The tests' output: {workdir / f'step{step}.log'}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    if passed == count:
        print(f"Step {step} is done: the public tests pass ({points} points if the hidden ones pass too).")
    return passed == count and not result.note


# -- command line ----------------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m kit.grading.grade", description="Grade a project by the contract's steps."
    )
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
        print(f"Sandbox: {describe()}")
        results, seconds, problem = grade(args.project, steps=steps, hidden=not args.public_only)
    except GraderError as exc:
        print(f"The grader could not run, so nothing was graded and {args.out} was not written: {exc}", file=sys.stderr)
        return 2
    payload = results_json(results, seconds, problem)
    Path(args.out).write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print()
    print(table(results))
    print(f"\nScore {payload['score']:g}/{sum(r.max_points for r in results)} in {seconds:.0f} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
