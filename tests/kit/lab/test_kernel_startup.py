"""After a kernel restart, a project cell run on its own still writes its file (kit/lab/kernel_startup.py,
which `make lab` and compose's lab service hand every kernel through PYTHONSTARTUP)."""

import os
import shutil

from jupyter_client.manager import start_new_kernel

from kit import PROJECT_DIR, REPO_DIR

STARTUP = REPO_DIR / "kit" / "lab" / "kernel_startup.py"
CELL = "# project/echo/notes.txt\nwritten by a cell run first in a fresh kernel"


def run_first_cell(env, tmp_path):
    """Starts a kernel with env, runs CELL as its very first cell; -> (printed text, error or None)."""
    kernel, client = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env)
    printed, errors = [], []

    def collect(message):
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])
        elif message["msg_type"] == "error":
            errors.append(message["content"]["ename"])

    try:
        client.execute_interactive(CELL, timeout=60, output_hook=collect)
        client.execute_interactive(
            "print(sorted(name for name in globals() if 'install' in name))", timeout=30, output_hook=collect
        )
    finally:
        client.stop_channels()
        kernel.shutdown_kernel(now=True)
    return "".join(printed), errors


def test_a_project_cell_run_first_in_a_fresh_kernel_writes_its_file(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(PROJECT_DIR, project, ignore=shutil.ignore_patterns("__pycache__", "db.sqlite3*"))
    env = {**os.environ, "KIT_PROJECT_DIR": str(project), "PYTHONSTARTUP": str(STARTUP)}
    printed, errors = run_first_cell(env, tmp_path)
    assert errors == []
    assert "wrote: project/echo/notes.txt" in printed
    assert (project / "echo" / "notes.txt").read_text() == CELL + "\n"
    assert "[]" in printed  # the start-up file leaves nothing in the notebook's namespace


def test_without_the_startup_file_the_same_cell_writes_nothing(tmp_path):
    """What the start-up file is for: without it the cell is executed as code, and nothing is written."""
    project = tmp_path / "project"
    shutil.copytree(PROJECT_DIR, project, ignore=shutil.ignore_patterns("__pycache__", "db.sqlite3*"))
    env = {key: value for key, value in os.environ.items() if key != "PYTHONSTARTUP"}
    printed, errors = run_first_cell({**env, "KIT_PROJECT_DIR": str(project)}, tmp_path)
    assert errors == ["SyntaxError"]
    assert not (project / "echo" / "notes.txt").exists()
