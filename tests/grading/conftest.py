"""Fixtures for the grading tests: the contract, tested over real sockets.

They run against KIT_PROJECT_DIR (default: the reference project/) served by its own daphne
process with a real Redis: REDIS_URL if set, else one found or started by kit.serving.redis_service.
`make test` runs them against the reference; `make grade` runs them against a submission.
"""

import asyncio
import concurrent.futures
import json
import os
import shutil
import uuid
from pathlib import Path

import httpx
import pytest
import websockets

from contract_client import RECEIVE_TIMEOUT, browser_origin, recv_json

from kit import PROJECT_DIR
from kit.grading import grade
from kit.grading import credentials
from kit.serving.live_server import LiveServer
from kit.grading.sandbox import Sandbox

CHECK_TIMEOUT = grade.time_limit("CHECK_TIMEOUT", 20)  # seconds for one success-path check


def device_socket(server, device_id, token):
    """Connecting a device with its token: use as `async with device_socket(...) as sock`."""
    return websockets.connect(
        f"{server.ws_url}/ws/devices/{device_id}/",
        open_timeout=5,
        additional_headers={"Authorization": f"Bearer {token}"},
    )


@pytest.fixture(scope="session")
def server(redis_url):
    """The project's server. Under the grader: the submission's copy, run in its sandbox (kit.grading.sandbox),
    its database a copy of the one the grader migrated once (KIT_GRADING_DB)."""
    project = Path(os.environ.get("KIT_PROJECT_DIR", PROJECT_DIR))
    box = Sandbox.from_env()
    db_path = Path(box.area) / f"db-{uuid.uuid4().hex[:8]}.sqlite3" if box else None
    live = LiveServer(
        project_dir=project,
        redis_url=redis_url,
        layer_prefix=f"grade{uuid.uuid4().hex[:8]}",
        db_path=db_path,
        launcher=box.launcher if box else None,
    )
    template = os.environ.get("KIT_GRADING_DB")
    if template and Path(template).is_file():
        shutil.copyfile(template, live.db_path)
        if box:
            box.own(live.db_path)
        live.migrated = True
    try:
        live.start()
        yield live
    finally:
        live.stop()
        shutil.rmtree(live.workdir, ignore_errors=True)  # its database and log


@pytest.fixture(scope="session")
def seed():
    """The API key and devices the grader created once in the migrated database (kit.grading.credentials)."""
    return credentials.load(os.environ.get("KIT_GRADING_SEED"))


@pytest.fixture(scope="session")
def api_key(server, seed):
    return seed["api_key"] or server.create_api_key("grader")


@pytest.fixture
def api(server, api_key):
    with httpx.Client(base_url=server.http_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10) as client:
        yield client


@pytest.fixture
def anonymous(server):
    with httpx.Client(base_url=server.http_url, timeout=10) as client:
        yield client


class DevicePool:
    """Fresh devices made in batches: one `manage.py shell` runs create_device for many ids
    (a manage.py process per device would cost most of a step's time)."""

    BATCH = 25

    def __init__(self, server, seeded=()):
        self.server, self.ready = server, [tuple(device) for device in seeded]

    def take(self, prefix="dev"):
        if not self.ready:
            self.fill()
        return self.ready.pop()

    def fill(self):
        script = credentials.script(credentials.new_device_ids(self.BATCH))
        made = credentials.parse(self.server.manage("shell", "-c", script))["devices"]
        self.ready = [tuple(device) for device in made]
        assert len(self.ready) == self.BATCH, "create_device did not print a token for every device"


@pytest.fixture(scope="session")
def device_pool(server, seed):
    return DevicePool(server, seed["devices"])


@pytest.fixture
def new_device(device_pool):
    """new_device() -> (device_id, token): a fresh device each call."""
    return device_pool.take


@pytest.fixture
async def ws(server):
    """ws(path, token=None, origin=None): an open websockets connection to the live server."""
    opened = []

    async def connect(path, token=None, origin=None):
        headers = {"Authorization": f"Bearer {token}"} if token else None
        sock = await asyncio.wait_for(
            websockets.connect(server.ws_url + path, additional_headers=headers, origin=origin, open_timeout=5),
            RECEIVE_TIMEOUT,
        )
        opened.append(sock)
        return sock

    yield connect
    for sock in opened:
        try:
            await asyncio.wait_for(sock.close(), 2)
        except (asyncio.TimeoutError, OSError, websockets.WebSocketException):
            pass


@pytest.fixture
async def outside_layer(server):
    """A RedisChannelLayer in the test process: a group_send from outside the server process."""
    layer = server.channel_layer()
    yield layer
    await layer.close_pools()


# -- the success paths, checked once per step ----------------------------------------------------
# A test of a refusal or an error status earns its point only when the feature it guards works
# too: a starter copy refuses everything and answers 401 before any step is written.
def checked_once(check):
    """Runs check(server, ...) once, in a thread with its own event loop -> "" or what failed."""
    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        future = pool.submit(asyncio.run, asyncio.wait_for(check(), CHECK_TIMEOUT))
        concurrent.futures.wait([future], CHECK_TIMEOUT + 10)
        if not future.done():
            return f"it did not finish within {CHECK_TIMEOUT} s"
        error = future.exception()
    finally:
        pool.shutdown(wait=False)
    if error is None:
        return ""
    if isinstance(error, AssertionError):
        return str(error).split("\nassert")[0] or "a check failed"
    return plain_reason_of(error)


def plain_reason_of(exc):
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "nothing arrived in time"
    if isinstance(exc, websockets.InvalidStatus):
        return f"the handshake was refused (HTTP {exc.response.status_code})"
    return f"{exc.__class__.__name__}: {str(exc)[:200]}"


@pytest.fixture(scope="session")
def chat_works(server):
    """Empty string if two members of a room both receive a message sent by one of them."""

    async def check():
        room, origin = f"check-{uuid.uuid4().hex[:6]}", browser_origin(server)
        async with (
            websockets.connect(f"{server.ws_url}/ws/chat/{room}/", origin=origin, open_timeout=5) as alice,
            websockets.connect(f"{server.ws_url}/ws/chat/{room}/", origin=origin, open_timeout=5) as bob,
        ):
            await alice.send(json.dumps({"message": "check"}))
            for sock in (alice, bob):
                assert (await recv_json(sock))["message"] == "check", "a room member did not get the message"

    return checked_once(check)


@pytest.fixture(scope="session")
def device_socket_works(server, device_pool):
    """Empty string if a device with its token is accepted and a group_send to device_<id> reaches it."""

    async def check():
        device_id, token = device_pool.take()
        layer = server.channel_layer()
        try:
            async with device_socket(server, device_id, token) as sock:
                await layer.group_send(f"device_{device_id}", {"type": "device.message", "id": "c1", "data": 1})
                assert await recv_json(sock) == {"type": "message", "id": "c1", "data": 1}, "wrong push frame"
        finally:
            await layer.close_pools()

    return checked_once(check)


@pytest.fixture(scope="session")
def device_push_works(server, device_pool, api_key):
    """Empty string if POST /api/devices/<id>/messages/ answers 202 and the device receives the push."""

    async def check():
        device_id, token = device_pool.take()
        async with device_socket(server, device_id, token) as sock:
            async with httpx.AsyncClient(
                base_url=server.http_url, timeout=10, headers={"Authorization": f"Bearer {api_key}"}
            ) as client:
                response = await client.post(f"/api/devices/{device_id}/messages/", json={"data": "check"})
            assert response.status_code == 202, f"POST .../messages/ answered {response.status_code}, not 202"
            assert (await recv_json(sock))["data"] == "check", "the device did not get the push"

    return checked_once(check)


@pytest.fixture(scope="session")
def commands_work(server, device_pool, api_key):
    """Empty string if POST /api/devices/<id>/commands/ reaches the device and answers 200 with its reply."""

    async def check():
        device_id, token = device_pool.take()
        async with device_socket(server, device_id, token) as sock:
            async with httpx.AsyncClient(
                base_url=server.http_url, timeout=10, headers={"Authorization": f"Bearer {api_key}"}
            ) as client:
                request = asyncio.create_task(client.post(f"/api/devices/{device_id}/commands/", json={"data": 1}))
                try:
                    frame = await recv_json(sock)
                    await sock.send(json.dumps({"type": "reply", "id": frame["id"], "data": "ok"}))
                    response = await asyncio.wait_for(request, 10)
                finally:
                    request.cancel()
            assert response.status_code == 200 and response.json()["reply"] == "ok", (
                f"a command answered {response.status_code}, not 200 with the reply"
            )

    return checked_once(check)
