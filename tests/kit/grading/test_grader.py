"""The grader's self-test: the reference gets 100, a fresh starter copy 0 on every step, each
broken submission loses exactly the tests it breaks, results.json in format.

What each broken fixture (tests/kit/fixtures/broken.py) must fail, by test function; its points follow
from the grader's rule (a step's points shared equally among its test functions), checked on its
own below, so adding a grading test changes no number here:
  syntax_error_chat      step 2 all (chat's routes refused); step 3 the two tests that need a chat socket
  missing_module_echo    step 1 all (echo's routes refused)
  never_accepts_echo     step 1 all (every echo handshake times out, daphne, 5 s)
  forgets_group_discard  step 2 only the test that a member who left is removed from the group
  never_answers_chat     step 2 all but the three error-frame tests; step 3 the announcement
  view_sleeps_forever    step 4 all but presence and the unknown-reply error frame
  import_loops_forever   step 1 all (echo's import is interrupted after 10 s)
  server_never_starts    every step (the start-up check says why)
"""

import json
import os
import shutil
import subprocess
import sys
import time
from fractions import Fraction

import jsonschema
import pytest

from fixtures.broken import FIXTURES, make
from fixtures import styles
from kit import PROJECT_DIR, REPO_DIR
from kit.grading import grade
from kit.serving import redis_service
from kit.authoring import starter

# Grading a whole submission takes up to about two minutes on a busy 2-core machine.
pytestmark = pytest.mark.timeout(600)

ALL = "all"


def all_but(*functions):
    return ("all but", frozenset(functions))


CHAT_SOCKET_TESTS = {
    "test_step3_bridge.py::test_announcement_reaches_the_room_as_system_message",
    "test_step3_bridge.py::test_broadcast_reaches_every_device_and_no_chat_socket",
}
EXPECTED_FAILURES = {
    "syntax_error_chat": {2: ALL, 3: CHAT_SOCKET_TESTS},
    "missing_module_echo": {1: ALL},
    "never_accepts_echo": {1: ALL},
    "forgets_group_discard": {
        2: {"test_step2_groups_hidden.py::test_a_member_who_left_is_removed_from_the_group_and_others_still_receive"}
    },
    "never_answers_chat": {
        2: all_but(
            "test_step2_groups.py::test_a_too_large_message_gets_an_error",
            "test_step2_groups.py::test_bad_frames_get_an_error_frame",
            "test_step2_groups_hidden.py::test_binary_frame_gets_an_error_and_the_room_stays_quiet",
        ),
        3: {"test_step3_bridge.py::test_announcement_reaches_the_room_as_system_message"},
    },
    "view_sleeps_forever": {
        4: all_but(
            "test_step4_commands.py::test_presence_lists_devices_online_and_offline",
            "test_step4_commands_hidden.py::test_presence_rows_have_the_contract_shape",
            "test_step4_commands_hidden.py::test_reply_with_unknown_id_gets_an_error_frame",
        )
    },
    "import_loops_forever": {1: ALL},
    "server_never_starts": {1: ALL, 2: ALL, 3: ALL, 4: ALL},
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


def failing_functions(result):
    return {case["function"] for case in result.tests if case["outcome"] != "passed"}


def expected_failures(result, expected):
    """The set of functions a fixture must fail in this step, from EXPECTED_FAILURES' shorthand."""
    functions = set(result.functions())
    if expected == ALL:
        return functions
    if isinstance(expected, tuple):
        assert expected[1] <= functions, f"EXPECTED_FAILURES names tests that do not exist: {expected[1] - functions}"
        return functions - expected[1]
    assert expected <= functions, f"EXPECTED_FAILURES names tests that do not exist: {expected - functions}"
    return set(expected)


def check_results_json(payload, results):
    jsonschema.validate(payload, grade.RESULTS_SCHEMA)
    assert payload["score"] == round(float(grade.total(results)), 2)
    assert abs(sum(test["score"] for test in payload["tests"]) - payload["score"]) < 0.01
    assert abs(sum(test["max_score"] for test in payload["tests"]) - sum(r.max_points for r in results)) < 0.01
    for test in payload["tests"]:
        assert 0 <= test["score"] <= test["max_score"] + 1e-9
        assert (test["status"] == "passed") == (test["output"] == "passed")
    json.dumps(payload)


def test_a_steps_points_are_shared_equally_among_its_test_functions():
    """The rule every expected score follows: 4 functions of step 2 (30 points), one parametrized
    with 2 cases of which one fails, one failing outright -> 30 * (1 + 1 + 1/2 + 0) / 4."""
    cases = [("a", "passed"), ("b", "passed"), ("c", "passed"), ("c", "failed"), ("d", "failed")]
    result = grade.StepResult(
        2, tests=[{"function": f, "outcome": o, "hidden": False, "title": f, "reason": "x"} for f, o in cases]
    )
    assert result.points() == Fraction(30) * Fraction(5, 2) / 4
    assert result.passed_functions() == 2


def make_reference_copy(tmp_path):
    shutil.copytree(PROJECT_DIR, tmp_path / "reference", ignore=shutil.ignore_patterns("__pycache__", "db.sqlite3*"))
    return tmp_path / "reference"


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
    for result in results:
        expected = expected_failures(result, EXPECTED_FAILURES[name].get(result.step, set()))
        assert failing_functions(result) == expected, f"step {result.step}"
        passed = len(result.functions()) - len(expected)
        assert result.points() == Fraction(result.max_points * passed, len(result.functions()))
        if expected:
            assert result.first_failure(), f"step {result.step} lost points without a reason"
    assert (problem != "") == (name == "server_never_starts")
    check_results_json(grade.results_json(results, seconds, problem), results)


@pytest.mark.parametrize("name", list(styles.STYLES))
def test_a_correct_submission_written_differently_scores_100(tmp_path, redis_url, name):
    """Fair to every correct way of writing the steps (fixtures/styles.py): sync consumers with
    async_to_sync, JSON consumers, other names, own helpers, a sync bridge with async_to_sync."""
    results, seconds, problem = graded(styles.make(name, tmp_path), redis_url)
    assert problem == ""
    failed = {
        case["function"]: case["reason"] for result in results for case in result.tests if case["outcome"] != "passed"
    }
    assert failed == {}, f"a grading test assumes one way of writing: {failed}"
    assert [float(r.points()) for r in results] == [20, 30, 30, 20]


def test_the_command_line_writes_results_json_and_exits_0(tmp_path):
    starter.write(tmp_path / "class")
    out = tmp_path / "results.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "kit.grading.grade",
            str(tmp_path / "class" / "project"),
            "--out",
            str(out),
            "--steps",
            "1",
        ],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "1 echo" in run.stdout and "0.00/20" in run.stdout
    payload = json.loads(out.read_text())
    jsonschema.validate(payload, grade.RESULTS_SCHEMA)
    assert payload["score"] == 0 and all(test["status"] == "failed" for test in payload["tests"])
    missing = subprocess.run(
        [sys.executable, "-m", "kit.grading.grade", str(tmp_path / "nowhere")],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "could not run" in missing.stderr


def test_self_check_prints_pass_and_fail_in_plain_words(tmp_path, capsys):
    starter.write(tmp_path / "class")
    assert grade.self_check(1, tmp_path / "class" / "project") is False
    printed = capsys.readouterr().out
    assert "FAIL  text frame comes back verbatim" in printed and "why:" in printed
    assert "Traceback" not in printed
    assert grade.self_check(1, make_reference_copy(tmp_path)) is True
    assert "PASS  text frame comes back verbatim" in capsys.readouterr().out


@pytest.mark.parametrize("value, shown", [("7", "7.0"), ("", "45")])
def test_grading_time_limits_are_settable_by_environment(value, shown):
    """KIT_GRADE_<limit>: a slow machine gives the grader more time, a test less; unset: the default."""
    env = {**os.environ, "KIT_GRADE_TEST_TIMEOUT": value}
    printed = subprocess.run(
        [sys.executable, "-c", "from kit.grading import grade; print(grade.TEST_TIMEOUT)"],
        env=env,
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.stdout.strip() == shown, printed.stderr


def test_a_time_limit_that_is_not_a_number_is_refused_plainly():
    env = {**os.environ, "KIT_GRADE_TEST_TIMEOUT": "soon"}
    refused = subprocess.run(
        [sys.executable, "-m", "kit.grading.grade", "--help"],
        env=env,
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0 and "KIT_GRADE_TEST_TIMEOUT='soon': give a number of seconds" in refused.stderr
