"""The systems the bench compares, each served by its own server process on 127.0.0.1.

kit:         the project in project/ as served (kit/fast: the fast variant, uvicorn); kit-plain: as
             LiveServer serves step 3's design (Django views, RedisChannelLayer, daphne)
seed:        the seed tutorial's pattern (kit/bench/seed_tutorial: sync consumer, async_to_sync view), daphne
floor:       a bare ASGI app pushing straight to its sockets (kit/bench/floor.py), daphne
floor-redis: a bare ASGI app pushing through Redis pub/sub (kit/bench/floor_redis.py), uvicorn
Each knows its routes, so the measurements in kit.bench.measure are written once for all.
"""

import json
import os
import uuid
from pathlib import Path

from kit import PROJECT_DIR, REPO_DIR
from kit.bench.servers import ServerProcess
from kit.fast import STEPS as FAST_STEPS
from kit.serving.live_server import LiveServer


class System:
    name = label = ""
    redis_url = None  # the Redis whose CPU the bench counts during this system's measurements
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
        """Where the bench's HTTP requests go."""
        return self.server.port

    @property
    def ws_port(self):
        """Where the bench's devices connect."""
        return self.port

    def stop(self):
        self.server.stop()

    def log_tail(self, lines=15):
        """The last lines of the server's log, to explain a refusal."""
        path = getattr(self.server, "log_path", None)
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path else "(no log)"
        except OSError:
            return "(no log)"


class KitSystem(System):
    name, label, supports_command = "kit", "kit (project/)", True
    push_path = "/api/devices/{}/messages/"
    broadcast_path = "/api/broadcast/"
    command_path = "/api/devices/{}/commands/"
    device_path = "/ws/devices/{}/"

    def __init__(
        self,
        redis_url,
        project_dir=PROJECT_DIR,
        hops=False,
        lean=False,
        fast=None,
        server="daphne",
        name=None,
        same_database_as=None,
    ):
        """The project as LiveServer serves it (step 3's design, daphne), or:
        fast: the fast variant's changes to switch on (kit/fast/__init__.py: a list, or "all"), served by
        `server` (daphne | uvicorn) from kit.fast.asgi; hops=True serves kit.bench.hops (the project with
        a stopwatch on each hop); lean=True runs it with kit.bench.lean_settings (no Django middleware).
        same_database_as: a KitSystem started before this one, whose database, key and tokens this one
        uses (no migrate, no new credentials: a second or two less per variant in the notebook)."""
        env = {"PYTHONPATH": os.pathsep.join([str(Path(project_dir).resolve()), str(REPO_DIR)])}
        if lean:
            env["DJANGO_SETTINGS_MODULE"] = "kit.bench.lean_settings"
            self.name, self.label = "kit-lean", "kit without Django middleware (kit/bench/lean_settings.py)"
        if fast is not None:
            changes = list(FAST_STEPS) if fast == "all" else list(fast)
            env.update(DJANGO_SETTINGS_MODULE="kit.fast.settings", KIT_FAST=",".join(changes))
            self.name = name or f"kit:{'+'.join(changes) or 'none'}:{server}"
            self.label = f"kit, fast variant ({', '.join(changes) or 'no change'}; {server})"
        elif server != "daphne":
            raise ValueError("the project as LiveServer serves it runs on daphne; pass fast= for another server")
        self.name = name or self.name
        self.source = same_database_as
        self.live = LiveServer(
            project_dir=project_dir,
            redis_url=redis_url,
            env=env,
            layer_prefix=f"bench{uuid.uuid4().hex[:8]}",
            db_path=same_database_as.live.db_path if same_database_as else None,
        )
        self.server, self.redis_url = self.live, redis_url
        if fast is not None:
            self.server = ServerProcess(
                "kit.fast.asgi:application", self.live.env, server=server, cwd=self.live.project_dir
            )
        if hops:
            self.name += "-hops"
            self.label += ", each hop timed (kit/bench/hops.py)"
            self.server = ServerProcess("kit.bench.hops:application", self.live.env)
        self.tokens = []

    def start(self, devices):
        if self.source is not None:
            self.live.migrated = True  # the source's database: migrated, credentials issued
            self.server.start()
            self.api_headers, self.tokens = self.source.api_headers, self.source.tokens
            return self
        if self.server is not self.live:
            self.live.manage("migrate", "--noinput")  # LiveServer.start does it itself
        self.server.start()
        key = self.live.create_api_key("bench")
        self.api_headers = {"Authorization": f"Bearer {key}"}
        # One management process for all devices: create_device per device would take a second each.
        script = (
            "import json; from django.db import transaction; from devices.models import Device\n"
            "with transaction.atomic(): "
            f"print(json.dumps([Device.objects.issue('bench-%d' % i)[1] for i in range({devices})]))"
        )
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
        env = {
            "DJANGO_SETTINGS_MODULE": "kit.bench.seed_tutorial.settings",
            "BENCH_LAYER": layer,
            "REDIS_URL": redis_url or "",
            "CHANNEL_LAYER_PREFIX": f"seed{uuid.uuid4().hex[:8]}",
        }
        self.server, self.redis_url = ServerProcess("kit.bench.seed_tutorial.asgi:application", env), redis_url

    def start(self, devices):
        self.server.start()
        return self


class FloorSystem(System):
    name, supports_command = "floor", True
    push_path = "/push/{}/"
    broadcast_path = "/broadcast/"
    command_path = "/command/{}/"
    device_path = "/ws/devices/{}/"
    app, what, default_server = "kit.bench.floor:application", "bare ASGI", "daphne"

    def __init__(self, redis_url=None, server=None, name=None):
        """server: daphne | uvicorn (default: the one this floor is compared on)."""
        server = server or self.default_server
        self.name = name or (self.name if server == self.default_server else f"{self.name}:{server}")
        self.label = f"{self.name} ({self.what}, {server})"
        self.redis_url = redis_url
        env = {"REDIS_URL": redis_url or "", "FLOOR_PREFIX": f"floor{uuid.uuid4().hex[:8]}"}
        self.server = ServerProcess(self.app, env, server=server)

    def start(self, devices):
        self.server.start()
        return self


class FloorRedisSystem(FloorSystem):
    """The least a cross-process design pays: each push is one PUBLISH, each process one subscriber."""

    name = "floor-redis"
    app, what, default_server = "kit.bench.floor_redis:application", "bare ASGI through Redis pub/sub", "uvicorn"

    def __init__(self, redis_url, server=None, name=None):
        if not redis_url:
            raise ValueError("the Redis floor needs a Redis URL")
        super().__init__(redis_url, server, name)


class TwoProcesses(System):
    """`system` served by two server processes on one Redis (and, for the kit, one database): the
    HTTP requests go to the second, the devices connect to the first, so every push and command
    crosses from one process to the other through Redis. Server CPU and memory are the first's."""

    def __init__(self, system):
        self.base, self.name, self.label = (
            system,
            f"{system.name}@2",
            f"{system.label}, requests sent to a second process",
        )
        self.redis_url, self.supports_command = system.redis_url, system.supports_command
        for path in ("push_path", "broadcast_path", "command_path", "device_path"):
            setattr(self, path, getattr(system, path, None))
        first = system.server
        self.second = ServerProcess(first.app, first.env, server=first.server, cwd=first.cwd)

    def start(self, devices):
        self.base.start(devices)
        self.second.start()
        self.api_headers = self.base.api_headers
        return self

    def device_id(self, index):
        return self.base.device_id(index)

    def device_headers(self, index):
        return self.base.device_headers(index)

    @property
    def server(self):
        return self.base.server

    @property
    def port(self):
        return self.second.port

    @property
    def ws_port(self):
        return self.base.port

    def stop(self):
        self.second.stop()
        self.base.stop()
