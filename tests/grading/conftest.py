"""Fixtures for the grading tests: the contract, tested over real sockets.

They run against KIT_PROJECT_DIR (default: the reference project/) served by its own daphne
process with a real Redis: REDIS_URL if set, else one found or started by kit.redis_service.
`make test` runs them against the reference; `make grade` runs them against a submission.
"""
import asyncio
import os
import uuid
from pathlib import Path

import httpx
import pytest
import websockets

from contract_client import RECEIVE_TIMEOUT

from kit import PROJECT_DIR, redis_service
from kit.live_server import LiveServer



@pytest.fixture(scope="session")
def redis_url():
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    with redis_service.running(quiet=True) as handle:
        yield handle.url


@pytest.fixture(scope="session")
def server(redis_url):
    project = Path(os.environ.get("KIT_PROJECT_DIR", PROJECT_DIR))
    live = LiveServer(project_dir=project, redis_url=redis_url, layer_prefix=f"grade{uuid.uuid4().hex[:8]}")
    try:
        live.start()
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="session")
def api_key(server):
    return server.manage("create_api_key", "grader").splitlines()[-1].strip()


@pytest.fixture
def api(server, api_key):
    with httpx.Client(base_url=server.http_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10) as client:
        yield client


@pytest.fixture
def anonymous(server):
    with httpx.Client(base_url=server.http_url, timeout=10) as client:
        yield client


@pytest.fixture
def new_device(server):
    """new_device() -> (device_id, token): a fresh device each call."""

    def make(prefix="dev"):
        device_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
        return device_id, server.manage("create_device", device_id).splitlines()[-1].strip()

    return make


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
