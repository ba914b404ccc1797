"""The sandbox a submission's processes run in (kit.grading.sandbox), checked with real processes:
what they can read and write, their environment, their limits, and that none outlives its run."""

import os
import subprocess
import sys

import psutil
import pytest

from kit import REPO_DIR
from kit.grading import sandbox

HIDDEN_TEST = REPO_DIR / "tests" / "grading" / "test_step2_groups_hidden.py"


@pytest.fixture
def box():
    with sandbox.slot() as number:
        made = sandbox.Sandbox.create(number)
        yield made
        made.remove()


def run_inside(box, code, env=None):
    """Runs python -c code the way LiveServer runs manage.py: through box.launcher, cwd in the area."""
    command, clean = box.launcher([sys.executable, "-c", code], {**os.environ, **(env or {})})
    return subprocess.run(command, env=clean, cwd=box.area, capture_output=True, text=True, timeout=60)


def test_this_machine_has_a_real_sandbox(box):
    """bubblewrap is installed here (.ci/run installs it): the tests below must exercise it, not the fallback."""
    assert box.mode in ("bwrap+user", "bwrap"), f"bubblewrap does not work here (mode {box.mode})"
    if os.geteuid() == 0:
        assert box.mode == "bwrap+user" and box.uid > 0


def test_the_hidden_tests_are_out_of_sight_and_the_kit_is_read_only(box):
    probe = run_inside(
        box,
        f"""
import pathlib
try:
    print('READ', len(pathlib.Path({str(HIDDEN_TEST)!r}).read_text()))
except OSError as exc:
    print('NOREAD', type(exc).__name__)
try:
    open({str(REPO_DIR / "kit" / "grading" / "pytest_plugin.py")!r}, 'a').close()  # opened for writing, left unchanged
    print('WRITABLE')
except OSError as exc:
    print('NOWRITE', type(exc).__name__)
print('KIT', pathlib.Path({str(REPO_DIR / "kit" / "grading" / "grade.py")!r}).is_file())
pathlib.Path('own-file').write_text('the area is writable')
""",
    )
    assert probe.returncode == 0, probe.stderr
    assert "NOREAD" in probe.stdout and "NOWRITE" in probe.stdout, probe.stdout
    assert "KIT True" in probe.stdout, "the kit (the server's harness) must stay readable"
    assert os.path.isfile(os.path.join(box.area, "own-file")), "the submission's own area is writable"


def test_the_environment_is_stripped_of_the_graders_secrets(box):
    probe = run_inside(
        box,
        "import os; print(sorted(os.environ)); print(os.environ['DJANGO_SECRET_KEY'])",
        env={
            "GRADER_API_TOKEN": "s3cret",
            "AWS_SECRET_ACCESS_KEY": "s3cret",
            "DJANGO_SECRET_KEY": "the-graders-own",
            "DJANGO_DB_PATH": "/x.sqlite3",
            "KIT_GRADING_REPORT": "/grader/report.jsonl",
        },
    )
    assert probe.returncode == 0, probe.stderr
    assert "s3cret" not in probe.stdout and "the-graders-own" not in probe.stdout
    assert "GRADER_API_TOKEN" not in probe.stdout and "KIT_GRADING_REPORT" not in probe.stdout
    assert "DJANGO_DB_PATH" in probe.stdout, "what the project needs is kept"


def test_limits_apply_and_a_10_gib_allocation_fails(box):
    probe = run_inside(
        box,
        """
import resource
print('LIMITS', resource.getrlimit(resource.RLIMIT_AS)[0], resource.getrlimit(resource.RLIMIT_NOFILE)[0],
      resource.getrlimit(resource.RLIMIT_CPU)[0], resource.getrlimit(resource.RLIMIT_NPROC)[0])
try:
    bytearray(10 * 2**30)
    print('ALLOCATED')
except MemoryError:
    print('MEMORYERROR')
""",
    )
    assert probe.returncode == 0, probe.stderr
    words = probe.stdout.split()
    memory, files, cpu, processes = (int(value) for value in words[1:5])
    assert (memory, files, cpu) == (box.limits.memory, box.limits.open_files, box.limits.cpu_seconds)
    assert processes >= box.limits.processes and processes != resource_unlimited()
    assert "MEMORYERROR" in probe.stdout


def resource_unlimited():
    import resource

    return resource.RLIM_INFINITY


def test_nothing_started_inside_outlives_the_run(box):
    """A child that detaches (setsid) and sleeps is gone when its starter ends (the pid namespace)."""
    marker = f"kit-sandbox-orphan-{os.getpid()}"
    probe = run_inside(
        box,
        f"""
import os, sys
if os.fork() == 0:
    os.setsid()
    os.execv('/bin/sleep', ['/bin/sleep', '300', {marker!r}][:2])
print('STARTED')
""",
    )
    assert "STARTED" in probe.stdout, probe.stderr
    if box.mode == "user":  # no pid namespace: the grader's cleanup() kills the slot user's processes
        box.cleanup()
    left = [
        process
        for process in psutil.process_iter(["cmdline", "uids"])
        if (process.info["cmdline"] or [])[:2] == ["/bin/sleep", "300"]
        and (box.uid < 0 or process.info["uids"].real == box.uid)
    ]
    assert left == [], f"left running: {left}"


def test_without_any_sandbox_the_warning_is_loud_and_said_once(capsys, monkeypatch):
    monkeypatch.setattr(sandbox, "_warned", False)
    sandbox.warn_if_unsandboxed("none")
    sandbox.warn_if_unsandboxed("none")
    printed = capsys.readouterr().err
    assert printed.count("WARNING: no sandbox") == 1 and "bubblewrap" in printed
