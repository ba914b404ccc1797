"""Project cells: a notebook code cell whose first line is a path comment, such as
`# project/echo/consumers.py`, holds exactly that file (kit.authoring.nbsync keeps the two equal).

In a kernel, install_cell_writer() registers an IPython input transformer: running a project cell
writes the cell to its file (never outside the project directory) and prints one line, instead of
executing the code; a SyntaxError is reported in plain words. kit.notebook installs it on import.
"""

import os
import re
from pathlib import Path

from kit import PROJECT_DIR

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


def write_cell(relative, text):
    """Runs instead of a project cell: writes it to its file, checks Python syntax, then runs
    the after_write hooks (a running server is restarted and serves the new code)."""
    target = target_file(relative)
    text = file_text(text)
    unchanged = target.exists() and target.read_text() == text
    if not unchanged:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    lines = text.count("\n")
    print(f"{'unchanged' if unchanged else 'wrote'}: {relative} ({lines} lines)")
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
