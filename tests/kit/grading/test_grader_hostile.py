"""Hostile submissions (issue 12), graded in one batch beside the reference (as a zip) and a plain
starter copy: each scores what its real code deserves (0: they are starter copies), the kit and
its tests stay byte-for-byte unchanged, nothing of theirs outlives the batch, the hidden tests
never leak, and the reference keeps its 100 although one of them tries to rewrite other results."""

import csv
import hashlib
import json
import shutil

import psutil
import pytest

from fixtures.hostile import HOSTILE, make, tag_of
from kit import PROJECT_DIR, REPO_DIR
from kit.grading import batch
from kit.authoring import starter

pytestmark = pytest.mark.timeout(900)


def tree_digest():
    """SHA-256 over every file of kit/ and tests/ (names and bytes), bytecode caches left out."""
    digest = hashlib.sha256()
    for folder in (REPO_DIR / "kit", REPO_DIR / "tests"):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(path.relative_to(REPO_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grades the class once -> (rows by name, grades dir, submissions dir, digests before/after, survivors)."""
    top = tmp_path_factory.mktemp("hostile-class")
    starter.write(top / "starter")
    submissions = top / "submissions"
    submissions.mkdir()
    for name in HOSTILE:
        make(name, submissions, top / "starter" / "project")
    shutil.copytree(top / "starter" / "project", submissions / "plain_starter")
    shutil.make_archive(str(submissions / "reference"), "zip", PROJECT_DIR.parent, PROJECT_DIR.name)
    before = tree_digest()
    rows, gradebook = batch.grade_all(submissions, top / "grades", jobs=2, progress=False)
    survivors = [
        process.info["cmdline"]
        for process in psutil.process_iter(["cmdline"])
        if any(tag_of(name) in " ".join(process.info["cmdline"] or []) for name in HOSTILE)
    ]
    with open(gradebook, newline="") as handle:
        book = {row["submission"]: row for row in csv.DictReader(handle)}
    print("\n" + "\n".join(f"{row['submission']:<26} {row['total']:>6}  {row['note']}" for row in rows))
    return book, top / "grades", submissions, (before, tree_digest()), survivors


def test_the_kit_and_its_tests_are_byte_for_byte_unchanged(graded):
    _, _, _, (before, after), _ = graded
    assert before == after, "a submission changed the kit or its tests"


def test_no_process_of_a_submission_outlives_the_batch(graded):
    assert graded[4] == [], f"still running: {graded[4]}"


@pytest.mark.parametrize("name", HOSTILE + ["plain_starter"])
def test_a_hostile_starter_copy_scores_0_in_the_gradebook_and_its_results(graded, name):
    book, grades, _, _, _ = graded
    assert float(book[name]["total"]) == 0, book[name]
    payload = json.loads((grades / name / "results.json").read_text())
    assert payload["score"] == 0 and all(test["score"] == 0 for test in payload["tests"])
    assert len(payload["tests"]) > 0, "results.json lists the tests even when all fail"


def test_the_reference_keeps_100_although_another_submission_rewrites_results(graded):
    book, grades, _, _, _ = graded
    assert float(book["reference"]["total"]) == 100, book["reference"]
    assert [float(book["reference"][column]) for column in batch.STEP_COLUMNS] == [20, 30, 30, 20]
    payload = json.loads((grades / "reference" / "results.json").read_text())
    assert payload["score"] == 100 and len(payload["tests"]) > 1, "its results.json was rewritten"


def test_the_hidden_tests_leak_nowhere(graded):
    _, grades, submissions, _, _ = graded
    hidden_text = (REPO_DIR / "tests" / "grading" / "test_step2_groups_hidden.py").read_text()[:200]
    for folder in (submissions, grades, REPO_DIR / "tests", REPO_DIR / "kit"):
        assert not list(folder.rglob("LEAKED_HIDDEN_TESTS.txt")), f"a leak in {folder}"
    # Beside the checkout may be a shared /tmp, where test_sandbox_modes' `user` mode may write this
    # file legitimately: what matters there is that it holds nothing of the hidden tests.
    beside = REPO_DIR.parent / "LEAKED_HIDDEN_TESTS.txt"
    assert not beside.exists() or hidden_text not in beside.read_text(errors="replace")
    for path in grades.rglob("*"):
        assert not path.is_file() or hidden_text not in path.read_text(errors="replace")
