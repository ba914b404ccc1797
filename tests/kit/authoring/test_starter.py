"""The starter generator cannot drift from the source: markers matched, no solution left,
stubs that import, notebook cells equal to the copy's files, hidden tests left out."""

import subprocess
import sys

import nbformat
import pytest

from kit import REPO_DIR
from kit.authoring import starter


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    dest = tmp_path_factory.mktemp("starter") / "class"
    stubbed = starter.write(dest)
    return dest, stubbed


def test_every_marked_source_file_is_stubbed(copy):
    dest, stubbed = copy
    marked = {
        path.relative_to(REPO_DIR).as_posix()
        for path in (REPO_DIR / "project").rglob("*.py")
        if "__pycache__" not in path.parts and "### BEGIN SOLUTION" in path.read_text()
    }
    assert marked, "the reference project has no solution regions"
    assert marked <= set(stubbed), f"not stubbed: {marked - set(stubbed)}"
    for relative, count in stubbed.items():
        if relative.startswith("project/"):
            assert count == len(starter.regions((REPO_DIR / relative).read_text())), relative


def test_the_copy_verifies_clean(copy):
    dest, _ = copy
    assert starter.verify(dest) == []


def test_stubs_say_todo_and_keep_the_modules_importable(copy):
    dest, stubbed = copy
    for relative in stubbed:
        if relative.endswith(".py"):
            text = (dest / relative).read_text()
            assert 'NotImplementedError("TODO step' in text, relative
            compile(text, relative, "exec")
    echo = (dest / "project/echo/consumers.py").read_text()
    assert "await self.accept()" not in echo and "accept the handshake" in echo


def test_hidden_tests_and_kit_self_tests_stay_out(copy):
    dest, _ = copy
    assert not list(dest.rglob("*_hidden.py"))
    assert (
        not (dest / "tests/kit/grading/test_grader.py").exists() and not (dest / "tests/kit/grading/fixtures").exists()
    )
    assert sorted(p.name for p in (dest / "tests/grading").glob("test_step*.py")) == sorted(
        p.name for p in (REPO_DIR / "tests/grading").glob("test_step*.py") if not p.name.endswith("_hidden.py")
    )
    for name in [
        "Makefile",
        "README.md",
        "requirements.txt",
        "pytest.ini",
        "docker-compose.yml",
        "Dockerfile",
        "kit/grading/grade.py",
        "project/manage.py",
    ]:
        assert (dest / name).is_file(), name


def test_notebook_cells_equal_the_copys_files_and_have_no_outputs(copy):
    dest, _ = copy
    assert starter.notebook_drift(dest) == []
    for path in (dest / "notebooks").glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None
    nbsync = subprocess.run(
        [
            sys.executable,
            "-m",
            "kit.authoring.nbsync",
            "--check",
            "--notebooks",
            str(dest / "notebooks"),
            "--project",
            str(dest / "project"),
        ],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert nbsync.returncode == 0, nbsync.stdout + nbsync.stderr


def test_the_copys_django_project_passes_its_checks(copy, tmp_path):
    dest, _ = copy
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=dest / "project",
        capture_output=True,
        text=True,
        timeout=60,
        env={"DJANGO_DB_PATH": str(tmp_path / "db.sqlite3"), "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "text, problem",
    [
        ("a\n    ### BEGIN SOLUTION\nb\n", "without END"),
        ("a\n    ### END SOLUTION\n", "without BEGIN"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside another"),
        ("x = 1  ### BEGIN SOLUTION\n", "alone on its line"),
    ],
)
def test_unmatched_markers_are_refused(text, problem):
    with pytest.raises(starter.StarterError, match=problem):
        starter.stub(text, "broken.py")


def test_a_stub_keeps_indentation_and_outside_functions_is_a_pass():
    source = (
        'def f():\n    """Say hi."""\n    ### BEGIN SOLUTION\n    return \'hi\'\n    ### END SOLUTION\n'
        "\nif True:\n    ### BEGIN SOLUTION\n    x = 1\n    ### END SOLUTION\n"
    )
    text, count = starter.stub(source, "example.py")
    assert count == 2
    assert '    raise NotImplementedError("TODO, f: Say hi.")' in text
    assert "    pass  # TODO" in text and "return 'hi'" not in text and "x = 1" not in text
    compile(text, "example.py", "exec")


def test_dest_inside_the_repository_or_not_empty_is_refused(tmp_path):
    with pytest.raises(starter.StarterError):
        starter.write(REPO_DIR / "starter-copy")
    (tmp_path / "kept.txt").write_text("mine")
    with pytest.raises(starter.StarterError, match="not empty"):
        starter.write(tmp_path)
    assert (tmp_path / "kept.txt").read_text() == "mine"


@pytest.mark.notebook
def test_a_learner_running_the_starters_notebook_01_reads_plain_not_done_messages(copy):
    """Run All on the copy's 01 before writing anything: the cells that hit a TODO stub say so in
    one plain message naming the TODO, not with a traceback."""
    from nbclient import NotebookClient

    dest, _ = copy
    notebook = nbformat.read(dest / "notebooks" / "01_echo_consumer.ipynb", as_version=4)
    NotebookClient(
        notebook,
        timeout=60,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(dest / "notebooks")}},
    ).execute()
    printed = "\n".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.output_type == "stream"
    )
    assert "The server refused the WebSocket handshake (HTTP 403)" in printed
    assert "TODO step 1, EchoConsumer.connect" in printed  # the server's "not done yet" line, shown in the cell
    assert "Not done yet: TODO step 1" in printed  # the in-kernel communicator test hits the stub too
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]
    assert all(error.ename != "NotImplementedError" for error in errors), "a stub showed up as a traceback"


def test_a_file_that_grows_over_notebooks_is_checked_by_its_last_cell_and_stubbed_in_every_cell(tmp_path):
    """nbsync's last-cell rule: 02's cell holds project/devices/x.py; 01's is an earlier version,
    kept as written (it must compile) and stubbed like any other cell."""

    def notebook(path, source):
        node = nbformat.v4.new_notebook()
        node.cells = [nbformat.v4.new_code_cell(source)]
        nbformat.write(node, path)

    (tmp_path / "notebooks").mkdir()
    (tmp_path / "project" / "devices").mkdir(parents=True)
    region = "    ### BEGIN SOLUTION\n    return {}\n    ### END SOLUTION"
    earlier = f"# project/devices/x.py\ndef handle():\n{region.format(1)}"
    final = f"# project/devices/x.py\ndef handle():\n{region.format(2)}\n\n\ndef command():\n{region.format(3)}"
    notebook(tmp_path / "notebooks" / "01_a.ipynb", earlier)
    notebook(tmp_path / "notebooks" / "02_b.ipynb", final)
    assert starter.stub_notebook(tmp_path / "notebooks" / "01_a.ipynb") == 1
    assert starter.stub_notebook(tmp_path / "notebooks" / "02_b.ipynb") == 2
    stubbed_final = nbformat.read(tmp_path / "notebooks" / "02_b.ipynb", as_version=4).cells[1].source
    assert "NotImplementedError" in nbformat.read(tmp_path / "notebooks" / "01_a.ipynb", as_version=4).cells[1].source
    (tmp_path / "project" / "devices" / "x.py").write_text(stubbed_final + "\n")
    assert starter.notebook_drift(tmp_path) == []

    (tmp_path / "project" / "devices" / "x.py").write_text(stubbed_final + "\nextra = 1\n")
    assert starter.notebook_drift(tmp_path) == ["02_b.ipynb cell 1: differs from project/devices/x.py"]
    notebook(tmp_path / "notebooks" / "01_a.ipynb", "# project/devices/x.py\ndef handle(:\n    pass")
    (tmp_path / "project" / "devices" / "x.py").write_text(stubbed_final + "\n")
    problems = starter.notebook_drift(tmp_path)
    assert len(problems) == 1 and problems[0].startswith("01_a.ipynb cell 0: earlier version does not compile")


def test_each_todo_cell_has_a_your_turn_note_and_no_reference_only_text_is_left(copy):
    """Issue 20, item 4: the copy says what to write, what to run and which check shows it works,
    and nothing in it refers to the reference's markers."""
    dest, _ = copy
    notes = 0
    for path in sorted((dest / "notebooks").glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        for index, cell in enumerate(cells):
            if cell.cell_type == "markdown":
                assert "SOLUTION" not in cell.source and "Nothing needs typing" not in cell.source, (path.name, index)
            if cell.cell_type == "code" and 'NotImplementedError("TODO' in cell.source:
                note = cells[index - 1]
                assert note.metadata.get("kit", {}).get("your_turn"), (path.name, index)
                assert note.source.startswith("### Your turn") and "What tells you it works" in note.source
                if "Nothing new to write" in note.source:  # a later stage of a file: its regions are written
                    assert "keeps the code you wrote" in note.source and "Run it" in note.source
                else:
                    assert "Then run the cell" in note.source and "# >>> your code" in note.source
                notes += 1
    assert notes >= 6
