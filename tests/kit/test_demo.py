"""`make demo` smoke tests: started as an instructor would, checked, stopped with Ctrl-C (SIGINT).

The demo must print its URLs and credentials, the URLs must answer, the simulated devices must be
online, and after SIGINT it must exit promptly leaving none of the processes it started. When its
server dies, it says so and keeps a copy of the logs.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import redis as redis_py

from kit import REPO_DIR
from kit.serving import redis_service

READY_TIMEOUT = 90
STOP_TIMEOUT = 30
STARTED_LINE = re.compile(r"^\(started: (.*)\)$", re.MULTILINE)  # the banner's last line, complete


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

    def wait_for(self, pattern, timeout):
        """The first match of pattern (a regex) in the output, once it is there."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.text) and time.monotonic() < deadline and self.is_alive():
            time.sleep(0.1)
        found = re.search(pattern, self.text)
        assert found, f"the demo did not print {pattern!r} within {timeout} s:\n{self.text}"
        return found


def start_demo(*extra, redis_url=None):
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # let it find or start its own Redis
    if redis_url:
        env["REDIS_URL"] = redis_url
    env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen(
        [
            "make",
            "--no-print-directory",
            "-s",
            "demo",
            "DEMO_ARGS=--port 0 --devices 2 --exit-after 120 " + " ".join(extra),
        ],
        cwd=REPO_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: SIGINT to the group is what Ctrl-C does
    )
    reader = OutputReader(process.stdout)
    reader.start()
    started = reader.wait_for(STARTED_LINE, READY_TIMEOUT)
    pids = {name: int(pid) for name, pid in re.findall(r"\b(server|simulator|redis) (\d+)", started.group(1))}
    return process, reader, pids


def stop_demo(process, reader, signum=signal.SIGINT):
    if process.poll() is None:
        os.killpg(process.pid, signum)  # Ctrl-C in the terminal
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise AssertionError(f"the demo did not stop within {STOP_TIMEOUT} s") from None
    finally:
        reader.join(5)


def still_running(pids):
    """The processes among pids that have not exited within a few seconds (zombies count as gone)."""
    processes = []
    for pid in pids:
        try:
            processes.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=5)
    return [p.pid for p in alive if p.status() != psutil.STATUS_ZOMBIE]


def run_sourced(env_file, command):
    """`command` (python's arguments) run from project/ in a clean shell that sourced the demo's env file."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "CHANNEL_", "DJANGO_", "KIT_"))}
    return subprocess.run(
        ["bash", "-c", f"source {env_file} && cd project && {sys.executable} {command}"],
        cwd=REPO_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_demo_prints_working_urls_and_ctrl_c_stops_everything():
    process, reader, pids = start_demo()
    try:
        output = reader.text
        base = re.search(r"Devices dashboard\s+(http://127\.0\.0\.1:\d+)/devices/", output).group(1)
        user, password = re.search(r"user (\S+)\s+password (\S+)", output).groups()
        api_key = re.search(r"API key\s+(kit_\S+)", output).group(1)
        assert "sim-1 (online), sim-2 (online)" in output, output
        # What the bench measures best: the fast variant (kit/fast/), uvicorn with the kit's limits.
        assert "kit.fast.serve" in psutil.Process(pids["server"]).cmdline()

        with httpx.Client(base_url=base, timeout=10) as client:
            assert client.get("/chat/").status_code == 200
            assert client.get("/chat/lobby/").status_code == 200
            assert client.get("/devices/").headers.get("location", "").startswith("/devices/login/")
            login_page = client.get("/devices/login/")
            assert login_page.status_code == 200 and "createsuperuser" not in login_page.text
            token = client.cookies["csrftoken"]
            signed_in = client.post(
                "/devices/login/",
                data={"username": user, "password": password, "csrfmiddlewaretoken": token, "next": "/devices/"},
            )
            assert signed_in.status_code == 302 and signed_in.headers["location"] == "/devices/", signed_in.text[:300]
            assert "Devices" in client.get("/devices/").text
            listed = client.get("/api/devices/", headers={"Authorization": f"Bearer {api_key}"}).json()
            assert {d["id"]: d["online"] for d in listed} == {"sim-1": True, "sim-2": True, "lab-thermostat": False}
    finally:
        stop_demo(process, reader)
    assert "Stopped everything the demo started." in reader.text, reader.text
    assert "logs are kept" not in reader.text  # nothing went wrong: nothing is left behind
    assert {"server", "simulator"} <= set(pids), output  # Redis too if it started one
    assert still_running(pids.values()) == [], f"left running: {pids}"
    try:
        httpx.get(base + "/chat/", timeout=2)
        raise AssertionError("the demo's server still answers after Ctrl-C")
    except httpx.TransportError:
        pass


def test_a_demo_whose_server_dies_says_so_and_keeps_its_logs():
    process, reader, pids = start_demo()
    kept = None
    try:
        psutil.Process(pids["server"]).kill()  # a crash, as an instructor would meet it
        kept = Path(reader.wait_for(r"the logs are kept in (\S+)", 30).group(1))
    finally:
        stop_demo(process, reader)
    try:
        assert "The server stopped" in reader.text and process.returncode != 0, reader.text
        assert (kept / "server.log").read_text().strip() and (kept / "simulator.log").exists()
        assert still_running(pids.values()) == [], f"left running: {pids}"
    finally:
        if kept:
            shutil.rmtree(kept, ignore_errors=True)


def test_another_shell_that_sources_the_demos_env_reaches_its_server(tmp_path):
    """The README's management commands and a plain script, run from project/ with the project's own
    settings in a shell that sourced the file the demo wrote, reach the demo's sockets (issue 22)."""
    env_file = tmp_path / "demo.env"
    process, reader, pids = start_demo("--env-file", str(env_file))
    try:
        output = reader.text
        assert f"source {env_file}" in output and "CHANNEL_LAYER=pubsub" in output
        base = re.search(r"Devices dashboard\s+(http://127\.0\.0\.1:\d+)/devices/", output).group(1)
        api_key = re.search(r"API key\s+(kit_\S+)", output).group(1)
        revoked = run_sourced(env_file, "manage.py revoke_device sim-1")
        assert revoked.returncode == 0 and "Could not reach" not in revoked.stderr, revoked.stderr
        deadline, online = time.monotonic() + 5, {}
        while time.monotonic() < deadline:
            listed = httpx.get(base + "/api/devices/", headers={"Authorization": f"Bearer {api_key}"}, timeout=5)
            online = {d["id"]: d["online"] for d in listed.json()}
            if not online["sim-1"]:
                break
            time.sleep(0.2)
        assert online == {"sim-1": False, "sim-2": True, "lab-thermostat": False}
    finally:
        stop_demo(process, reader)
    assert not env_file.exists()  # it named a server that is gone


def test_make_demo_on_three_shards_serves_commands_and_revocation_and_uses_every_shard(tmp_path):
    """REDIS_URL listing three Redis servers (issue 22): the demo's simulated devices answer commands (a
    direct send back to the API's process, channels_redis#221's case), a shell that sourced the demo's
    env revokes a device, and every shard carries traffic."""
    shards = [redis_service.find_or_start(skip=("REDIS_URL", "localhost:6379")) for _ in range(3)]
    url = ",".join(handle.url for handle in shards)
    env_file = tmp_path / "demo.env"
    try:
        before = [redis_py.Redis.from_url(h.url).info("stats")["total_commands_processed"] for h in shards]
        process, reader, pids = start_demo("--env-file", str(env_file), redis_url=url)
        try:
            output = reader.text
            base = re.search(r"Devices dashboard\s+(http://127\.0\.0\.1:\d+)/devices/", output).group(1)
            api_key = re.search(r"API key\s+(kit_\S+)", output).group(1)
            headers = {"Authorization": f"Bearer {api_key}"}
            assert url in env_file.read_text()
            for device in ("sim-1", "sim-2"):
                for round_ in range(4):
                    answer = httpx.post(
                        f"{base}/api/devices/{device}/commands/", json={"data": round_, "timeout": 5}, headers=headers
                    )
                    assert answer.status_code == 200 and answer.json()["reply"]["echo"] == round_, answer.text
            revoked = run_sourced(env_file, "manage.py revoke_device sim-2")
            assert revoked.returncode == 0, revoked.stderr
            deadline, online = time.monotonic() + 5, {}
            while time.monotonic() < deadline and online.get("sim-2") is not False:
                listed = httpx.get(base + "/api/devices/", headers=headers, timeout=5).json()
                online = {d["id"]: d["online"] for d in listed}
                time.sleep(0.2)
            assert online["sim-1"] is True and online["sim-2"] is False
        finally:
            stop_demo(process, reader)
        after = [redis_py.Redis.from_url(h.url).info("stats")["total_commands_processed"] for h in shards]
        carried = [end - start for start, end in zip(before, after)]
        print(f"\n[demo on 3 shards] commands per shard: {carried}")
        assert all(count > 2 for count in carried), carried  # 1 is the INFO that read "before"
        assert still_running(pids.values()) == [], f"left running: {pids}"
    finally:
        for handle in shards:
            handle.stop()


def test_make_demo_classroom_prints_the_join_url_and_a_qr_code_and_serves_only_its_hosts():
    """--classroom-host 127.0.0.2 stands in for the LAN address: the demo listens there only (loopback)."""
    process, reader, pids = start_demo("--classroom-host", "127.0.0.2")
    try:
        output = reader.text
        join = re.search(r"Students join at\s+(http://127\.0\.0\.2:(\d+)/classroom/join/)", output)
        assert join, output
        assert "\u2580" in output or "\u2584" in output  # the QR code's half blocks
        assert "loopback address" in output and "hotspot" in output
        with httpx.Client(timeout=10) as client:
            assert client.get(join.group(1)).status_code == 200
            projector = client.get(join.group(1).replace("/join/", "/"))
            assert join.group(1) in projector.text and "<svg" in projector.text
            foreign = client.get(join.group(1), headers={"Host": "evil.example"})
            assert foreign.status_code == 400
    finally:
        stop_demo(process, reader)
    assert still_running(pids.values()) == [], f"left running: {pids}"
