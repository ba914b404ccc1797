"""kit.authoring.nbsync: the notebooks' project cells equal the files in project/, and each kind of drift is caught.

One test runs `--check` on the committed notebooks (the guard itself); one runs the command line on a
broken copy (exit status, one DRIFT line per problem, --write repairs). The rest each break one thing
in a copy and call the module's functions, so each names exactly what it checks."""

import shutil
import subprocess
import sys

import nbformat
import pytest

from kit import NOTEBOOKS_DIR, PROJECT_DIR, REPO_DIR
from kit.authoring import nbsync
from kit.lab.project_cells import _project_cell_transformer, write_cell

GROWING_FILE = "project/devices/consumers.py"  # written in notebook 03, grown in notebook 04


def run_nbsync(*args):
    return subprocess.run(
        [sys.executable, "-m", "kit.authoring.nbsync", *args], cwd=REPO_DIR, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def copies(tmp_path):
    """A copy of notebooks/ and project/ to break on purpose."""
    notebooks = tmp_path / "notebooks"
    project = tmp_path / "project"
    shutil.copytree(NOTEBOOKS_DIR, notebooks, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(PROJECT_DIR, project, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3"))
    return notebooks, project


def project_cell(path, relative, final):
    """(notebook node, index, cell) of the cell of `relative` in path: the file's final cell or an earlier one."""
    notebook = nbformat.read(path, as_version=4)
    finals = nbsync.final_cells(nbsync.notebooks(path.parent))
    for index, cell, named in nbsync.project_cells(notebook):
        if named == relative and ((path, index) in finals) == final:
            return notebook, index, cell
    raise AssertionError(f"{path.name} has no {'final' if final else 'earlier'} cell of {relative}")


def problems_of(notebooks, project):
    """Every problem nbsync finds in the copy, notebook by notebook, as --check lists them."""
    paths = nbsync.notebooks(notebooks)
    finals = nbsync.final_cells(paths)
    return [problem for path in paths for problem in nbsync.check_notebook(path, project, finals)]


def notebook_with(path, relative, final):
    """The notebook in the copy that holds a final (or earlier) cell of relative."""
    for candidate in nbsync.notebooks(path):
        try:
            project_cell(candidate, relative, final)
            return candidate
        except AssertionError:
            continue
    raise AssertionError(f"no notebook holds a {'final' if final else 'earlier'} cell of {relative}")


def test_committed_notebooks_pass_the_check():
    result = run_nbsync("--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"nbsync: {len(nbsync.notebooks(NOTEBOOKS_DIR))} notebooks," in result.stdout
    assert result.stdout.rstrip().endswith(", 0 problems") and "DRIFT" not in result.stdout


def test_command_line_exits_1_with_a_line_per_problem_and_write_repairs_them(copies):
    notebooks, project = copies
    echo = project / "echo" / "consumers.py"
    echo.write_text(echo.read_text() + "\n# changed in the file, not in the notebook\n")
    second = nbsync.notebooks(notebooks)[1]
    notebook = nbformat.read(second, as_version=4)
    next(cell for cell in notebook.cells if cell.cell_type == "code").execution_count = 3
    nbformat.write(notebook, second)
    where = ["--notebooks", str(notebooks), "--project", str(project)]

    result = run_nbsync("--check", *where)
    assert result.returncode == 1
    drift = [line for line in result.stdout.splitlines() if line.startswith("DRIFT ")]
    assert len(drift) == 2 and result.stdout.rstrip().endswith(", 2 problems"), result.stdout
    assert "differs from project/echo/consumers.py" in drift[0] and second.name in drift[1]

    written = run_nbsync("--write", *where)
    assert written.returncode == 0 and "rewrote 3" in written.stdout, written.stdout + written.stderr
    assert ".kit-stages.json" in written.stdout  # the file's text outside regions changed: a new shipped version
    assert run_nbsync("--check", *where).returncode == 0


def test_an_edited_final_cell_is_drift_reported_at_its_first_differing_line(copies):
    notebooks, project = copies
    path = notebook_with(notebooks, "project/echo/consumers.py", final=True)
    notebook, index, cell = project_cell(path, "project/echo/consumers.py", final=True)
    lines = cell.source.split("\n")
    lines[2] += "  # edited in the notebook only"
    cell.source = "\n".join(lines)
    nbformat.write(notebook, path)
    assert problems_of(notebooks, project) == [
        f"{path.name} cell {index}: differs from project/echo/consumers.py (first at line 3)"
    ]


def test_an_earlier_version_of_a_growing_file_may_differ_but_must_compile(copies):
    notebooks, project = copies
    path = notebook_with(notebooks, GROWING_FILE, final=False)
    notebook, index, cell = project_cell(path, GROWING_FILE, final=False)
    cell.source += "\n\nEARLIER_ONLY = True"  # differs from the file: allowed, it is an earlier version
    nbformat.write(notebook, path)
    assert problems_of(notebooks, project) == []

    cell.source += "\ndef broken(:"
    nbformat.write(notebook, path)
    (problem,) = problems_of(notebooks, project)
    assert problem.startswith(f"{path.name} cell {index}: earlier version of {GROWING_FILE} does not compile")


@pytest.mark.parametrize("leftover", ["outputs", "execution_count"])
def test_a_committed_output_or_execution_count_is_a_problem(copies, leftover):
    notebooks, project = copies
    path = nbsync.notebooks(notebooks)[0]
    notebook = nbformat.read(path, as_version=4)
    index, code = next((i, cell) for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    if leftover == "outputs":
        code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="left over\n")]
    else:
        code.execution_count = 7
    nbformat.write(notebook, path)
    assert problems_of(notebooks, project) == [
        f"{path.name} cell {index}: has outputs or an execution count (commit without outputs)"
    ]


def test_a_cell_naming_a_missing_file_is_reported(copies):
    notebooks, project = copies
    path = nbsync.notebooks(notebooks)[0]
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("# project/echo/nowhere.py\nx = 1"))
    nbformat.write(notebook, path)
    assert problems_of(notebooks, project) == [
        f"{path.name} cell {len(notebook.cells) - 1}: project/echo/nowhere.py does not exist"
    ]


def test_write_regenerates_only_final_cells_strips_outputs_and_then_changes_nothing(copies):
    notebooks, project = copies
    target = project / GROWING_FILE.removeprefix("project/")
    target.write_text(target.read_text() + "\nADDED_IN_THE_FILE = 1\n")
    earlier_path = notebook_with(notebooks, GROWING_FILE, final=False)
    earlier_source = project_cell(earlier_path, GROWING_FILE, final=False)[2].source
    final_path = notebook_with(notebooks, GROWING_FILE, final=True)
    notebook = nbformat.read(final_path, as_version=4)
    code = next(cell for cell in notebook.cells if cell.cell_type == "code")
    code.outputs, code.execution_count = [nbformat.v4.new_output("stream", name="stdout", text="x\n")], 1
    nbformat.write(notebook, final_path)

    paths = nbsync.notebooks(notebooks)
    finals = nbsync.final_cells(paths)
    assert [path.name for path in paths if nbsync.write_notebook(path, project, finals)] == [final_path.name]
    assert project_cell(final_path, GROWING_FILE, final=True)[2].source == target.read_text().removesuffix("\n")
    assert project_cell(earlier_path, GROWING_FILE, final=False)[2].source == earlier_source
    assert problems_of(notebooks, project) == []
    assert not any(nbsync.write_notebook(path, project, finals) for path in paths)


def test_every_notebook_project_cell_names_an_existing_file():
    """Earlier versions too (the check compares only final cells with their files)."""
    paths = nbsync.notebooks(NOTEBOOKS_DIR)
    cells = [
        (path.name, relative)
        for path in paths
        for _i, _c, relative in nbsync.project_cells(nbformat.read(path, as_version=4))
    ]
    assert ("01_echo_consumer.ipynb", "project/echo/consumers.py") in cells
    for name, relative in cells:
        assert (REPO_DIR / relative).is_file(), f"{name}: {relative}"


def test_transformer_turns_only_project_cells_into_a_write(tmp_path, monkeypatch):
    assert _project_cell_transformer(["x = 1\n"]) == ["x = 1\n"]
    assert _project_cell_transformer(["# a comment\n", "x = 1\n"]) == ["# a comment\n", "x = 1\n"]
    lines = ["# project/echo/extra.py\n", "VALUE = 2\n"]
    (call,) = _project_cell_transformer(lines)
    assert call.startswith("__import__('kit.lab.project_cells').lab.project_cells.write_cell('project/echo/extra.py', ")

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


def test_a_later_stage_that_rewrites_or_drops_an_earlier_region_is_drift(copies):
    """Issue 20: a file grows by adding regions; a stage that changed or dropped one would make a
    learner's code and the kit's disagree."""
    notebooks, project = copies
    path = notebook_with(notebooks, GROWING_FILE, final=False)
    notebook, index, cell = project_cell(path, GROWING_FILE, final=False)
    original = cell.source
    cell.source = original.replace(
        "            await self.channel_layer.group_add(group, self.channel_name)",
        "            await self.channel_layer.group_add(group, self.channel_name)  # changed here only",
    )
    nbformat.write(notebook, path)
    problems = nbsync.stage_problems(nbsync.notebooks(notebooks))
    assert problems and all("rewrites region DeviceConsumer.connect" in problem for problem in problems), problems

    cell.source = original
    nbformat.write(notebook, path)
    final_path = notebook_with(notebooks, GROWING_FILE, final=True)
    notebook, index, cell = project_cell(final_path, GROWING_FILE, final=True)
    lines = cell.source.split("\n")
    begin = next(n for n, line in enumerate(lines) if "BEGIN SOLUTION DeviceConsumer.device_message" in line)
    cell.source = "\n".join(lines[:begin] + ["        pass"] + lines[begin + 3 :])
    nbformat.write(notebook, final_path)
    assert "drops region DeviceConsumer.device_message" in "\n".join(nbsync.stage_problems(nbsync.notebooks(notebooks)))


def test_a_stale_stages_file_is_drift_and_write_renews_it(copies):
    notebooks, project = copies
    (notebooks / ".kit-stages.json").write_text("{}\n")
    result = run_nbsync("--check", "--notebooks", str(notebooks), "--project", str(project))
    assert result.returncode == 1 and ".kit-stages.json is stale" in result.stdout
    assert run_nbsync("--write", "--notebooks", str(notebooks), "--project", str(project)).returncode == 0
    assert run_nbsync("--check", "--notebooks", str(notebooks), "--project", str(project)).returncode == 0
