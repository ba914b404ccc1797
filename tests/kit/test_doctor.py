"""`make doctor` (kit/doctor.py): OK on a ready machine, and a FAIL with its fix for each thing missing."""

import subprocess
import sys

import psutil

from kit import REPO_DIR, doctor


def test_a_ready_machine_passes_every_check_and_exits_0():
    run = subprocess.run([sys.executable, "-m", "kit.doctor"], cwd=REPO_DIR, capture_output=True, text=True, timeout=90)
    assert run.returncode == 0, run.stdout + run.stderr
    for requirement in (
        "Python",
        "venv module",
        "django",
        "channels-redis",
        "Redis",
        "pytest",
        "Chromium",
        "free ports",
    ):
        assert f"OK    {requirement}" in run.stdout
    assert "FAIL" not in run.stdout


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
    assert not chromium.ok and "apt install chromium" in chromium.fix


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
