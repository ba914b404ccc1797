"""A learner's path through a fresh `make starter` copy (issue 11, item 4).

For notebooks 01-04, in a fresh starter copy: every cell runs in order in one kernel; on reaching a
cell that has a TODO stub, the learner first writes the right code (the reference's code for each
region, between the starter's "your code" comments, with a comment of their own), then runs it.
The notebooks of earlier steps count as done: their project cells are written first, as the learner
wrote them. Nothing may show an error or "not done
yet", nor need a restart by hand, and the closing self-check reports every test passed.

Issue 20, item 3: one copy walked 01 -> 05 in order; after every notebook, every region the learner
wrote so far is still in its file.
"""
import os
import re
import time
import uuid

import nbformat
import pytest
from nbclient import NotebookClient

from kit import NOTEBOOKS_DIR, REPO_DIR
from kit.authoring import starter
from kit.lab import regions
from kit.lab.project_cells import cell_path, file_text, target_file
from test_notebooks import MARKER, ProcessWatch, watch_kernel

WALKED = sorted(NOTEBOOKS_DIR.glob("0[1-4]_*.ipynb"))
CELL_TIMEOUT = 300  # the self-check cell runs a grading session


def learner_writes(starter_source, reference_source, done=None):
    """The starter's cell as a learner completes it: in each "your code" region, the reference's code
    for that region under a comment of the learner's own (so it differs from the reference's text).
    done: {file: region names written in an earlier cell}; those the learner leaves as TODO, as the
    cell's "Your turn" note says (running the cell keeps what they wrote)."""
    solutions = regions.bodies(reference_source)
    lines = starter_source.split("\n")
    relative = cell_path(starter_source)
    already = done.setdefault(relative, set()) if done is not None and relative else set()
    for region in reversed(regions.parse(starter_source)):
        if region.name in already:
            continue
        already.add(region.name)
        own = f"{region.indent}# {OWN} {region.name}"
        lines[region.begin + 1 : region.end] = [own, *solutions[region.name]]
    return "\n".join(lines)


OWN = "my own words, kept:"


def is_todo_cell(reference_cell):
    return reference_cell.cell_type == "code" and bool(starter.regions(reference_cell.source))


def outputs_text(cell):
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts += [str(value) for value in output.get("data", {}).values()]
        if output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
    return "\n".join(parts)


@pytest.fixture
def starter_copy(tmp_path, monkeypatch):
    dest = tmp_path / "class"
    starter.write(dest)
    assert starter.verify(dest) == []
    monkeypatch.delenv("KIT_PROJECT_DIR", raising=False)  # the copy's notebooks work on the copy's project/
    return dest


def write_earlier_steps(dest, walked, done):
    """The project cells of the notebooks before `walked`, written as the learner wrote them."""
    for path in WALKED[:WALKED.index(walked)]:
        copy = nbformat.read(dest / "notebooks" / path.name, as_version=4)
        for cell, reference in zip(copy.cells, reference_cells(copy, nbformat.read(path, as_version=4))):
            relative = cell_path(cell.source) if cell.cell_type == "code" else None
            if relative:
                text = learner_writes(cell.source, reference.source)
                target_file(relative, dest / "project").write_text(file_text(text))
                done.setdefault(relative, set()).update(region.name for region in regions.parse(text))


def reference_cells(notebook, reference):
    """For each cell of the starter's notebook, the reference's cell (None for a cell only the starter
    has, such as its "your turn" notes)."""
    cells = iter(reference.cells)
    matched = [None if cell.metadata.get("kit", {}).get("your_turn") else next(cells) for cell in notebook.cells]
    assert next(cells, None) is None, "the starter's notebook lost a cell of the reference's"
    return matched


def walk(dest, reference_path, monkeypatch, capsys, label="starter walk", done=None):
    """Runs the copy's notebook as a learner would -> (problems, TODO cells written, processes left)."""
    reference = nbformat.read(reference_path, as_version=4)
    notebook = nbformat.read(dest / "notebooks" / reference_path.name, as_version=4)
    matched = reference_cells(notebook, reference)
    written = []

    def write_todo_cell(cell, cell_index, **_):
        """On reaching a TODO cell the learner writes the right code, then runs it."""
        if matched[cell_index] is not None and is_todo_cell(matched[cell_index]):
            cell.source = learner_writes(cell.source, matched[cell_index].source, done)
            written.append(cell_index)
        watch_kernel(client, watch)

    marker = uuid.uuid4().hex
    monkeypatch.setenv(MARKER, marker)
    watch = ProcessWatch(marker)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=True,
                            shutdown_kernel="graceful", resources={"metadata": {"path": str(dest / "notebooks")}},
                            on_cell_start=write_todo_cell, on_cell_executed=watch.snapshot)
    started = time.perf_counter()
    try:
        client.execute()
    finally:
        with capsys.disabled():
            print(f"\n[{label}] {reference_path.name}: {time.perf_counter() - started:.1f} s, "
                  f"TODO cells written: {written}", flush=True)
        if os.environ.get("KIT_EXECUTED_NOTEBOOKS"):
            os.makedirs(os.environ["KIT_EXECUTED_NOTEBOOKS"], exist_ok=True)
            name = f"{label.replace(' ', '-')}-{reference_path.name}"
            nbformat.write(notebook, os.path.join(os.environ["KIT_EXECUTED_NOTEBOOKS"], name))
        left_behind = watch.wait_until_gone()

    problems = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        text = outputs_text(cell)
        errors = [output for output in cell.get("outputs", []) if output.output_type == "error"]
        if errors:
            problems.append(f"cell {index}: {errors[0].ename}: {errors[0].evalue[:300]}")
        listing = cell.source.lstrip().startswith("show(")  # a file's lines, read, not a message
        if not listing and re.search(r"not done yet", text, re.IGNORECASE):
            line = next(line for line in text.splitlines() if re.search(r"not done yet", line, re.IGNORECASE))
            problems.append(f"cell {index}: says {line.strip()[:300]!r}")
        if "self_check(" in cell.source and not re.search(r"Step \d is done", text):
            problems.append(f"cell {index}: the self-check did not pass:\n{text[-1500:]}")
        if re.search(r"^Not written:", text, re.MULTILINE):
            problems.append(f"cell {index}: a project cell refused:\n{text[:1500]}")
    return notebook, problems, written, left_behind


@pytest.mark.notebook
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("reference_path", WALKED, ids=[path.stem for path in WALKED])
def test_a_learner_walks_the_starter_notebook(reference_path, starter_copy, monkeypatch, capsys):
    dest = starter_copy
    done = {}
    write_earlier_steps(dest, reference_path, done)
    notebook, problems, written, left_behind = walk(dest, reference_path, monkeypatch, capsys, done=done)
    assert written, "no TODO cell was reached: the starter copy has no stub in this notebook?"
    assert any("self_check(" in cell.source for cell in notebook.cells), "no self-check cell"
    assert problems == [], f"{reference_path.name}:\n" + "\n".join(problems)
    assert left_behind == [], f"processes still running: {left_behind}"


def regions_written(dest):
    """{(file, region name): the learner's lines} of every region in the copy's project that holds the
    learner's own comment."""
    found = {}
    for path in sorted((dest / "project").rglob("*.py")):
        text = path.read_text()
        for name, body in regions.bodies(text, str(path)).items():
            if any(OWN in line for line in body):
                found[(path.relative_to(dest).as_posix(), name)] = [line.rstrip() for line in body]
    return found


@pytest.mark.notebook
@pytest.mark.timeout(3600)
def test_a_learner_walks_01_to_05_in_one_copy_and_never_loses_a_region(starter_copy, monkeypatch, capsys):
    """Issue 20, item 3: every TODO filled with the learner's own text (a comment of theirs inside each
    region), notebook after notebook in one copy; after each, every region written so far is in its file."""
    dest = starter_copy
    kept, done = {}, {}
    for reference_path in sorted(NOTEBOOKS_DIR.glob("0[1-5]_*.ipynb")):
        _notebook, problems, written, left_behind = walk(dest, reference_path, monkeypatch, capsys, "walk 01-05", done)
        now = regions_written(dest)
        lost = {where: lines for where, lines in kept.items() if now.get(where) != lines}
        assert lost == {}, f"after {reference_path.name}, regions lost or changed: {sorted(lost)}"
        assert problems == [], f"{reference_path.name}:\n" + "\n".join(problems)
        assert left_behind == [], f"processes still running: {left_behind}"
        kept = now
    assert len(kept) == sum(
        len(starter.regions(path.read_text())) for path in (REPO_DIR / "project").rglob("*.py")
    ), f"not every region was written by the learner: {sorted(kept)}"
