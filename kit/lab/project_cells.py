"""Project cells: a notebook code cell whose first line is a path comment, such as
`# project/echo/consumers.py`, holds that file (kit.authoring.nbsync keeps the two equal; a file that
grows over the notebooks has earlier stages in earlier cells).

In a kernel, install_cell_writer() registers an IPython input transformer: running a project cell
writes the cell to its file (never outside the project directory) and prints one line, instead of
executing the code; a SyntaxError is reported in plain words. kit.notebook installs it on import.

The learner's code is never lost: the cell is merged into the file by region name (kit.lab.regions).
A region the learner filled is kept; new regions are added; the kit's text outside regions is replaced
only when the file holds a version the kit ships (notebooks/.kit-stages.json, written by nbsync).
Otherwise the cell refuses (CellRefused), shows what differs and says how to go on.
"""

import json
import os
import re
import shutil
from pathlib import Path

from kit import NOTEBOOKS_DIR, PROJECT_DIR
from kit.lab import regions

STAGES_FILE = ".kit-stages.json"  # in notebooks/: each project file's versions as the kit ships them

PATH_COMMENT = re.compile(r"^#\s*(project/[\w./-]+)\s*$")


def project_dir():
    """The project the notebook works on: KIT_PROJECT_DIR if set, else the repository's project/."""
    return Path(os.environ.get("KIT_PROJECT_DIR") or PROJECT_DIR).resolve()


def cell_path(source):
    """'project/echo/consumers.py' if the cell's first line is such a path comment, else None."""
    first = source.split("\n", 1)[0]
    match = PATH_COMMENT.match(first.rstrip())
    return match.group(1) if match else None


def file_text(cell_source):
    """A cell's source as file content: the same text, ending with one newline."""
    return cell_source if cell_source.endswith("\n") else cell_source + "\n"


def target_file(relative, root=None):
    """The file a path comment names, inside the project directory, or ValueError."""
    root = Path(root).resolve() if root else project_dir()
    target = (root / relative.removeprefix("project/")).resolve()
    if not target.is_relative_to(root):
        raise ValueError(f"{relative} is outside project/: a project cell may only write inside it")
    return target


# Called with the relative path after a project cell changed its file and the file compiles:
# kit.notebook registers one that restarts the kernel's running servers, so they serve the new code.
after_write = []


class CellRefused(Exception):
    """A project cell that would lose the learner's code: nothing written, the reason in plain words."""

    def _render_traceback_(self):  # IPython shows this instead of a traceback
        return [f"Not written: {self}"]


def stages(notebook_paths):
    """{relative path: {"skeletons": [...], "regions": {name: [body hashes]}}} of every project cell
    in these notebooks: the versions of each file the kit ships (no solution code, only fingerprints)."""
    import nbformat

    found = {}
    for path in notebook_paths:
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            relative = cell_path(cell.source) if cell.cell_type == "code" else None
            if not relative:
                continue
            text = file_text(cell.source)
            label = f"{Path(path).name} cell {index}"
            entry = found.setdefault(relative, {"skeletons": [], "regions": {}})
            if (skeleton := regions.skeleton(text, label)) not in entry["skeletons"]:
                entry["skeletons"].append(skeleton)
            for name, body in regions.bodies(text, label).items():
                hashes = entry["regions"].setdefault(name, [])
                if not regions.is_stub(body) and regions.body_hash(body) not in hashes:
                    hashes.append(regions.body_hash(body))
    return found


def shipped(relative, notebooks_dir=None):
    """The kit's versions of one file: (skeletons, {region: body hashes}); empty if none are known."""
    path = Path(notebooks_dir or NOTEBOOKS_DIR) / STAGES_FILE
    try:
        entry = json.loads(path.read_text()).get(relative, {})
    except (OSError, ValueError):
        entry = {}
    return entry.get("skeletons", []), {name: set(hashes) for name, hashes in entry.get("regions", {}).items()}


_replace_mine = set()


def replace_my_changes(relative):
    """After a refusal: the next run of this file's cell may replace the kit's text outside regions.
    Every region the learner wrote is still kept; the file is first copied to <name>.before-kit."""
    target_file(relative)  # only inside project/
    _replace_mine.add(relative)
    print(f"Now run the cell for {relative} again: your regions are kept, your other changes are saved aside.")


def merged_text(relative, text, target):
    """What the cell writes into target: the merge (kit.lab.regions.merge), or CellRefused."""
    disk = target.read_text() if target.is_file() else None
    if disk is None or disk == text:
        return text, regions.Merge(text)
    skeletons, bodies = shipped(relative)
    if relative in _replace_mine:
        skeletons = [*skeletons, regions.skeleton(disk, relative)]
    try:
        result = regions.merge(text, disk, skeletons, bodies, relative)
    except regions.RegionError as exc:
        raise CellRefused(
            f"{exc}. Put the region's two marker lines back as they were, then run the cell again."
        ) from None
    if result.text is None:
        raise CellRefused(result.refused)
    if relative in _replace_mine:
        _replace_mine.discard(relative)
        if regions.skeleton(disk, relative) != regions.skeleton(text, relative):
            backup = target.with_name(target.name + ".before-kit")
            shutil.copy2(target, backup)
            print(f"saved your previous {target.name} as {backup.name}")
    return file_text(result.text), result


def write_cell(relative, text):
    """Runs instead of a project cell: merges it into its file (the learner's regions kept), checks
    Python syntax, then runs the after_write hooks (a running server is restarted and serves the new code)."""
    target = target_file(relative)
    text, result = merged_text(relative, file_text(text), target)
    unchanged = target.exists() and target.read_text() == text
    if not unchanged:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    lines = text.count("\n")
    note = f"{'unchanged' if unchanged else 'wrote'}: {relative} ({lines} lines)"
    if result.kept:
        note += f"; kept your code in {', '.join(result.kept)}"
    if result.added and not unchanged:
        note += f"; new: {', '.join(result.added)}"
    print(note)
    if target.suffix == ".py":
        try:
            compile(text, relative, "exec")
        except SyntaxError as exc:
            # Plain words, no kernel traceback: the file is saved, but the server will not load it.
            raise SyntaxError(f"{relative} line {exc.lineno}: {exc.msg}. Fix the cell and run it again.") from None
    if not unchanged:
        for hook in after_write:
            hook(relative)


def _project_cell_transformer(lines):
    """IPython input transformer: a project cell becomes one call to write_cell."""
    source = "".join(lines)
    relative = cell_path(source)
    if relative is None:
        return lines
    return [f"__import__('kit.lab.project_cells').lab.project_cells.write_cell({relative!r}, {source!r})\n"]


def install_cell_writer():
    """Registers the transformer in the running IPython (idempotent); no-op outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    transforms = shell.input_transformers_cleanup
    if _project_cell_transformer not in transforms:
        transforms.append(_project_cell_transformer)
    return True
