"""The learner's starter copy: the kit with every solution region replaced by a TODO stub.

    make starter DEST=/tmp/class
    python -m kit.authoring.starter DEST [--force]

Solution regions are marked once in the source, nbgrader style, in project files and notebook
cells alike (the notebooks' project cells equal the files), each with a name (kit.lab.regions):

        ### BEGIN SOLUTION EchoConsumer.connect
        await self.accept()
        ### END SOLUTION

In the copy each region becomes, at the same indentation, a TODO stub between two plain comments that
keep the name, so that running a later cell of the same file keeps what the learner wrote there:

        # >>> your code: EchoConsumer.connect (the kit keeps what you write between these two lines)
        raise NotImplementedError("TODO step 1, EchoConsumer.connect: accept the handshake (self.accept()).")
        # <<< end of your code: EchoConsumer.connect

so the module still imports, the project starts, and a part not written yet answers plainly:
a WebSocket handshake is refused and the server logs one line (kit/harness/guards.py), an API call
gets 501 with the same words (mysite/api.py). Hidden grading tests and the kit's self-tests stay out.
After writing, verify() checks the copy: no solution marker left, every region's name kept, no
solution line left, every Python file compiles, every notebook project cell that holds its file
(nbsync's last-cell rule) equals it.
Earlier versions of a file that grows over the steps (an earlier notebook's cell) are stubbed too.
"""

import argparse
import re
import shutil
import sys
from pathlib import Path

import nbformat

from kit import REPO_DIR
from kit.lab import regions as kit_regions
from kit.lab.regions import enclosing_functions

BEGIN = kit_regions.SOLUTION_BEGIN
END = kit_regions.SOLUTION_END
MARKERS = kit_regions.SOLUTION_MARKERS

# What to copy (relative to the repository). Directories are copied whole, minus SKIP.
COPY = [
    "project",
    "notebooks",
    "kit",
    "tests",
    "Makefile",
    "README.md",
    "requirements.txt",
    "requirements-dev.txt",
    "requirements-redis.txt",
    "docker-compose.yml",
    "Dockerfile",
    ".dockerignore",
    "pytest.ini",
    ".gitignore",
    ".ci",
    "pyproject.toml",
    ".pre-commit-config.yaml",
    "docs",
]
SKIP = shutil.ignore_patterns(
    "__pycache__",
    "*.pyc",
    ".ipynb_checkpoints",
    ".pytest_cache",
    "db.sqlite3*",
    "*_hidden.py",
    "results.json",
    "bench-results.json",
)
# The kit's own self-tests grade the reference solution: they do not belong in a learner's copy.
KIT_ONLY = [
    "tests/kit/grading/test_grader.py",
    "tests/kit/grading/test_grader_hostile.py",
    "tests/kit/authoring/test_starter.py",
    "tests/kit/grading/fixtures",
]

STEP_OF_FILE = {
    "project/echo/": 1,
    "project/chat/": 2,
    "project/devices/consumers.py": 3,
    "project/devices/views.py": 3,
    "project/devices/commands.py": 4,
}
STEP_OF_FUNCTION = {"send_command": 4, "command_round_trip": 4, "device_command": 4}

# What each region asks for, in plain words; a region not listed gets its function's docstring.
HINTS = {
    "EchoConsumer.connect": "accept the handshake (self.accept()).",
    "EchoConsumer.receive": "send the frame back the way it came: text_data as text, bytes_data as bytes.",
    "ChatConsumer.connect": "add this socket's channel to the room's group (group_add), then accept.",
    "ChatConsumer.disconnect": "remove this socket's channel from the room's group (group_discard).",
    "ChatConsumer.receive": "send the message to the whole room: a group_send of a chat.message event.",
    "ChatConsumer.chat_message": 'send {"message": ...} to this socket, with "system": true when the event has it.',
    "DeviceConsumer.connect": "join this device's group and the broadcast group (group_add for each).",
    "DeviceConsumer.device_message": "send the device its push frame, push_frame(event) from devices/frames.py: "
    '{"type": "message", "id": ..., "data": ...}.',
    "push_message": "await get_channel_layer().group_send(...) of the device.message event to this device's group.",
    "push_to_device": "await get_channel_layer().group_send(...) of the device.message event to this device's group.",
    "push_message_sync": (
        "async_to_sync(get_channel_layer().group_send)(...) of the device.message event to this device's group "
        "(a plain def view: no await)."
    ),
    "broadcast": "await get_channel_layer().group_send(...) of the device.message event to the broadcast group.",
    "broadcast_to_all": "await get_channel_layer().group_send(...) of the device.message event to the broadcast group.",
    "send_command": (
        "new_channel(), group_send a device.command event carrying it, "
        "wait for the reply (504 when none comes in time)."
    ),
    "command_round_trip": (
        "new_channel(), group_send a device.command event carrying it and the command's id and expires "
        "(within_layer_timeout(...) bounds that call), wait on receive() until expires (504 when no reply comes)."
    ),
}


class StarterError(RuntimeError):
    """The source's markers are broken (unmatched, nested, a name twice): no copy is written."""


def named_regions(text, label="text"):
    """[kit.lab.regions.Region] of text's solution regions; StarterError if the markers do not pair up."""
    try:
        return [region for region in kit_regions.parse(text, label) if region.kind == "solution"]
    except kit_regions.RegionError as exc:
        raise StarterError(str(exc)) from None


def regions(text, label="text"):
    """[(begin_index, end_index, indent)] of the solution regions in text's lines."""
    return [(region.begin, region.end, region.indent) for region in named_regions(text, label)]


def step_of(label, function):
    if function and function.split(".")[-1] in STEP_OF_FUNCTION:
        return STEP_OF_FUNCTION[function.split(".")[-1]]
    return next((step for prefix, step in STEP_OF_FILE.items() if label.startswith(prefix)), None)


def hint_of(name, doc=""):
    return HINTS.get(name) or HINTS.get(name.split(".")[-1]) or (doc.split("\n")[0] if doc else "")


def stub(text, label="text"):
    """text with every solution region replaced by a TODO stub between two named "your code" comments
    -> (new text, number of regions). The names survive, so a later cell merges by name (kit.lab.regions)."""
    found = named_regions(text, label)
    if not found:
        return text, 0
    lines, around = text.split("\n"), enclosing_functions(text)
    for region in reversed(found):
        function, doc = around.get(region.begin + 1, (None, ""))
        hint = hint_of(region.name, doc) or "write this part (see the notebook)."
        step = step_of(label, function or region.name)
        where = f"TODO step {step}" if step else "TODO"
        indent = region.indent
        if function:
            message = f"{where}, {region.name}: {hint}".replace("\\", "\\\\").replace('"', '\\"')
            todo = f'{indent}raise NotImplementedError("{message}")'
        else:
            todo = f"{indent}pass  # {where}: {hint}"
        lines[region.begin : region.end + 1] = [
            f"{indent}# >>> your code: {region.name} {kit_regions.YOURS_NOTE}",
            todo,
            f"{indent}# <<< end of your code: {region.name}",
        ]
    return "\n".join(lines), len(found)


def solution_lines(text):
    """Lines inside regions that appear nowhere outside them: what must not survive in the copy."""
    lines, inside, outside = text.split("\n"), set(), set()
    spans = regions(text)
    in_region = {index for begin, end, _ in spans for index in range(begin + 1, end)}
    for index, line in enumerate(lines):
        (inside if index in in_region else outside).add(line.strip())
    return {line for line in inside - outside if len(line) >= 6 and not line.startswith("#")}


# -- the copy -----------------------------------------------------------------------------------------
def write(dest, source=REPO_DIR, force=False):
    """Writes the starter copy of source into dest -> {relative path: regions stubbed}."""
    source, dest = Path(source).resolve(), Path(dest).resolve()
    if dest == source or source in dest.parents:
        raise StarterError("DEST must be outside the kit's repository")
    if dest.exists() and any(dest.iterdir()):
        if not force:
            raise StarterError(f"{dest} exists and is not empty (use --force to replace it)")
        shutil.rmtree(dest)
    check_sources(source)  # broken markers: stop before writing anything
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPY:
        origin = source / name
        if origin.is_dir():
            shutil.copytree(origin, dest / name, ignore=SKIP, symlinks=True)
        elif origin.is_file():
            shutil.copy2(origin, dest / name)
    for name in KIT_ONLY:
        target = dest / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    stubbed = {}
    for path in sorted((dest / "project").rglob("*")):
        if path.is_file() and is_text(path):
            label = path.relative_to(dest).as_posix()
            text, count = stub(path.read_text(), label)
            if count:
                path.write_text(text)
                stubbed[label] = count
    seen = {}
    for notebook_path in sorted((dest / "notebooks").glob("*.ipynb")):
        count = stub_notebook(notebook_path, seen)
        if count:
            stubbed[notebook_path.relative_to(dest).as_posix()] = count
    write_stages(dest)
    return stubbed


def write_stages(dest):
    """The copy's notebooks/.kit-stages.json, from its own (stubbed) cells: the same texts outside
    regions as the kit's, and no fingerprint of a solution, so any code a learner writes counts as theirs."""
    from kit.authoring.nbsync import notebooks, stages_text
    from kit.lab.project_cells import STAGES_FILE

    (dest / "notebooks" / STAGES_FILE).write_text(stages_text(notebooks(dest / "notebooks")))


def is_text(path):
    try:
        path.read_text()
        return True
    except (UnicodeDecodeError, OSError):
        return False


def check_sources(source):
    """Every marker in project/ and notebooks/ is matched (raises StarterError otherwise)."""
    for path in sorted((source / "project").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and is_text(path):
            regions(path.read_text(), path.relative_to(source).as_posix())
    for notebook_path in sorted((source / "notebooks").glob("*.ipynb")):
        notebook = nbformat.read(notebook_path, as_version=4)
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type == "code":  # markdown may talk about the markers
                regions(cell.source, f"{notebook_path.name} cell {index}")


# Text that is true of the reference only, turned into what is true of the copy (markdown cells).
# A markdown cell may also carry metadata {"kit": {"starter": "<markdown>"}}: the copy shows that instead.
REFERENCE_ONLY = [
    (
        re.compile(r"^(\s*[-*]\s+)?.*(BEGIN SOLUTION|END SOLUTION).*$", re.MULTILINE),
        lambda match: (
            (match.group(1) or "")
            + "The `# >>> your code: <name>` and `# <<< end of your code: <name>` lines mark a part you write. Keep "
            "them: when a later cell grows the same file, the kit keeps what you wrote between them."
        ),
    ),
    (
        re.compile(r"Nothing needs typing\.?"),
        lambda match: (
            "Where a cell holds a `TODO`, a **Your turn** note just above it says what to write, "
            "what to run, and which check shows it works."
        ),
    ),
]


def starter_markdown(cell):
    """A markdown cell's text as the copy shows it (no marker or claim that only the reference has)."""
    override = cell.metadata.get("kit", {}).get("starter")
    if override is not None:
        return override
    text = cell.source
    for pattern, replacement in REFERENCE_ONLY:
        text = pattern.sub(replacement, text)
    return text


def your_turn(cell, relative, following, notebook_name, written_before=()):
    """The "your turn" note the copy puts before a TODO cell: what to write, what to run, which check.
    written_before: regions of this file that an earlier cell already asked for (kept when this one runs)."""
    stubbed = named_regions(cell.source)
    around = enclosing_functions(cell.source)
    asks, kept = [], []
    for region in stubbed:
        if region.name in written_before:
            kept.append(f"`{region.name}`")
            continue
        doc = around.get(region.begin + 1, (None, ""))[1]
        asks.append(f"- **{region.name}**: {hint_of(region.name, doc) or 'see the explanation above.'}")
    if kept:
        lines = "its TODO line" if len(kept) == 1 else "their TODO lines"
        already = (
            f"You wrote {', '.join(kept)} in an earlier cell: leave {lines} here as they are; running this "
            "cell keeps the code you wrote."
        )
        if not asks:
            note = nbformat.v4.new_markdown_cell(
                f"### Your turn\n\nNothing new to write in the cell below. {already} Run it: it writes "
                f"`{relative}`, the file's next version. What tells you it works: the cells after it."
            )
            note.metadata["kit"] = {"your_turn": True}
            return note
        asks.append(f"- {already}")
    where = f"it writes `{relative}` (and a server this notebook started restarts with your code)" if relative else ""
    check = cell.metadata.get("kit", {}).get("check")
    if not check:
        check = (
            'the cells after it use what you wrote: they run without a "not done yet" message, and the '
            f"self-check at the end of this notebook ({following}) reports the step done"
        )
    lines = [
        "### Your turn",
        "",
        'In the cell below, replace each `raise NotImplementedError("TODO ...")` line (between its '
        "`# >>> your code` and `# <<< end of your code` comments) with code that does this:",
        "",
        *asks,
        "",
        f"Then run the cell{': ' + where if where else ''}. What tells you it works: {check}.",
        "Keep the two comment lines around your code: a later cell that grows the same file keeps what is "
        "between them.",
    ]
    note = nbformat.v4.new_markdown_cell("\n".join(lines))
    note.metadata["kit"] = {"your_turn": True}
    return note


def stub_notebook(path, seen=None):
    """Stubs the notebook's cells in place (outputs cleared), puts a "your turn" note before each TODO
    cell and rewrites reference-only text -> number of regions stubbed. seen: {file: region names asked
    for so far}, shared across the notebooks in order (a later stage's note says what is already written)."""
    from kit.notebook import cell_path

    seen = {} if seen is None else seen
    notebook, total = nbformat.read(path, as_version=4), 0
    self_check = next(
        (cell.source.strip().split("\n")[-1] for cell in notebook.cells if "self_check(" in cell.source),
        None,
    )
    following = f"`{self_check}`" if self_check else "its last cell"
    cells = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            cell.source = starter_markdown(cell)
        if cell.cell_type != "code":
            cells.append(cell)
            continue
        relative = cell_path(cell.source)
        if named_regions(cell.source, f"{path.name} cell {index}"):
            if cells and cells[-1].cell_type == "markdown":  # "the next cell" is now below the note
                cells[-1].source = re.sub(
                    r"\b([Tt])he next cell", r"\1he cell below the *Your turn* note", cells[-1].source
                )
            names = [region.name for region in named_regions(cell.source)]
            cells.append(your_turn(cell, relative, following, path.name, seen.get(relative, set())))
            seen.setdefault(relative, set()).update(names if relative else ())
        cell.source, count = stub(cell.source, relative or f"{path.name} cell {index}")
        total += count
        cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    notebook.cells = cells
    nbformat.write(notebook, path)
    return total


# -- drift checks ----------------------------------------------------------------------------------
def verify(dest, source=REPO_DIR):
    """Problems of a written copy, as a list of sentences (empty: the copy is right)."""
    source, dest = Path(source).resolve(), Path(dest).resolve()
    problems = []
    for path in sorted(dest.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or ".venv" in path.parts or not is_text(path):
            continue
        relative = path.relative_to(dest).as_posix()
        text = path.read_text()
        if relative.startswith("project/") and any(marker in text for marker in MARKERS):
            problems.append(f"{relative}: a solution marker is left")
        if path.name.endswith("_hidden.py"):
            problems.append(f"{relative}: a hidden test is in the learner's copy")
        if path.suffix == ".py":
            try:
                compile(text, relative, "exec")
            except SyntaxError as exc:
                problems.append(f"{relative}: does not compile: {exc}")
        original = source / relative
        if relative.startswith("project/") and original.is_file() and is_text(original):
            left = solution_lines(original.read_text()) & {line.strip() for line in text.split("\n")}
            problems += [f"{relative}: solution line left: {line!r}" for line in sorted(left)]
            names = [region.name for region in named_regions(original.read_text(), relative)]
            try:
                kept = [region.name for region in kit_regions.parse(text, relative) if region.kind == "yours"]
            except kit_regions.RegionError as exc:
                kept = []
                problems.append(f"{relative}: {exc}")
            if kept != names:
                problems.append(f"{relative}: regions {names} became {kept} (each keeps its name in the copy)")
    problems += notebook_drift(dest)
    return problems


def notebook_drift(dest):
    """Each project cell that holds its file (nbsync's last-cell rule) equals the copy's file;
    an earlier version compiles; no solution region is left in any code cell."""
    from kit.authoring.nbsync import final_cells, notebooks
    from kit.notebook import cell_path

    problems = []
    paths = notebooks(dest / "notebooks")
    finals = final_cells(paths)
    for notebook_path in paths:
        notebook = nbformat.read(notebook_path, as_version=4)
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type == "markdown" and any(marker in cell.source for marker in MARKERS):
                problems.append(f"{notebook_path.name} cell {index}: mentions a marker only the reference has")
            if cell.cell_type == "code" and 'raise NotImplementedError("TODO' in cell.source:
                before = notebook.cells[index - 1] if index else None
                if before is None or not before.metadata.get("kit", {}).get("your_turn"):
                    problems.append(f"{notebook_path.name} cell {index}: a TODO cell without a 'your turn' note")
            if cell.cell_type == "code" and regions(cell.source, f"{notebook_path.name} cell {index}"):
                problems.append(f"{notebook_path.name} cell {index}: a solution region is left")
            relative = cell_path(cell.source) if cell.cell_type == "code" else None
            if not relative:
                continue
            if (Path(notebook_path), index) not in finals:  # an earlier version of a growing file
                if relative.endswith(".py"):
                    try:
                        compile(cell.source, relative, "exec")
                    except SyntaxError as exc:
                        problems.append(f"{notebook_path.name} cell {index}: earlier version does not compile: {exc}")
                continue
            target = dest / relative
            if not target.is_file():
                problems.append(f"{notebook_path.name} cell {index}: {relative} is not in the copy")
            elif target.read_text().removesuffix("\n") != cell.source.removesuffix("\n"):
                problems.append(f"{notebook_path.name} cell {index}: differs from {relative}")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m kit.authoring.starter", description="Write the learner's starter copy."
    )
    parser.add_argument("dest", help="an empty (or new) directory outside this repository")
    parser.add_argument("--force", action="store_true", help="replace dest if it is not empty")
    args = parser.parse_args(argv)
    try:
        stubbed = write(args.dest, force=args.force)
    except StarterError as exc:
        print(f"No starter copy written: {exc}", file=sys.stderr)
        return 2
    for relative, count in stubbed.items():
        print(f"  {relative}: {count} region(s) -> TODO")
    problems = verify(args.dest)
    if problems:
        print("The copy has problems:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(
        f"Starter copy in {Path(args.dest).resolve()}: {sum(stubbed.values())} solution regions replaced by TODO stubs."
    )
    print(f"Learners: cd {args.dest} && make lab.  Graders: make grade PROJECT={args.dest}/project")
    return 0


if __name__ == "__main__":
    sys.exit(main())
