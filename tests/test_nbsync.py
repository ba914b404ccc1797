"""The notebooks' project cells equal the files in project/, and the check really catches drift."""
import json
import shutil
import subprocess
import sys

import nbformat
import pytest

from kit import NOTEBOOKS_DIR, PROJECT_DIR, REPO_DIR
from kit import nbsync
from kit.project_cells import _project_cell_transformer, cell_path, write_cell


def run_nbsync(*args):
    return subprocess.run([sys.executable, "-m", "kit.nbsync", *args], cwd=REPO_DIR,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def copies(tmp_path):
    """A copy of notebooks/ and project/ to break on purpose."""
    notebooks = tmp_path / "notebooks"
    project = tmp_path / "project"
    shutil.copytree(NOTEBOOKS_DIR, notebooks, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(PROJECT_DIR, project, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3"))
    return notebooks, project


def first_project_cell(path):
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and cell_path(cell.source):
            return notebook, index, cell
    raise AssertionError(f"{path.name} has no project cell")


def test_committed_notebooks_are_in_sync_and_without_outputs():
    result = run_nbsync("--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 problems" in result.stdout


def test_every_notebook_project_cell_names_an_existing_file():
    paths = nbsync.notebooks(NOTEBOOKS_DIR)
    assert len(paths) >= 3
    cells = [(path.name, relative) for path in paths
             for _i, _c, relative in nbsync.project_cells(nbformat.read(path, as_version=4))]
    assert ("01_echo_consumer.ipynb", "project/echo/consumers.py") in cells
    for name, relative in cells:
        assert (REPO_DIR / relative).is_file(), f"{name}: {relative}"


def test_check_fails_on_an_edited_cell_and_write_repairs_it(copies):
    notebooks, project = copies
    path = notebooks / "01_echo_consumer.ipynb"
    notebook, index, cell = first_project_cell(path)
    cell.source += "\n# an edit made in the notebook but not in the file"
    nbformat.write(notebook, path)

    result = run_nbsync("--check", "--notebooks", str(notebooks), "--project", str(project))
    assert result.returncode == 1
    assert f"DRIFT 01_echo_consumer.ipynb cell {index}: differs from {cell_path(cell.source)}" in result.stdout

    assert run_nbsync("--write", "--notebooks", str(notebooks), "--project", str(project)).returncode == 0
    result = run_nbsync("--check", "--notebooks", str(notebooks), "--project", str(project))
    assert result.returncode == 0, result.stdout


def test_check_fails_when_a_project_file_changes(copies):
    notebooks, project = copies
    consumers = project / "echo" / "consumers.py"
    consumers.write_text(consumers.read_text().replace("await self.accept()", "await self.close()"))
    result = run_nbsync("--check", "--notebooks", str(notebooks), "--project", str(project))
    assert result.returncode == 1
    assert "differs from project/echo/consumers.py" in result.stdout


def test_check_fails_on_outputs_and_write_strips_them(copies):
    notebooks, project = copies
    path = notebooks / "02_channel_layers_and_groups.ipynb"
    notebook = nbformat.read(path, as_version=4)
    code = next(cell for cell in notebook.cells if cell.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="left over\n")]
    code.execution_count = 7
    nbformat.write(notebook, path)

    result = run_nbsync("--check", "--notebooks", str(notebooks), "--project", str(project))
    assert result.returncode == 1
    assert "has outputs or an execution count" in result.stdout

    run_nbsync("--write", "--notebooks", str(notebooks), "--project", str(project))
    stripped = json.loads(path.read_text())
    assert all(cell.get("outputs", []) == [] and cell.get("execution_count") is None
               for cell in stripped["cells"] if cell["cell_type"] == "code")


def test_a_cell_naming_a_missing_file_is_reported(copies):
    notebooks, project = copies
    path = notebooks / "01_echo_consumer.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("# project/echo/nowhere.py\nx = 1"))
    nbformat.write(notebook, path)
    result = run_nbsync("--check", "--notebooks", str(notebooks), "--project", str(project))
    assert result.returncode == 1
    assert "project/echo/nowhere.py does not exist" in result.stdout


def test_transformer_turns_only_project_cells_into_a_write(tmp_path, monkeypatch):
    assert _project_cell_transformer(["x = 1\n"]) == ["x = 1\n"]
    assert _project_cell_transformer(["# a comment\n", "x = 1\n"]) == ["# a comment\n", "x = 1\n"]
    lines = ["# project/echo/extra.py\n", "VALUE = 2\n"]
    (call,) = _project_cell_transformer(lines)
    assert call.startswith("__import__('kit.project_cells').project_cells.write_cell('project/echo/extra.py', ")

    monkeypatch.setenv("KIT_PROJECT_DIR", str(tmp_path))
    exec(call)  # what the kernel runs instead of the cell
    assert (tmp_path / "echo" / "extra.py").read_text() == "".join(lines)


def test_write_cell_refuses_paths_outside_project_and_reports_syntax_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KIT_PROJECT_DIR", str(tmp_path / "project"))
    (tmp_path / "project").mkdir()
    with pytest.raises(ValueError, match="outside project/"):
        write_cell("project/../escaped.py", "# project/../escaped.py\n")
    assert not (tmp_path / "escaped.py").exists()

    with pytest.raises(SyntaxError, match="project/broken.py line 2"):
        write_cell("project/broken.py", "# project/broken.py\ndef oops(:\n")
    assert (tmp_path / "project" / "broken.py").exists()  # the cell is the file, even when broken

    write_cell("project/ok.py", "# project/ok.py\nOK = 1")
    assert (tmp_path / "project" / "ok.py").read_text() == "# project/ok.py\nOK = 1\n"
    assert "wrote: project/ok.py (2 lines)" in capsys.readouterr().out
