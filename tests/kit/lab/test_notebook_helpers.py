"""kit.notebook's helpers for re-runnable cells: tree() marks what a step added, and a setup cell
run twice (start_project) replaces its server instead of leaking it."""

import shutil

import pytest

from kit import PROJECT_DIR, notebook


@pytest.fixture
def project_copy(tmp_path, monkeypatch):
    copy = tmp_path / "project"
    shutil.copytree(PROJECT_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "db.sqlite3*"))
    monkeypatch.setenv("KIT_PROJECT_DIR", str(copy))
    return copy


def test_tree_marks_the_named_paths_and_what_appeared_since_the_last_call(project_copy, capsys):
    notebook.tree(new=["project/chat/consumers.py"])
    first = capsys.readouterr().out.splitlines()
    assert [line for line in first if "<- new" in line] == ["│   ├── consumers.py   <- new"]
    (project_copy / "chat" / "extra.py").write_text("")
    notebook.tree()
    marked = [line.strip("│├└─ ") for line in capsys.readouterr().out.splitlines() if "<- new" in line]
    assert marked == ["extra.py   <- new"]


def test_start_project_run_twice_stops_the_previous_server_of_that_name(project_copy, redis_url, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", redis_url)
    first = notebook.start_project()
    try:
        second = notebook.start_project()
        assert first.process.poll() is not None, "the first server still runs"
        assert second.process.poll() is None
        assert f"stopped the previous 'server' ({first.http_url})" in capsys.readouterr().out
        other = notebook.start_project(name="second-server")
        assert second.process.poll() is None and other.process.poll() is None  # another name: both run
    finally:
        notebook.stop_project()
    assert all(server.process.poll() is not None for server in (first, second, other))
