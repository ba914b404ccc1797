"""The self-check where the notebooks run: a virtualenv built exactly as `make lab` builds it
(requirements.txt only, no system site-packages; pip's cache makes a rebuild quick), then the
notebooks' last cell, kit.grading.grade.self_check(1), against the reference project: it passes. With a
package it needs uninstalled, it names the package and the command that fixes it."""

import os
import subprocess
import sys
import time

import pytest

from kit import REPO_DIR

# Installing JupyterLab and the rest from the index takes minutes on a busy machine.
pytestmark = pytest.mark.timeout(2400)
SELF_CHECK = "import sys; from kit.grading.grade import self_check; sys.exit(0 if self_check(1) else 1)"


def run(command, timeout, **kwargs):
    return subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )


def test_self_check_runs_after_make_lab_alone(tmp_path):
    venv = tmp_path / "lab-venv"
    python = venv / "bin" / "python"
    started = time.monotonic()
    # What the Makefile's $(VENV)/.lab-installed recipe runs.
    assert run([sys._base_executable, "-m", "venv", venv], 300).returncode == 0
    assert run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], 600).returncode == 0
    installed = run([python, "-m", "pip", "install", "--quiet", "-r", REPO_DIR / "requirements.txt"], 1800)
    assert installed.returncode == 0, installed.stderr[-3000:]
    print(f"\n[lab venv] built from requirements.txt in {time.monotonic() - started:.0f} s")

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "KIT_PROJECT_DIR")}
    checked = run([python, "-c", SELF_CHECK], 900, cwd=REPO_DIR, env=env)
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
    assert "Step 1 is done" in checked.stdout and "FAIL" not in checked.stdout

    assert run([python, "-m", "pip", "uninstall", "--quiet", "-y", "pytest-timeout"], 300).returncode == 0
    missing = run([python, "-c", SELF_CHECK], 300, cwd=REPO_DIR, env=env)
    assert missing.returncode == 1
    assert "pytest-timeout not installed" in missing.stdout
    assert f"{python} -m pip install -r {REPO_DIR / 'requirements.txt'}" in missing.stdout
