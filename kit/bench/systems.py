"""The systems the bench compares, each served by its own daphne process on 127.0.0.1.

kit:   the project in project/ (async consumers, auth, DB presence, RedisChannelLayer)
seed:  the seed tutorial's pattern (kit/bench/seed_tutorial: sync consumer, async_to_sync view)
floor: a bare ASGI app pushing straight to its sockets (kit/bench/floor.py)
Each knows its routes, so the measurements in kit.bench.measure are written once for all.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from kit import PROJECT_DIR, REPO_DIR
from kit.live_server import LiveServer, _die_with_parent, free_port, stop_process_group

START_TIMEOUT = 30


class DaphneProcess:
    """`python -m daphne APP` from the repository root, in its own session; stopped by its group."""

    def __init__(self, app, env, cwd=REPO_DIR):
        self.app, self.cwd, self.env = app, cwd, {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        self.log_path = Path(tempfile.mkdtemp(prefix="kit-bench-")) / "server.log"
        self.process = self.port = None

    def start(self):
        self.port = free_port()
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), self.app]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.app} did not start; its log:\n{self.log_path.read_text(errors='replace')[-2000:]}")

    def stop(self):
        stop_process_group(self.process)


class System:
    name = label = ""
    supports_command = False
    api_headers = {}

    def device_id(self, index):
        return f"bench-{index}"

    def device_headers(self, index):
        return None

    @property
    def pid(self):
        return self.server.process.pid

    @property
    def port(self):
        return self.server.port

    def stop(self):
        self.server.stop()


class KitSystem(System):
    name, label, supports_command = "kit", "kit (project/)", True
    push_path = "/api/devices/{}/messages/"
    broadcast_path = "/api/broadcast/"
    command_path = "/api/devices/{}/commands/"
    device_path = "/ws/devices/{}/"

    def __init__(self, redis_url, project_dir=PROJECT_DIR, hops=False, lean=False):
        """hops=True serves kit.bench.hops (the project with a stopwatch on each hop) instead;
        lean=True runs it with kit.bench.lean_settings (no Django middleware)."""
        env = {"PYTHONPATH": os.pathsep.join([str(Path(project_dir).resolve()), str(REPO_DIR)])}
        if lean:
            env["DJANGO_SETTINGS_MODULE"] = "kit.bench.lean_settings"
            self.name, self.label = "kit-lean", "kit without Django middleware (kit/bench/lean_settings.py)"
        self.live = LiveServer(project_dir=project_dir, redis_url=redis_url, env=env,
                               layer_prefix=f"bench{uuid.uuid4().hex[:8]}")
        self.server = self.live
        if hops:
            self.name += "-hops"
            self.label += ", each hop timed (kit/bench/hops.py)"
            self.server = DaphneProcess("kit.bench.hops:application", self.live.env)
        self.tokens = []

    def start(self, devices):
        if self.server is not self.live:
            self.live.manage("migrate", "--noinput")  # LiveServer.start does it itself
        self.server.start()
        key = self.live.manage("create_api_key", "bench").splitlines()[-1].strip()
        self.api_headers = {"Authorization": f"Bearer {key}"}
        # One management process for all devices: create_device per device would take a second each.
        script = ("import json; from django.db import transaction; from devices.models import Device\n"
                  f"with transaction.atomic(): print(json.dumps([Device.objects.issue('bench-%d' % i)[1] for i in range({devices})]))")
        self.tokens = json.loads(self.live.manage("shell", "-c", script).splitlines()[-1])
        return self

    def device_headers(self, index):
        return {"Authorization": f"Bearer {self.tokens[index]}"}


class SeedSystem(System):
    push_path = "/push/{}/"
    broadcast_path = "/broadcast/"

    def __init__(self, redis_url, layer="redis", consumer="sync", name="seed"):
        """layer: redis | pubsub | memory; consumer: sync | async | async-nocleanup."""
        self.name, self.layer, self.consumer = name, layer, consumer
        self.label = f"seed pattern ({consumer} consumer, {layer} layer)"
        self.device_path = "/ws/devices/{}/" if consumer == "sync" else f"/ws/{consumer}/devices/{{}}/"
        env = {"DJANGO_SETTINGS_MODULE": "kit.bench.seed_tutorial.settings", "BENCH_LAYER": layer,
               "REDIS_URL": redis_url or "", "CHANNEL_LAYER_PREFIX": f"seed{uuid.uuid4().hex[:8]}"}
        self.server = DaphneProcess("kit.bench.seed_tutorial.asgi:application", env)

    def start(self, devices):
        self.server.start()
        return self


class FloorSystem(System):
    name, label, supports_command = "floor", "floor (bare ASGI)", True
    push_path = "/push/{}/"
    broadcast_path = "/broadcast/"
    command_path = "/command/{}/"
    device_path = "/ws/devices/{}/"

    def __init__(self, redis_url=None):
        self.server = DaphneProcess("kit.bench.floor:application", {})

    def start(self, devices):
        self.server.start()
        return self
