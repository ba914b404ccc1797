"""kit.authoring.lesson_stats: what it counts (cells, words, hand-call cells, long cells), the goals, the command."""

import subprocess
import sys

import nbformat
import pytest

from kit import REPO_DIR
from kit.authoring import lesson_stats


@pytest.mark.parametrize(
    "source",
    [
        'await channel_layer.send("x", {"type": "hello"})',
        "name = await layer.new_channel()",
        'await memory_layer.group_add("room", name)',
        "message = await  channel_layer . receive(name)",
        'async_to_sync(channel_layer.group_send)("chat_lobby", event)',
        "await asyncio.gather(*(second_layer.group_discard('g', n) for n in names))",
    ],
)
def test_a_cell_that_calls_the_layer_is_a_hand_call(source):
    assert lesson_stats.is_hand_call(source)


@pytest.mark.parametrize(
    "source",
    [
        "await self.channel_layer.group_add(self.group, self.channel_name)",  # a consumer, not the learner's hand
        "# await channel_layer.send(...) would raise here",
        'print("channel_layer.send is what the shell recipe calls")',
        "await ws.send('hello')",
        "layer = server.channel_layer()",
        '# project/chat/consumers.py\nawait channel_layer.send("x", {})',  # a project cell is written, not run
        "%time x = 1  # channel_layer.receive",
    ],
)
def test_a_cell_that_does_not_call_the_layer_is_not(source):
    assert not lesson_stats.is_hand_call(source)


def write_notebook(path, cells):
    notebook = nbformat.v4.new_notebook(cells=cells)
    nbformat.write(notebook, path)
    return path


def test_notebook_stats_counts_cells_words_hand_calls_and_the_longest_cell(tmp_path):
    long_code = "\n".join(f"x{i} = {i}" for i in range(35))
    path = write_notebook(
        tmp_path / "02_groups.ipynb",
        [
            nbformat.v4.new_markdown_cell("Two words"),
            nbformat.v4.new_code_cell("await channel_layer.send('a', {'type': 't'})"),
            nbformat.v4.new_code_cell(long_code),
        ],
    )
    stats = lesson_stats.notebook_stats(path)
    assert (stats.cells, stats.markdown_words, stats.hand_calls) == (3, 2, [1])
    assert stats.code_words == 4 + 35 * 3  # whitespace-separated, as prose is counted
    assert stats.longest == (35, 2, None)
    assert stats.long_cells == [(2, 35, None)]
    problems = lesson_stats.goal_problems([stats])
    assert "02_groups.ipynb: 1 hand-call cells (goal >= 10)" in problems
    assert "02_groups.ipynb: cell 2 has 35 lines (goal <= 30)" in problems


def test_a_file_shown_whole_may_be_long_once(tmp_path):
    whole = "# project/chat/consumers.py\n" + "\n".join(f"x{i} = {i}" for i in range(40))
    once = write_notebook(tmp_path / "02_a.ipynb", [nbformat.v4.new_code_cell(whole)])
    again = write_notebook(tmp_path / "03_b.ipynb", [nbformat.v4.new_code_cell(whole)])
    first = lesson_stats.notebook_stats(once)
    assert not [p for p in lesson_stats.goal_problems([first]) if "lines" in p or "shown whole" in p]
    problems = lesson_stats.goal_problems([first, lesson_stats.notebook_stats(again)])
    assert [p for p in problems if "shown whole in 2 cells" in p], problems


def test_deep_dives_are_listed_but_not_held_to_the_core_goals(tmp_path):
    prose = " ".join(["word"] * 3000)
    write_notebook(tmp_path / "02a_inside.ipynb", [nbformat.v4.new_markdown_cell(prose) for _ in range(50)])
    write_notebook(tmp_path / "notes.ipynb", [nbformat.v4.new_markdown_cell(prose)])
    paths = lesson_stats.lessons(tmp_path)
    assert [path.name for path in paths] == ["02a_inside.ipynb"]
    assert lesson_stats.goal_problems([lesson_stats.notebook_stats(paths[0])]) == []


def test_run_time_goals_are_printed_figures():
    timed = [lesson_stats.Stats(f"0{n}_x.ipynb", seconds=10.0) for n in range(1, 6)]
    assert lesson_stats.run_time_lines(timed) == [
        "run time 01-03: 30.0 s (within the goal of 45 s)",
        "run time 01-05: 50.0 s (within the goal of 120 s)",
    ]
    timed[0].seconds = 40.0
    assert lesson_stats.run_time_lines(timed)[0] == "run time 01-03: 60.0 s (OVER the goal of 45 s)"
    timed[3].failed = "cell 1: ImportError: ..."
    assert lesson_stats.run_time_lines(timed) == [
        "run time 01-03: 60.0 s (OVER the goal of 45 s)",
        "run time 01-05: not summed, 04_x.ipynb stopped early",
    ]


def test_the_command_prints_every_notebook_of_the_kit():
    result = subprocess.run(
        [sys.executable, "-m", "kit.authoring.lesson_stats"], cwd=REPO_DIR, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for name in ("01_echo_consumer", "02_channel_layers_and_groups", "05_scaling_out_and_measuring", "core total"):
        assert name in result.stdout
    assert ("goal(s) missed" in result.stdout) or ("Every goal" in result.stdout)


@pytest.mark.notebook
def test_run_times_a_notebook(tmp_path):
    write_notebook(
        tmp_path / "01_tiny.ipynb",
        [nbformat.v4.new_code_cell('import sys; sys.path.insert(0, ".."); import kit; print(kit.REPO_DIR)')],
    )
    result = subprocess.run(
        [sys.executable, "-m", "kit.authoring.lesson_stats", "--run", "--notebooks", str(tmp_path)],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("01_tiny.ipynb"))
    assert row.rstrip().endswith(" s"), row
    write_notebook(tmp_path / "01_tiny.ipynb", [nbformat.v4.new_code_cell("1 / 0")])
    result = subprocess.run(
        [sys.executable, "-m", "kit.authoring.lesson_stats", "--run", "--notebooks", str(tmp_path)],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "01_tiny.ipynb stopped at cell 0: ZeroDivisionError: division by zero" in result.stdout, result.stdout
