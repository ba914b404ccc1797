"""Every notebook in notebooks/ runs top to bottom, unattended, and leaves nothing behind.

Each notebook runs in a fresh kernel (the "python3" kernelspec, which resolves to this venv's
Python) against a temporary copy of project/ (KIT_PROJECT_DIR), so the committed notebooks and
project/ stay untouched. Afterwards: no process started by the notebook (daphne, redis-server,
the grader's subprocesses, the kernel) may still run, and the notebook's project cells must have
written exactly the files that are in project/. Run times are printed, not asserted.
"""
import contextlib
import filecmp
import os
import signal
import subprocess
import shutil
import sys
import time
import uuid
from pathlib import Path

import nbformat
import psutil
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from kit import NOTEBOOKS_DIR, PROJECT_DIR
from kit.serving import redis_service
from kit.authoring.nbsync import final_cells
from kit.lab.project_cells import cell_path

CELL_TIMEOUT = 120  # seconds per cell; the self-check cell runs a grading session
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]*_*.ipynb"))  # the five core notebooks and their deep dives (03a_...)
CORE = [path for path in NOTEBOOKS if path.name[2] == "_"]
COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.sqlite3", "*.sqlite3-*", ".ipynb_checkpoints")
MARKER = "KIT_NOTEBOOK_RUN"
EXECUTED_DIR = os.environ.get("KIT_EXECUTED_NOTEBOOKS")  # optional: keep executed copies to read


def processes_with(marker_value):
    """(pid, command line) of every process whose environment carries the run's marker."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if process.pid == os.getpid():
            continue
        try:
            if process.environ().get(MARKER) == marker_value:
                found.append((process.pid, " ".join(process.info["cmdline"] or [])[:200]))
        except (psutil.NoSuchProcess, psutil.AccessDenied):  # gone meanwhile, or not ours to read
            continue
    return found


def process_table():
    """{pid: (parent pid, start time, command)} of every process (psutil: Linux and macOS alike)."""
    return {p.pid: (p.info["ppid"], p.info["create_time"], " ".join(p.info["cmdline"] or []) or p.info["name"])
            for p in psutil.process_iter(["ppid", "create_time", "cmdline", "name"])}


class ProcessWatch:
    """Remembers every process the kernel started (its descendants, seen after each cell) plus any
    process carrying the run's marker in its environment. redis-server rewrites its own environment
    area (process title), so the marker alone would miss it; the tree alone would miss orphans."""

    def __init__(self, marker_value):
        self.marker_value = marker_value
        self.seen = {}  # pid -> (start time, command)
        self.kernel_pid = None

    def snapshot(self, **_hook_arguments):
        if self.kernel_pid is None:
            return
        table = process_table()
        pending = [self.kernel_pid]
        while pending:
            pid = pending.pop()
            if pid in table:
                self.seen[pid] = table[pid][1:]
                pending += [child for child, (parent, _start, _command) in table.items() if parent == pid]

    def running(self):
        table = process_table()
        alive = [(pid, command) for pid, (start, command) in self.seen.items()
                 if pid in table and table[pid][1] == start]
        return sorted(set(alive) | set(processes_with(self.marker_value)))

    def wait_until_gone(self, timeout=10):
        """Waits for the kernel's atexit handlers to stop what the notebook started, then SIGKILLs
        whatever is still running; returns what had to be killed."""
        deadline = time.monotonic() + timeout
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.2)
        left_behind = self.running()
        for pid, _command in left_behind:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return left_behind


def watch_kernel(client, watch):
    if watch.kernel_pid is None and client.km is not None:
        watch.kernel_pid = client.km.provisioner.pid


def differing_files(left, right):
    """Relative paths that differ between two project trees (caches and databases ignored)."""
    def walk(comparison, prefix=""):
        ignored = {"__pycache__", ".ipynb_checkpoints"}
        out = [prefix + name for name in comparison.left_only + comparison.right_only + comparison.diff_files
               if name not in ignored and not name.endswith((".pyc", ".sqlite3"))]
        for name, sub in comparison.subdirs.items():
            if name not in ignored:
                out += walk(sub, f"{prefix}{name}/")
        return out

    return walk(filecmp.dircmp(left, right, ignore=[]))


def test_python3_kernel_is_this_venv():
    """nbclient starts kernel "python3"; its command must run this interpreter, not another Python."""
    manager = KernelManager(kernel_name="python3")
    command = manager.format_kernel_cmd()
    assert Path(command[0]).resolve() == Path(sys.executable).resolve(), command


def test_there_are_the_contracts_five_notebooks():
    assert [path.name for path in CORE] == [
        "01_echo_consumer.ipynb", "02_channel_layers_and_groups.ipynb", "03_http_to_websocket_bridge.ipynb",
        "04_commands_presence_and_failure.ipynb", "05_scaling_out_and_measuring.ipynb"]


@pytest.mark.notebook
@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch, capsys):
    committed = path.read_bytes()
    project_copy = tmp_path / "project"
    shutil.copytree(PROJECT_DIR, project_copy, ignore=COPY_IGNORE)
    snapshot = tmp_path / "project-before"  # what the cells must reproduce (project/ may change meanwhile)
    shutil.copytree(project_copy, snapshot)
    marker = uuid.uuid4().hex
    monkeypatch.setenv("KIT_PROJECT_DIR", str(project_copy))
    monkeypatch.setenv(MARKER, marker)

    notebook = nbformat.read(path, as_version=4)
    watch = ProcessWatch(marker)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=False,
                            shutdown_kernel="graceful", resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
                            on_cell_executed=watch.snapshot, on_cell_start=lambda **_: watch_kernel(client, watch))
    started = time.perf_counter()
    try:
        client.execute()
    finally:
        elapsed = time.perf_counter() - started
        with capsys.disabled():
            print(f"\n[notebook] {path.name}: {elapsed:.1f} s", flush=True)
        if EXECUTED_DIR:
            Path(EXECUTED_DIR).mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, Path(EXECUTED_DIR) / path.name)
        left_behind = watch.wait_until_gone()  # also after a failed cell: never leak into the next test

    assert left_behind == [], f"processes started by the notebook were still running: {left_behind}"
    assert path.read_bytes() == committed, "executing the notebook changed the committed .ipynb"
    # A file that grows over the steps (kit.authoring.nbsync) holds an earlier version after this notebook when
    # its last cell is in a later one; every other file must come out exactly as project/ has it.
    finals = final_cells(NOTEBOOKS)
    cells = [(cell_path(cell.source), (path, index) in finals) for index, cell in enumerate(notebook.cells)
             if cell.cell_type == "code" and cell_path(cell.source)]
    grows_later = sorted({relative.removeprefix("project/") for relative, final in cells if not final}
                         - {relative.removeprefix("project/") for relative, final in cells if final})
    assert differing_files(snapshot, project_copy) == grows_later, "project cells wrote files that differ from project/"
    for cell in notebook.cells:  # a core notebook's self-check passes on the reference
        if cell.cell_type == "code" and "self_check(" in cell.source:
            printed = "".join(output.get("text", "") for output in cell.outputs)
            assert "is done" in printed, f"the self-check did not pass:\n{printed[-1500:]}"
    executed = sum(1 for cell in notebook.cells if cell.cell_type == "code" and cell.get("execution_count"))
    assert executed == sum(1 for cell in notebook.cells if cell.cell_type == "code")
    # Project cells were written, not executed: each printed its one-line note. A file's last cell
    # reproduces it ("unchanged"), unless an earlier version of it was written before in this notebook;
    # an earlier version is written over it.
    written_here = set()
    for index, cell in enumerate(notebook.cells):
        relative = cell_path(cell.source) if cell.cell_type == "code" else None
        if relative:
            printed = "".join(output.get("text", "") for output in cell.outputs)
            final = (path, index) in finals and relative not in written_here
            notes = (f"unchanged: {relative}",) if final else (f"wrote: {relative}",)
            assert printed.startswith(notes), f"{relative}: {printed[:200]!r}"
            written_here.add(relative)


def test_process_watch_finds_and_stops_what_is_left():
    marker = uuid.uuid4().hex
    marked = subprocess.Popen(["sleep", "60"], env={**os.environ, MARKER: marker})
    parent = subprocess.Popen(["sh", "-c", "sleep 60 & wait"])  # its child is found through the tree
    try:
        watch = ProcessWatch(marker)
        watch.kernel_pid = parent.pid
        time.sleep(0.3)
        watch.snapshot()
        left_behind = watch.wait_until_gone(timeout=0.5)
        commands = [command for _pid, command in left_behind]
        assert marked.pid in [pid for pid, _command in left_behind]
        assert parent.pid in [pid for pid, _command in left_behind]
        assert commands.count("sleep 60") == 2, commands
        assert marked.wait(5) == -signal.SIGKILL
    finally:
        for process in (marked, parent):
            process.kill()
            process.wait(5)


@pytest.mark.notebook
def test_kernel_exit_stops_the_server_and_redis_it_started(tmp_path, monkeypatch):
    """A notebook that never calls server.stop(): shutting its kernel down must stop daphne and
    any Redis started for it (kit.notebook's atexit handler)."""
    marker = uuid.uuid4().hex
    monkeypatch.setenv(MARKER, marker)
    monkeypatch.delenv("REDIS_URL", raising=False)  # (a Redis on localhost:6379 would be found, not started)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        'import sys; sys.path.insert(0, "..")\n'
        "from kit.notebook import start_project\n"
        "server = start_project()\n"
        "import httpx; print(httpx.get(server.http_url + '/api/', timeout=5).status_code)")])
    watch = ProcessWatch(marker)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS_DIR)}})
    with client.setup_kernel():
        watch.kernel_pid = client.km.provisioner.pid
        client.execute_cell(notebook.cells[0], 0)
        watch.snapshot()
        running = [command for _pid, command in watch.running()]
        assert any("kit.serving.daphne_limited" in command for command in running), running  # daphne, via kit/serving/daphne_limited.py
        if not redis_service.ping(redis_service.DEFAULT_URL, timeout=0.3):  # else it was found, not started
            assert any("redis-server" in command for command in running), running
    assert "404" in notebook.cells[0].outputs[-1]["text"]
    assert watch.wait_until_gone() == []
