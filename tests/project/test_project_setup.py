"""The project as a newcomer meets it: runserver without Redis, settings, compose, pins."""

import os
import re
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from kit import PROJECT_DIR, REPO_DIR
from kit.serving.ports import free_port


def project_env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    return {**env, "DJANGO_DB_PATH": str(tmp_path / "db.sqlite3"), "PYTHONUNBUFFERED": "1", **extra}


def test_runserver_without_redis_says_in_memory_and_serves_http_and_websocket(tmp_path):
    env = project_env(tmp_path)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=PROJECT_DIR,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline, page = time.monotonic() + 30, None
        while time.monotonic() < deadline and page is None:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/chat/lobby/", timeout=1)
            except httpx.HTTPError:
                time.sleep(0.2)
        assert page is not None and page.status_code == 200 and "/ws/chat/" in page.text

        import asyncio

        import websockets

        async def echo():
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/echo/", open_timeout=5) as sock:
                await sock.send("ping")
                return await asyncio.wait_for(sock.recv(), 5)

        assert asyncio.run(echo()) == "ping"
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=10)
    assert "InMemoryChannelLayer (REDIS_URL is not set). One process only" in output
    assert "ASGI/Daphne" in output or "daphne" in output.lower()


def test_settings_pick_redis_when_redis_url_is_set(tmp_path):
    code = "from django.conf import settings; print(settings.CHANNEL_LAYERS['default']['BACKEND'])"
    env = project_env(tmp_path, REDIS_URL="redis://127.0.0.1:6379/3", DJANGO_SETTINGS_MODULE="mysite.settings")
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.strip() == "mysite.layers.RedisChannelLayer"


def test_migrations_match_the_models(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=PROJECT_DIR,
        env=project_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_requirement_is_pinned():
    for name in ("requirements.txt", "requirements-dev.txt", "requirements-redis.txt"):
        for line in (REPO_DIR / name).read_text().splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-r "):
                assert re.match(r"^[A-Za-z0-9_.\-\[\]]+==[\w.]+$", line), f"{name}: {line!r} is not pinned"


def compose_command():
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def compose_config(command, *options):
    """`docker compose config`'s output for the repository's file (asserted valid)."""
    result = subprocess.run(
        [*command, "-f", str(REPO_DIR / "docker-compose.yml"), *options, "config"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_DIR,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_docker_compose_file_is_valid_with_a_current_redis():
    command = compose_command()
    if command is None:
        message = "neither `docker compose` nor `docker-compose` found: install one to validate docker-compose.yml"
        if os.environ.get("CI"):  # .ci/run installs docker-compose, so in CI this always runs
            pytest.fail(message)
        pytest.skip(message)
    config = compose_config(command)
    for service in ("redis:", "web:", "lab:"):
        assert re.search(rf"^\s+{service}", config, re.M), f"service {service} missing"
    major = int(re.search(r"image:\s*redis:(\d+)", config).group(1))
    assert major >= 5, "channels-redis needs Redis 5.0 or newer"


def test_docker_compose_shards_profile_serves_on_three_redis_servers():
    """`docker compose --profile shards up`: web-shards's REDIS_URL lists the profile's three Redis servers."""
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` found")
    result = subprocess.run(
        [*command, "-f", str(REPO_DIR / "docker-compose.yml"), "--profile", "shards", "config"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_DIR,
    )
    assert result.returncode == 0, result.stderr
    url = re.search(r"^\s+REDIS_URL: (redis://shard1:.*)$", result.stdout, re.M).group(1)
    assert url == "redis://shard1:6379/0,redis://shard2:6379/0,redis://shard3:6379/0"
    for service in ("shard1:", "shard2:", "shard3:", "web-shards:"):
        assert re.search(rf"^\s+{service}", result.stdout, re.M), f"service {service} missing"


def test_docker_compose_sentinel_profile_is_valid():
    """The Sentinel profile (issue 23): a primary, a replica, three Sentinels and the fast variant on them,
    with a REDIS_URL the project's parser reads (Sentinels resolving host names need Redis 6.2+)."""
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` found")
    config = compose_config(command, "--profile", "sentinel")
    for service in ("redis-primary", "redis-replica", "sentinel-1", "sentinel-2", "sentinel-3", "web-sentinel"):
        assert re.search(rf"^\s+{service}:", config, re.M), f"service {service} missing"
    assert all(int(major) >= 7 for major in re.findall(r"image:\s*redis:(\d+)", config))
    url = re.search(r"REDIS_URL:\s*(redis\+sentinel://\S+)", config).group(1)
    from kit.layers import hosts_from_url

    (host,) = hosts_from_url(url)
    assert host["master_name"] == "kit1" and len(host["sentinels"]) == 3
