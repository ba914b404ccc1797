"""Named regions: the parts of a project file that the learner writes, and how a project cell merges them.

In the kit's source (project files and notebook cells alike) a region is marked nbgrader style, with a name:

        ### BEGIN SOLUTION DeviceConsumer.connect
        for group in (device_group(device_id), BROADCAST_GROUP):
            await self.channel_layer.group_add(group, self.channel_name)
        ### END SOLUTION

(a BEGIN without a name takes its enclosing function's qualified name). The starter copy
(kit.authoring.starter) turns the markers into two plain comments that keep the name, around a TODO stub:

        # >>> your code: DeviceConsumer.connect (the kit keeps what you write between these two lines)
        raise NotImplementedError("TODO step 3, DeviceConsumer.connect: ...")
        # <<< end of your code: DeviceConsumer.connect

Running a project cell merges by name (merge() below): a region filled on disk with code that is not the
kit's (the learner's) is kept, never replaced by a stub nor by the kit's solution; a region new to the
file is added; the kit's text outside regions is replaced only if the file still holds a text the kit
wrote. Otherwise the cell refuses and says what differs. A file that grows over the notebooks only
adds regions in later stages; it never rewrites an earlier one (nbsync checks that).
"""

import ast
import difflib
import hashlib
import re
from dataclasses import dataclass, field

SOLUTION_BEGIN = re.compile(r"^(\s*)### BEGIN SOLUTION(?:\s+(\S+))?\s*$")
SOLUTION_END = re.compile(r"^\s*### END SOLUTION(?:\s+(\S+))?\s*$")
YOURS_BEGIN = re.compile(r"^(\s*)# >>> your code: (\S+)(?:\s.*)?$")
YOURS_END = re.compile(r"^\s*# <<< end of your code: (\S+)\s*$")
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
YOURS_MARKERS = ("# >>> your code:", "# <<< end of your code:")
YOURS_NOTE = "(the kit keeps what you write between these two lines)"
STUB = re.compile(r"^\s*(raise NotImplementedError\(\"TODO\b.*|pass  # TODO\b.*)$")


class RegionError(ValueError):
    """Markers that do not pair up (unmatched, nested, a name used twice, a marker not alone on its line)."""


@dataclass
class Region:
    name: str
    begin: int  # index of the BEGIN line
    end: int  # index of the END line
    indent: str
    kind: str  # "solution" (the kit's source) or "yours" (a starter copy)

    def body(self, lines):
        return lines[self.begin + 1 : self.end]


def enclosing_functions(text):
    """{line number: (qualified name, docstring)} for the innermost function around each line."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return {}
    around = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    for line in range(child.lineno, (child.end_lineno or child.lineno) + 1):
                        around[line] = (name, ast.get_docstring(child) or "")
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return around


def parse(text, label="text"):
    """[Region] of text, in order. Raises RegionError when the markers do not pair up."""
    found, open_, around = [], None, None
    lines = text.split("\n")
    for index, line in enumerate(lines):
        begin = SOLUTION_BEGIN.match(line) or YOURS_BEGIN.match(line)
        end = SOLUTION_END.match(line) or YOURS_END.match(line)
        if begin:
            kind = "solution" if begin.re is SOLUTION_BEGIN else "yours"
            if open_ is not None:
                raise RegionError(f"{label}:{index + 1}: a region begins inside another region")
            name = begin.group(2)
            if name is None:
                around = around if around is not None else enclosing_functions(text)
                name = around.get(index + 1, (f"line{index + 1}", ""))[0]
            open_ = (index, begin.group(1), kind, name)
        elif end:
            kind = "solution" if end.re is SOLUTION_END else "yours"
            if open_ is None:
                what = (
                    "END SOLUTION without BEGIN SOLUTION"
                    if kind == "solution"
                    else "an end of your code without its start"
                )
                raise RegionError(f"{label}:{index + 1}: {what}")
            if kind != open_[2] or (end.group(1) and end.group(1) != open_[3]):
                raise RegionError(f"{label}:{index + 1}: this end marker does not close region {open_[3]!r}")
            found.append(Region(open_[3], open_[0], index, open_[1], kind))
            open_ = None
        elif line.strip().startswith(SOLUTION_MARKERS) or line.rstrip().endswith(SOLUTION_MARKERS):
            raise RegionError(f"{label}:{index + 1}: a marker must be alone on its line: {line.strip()!r}")
    if open_ is not None:
        raise RegionError(f"{label}:{open_[0] + 1}: region {open_[3]!r} is never closed (BEGIN without END)")
    names = [region.name for region in found]
    for name in names:
        if names.count(name) > 1:
            raise RegionError(f"{label}: two regions are named {name!r} (give each BEGIN its own name)")
    return found


def skeleton(text, label="text"):
    """The kit's text: every region collapsed to one canonical line, whatever its markers look like."""
    lines = text.split("\n")
    for region in reversed(parse(text, label)):
        lines[region.begin : region.end + 1] = [f"{region.indent}<region {region.name}>"]
    return "\n".join(lines)


def bodies(text, label="text"):
    """{region name: its lines}."""
    lines = text.split("\n")
    return {region.name: region.body(lines) for region in parse(text, label)}


def is_stub(body):
    """True for a region nobody has written yet: empty, or only the starter's TODO line (and comments)."""
    code = [line for line in body if line.strip() and not line.strip().startswith("#")]
    return not code or (len(code) == 1 and bool(STUB.match(code[0])))


def normalized(body):
    return [line.rstrip() for line in body if line.strip()]


def body_hash(body):
    """A region's code, fingerprinted: the kit ships these for its own solutions, never the code itself."""
    return hashlib.sha256("\n".join(normalized(body)).encode()).hexdigest()[:16]


@dataclass
class Merge:
    text: str | None  # what to write (None: refused)
    kept: list = field(default_factory=list)  # regions whose code on disk was kept
    added: list = field(default_factory=list)  # regions new to the file
    refused: str = ""  # why not, in plain words, with what differs


def merge(cell_text, disk_text, kit_skeletons=(), kit_bodies=None, relative="the file"):
    """What running a project cell writes, given the file on disk.

    kit_skeletons: texts outside regions that the kit wrote or ships for this file (skeleton());
    kit_bodies: {name: {body_hash of each body the kit ships for that region}} (the reference's solutions),
    so that a region holding the kit's own code is not taken for the learner's (an earlier stage may then
    drop it). A region the learner wrote in the cell itself is written; else code on disk is kept; else
    the cell's (a stub, or the kit's solution) is written.
    """
    kit_bodies = kit_bodies or {}
    cell_regions = parse(cell_text, f"the cell for {relative}")
    cell_lines = cell_text.split("\n")
    if disk_text is None:
        return Merge(cell_text, added=[region.name for region in cell_regions])
    try:
        disk_regions = {region.name: region for region in parse(disk_text, relative)}
    except RegionError as exc:
        return Merge(
            None,
            refused=(
                f"{exc}.\nThe markers around your code in {relative} no longer pair up, so the kit cannot tell your "
                "code from its own. Put the two marker lines back around your code (compare with this cell), "
                "then run the cell again."
            ),
        )
    disk_lines = disk_text.split("\n")

    def learners(name, body):
        return not is_stub(body) and body_hash(body) not in kit_bodies.get(name, ())

    written = {name for name, region in disk_regions.items() if learners(name, region.body(disk_lines))}
    cell_names = {region.name for region in cell_regions}
    disk_skeleton, cell_skeleton = skeleton(disk_text, relative), skeleton(cell_text, relative)
    lost = sorted(written - cell_names)
    if lost:
        return Merge(
            None,
            refused=(
                f"{relative} holds code you wrote in region(s) {', '.join(lost)}, which this cell does not have: "
                "it is an earlier stage of the file than the one on disk. Nothing was written; your file is "
                "already further along, so you can go on without this cell."
            ),
        )
    if disk_skeleton != cell_skeleton and disk_skeleton not in set(kit_skeletons):
        closest = min(
            [*kit_skeletons, cell_skeleton] or [cell_skeleton],
            key=lambda known: -difflib.SequenceMatcher(None, known, disk_skeleton).ratio(),
        )
        diff = "\n".join(
            list(
                difflib.unified_diff(
                    closest.split("\n"),
                    disk_skeleton.split("\n"),
                    "what the kit wrote",
                    f"{relative} now",
                    lineterm="",
                    n=1,
                )
            )[:40]
        )
        return Merge(
            None,
            refused=(
                f"{relative} was changed outside the 'your code' regions, so this cell cannot update the kit's "
                f"part of it without losing your change. Nothing was written. What differs "
                f"('<region ...>' stands for a region's code, which is always kept):\n{diff}\n"
                "To go on, either undo that change (or move it inside a 'your code' region) and run the cell "
                "again, or run  from kit.notebook import replace_my_changes; "
                f"replace_my_changes({relative!r})  in a cell, then this cell again: the kit's "
                "text wins outside the regions, every region you wrote is kept, and your file is saved "
                "beside it as a .before-kit copy first."
            ),
        )
    out, kept, added = list(cell_lines), [], []
    for region in reversed(cell_regions):
        if learners(region.name, region.body(cell_lines)):
            continue  # the learner wrote this region in the cell itself: the cell's code is written
        if region.name in disk_regions and not is_stub(disk_regions[region.name].body(disk_lines)):
            body = disk_regions[region.name].body(disk_lines)
            if normalized(body) != normalized(region.body(cell_lines)):
                kept.append(region.name)
            out[region.begin + 1 : region.end] = body
        elif region.name not in disk_regions:
            added.append(region.name)
    return Merge("\n".join(out), kept=sorted(kept), added=sorted(added))
