"""Helpers for tests against a live project (failure, presence across processes, concurrency, hardening,
properties): a Redis of our own that we really stop, servers, simulated devices, bounded waits."""

import asyncio
import atexit
import contextlib
import functools
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

from kit import PROJECT_DIR
from kit.serving import redis_service
from kit.serving.live_server import LiveServer

if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from devices.simulator import SimulatedDevice  # noqa: E402

# Short presence times so that a killed server's rows go stale within seconds.
FAST_PRESENCE = {"PRESENCE_HEARTBEAT_SECONDS": "0.5", "PRESENCE_TTL_SECONDS": "2"}


def own_redis():
    """A Redis started for this test module only: it can be killed and restarted (same URL)."""
    return redis_service.find_or_start(skip=("REDIS_URL", "localhost:6379"))  # always one of its own


@functools.cache
def migrated_database():
    """The project's database, migrated once per test process (migrating takes seconds on a busy
    machine, copying the file none): servers with a database of their own start from a copy."""
    folder = Path(tempfile.mkdtemp(prefix="kit-db-template-"))
    atexit.register(shutil.rmtree, folder, True)
    with LiveServer(db_path=folder / "db.sqlite3") as migrator:
        migrator.manage("migrate", "--noinput")
    return folder / "db.sqlite3"


def start_server(redis_url, **kwargs):
    server = LiveServer(redis_url=redis_url, env=FAST_PRESENCE, **kwargs)
    if not Path(server.db_path).exists():  # not a database another server already uses
        shutil.copyfile(migrated_database(), server.db_path)
        server.migrated = True
    return server.start()


def api_client(server, key, connections=100):
    """An async API client; beyond `connections` open connections, requests queue in the client."""
    return httpx.AsyncClient(
        base_url=server.http_url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=40,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


def issue_devices(server, count, prefix):
    """Devices created with the project's own command: [(device_id, token)]."""
    return [(f"{prefix}-{n}", server.create_device(f"{prefix}-{n}")) for n in range(1, count + 1)]


@contextlib.asynccontextmanager
async def fleet(server, credentials, log=None, **kwargs):
    """SimulatedDevices running in this event loop; stopped (and awaited) on exit."""
    lines = []
    devices = [
        SimulatedDevice(
            server.http_url, device_id, token, log=log or lines.append, backoff_base=0.2, backoff_cap=2.0, **kwargs
        )
        for device_id, token in credentials
    ]
    tasks = [asyncio.ensure_future(device.run()) for device in devices]
    try:
        await wait_until(lambda: all(device.online.is_set() for device in devices), 15, "devices to connect")
        yield devices
    finally:
        await asyncio.gather(*(device.stop() for device in devices), return_exceptions=True)
        done, pending = await asyncio.wait(tasks, timeout=5)
        for task in pending:
            task.cancel()


async def wait_until(predicate, timeout, what):
    """Polls predicate (sync or async) until true; AssertionError naming `what` after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.1)


async def online_map(api):
    response = await api.get("/api/devices/")
    assert response.status_code == 200, response.text
    return {row["id"]: row["online"] for row in response.json()}


async def none_online(api, credentials):
    """True when GET /api/devices/ shows none of these devices online."""
    online = await online_map(api)
    return not any(online[device_id] for device_id, _ in credentials)


def assert_no_traceback(server):
    log = server.log_path.read_text(errors="replace")
    assert "Traceback" not in log, server.log_tail(60)
