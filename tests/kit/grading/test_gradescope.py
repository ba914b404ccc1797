"""The Gradescope bundle, built and run locally on a folder laid out like Gradescope's /autograder:
the reference project as the submission gets 100 in <root>/results/results.json."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest

from kit import PROJECT_DIR
from kit.grading import grade
from kit.grading import gradescope

pytestmark = pytest.mark.timeout(600)


def test_the_bundle_holds_the_scripts_and_the_kit_but_no_solution(tmp_path):
    bundle = gradescope.build(tmp_path / "autograder.zip")
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
    assert {
        "setup.sh",
        "run_autograder",
        "kit/grading/grade.py",
        "kit/grading/sandbox.py",
        "pytest.ini",
        "tests/grading/conftest.py",
        "tests/grading/test_step2_groups_hidden.py",
    } <= names
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111, "the scripts must be executable"
    shipped = [name for name in names if name.startswith("project/")]
    assert sorted(shipped) == ["project/mysite/layers.py", "project/mysite/redis_url.py"], "no solution ships"
    assert not any("__pycache__" in name for name in names)
    for script in ("setup.sh", "run_autograder"):
        check = subprocess.run(
            ["bash", "-n"], input=getattr(gradescope, script.upper().replace(".", "_")), text=True, capture_output=True
        )
        assert check.returncode == 0, check.stderr


def test_run_autograder_grades_the_submission_into_results_json(tmp_path):
    root = tmp_path / "autograder"
    with zipfile.ZipFile(gradescope.build(tmp_path / "autograder.zip")) as archive:
        archive.extractall(root / "source")
    for script in ("setup.sh", "run_autograder"):
        (root / "source" / script).chmod(0o755)
    (root / "source" / ".venv").symlink_to(Path(sys.prefix))  # what setup.sh would have made
    (root / "submission").mkdir()
    subprocess.run(["cp", "-r", str(PROJECT_DIR), str(root / "submission" / "project")], check=True)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root)}
    env.pop("REDIS_URL", None)
    run = subprocess.run(
        [str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True, timeout=500
    )
    assert run.returncode == 0, run.stderr[-2000:]
    payload = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(payload, grade.RESULTS_SCHEMA)
    assert payload["score"] == 100, payload["output"]


def test_an_empty_submission_still_gets_a_results_json(tmp_path):
    (tmp_path / "submission").mkdir()
    assert gradescope.run(tmp_path) == 0
    payload = json.loads((tmp_path / "results" / "results.json").read_text())
    jsonschema.validate(payload, grade.RESULTS_SCHEMA)
    assert payload["score"] == 0 and "no manage.py" in payload["output"]
