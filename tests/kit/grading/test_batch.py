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
    with pytest.raises(grade.GraderError, match="unsafe entry"):
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
    assert list(rows[0]) == ["submission", *batch.STEP_COLUMNS, "total", "note", "seconds"]
    assert "no manage.py" in rows[1]["note"] and "zip" in rows[0]["note"].lower()
    for row in rows:
        assert float(row["total"]) == 0
        payload = json.loads((tmp_path / "grades" / row["submission"] / "results.json").read_text())
        jsonschema.validate(payload, grade.RESULTS_SCHEMA)
        assert payload["score"] == 0 and row["note"][:40] in payload["output"]
