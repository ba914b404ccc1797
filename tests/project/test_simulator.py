"""The device simulator: its pieces, and the `simulate_devices` command line that `make demo`,
the dashboard and notebook 04 rely on (devices created in the project's database, one line per
event, commands answered with the contract's reply, a clean exit on SIGTERM)."""

import signal
import subprocess
import sys
import time

import httpx
import pytest

from live_support import own_redis, start_server  # also puts project/ on sys.path

from devices.simulator import backoff_delay, reply_frame, ws_base_url  # noqa: E402


def test_backoff_grows_is_capped_and_jittered():
    delays = [[backoff_delay(attempt, base=0.5, cap=10) for attempt in range(8)] for _ in range(50)]
    for run in delays:
        assert 0.25 <= run[0] <= 0.5 and all(delay <= 10 for delay in run)
        assert 5 <= run[7] <= 10  # 0.5 * 2**7 = 64, capped at 10, jitter 50-100 %
    assert len({run[3] for run in delays}) > 1  # jitter: devices do not retry in lockstep


def test_urls_and_reply_frame():
    assert ws_base_url("http://127.0.0.1:8000/") == "ws://127.0.0.1:8000"
    assert ws_base_url("https://example.org") == "wss://example.org"
    assert ws_base_url("ws://127.0.0.1:9") == "ws://127.0.0.1:9"
    assert reply_frame("sim-1", {"type": "command", "id": "x", "data": [1]}) == {
        "type": "reply",
        "id": "x",
        "data": {"ok": True, "device": "sim-1", "echo": [1]},
    }


@pytest.fixture(scope="module")
def server():
    redis = own_redis()
    live = None
    try:
        live = start_server(redis.url)
        yield live
    finally:
        if live:
            live.stop()
        redis.stop()


def wait_for_lines(log_path, expected, prefix=False, timeout=20):
    """Until every expected line is in the log (whole lines, or line starts with prefix=True)."""
    deadline = time.monotonic() + timeout

    def missing():
        lines = log_path.read_text().splitlines()
        return {e for e in expected if not any(line.startswith(e) if prefix else line == e for line in lines)}

    while missing() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not missing(), f"not logged within {timeout} s: {missing()}\n{log_path.read_text()}"


def test_simulate_devices_command_line(server, tmp_path):
    key = server.create_api_key("cli")
    log_path = tmp_path / "simulator.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "simulate_devices",
                "--url",
                server.http_url,
                "--count",
                "2",
                "--prefix",
                "cli",
                "--reply-delay",
                "0.1",
            ],
            cwd=server.project_dir,
            env=server.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        api = httpx.Client(base_url=server.http_url, headers={"Authorization": f"Bearer {key}"}, timeout=15)
        wait_for_lines(log_path, {"cli-1: connected", "cli-2: connected"})
        response = api.post("/api/devices/cli-2/commands/", json={"data": {"x": 1}})
        assert response.status_code == 200, response.text
        assert response.json()["reply"] == {"ok": True, "device": "cli-2", "echo": {"x": 1}}
        assert api.post("/api/devices/cli-1/messages/", json={"data": "hi"}).status_code == 202
        listing = {row["id"]: row["online"] for row in api.get("/api/devices/").json()}
        assert listing["cli-1"] and listing["cli-2"]  # created in the project's database by the command
        wait_for_lines(log_path, {f"cli-2: command {response.json()['id']} answered"})
        wait_for_lines(log_path, {"cli-1: message"}, prefix=True)  # the push reached the device
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
    lines = log_path.read_text().splitlines()
    for expected in (
        "cli-1: connected",
        "cli-2: connected",
        f"cli-2: command {response.json()['id']} answered",
        "cli-1: disconnected (code 1000, normal)",
        "stopped",
    ):
        assert expected in lines, lines
    assert any(line.startswith("cli-1: message ") and '"hi"' in line for line in lines), lines


def test_simulate_devices_refuses_bad_arguments(server):
    result = subprocess.run(
        [sys.executable, "manage.py", "simulate_devices", "--count", "0"],
        cwd=server.project_dir,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "--count" in result.stderr
