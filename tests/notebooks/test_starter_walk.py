"""A learner's path through a fresh `make starter` copy (issue 11, item 4).

For notebooks 01-04, in a fresh starter copy: every cell runs in order in one kernel; on reaching a
cell that has a TODO stub, the learner first writes the right code (the reference notebook's cell,
without the solution markers), then runs it. The notebooks of earlier steps count as done: their
project cells are written first, as the learner wrote them. Nothing may show an error or "not done
yet", nor need a restart by hand, and the closing self-check reports every test passed.
"""
import os
import re
import time
import uuid

import nbformat
import pytest
from nbclient import NotebookClient

from kit import NOTEBOOKS_DIR
from kit.authoring import starter
from kit.lab.project_cells import cell_path, file_text, target_file
from test_notebooks import MARKER, ProcessWatch, watch_kernel

WALKED = sorted(NOTEBOOKS_DIR.glob("0[1-4]_*.ipynb"))
CELL_TIMEOUT = 300  # the self-check cell runs a grading session


def learner_writes(source):
    """The reference cell as a learner would write it: the solution, without the kit's markers."""
    return "\n".join(line for line in source.split("\n") if not (starter.BEGIN.match(line) or starter.END.match(line)))


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


def write_earlier_steps(dest, walked):
    """The project cells of the notebooks before `walked`, written as the learner wrote them."""
    for path in WALKED[:WALKED.index(walked)]:
        for cell in nbformat.read(path, as_version=4).cells:
            relative = cell_path(cell.source) if cell.cell_type == "code" else None
            if relative:
                target_file(relative, dest / "project").write_text(file_text(learner_writes(cell.source)))


@pytest.mark.notebook
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("reference_path", WALKED, ids=[path.stem for path in WALKED])
def test_a_learner_walks_the_starter_notebook(reference_path, starter_copy, monkeypatch, capsys):
    dest = starter_copy
    write_earlier_steps(dest, reference_path)
    reference = nbformat.read(reference_path, as_version=4)
    notebook = nbformat.read(dest / "notebooks" / reference_path.name, as_version=4)
    assert len(notebook.cells) == len(reference.cells)
    written = []

    def write_todo_cell(cell, cell_index, **_):
        """On reaching a TODO cell the learner writes the right code, then runs it."""
        if is_todo_cell(reference.cells[cell_index]):
            cell.source = learner_writes(reference.cells[cell_index].source)
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
            print(f"\n[starter walk] {reference_path.name}: {time.perf_counter() - started:.1f} s, "
                  f"TODO cells written: {written}", flush=True)
        if os.environ.get("KIT_EXECUTED_NOTEBOOKS"):
            os.makedirs(os.environ["KIT_EXECUTED_NOTEBOOKS"], exist_ok=True)
            nbformat.write(notebook, os.path.join(os.environ["KIT_EXECUTED_NOTEBOOKS"], f"walk-{reference_path.name}"))
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
    assert written, "no TODO cell was reached: the starter copy has no stub in this notebook?"
    assert any("self_check(" in cell.source for cell in notebook.cells), "no self-check cell"
    assert problems == [], f"{reference_path.name}:\n" + "\n".join(problems)
    assert left_behind == [], f"processes still running: {left_behind}"
