"""`python manage.py runserver` prints each log line once (Django's and daphne's, not again via root)."""

import os
import subprocess
import sys
import time

import httpx

from kit import PROJECT_DIR
from kit.serving.live_server import stop_process_group
from kit.serving.ports import free_port

START_TIMEOUT = 60


def wait_until_serving(url, process):
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"runserver did not answer {url} within {START_TIMEOUT} s")


def test_runserver_prints_every_log_line_once(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["DJANGO_DB_PATH"] = str(tmp_path / "db.sqlite3")
    log = tmp_path / "runserver.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}"],
            cwd=PROJECT_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            assert wait_until_serving(f"http://127.0.0.1:{port}/chat/", server).status_code == 200
            assert httpx.get(f"http://127.0.0.1:{port}/no-such-page/", timeout=5).status_code == 404
        finally:
            stop_process_group(server)
    lines = log.read_text().splitlines()
    for expected in (
        "Watching for file changes",
        "HTTP GET /chat/ 200",
        "Not Found: /no-such-page/",
        "HTTP GET /no-such-page/ 404",
        "Channel layer: InMemoryChannelLayer",
    ):
        assert len([line for line in lines if expected in line]) == 1, (expected, lines)
