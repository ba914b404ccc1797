"""Keeps the notebooks' project cells equal to the files in project/ (the single source of truth).

A project cell is a code cell whose first line is a path comment (`# project/chat/consumers.py`);
it holds exactly that file's content. A file may grow over the steps, as in the Channels tutorial:
then only its last cell (notebooks in name order, cells in order) holds the file; earlier cells are
earlier stages, kept as written (checked to compile). A later stage adds regions (kit.lab.regions);
it keeps every earlier region's name and code, never rewriting one, so merging a later cell into the
learner's file keeps what they wrote. notebooks/.kit-stages.json lists each file's shipped versions
(outside regions) and fingerprints of the kit's region code: a project cell reads it to tell the kit's
text from the learner's.

    python -m kit.authoring.nbsync --write   # regenerate project cells from the files, strip outputs
    python -m kit.authoring.nbsync --check   # exit 1, listing each drift, if a cell differs from its file
                                   # or a committed notebook has outputs / execution counts,
                                   # a stage rewrites an earlier region, or .kit-stages.json is stale
"""

import argparse
import json
import sys
from pathlib import Path

import nbformat

from kit import NOTEBOOKS_DIR, PROJECT_DIR
from kit.lab import regions
from kit.lab.project_cells import STAGES_FILE, cell_path, file_text, stages, target_file


def notebooks(folder):
    return sorted(path for path in Path(folder).glob("*.ipynb") if not path.name.startswith("."))


def project_cells(notebook):
    """(index, cell, 'project/...') for each project cell of a notebook node."""
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            relative = cell_path(cell.source)
            if relative:
                yield index, cell, relative


def final_cells(paths):
    """{(notebook path, cell index)} of the cells that hold their file: each file's last cell."""
    last = {}
    for path in paths:
        for index, _cell, relative in project_cells(nbformat.read(path, as_version=4)):
            last[relative] = (Path(path), index)
    return set(last.values())


def is_final(path, index, finals):
    return finals is None or (Path(path), index) in finals


def expected_source(relative, project_dir):
    """The cell text for a file: its content without the final newline (Jupyter's convention)."""
    target = target_file(relative, project_dir)
    if not target.is_file():
        raise FileNotFoundError(f"{relative} does not exist")
    return target.read_text().removesuffix("\n")


def check_notebook(path, project_dir=PROJECT_DIR, finals=None):
    """A list of problems (empty when the notebook is in sync and has no outputs)."""
    problems = []
    notebook = nbformat.read(path, as_version=4)
    for index, cell, relative in project_cells(notebook):
        if not is_final(path, index, finals):
            if relative.endswith(".py"):
                try:
                    compile(file_text(cell.source), relative, "exec")
                except SyntaxError as exc:
                    problems.append(f"{path.name} cell {index}: earlier version of {relative} does not compile: {exc}")
            continue
        try:
            expected = expected_source(relative, project_dir)
        except (FileNotFoundError, ValueError) as exc:
            problems.append(f"{path.name} cell {index}: {exc}")
            continue
        if file_text(cell.source) != expected + "\n":
            first_diff = next(
                (n for n, (a, b) in enumerate(zip(cell.source.splitlines(), expected.splitlines()), 1) if a != b),
                min(len(cell.source.splitlines()), len(expected.splitlines())) + 1,
            )
            problems.append(f"{path.name} cell {index}: differs from {relative} (first at line {first_diff})")
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
            problems.append(f"{path.name} cell {index}: has outputs or an execution count (commit without outputs)")
    return problems


def write_notebook(path, project_dir=PROJECT_DIR, finals=None):
    """Regenerates project cells from their files and strips outputs; True if the file changed."""
    original = Path(path).read_text()
    notebook = nbformat.reads(original, as_version=4)
    for index, cell, relative in project_cells(notebook):
        if is_final(path, index, finals):
            cell.source = expected_source(relative, project_dir)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
    text = nbformat.writes(notebook) + "\n"
    if text != original:
        Path(path).write_text(text)
        return True
    return False


def stage_problems(paths):
    """Each file's stages, in order: a later cell keeps every region of the earlier ones, unchanged."""
    problems, seen = [], {}  # relative -> {region name: (body, where)}
    for path in paths:
        for index, cell, relative in project_cells(nbformat.read(path, as_version=4)):
            where = f"{Path(path).name} cell {index}"
            try:
                now = regions.bodies(file_text(cell.source), where)
            except regions.RegionError as exc:
                problems.append(str(exc))
                continue
            before = seen.setdefault(relative, {})
            for name, (body, earlier) in before.items():
                if name not in now:
                    problems.append(f"{where}: drops region {name} of {relative} ({earlier} has it)")
                elif regions.normalized(now[name]) != regions.normalized(body):
                    problems.append(
                        f"{where}: rewrites region {name} of {relative} ({earlier} has it): a later stage adds "
                        "regions, it never changes one"
                    )
            for name, body in now.items():
                before.setdefault(name, (body, where))
    return problems


def stages_text(paths):
    return json.dumps(stages(paths), indent=1, sort_keys=True) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m kit.authoring.nbsync", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="regenerate project cells from project/")
    action.add_argument("--check", action="store_true", help="fail if any project cell differs from its file")
    parser.add_argument("--notebooks", default=str(NOTEBOOKS_DIR), help="folder of .ipynb files")
    parser.add_argument("--project", default=str(PROJECT_DIR), help="the project folder the cells mirror")
    args = parser.parse_args(argv)
    paths = notebooks(args.notebooks)
    finals = final_cells(paths)
    if args.write:
        try:
            changed = [path.name for path in paths if write_notebook(path, args.project, finals)]
        except (FileNotFoundError, ValueError) as exc:
            print(f"nbsync: {exc}", file=sys.stderr)
            return 1
        manifest = Path(args.notebooks) / STAGES_FILE
        if not manifest.is_file() or manifest.read_text() != stages_text(paths):
            manifest.write_text(stages_text(paths))
            changed.append(STAGES_FILE)
        print(f"nbsync: {len(paths)} notebooks, rewrote {len(changed)}{': ' + ', '.join(changed) if changed else ''}")
        stage = stage_problems(paths)
        for problem in stage:
            print(f"DRIFT {problem}", file=sys.stderr)
        return 1 if stage else 0
    problems = [problem for path in paths for problem in check_notebook(path, args.project, finals)]
    problems += stage_problems(paths)
    manifest = Path(args.notebooks) / STAGES_FILE
    if not manifest.is_file() or manifest.read_text() != stages_text(paths):
        problems.append(f"{STAGES_FILE} is stale or missing (run python -m kit.authoring.nbsync --write)")
    for problem in problems:
        print(f"DRIFT {problem}")
    cells = sum(len(list(project_cells(nbformat.read(path, as_version=4)))) for path in paths)
    print(f"nbsync: {len(paths)} notebooks, {cells} project cells, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
