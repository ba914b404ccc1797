"""Batch grading's own handling of what is not a gradable project (the grading itself is
exercised by tests/kit/grading/test_grader_hostile.py): it says why, writes results.json, and keeps going."""

import csv
import json
import subprocess
import sys
import zipfile

import jsonschema
import pytest

from kit import REPO_DIR
from kit.grading import batch
from kit.grading import grade


def test_a_zip_with_an_escaping_path_is_refused_unpacked_nowhere(tmp_path):
    archive = tmp_path / "sneaky.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("../../escaped.txt", "outside")
    with pytest.raises(batch.NotAProject, match="unsafe entry"):
        batch.unzip(archive, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path.parent / "escaped.txt").exists()


def test_the_project_is_found_inside_a_wrapping_folder(tmp_path):
    (tmp_path / "alice" / "__MACOSX").mkdir(parents=True)
    (tmp_path / "alice" / "my-work" / "project").mkdir(parents=True)
    (tmp_path / "alice" / "my-work" / "project" / "manage.py").write_text("")
    assert batch.find_project(tmp_path / "alice") == tmp_path / "alice" / "my-work" / "project"
    assert batch.find_project(tmp_path / "alice" / "__MACOSX") is None


def test_entries_that_are_not_projects_get_0_with_a_reason_and_the_batch_goes_on(tmp_path):
    submissions = tmp_path / "class"
    (submissions / "notes-only").mkdir(parents=True)
    (submissions / "notes-only" / "README.txt").write_text("no project here")
    (submissions / "not-a-zip.zip").write_bytes(b"this is not a zip file")
    (submissions / ".hidden").mkdir()
    run = subprocess.run(
        [sys.executable, "-m", "kit.grading.batch", str(submissions), "--grades", str(tmp_path / "grades")],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "2 submissions graded" in run.stdout and "grading" in run.stderr, "a summary and a progress bar"
    with open(tmp_path / "grades" / "gradebook.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["submission"] for row in rows] == ["not-a-zip", "notes-only"]
    assert list(rows[0]) == ["submission", *batch.STEP_COLUMNS, "total", "status", "note", "seconds"]
    assert {row["status"] for row in rows} == {"graded"}, "not a project is the submission's fault: a 0"
    assert "no manage.py" in rows[1]["note"] and "zip" in rows[0]["note"].lower()
    for row in rows:
        assert float(row["total"]) == 0
        payload = json.loads((tmp_path / "grades" / row["submission"] / "results.json").read_text())
        jsonschema.validate(payload, grade.RESULTS_SCHEMA)
        assert payload["score"] == 0 and row["note"][:40] in payload["output"]


def test_a_grader_error_is_retried_once_then_marked_apart_with_no_score(tmp_path, monkeypatch, capsys):
    """The grader failing for its own reasons (here: Redis gone) is never a 0: the gradebook says
    `grader error` with the reason, results.json has no score and says why, the batch exits 1."""
    submissions = tmp_path / "class"
    for name in ("alice", "bob"):
        (submissions / name).mkdir(parents=True)
        (submissions / name / "manage.py").write_text("")
    calls = []

    def failing_grade(project, **kwargs):
        calls.append(project.name)
        if project.name == "bob" and calls.count("bob") == 1:
            raise grade.GraderError("the machine hiccupped")  # once: the retry grades bob
        if project.name == "alice":
            raise grade.GraderError("the Redis at redis://127.0.0.1:1 stopped answering while grading")
        return [grade.StepResult(step) for step in grade.STEPS], 1.0, ""

    monkeypatch.setattr(grade, "grade", failing_grade)
    status = batch.main([str(submissions), "--grades", str(tmp_path / "grades"), "--jobs", "1"])
    assert status == 1, "a grader error makes the run fail, so nobody mistakes it for a grade"
    assert sorted(calls) == ["alice", "alice", "bob", "bob"], "each failure is retried once"
    with open(tmp_path / "grades" / "gradebook.csv", newline="") as handle:
        rows = {row["submission"]: row for row in csv.DictReader(handle)}
    assert rows["alice"]["status"] == "grader error" and rows["alice"]["total"] == ""
    assert "Redis" in rows["alice"]["note"] and all(rows["alice"][column] == "" for column in batch.STEP_COLUMNS)
    assert rows["bob"]["status"] == "graded" and float(rows["bob"]["total"]) == 0
    payload = json.loads((tmp_path / "grades" / "alice" / "results.json").read_text())
    jsonschema.validate(payload, grade.RESULTS_SCHEMA)
    assert "score" not in payload and payload["tests"] == []
    assert "grader's own reasons" in payload["output"] and "stopped answering" in payload["output"]
    assert "1 submissions graded, 1 grader errors" in capsys.readouterr().out


def test_a_sandbox_that_cannot_start_anyone_stops_the_batch_before_any_result(tmp_path, monkeypatch, capsys):
    (tmp_path / "class" / "alice").mkdir(parents=True)
    (tmp_path / "class" / "alice" / "manage.py").write_text("")
    monkeypatch.setenv("KIT_GRADE_SANDBOX", "no-such-mode")
    status = batch.main([str(tmp_path / "class"), "--grades", str(tmp_path / "grades")])
    assert status == 2
    assert not (tmp_path / "grades" / "alice").exists() and not (tmp_path / "grades" / "gradebook.csv").exists()
    printed = capsys.readouterr().err
    assert "nobody was graded" in printed and "KIT_GRADE_SANDBOX" in printed
