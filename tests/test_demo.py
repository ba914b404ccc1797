"""`make demo` smoke test: started as an instructor would, checked, stopped with Ctrl-C (SIGINT).

The demo must print its URLs and credentials, the URLs must answer, the simulated devices must be
online, and after SIGINT it must exit promptly leaving none of the processes it started.
"""
import os
import re
import signal
import subprocess
import threading
import time

import httpx

from kit import REPO_DIR

READY_TIMEOUT = 90
STOP_TIMEOUT = 30


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead, only not yet reaped
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:  # no /proc (macOS): kill(pid, 0) succeeded, so it is alive
        return True


class OutputReader(threading.Thread):
    """Collects the demo's output in the background, so reading never blocks the test."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream, self.lines = stream, []

    def run(self):
        for line in self.stream:
            self.lines.append(line)

    @property
    def text(self):
        return "".join(self.lines)

    def wait_for(self, marker, timeout):
        deadline = time.monotonic() + timeout
        while marker not in self.text and time.monotonic() < deadline and self.is_alive():
            time.sleep(0.1)
        assert marker in self.text, f"the demo did not print {marker!r} within {timeout} s:\n{self.text}"
        return self.text


def test_make_demo_prints_working_urls_and_ctrl_c_stops_everything():
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # let it find or start its own Redis
    env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen(
        ["make", "--no-print-directory", "-s", "demo", "DEMO_ARGS=--port 0 --devices 2 --exit-after 120"],
        cwd=REPO_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own process group: SIGINT to the group is what Ctrl-C does
    )
    reader = OutputReader(process.stdout)
    reader.start()
    try:
        output = reader.wait_for("(started:", READY_TIMEOUT)
        time.sleep(0.2)  # the rest of that line
        output = reader.text
        base = re.search(r"Devices dashboard\s+(http://127\.0\.0\.1:\d+)/devices/", output).group(1)
        user, password = re.search(r"user (\S+)\s+password (\S+)", output).groups()
        api_key = re.search(r"API key\s+(kit_\S+)", output).group(1)
        pids = [int(pid) for pid in re.findall(r"\b(?:server|simulator|redis) (\d+)", output.split("(started:")[1])]
        assert "sim-1 (online), sim-2 (online)" in output, output

        with httpx.Client(base_url=base, timeout=10) as client:
            assert client.get("/chat/").status_code == 200
            assert client.get("/chat/lobby/").status_code == 200
            assert client.get("/devices/").headers.get("location", "").startswith("/devices/login/")
            login_page = client.get("/devices/login/")
            assert login_page.status_code == 200
            token = client.cookies["csrftoken"]
            signed_in = client.post("/devices/login/", data={"username": user, "password": password,
                                                             "csrfmiddlewaretoken": token, "next": "/devices/"})
            assert signed_in.status_code == 302 and signed_in.headers["location"] == "/devices/", signed_in.text[:300]
            assert "Devices" in client.get("/devices/").text
            listed = client.get("/api/devices/", headers={"Authorization": f"Bearer {api_key}"}).json()
            assert {d["id"]: d["online"] for d in listed} == {"sim-1": True, "sim-2": True, "lab-thermostat": False}
    finally:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in the terminal
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError(f"the demo did not stop within {STOP_TIMEOUT} s after Ctrl-C")
        reader.join(5)
    assert "Stopped everything the demo started." in reader.text, reader.text
    assert len(pids) >= 2, output  # server and simulator at least (Redis if it started one)
    deadline = time.monotonic() + 5
    while any(map(pid_alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if pid_alive(pid)], f"left running: {pids}"
    try:
        httpx.get(base + "/chat/", timeout=2)
        raise AssertionError("the demo's server still answers after Ctrl-C")
    except httpx.TransportError:
        pass
