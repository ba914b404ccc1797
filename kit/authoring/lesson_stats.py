"""How heavy is each notebook? Cells, words, hand-call cells, the longest code cell, and the goals.

    python -m kit.authoring.lesson_stats            # the figures and the goals, from the committed notebooks
    python -m kit.authoring.lesson_stats --run      # also run each notebook top to bottom and time it
    python -m kit.authoring.lesson_stats --check    # exit 1 if a goal on cells, words, lines or hand calls is missed
    make lesson-stats [LESSON_STATS_ARGS=--run]

Counted on the reference notebooks (notebooks/NN_*.ipynb are the core, NNx_*.ipynb the deep dives):
- cells: every cell; words: whitespace-separated words of markdown and code cells alike;
- a hand-call cell is a code cell that itself calls the channel layer: `<name>.send`, `receive`,
  `group_send`, `group_add`, `group_discard` or `new_channel` on a name that ends in "layer"
  (`channel_layer`, `layer`, `memory_layer`, `async_to_sync(channel_layer.send)`), not `self.channel_layer`
  inside a consumer, and not in a comment or a string. Project cells (files written, not run) never count;
- a code cell's lines: all its lines, blank ones included. A project cell that shows its file whole may exceed the
  line goal once per file (the learner is shown that file whole once).

The run time (--run) is a printed figure, not an assertion: each notebook runs in a fresh kernel against
a temporary copy of project/ (KIT_PROJECT_DIR), as `make test` runs them.
"""

import argparse
import io
import os
import re
import shutil
import sys
import tempfile
import time
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from kit import NOTEBOOKS_DIR, PROJECT_DIR
from kit.lab.project_cells import cell_path

CORE = re.compile(r"^\d\d_.*\.ipynb$")
LESSON = re.compile(r"^\d\d[a-z]?_.*\.ipynb$")
LAYER_METHODS = ("send", "receive", "group_send", "group_add", "group_discard", "new_channel")
HAND_CALL = re.compile(r"(?<![\w.])(\w*layer)\s*\.\s*(" + "|".join(LAYER_METHODS) + r")\b", re.IGNORECASE)

# The goals (issue 20): per core notebook, all five together, hand calls per core notebook, run times.
MAX_CELLS = 45
MAX_WORDS = 2500
MAX_WORDS_CORE = 11000
MAX_CODE_LINES = 30
MIN_HAND_CALLS = {"02": 10, "03": 4, "04": 4, "05": 2}
RUN_GOALS = ((("01", "02", "03"), 45.0), (("01", "02", "03", "04", "05"), 120.0))


@dataclass
class Stats:
    name: str
    cells: int = 0
    words: int = 0
    markdown_words: int = 0
    code_words: int = 0
    hand_calls: list = field(default_factory=list)  # cell indexes
    longest: tuple = (0, None, None)  # (lines, cell index, project path or None)
    long_cells: list = field(default_factory=list)  # (index, lines, project path or None) over MAX_CODE_LINES
    seconds: float | None = None
    failed: str | None = None  # --run: where the notebook stopped, if it did

    @property
    def chapter(self):
        return self.name[:2]

    @property
    def core(self):
        return bool(CORE.match(self.name))


def code_only(source):
    """The source with comments and string literals blanked out (so `# channel_layer.send` is no call).
    Cells that do not tokenize (a %magic, a half-written line) lose only their comments."""
    skipped = {tokenize.COMMENT, tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
    lines = source.splitlines(keepends=True)
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type in skipped:
                (first_row, first_col), (last_row, last_col) = token.start, token.end
                for row in range(first_row, last_row + 1):
                    line = lines[row - 1]
                    start = first_col if row == first_row else 0
                    end = last_col if row == last_row else len(line.rstrip("\n"))
                    lines[row - 1] = line[:start] + " " * (end - start) + line[end:]
        return "".join(lines)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return "\n".join(line.split("#", 1)[0] for line in source.splitlines())


def is_hand_call(source):
    """True if a (non-project) code cell itself calls a channel layer's send/receive/group_*/new_channel."""
    return cell_path(source) is None and HAND_CALL.search(code_only(source)) is not None


def code_lines(source):
    return len(source.splitlines())


def notebook_stats(path):
    notebook = nbformat.read(path, as_version=4)
    stats = Stats(Path(path).name, cells=len(notebook.cells))
    for index, cell in enumerate(notebook.cells):
        words = len(cell.source.split())
        if cell.cell_type == "markdown":
            stats.markdown_words += words
        elif cell.cell_type == "code":
            stats.code_words += words
            if is_hand_call(cell.source):
                stats.hand_calls.append(index)
            lines = code_lines(cell.source)
            relative = cell_path(cell.source)
            if lines > stats.longest[0]:
                stats.longest = (lines, index, relative)
            if lines > MAX_CODE_LINES:
                stats.long_cells.append((index, lines, relative))
    stats.words = stats.markdown_words + stats.code_words
    return stats


def lessons(folder=NOTEBOOKS_DIR):
    return sorted(path for path in Path(folder).glob("*.ipynb") if LESSON.match(path.name))


def goal_problems(all_stats):
    """What misses a goal on cells, words, code lines or hand calls (the run time is only printed)."""
    problems = []
    core = [stats for stats in all_stats if stats.core]
    shown_whole = {}  # project path -> the cells that show it over the line goal
    for stats in core:
        if stats.cells > MAX_CELLS:
            problems.append(f"{stats.name}: {stats.cells} cells (goal <= {MAX_CELLS})")
        if stats.words > MAX_WORDS:
            problems.append(f"{stats.name}: {stats.words} words (goal <= {MAX_WORDS})")
        need = MIN_HAND_CALLS.get(stats.chapter, 0)
        if len(stats.hand_calls) < need:
            problems.append(f"{stats.name}: {len(stats.hand_calls)} hand-call cells (goal >= {need})")
        for index, lines, relative in stats.long_cells:
            if relative is None:
                problems.append(f"{stats.name}: cell {index} has {lines} lines (goal <= {MAX_CODE_LINES})")
            else:
                shown_whole.setdefault(relative, []).append(f"{stats.name} cell {index}")
    for relative, where in shown_whole.items():
        if len(where) > 1:
            problems.append(
                f"{relative} is shown whole in {len(where)} cells over {MAX_CODE_LINES} lines "
                f"({', '.join(where)}; goal: once)"
            )
    total = sum(stats.words for stats in core)
    if total > MAX_WORDS_CORE:
        problems.append(f"the core notebooks: {total} words (goal <= {MAX_WORDS_CORE})")
    return problems


def run_notebook(path, timeout=300):
    """Runs the notebook in a fresh kernel on a temporary copy of project/.
    Returns (seconds, None), or (seconds until it stopped, "cell N: the error's last line")."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="kit-lesson-stats-") as folder:
        copy = Path(folder) / "project"
        shutil.copytree(
            PROJECT_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.sqlite3*", ".ipynb_checkpoints")
        )
        saved = os.environ.get("KIT_PROJECT_DIR")
        os.environ["KIT_PROJECT_DIR"] = str(copy)
        try:
            client = NotebookClient(
                notebook,
                timeout=timeout,
                kernel_name="python3",
                shutdown_kernel="graceful",
                resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},  # the kernel starts in notebooks/, as in the lab
            )
            started = time.perf_counter()
            try:
                client.execute()
            except CellExecutionError as error:
                index = next((i for i, cell in enumerate(notebook.cells) if _has_error(cell)), "?")
                return time.perf_counter() - started, f"cell {index}: {error.ename}: {error.evalue}"[:200]
            return time.perf_counter() - started, None
        finally:
            if saved is None:
                os.environ.pop("KIT_PROJECT_DIR", None)
            else:
                os.environ["KIT_PROJECT_DIR"] = saved


def _has_error(cell):
    return any(output.get("output_type") == "error" for output in cell.get("outputs", []))


def table(all_stats):
    rows = [("notebook", "cells", "words", "(md+code)", "hand calls", "longest code cell", "run")]
    for stats in all_stats:
        lines, index, relative = stats.longest
        longest = f"{lines} lines, cell {index}" + (f" ({relative})" if relative else "") if index is not None else "-"
        rows.append(
            (
                stats.name,
                str(stats.cells),
                str(stats.words),
                f"{stats.markdown_words}+{stats.code_words}",
                str(len(stats.hand_calls)),
                longest,
                "-" if stats.seconds is None else f"{stats.seconds:.1f} s" + (" FAILED" if stats.failed else ""),
            )
        )
    core = [stats for stats in all_stats if stats.core]
    rows.append(("core total", str(sum(s.cells for s in core)), str(sum(s.words for s in core)), "", "", "", ""))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def run_time_lines(all_stats):
    """The run-time goals, as printed figures: a goal whose notebooks did not all run to the end is not summed."""
    core = {stats.chapter: stats for stats in all_stats if stats.core and stats.seconds is not None}
    lines = []
    for chapters, goal in RUN_GOALS:
        span = f"{chapters[0]}-{chapters[-1]}"
        if not all(chapter in core for chapter in chapters):
            continue
        stopped = [core[chapter].name for chapter in chapters if core[chapter].failed]
        if stopped:
            lines.append(f"run time {span}: not summed, {', '.join(stopped)} stopped early")
            continue
        total = sum(core[chapter].seconds for chapter in chapters)
        verdict = "within" if total <= goal else "OVER"
        lines.append(f"run time {span}: {total:.1f} s ({verdict} the goal of {goal:.0f} s)")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m kit.authoring.lesson_stats",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--run", action="store_true", help="also run each notebook and print its run time")
    parser.add_argument("--check", action="store_true", help="exit 1 if a goal (not the run time) is missed")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS_DIR, help="the folder (default notebooks/)")
    parser.add_argument("--hand-calls", action="store_true", help="list each notebook's hand-call cells")
    args = parser.parse_args(argv)

    all_stats = [notebook_stats(path) for path in lessons(args.notebooks)]
    if args.run:
        for stats in all_stats:
            print(f"running {stats.name} ...", flush=True)
            stats.seconds, stats.failed = run_notebook(args.notebooks / stats.name)
    print(table(all_stats))
    for stats in all_stats:
        if stats.failed:
            print(f"{stats.name} stopped at {stats.failed}")
    if args.hand_calls:
        for stats in all_stats:
            print(f"{stats.name}: hand-call cells {stats.hand_calls}")
    for line in run_time_lines(all_stats):
        print(line)
    problems = goal_problems(all_stats)
    if problems:
        print(f"\n{len(problems)} goal(s) missed:")
        for problem in problems:
            print(f"  - {problem}")
    else:
        print("\nEvery goal on cells, words, code lines and hand calls is met.")
    return 1 if problems and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
