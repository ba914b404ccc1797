"""The grader's self-test: the reference gets 100, a fresh starter copy 0 on every step, each
broken submission exactly the points of the steps it does not break, results.json in format.

Expected scores of the broken fixtures (tests/fixtures/broken.py), per step (20/30/30/20):
  syntax_error_chat     20, 0, 27.14, 20  chat's routes refused (the rest keeps working); step 3 loses its
                                          2 of 21 tests that need a chat socket (announcement, broadcast)
  missing_module_echo    0, 30, 30, 20    echo's routes refused
  never_accepts_echo     0, 30, 30, 20    every echo handshake times out (daphne, 5 s)
  never_answers_chat    20, 6.43, 28.57, 20  only the error frames work (3 of 14 step-2 tests); the announcement fails
  view_sleeps_forever   20, 30, 30, 6     command requests hang until the client gives up (10 s); presence and
                                          the unknown-reply error frame still work (3 of 10 step-4 tests)
  import_loops_forever   0, 30, 30, 20    echo's import is interrupted after 10 s; its routes refused
  server_never_starts    0, 0, 0, 0       the ASGI module fails: the start-up check says why, steps are skipped
"""
import json
import subprocess
import sys
import time

import jsonschema
import pytest

from fixtures.broken import FIXTURES, make
from kit import PROJECT_DIR, REPO_DIR, grade, redis_service, starter

# Grading a whole submission takes up to about two minutes on a busy 2-core machine.
pytestmark = pytest.mark.timeout(600)

EXPECTED = {
    "syntax_error_chat": (20, 0, 27.14, 20),
    "missing_module_echo": (0, 30, 30, 20),
    "never_accepts_echo": (0, 30, 30, 20),
    "never_answers_chat": (20, 6.43, 28.57, 20),
    "view_sleeps_forever": (20, 30, 30, 6),
    "import_loops_forever": (0, 30, 30, 20),
    "server_never_starts": (0, 0, 0, 0),
}


@pytest.fixture(scope="module")
def redis_url():
    with redis_service.running(quiet=True) as redis:
        yield redis.url


def listing(folder):
    return sorted((path.relative_to(folder).as_posix(), path.stat().st_size) for path in folder.rglob("*"))


def graded(project, redis_url, **kwargs):
    started = time.monotonic()
    results, seconds, problem = grade.grade(project, redis_url=redis_url, quiet=True, **kwargs)
    print(f"\n{project.name}: {float(grade.total(results)):.2f} in {time.monotonic() - started:.0f} s")
    print(grade.table(results))
    return results, seconds, problem


def check_results_json(payload, results):
    jsonschema.validate(payload, grade.RESULTS_SCHEMA)
    assert payload["score"] == round(float(grade.total(results)), 2)
    assert abs(sum(test["score"] for test in payload["tests"]) - payload["score"]) < 0.01
    assert abs(sum(test["max_score"] for test in payload["tests"]) - sum(r.max_points for r in results)) < 0.01
    for test in payload["tests"]:
        assert 0 <= test["score"] <= test["max_score"] + 1e-9
        assert (test["status"] == "passed") == (test["output"] == "passed")
    json.dumps(payload)


def test_the_reference_grades_100_and_its_directory_is_untouched(tmp_path, redis_url):
    project = make_reference_copy(tmp_path)
    before = listing(project)
    results, seconds, problem = graded(project, redis_url)
    assert problem == ""
    assert [float(r.points()) for r in results] == [20, 30, 30, 20]
    assert grade.total(results) == 100
    assert listing(project) == before, "the grader wrote into the submission's directory"
    payload = grade.results_json(results, seconds)
    check_results_json(payload, results)
    assert payload["score"] == 100 and all(test["status"] == "passed" for test in payload["tests"])
    assert {test["visibility"] for test in payload["tests"]} == {"visible", "after_published"}


def make_reference_copy(tmp_path):
    import shutil

    shutil.copytree(PROJECT_DIR, tmp_path / "reference", ignore=shutil.ignore_patterns("__pycache__", "db.sqlite3*"))
    return tmp_path / "reference"


def test_a_fresh_starter_copy_grades_0_on_every_step_and_finishes(tmp_path, redis_url):
    starter.write(tmp_path / "class")
    results, seconds, problem = graded(tmp_path / "class" / "project", redis_url)
    assert problem == "", "the starter copy's server must start"
    assert [float(r.points()) for r in results] == [0, 0, 0, 0]
    for result in results:
        assert result.note == "", f"step {result.step} did not finish: {result.note}"
        assert all(case["reason"] for case in result.tests), "every failure says why"
    check_results_json(grade.results_json(results, seconds), results)


@pytest.mark.parametrize("name", list(FIXTURES))
def test_a_broken_submission_loses_only_what_it_breaks(tmp_path, redis_url, name):
    results, seconds, problem = graded(make(name, tmp_path), redis_url)
    assert tuple(round(float(r.points()), 2) for r in results) == EXPECTED[name]
    assert (problem != "") == (name == "server_never_starts")
    for result in results:
        if result.points() < result.max_points:
            assert result.first_failure(), f"step {result.step} lost points without a reason"
    check_results_json(grade.results_json(results, seconds, problem), results)


def test_the_command_line_writes_results_json_and_exits_0(tmp_path):
    starter.write(tmp_path / "class")
    out = tmp_path / "results.json"
    run = subprocess.run([sys.executable, "-m", "kit.grade", str(tmp_path / "class" / "project"), "--out", str(out),
                          "--steps", "1"], cwd=REPO_DIR, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "1 echo" in run.stdout and "0.00/20" in run.stdout
    payload = json.loads(out.read_text())
    jsonschema.validate(payload, grade.RESULTS_SCHEMA)
    assert payload["score"] == 0 and all(test["status"] == "failed" for test in payload["tests"])
    missing = subprocess.run([sys.executable, "-m", "kit.grade", str(tmp_path / "nowhere")], cwd=REPO_DIR,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "could not run" in missing.stderr


def test_self_check_prints_pass_and_fail_in_plain_words(tmp_path, capsys):
    starter.write(tmp_path / "class")
    assert grade.self_check(1, tmp_path / "class" / "project") is False
    printed = capsys.readouterr().out
    assert "FAIL  text frame comes back verbatim" in printed and "why:" in printed
    assert "Traceback" not in printed
    assert grade.self_check(1, make_reference_copy(tmp_path)) is True
    assert "PASS  text frame comes back verbatim" in capsys.readouterr().out
