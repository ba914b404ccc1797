"""One channel layer for every process on a Redis (kit/layers.py, issue 22): management commands and a
plain script, run with the project's own settings and the environment `make demo` writes out, reach
the sockets of the fast variant and of step 3's design; a process with the other kind of layer gets an
error naming both kinds. Real servers, real Redis, real sockets."""

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid

import pytest
import websockets

from kit import PROJECT_DIR, REPO_DIR
from live_support import start_server

SCRIPT = """
import django
django.setup()
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
async_to_sync(get_channel_layer().group_send)(
    "device_{device}", {{"type": "device.message", "id": "from-a-script", "data": {{"hello": 1}}}}
)
"""


@pytest.fixture(scope="module", params=["fast", "plain"])
def server(request, redis):
    live = start_server(redis.url, fast=request.param == "fast", layer_prefix=f"agree{uuid.uuid4().hex[:6]}")
    yield live
    live.close()


def shell(server, *command, **extra):
    """A command run from project/ as the README shows it, in a shell that sourced the demo's env."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("DJANGO_", "CHANNEL_"))}
    env.pop("KIT_SERVED", None)
    env.update(server.shell_env(), **extra)
    return subprocess.run(
        command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


async def connect(server, device_id, token):
    return await websockets.connect(
        f"{server.ws_url}/ws/devices/{device_id}/", additional_headers={"Authorization": f"Bearer {token}"}
    )


def test_the_server_uses_the_kind_it_tells_other_shells(server):
    assert server.shell_env()["CHANNEL_LAYER"] == ("pubsub" if server.fast else "core")
    assert server.shell_env()["DJANGO_SETTINGS_MODULE"] == "mysite.settings"


async def test_revoke_device_from_another_shell_closes_the_socket_with_4401(server):
    token = await asyncio.to_thread(server.create_device, "r1")
    socket = await connect(server, "r1", token)
    try:
        result = await asyncio.to_thread(shell, server, sys.executable, "manage.py", "revoke_device", "r1")
        assert result.returncode == 0, result.stderr
        assert "Could not reach" not in result.stderr
        returned = time.monotonic()
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(socket.recv(), 1.5)
        closed_after = time.monotonic() - returned
        assert socket.close_code == 4401
    finally:
        await socket.close()
    print(f"\n[layers] {'fast' if server.fast else 'plain'}: revoked socket closed {closed_after * 1000:.0f} ms later")


async def test_create_device_again_from_another_shell_closes_the_old_socket(server):
    token = await asyncio.to_thread(server.create_device, "r2")
    socket = await connect(server, "r2", token)
    try:
        result = await asyncio.to_thread(shell, server, sys.executable, "manage.py", "create_device", "r2")
        assert result.returncode == 0, result.stderr
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(socket.recv(), 1.5)
        assert socket.close_code == 4401
    finally:
        await socket.close()


async def test_a_plain_scripts_group_send_reaches_the_device(server):
    token = await asyncio.to_thread(server.create_device, "s1")
    socket = await connect(server, "s1", token)
    try:
        result = await asyncio.to_thread(shell, server, sys.executable, "-c", SCRIPT.format(device="s1"))
        assert result.returncode == 0, result.stderr
        frame = json.loads(await asyncio.wait_for(socket.recv(), 2))
        assert frame == {"type": "message", "id": "from-a-script", "data": {"hello": 1}}
    finally:
        await socket.close()


def test_a_process_with_the_other_kind_of_layer_gets_an_error_naming_both(server):
    other = "core" if server.fast else "pubsub"
    mine = server.shell_env()["CHANNEL_LAYER"]
    server.create_device("m1")  # below: the project's own settings, as the README runs them (mysite/layers.py)
    result = shell(server, sys.executable, "manage.py", "revoke_device", "m1", CHANNEL_LAYER=other)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "Could not reach the channel layer" not in result.stderr  # Redis answered: the layer is what is wrong
    assert f"uses the {other} channel layer" in result.stderr
    assert f"uses the {mine} layer" in result.stderr and f"CHANNEL_LAYER={mine}" in result.stderr
    # A script's group_send raises it.
    result = shell(server, sys.executable, "-c", SCRIPT.format(device="m1"), CHANNEL_LAYER=other)
    assert result.returncode != 0 and "LayerMismatch" in result.stderr and f"CHANNEL_LAYER={mine}" in result.stderr
    # The same kind: no error; and the kit's settings check as well.
    kit_settings = {"DJANGO_SETTINGS_MODULE": "kit.harness.settings", "PYTHONPATH": str(REPO_DIR)}
    result = shell(server, sys.executable, "-c", SCRIPT.format(device="m1"))
    assert result.returncode == 0, result.stderr
    result = shell(server, sys.executable, "-c", SCRIPT.format(device="m1"), CHANNEL_LAYER=other, **kit_settings)
    assert result.returncode != 0 and "LayerMismatch" in result.stderr


def test_another_prefix_is_not_checked(server):
    """A notebook's own experiment (a prefix of its own) shares the Redis, not the server's layer."""
    other = "core" if server.fast else "pubsub"
    result = shell(
        server,
        sys.executable,
        "-c",
        SCRIPT.format(device="x"),
        CHANNEL_LAYER=other,
        CHANNEL_LAYER_PREFIX="experiment",
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("served", ["fast", "plain"])
def test_the_server_records_its_layer_and_removes_the_record_when_it_stops(redis, served):
    import redis as redis_py

    prefix = f"rec{uuid.uuid4().hex[:6]}"
    live = start_server(redis.url, fast=served == "fast", layer_prefix=prefix)
    client = redis_py.Redis.from_url(redis.url)
    try:
        record = json.loads(client.get(prefix + ":layer"))
        assert record["kind"] == ("pubsub" if served == "fast" else "core") and record["pid"] == live.process.pid
        assert 0 < client.ttl(prefix + ":layer") <= 30
        live.stop()  # SIGTERM: the server exits normally and removes its record
        assert client.get(prefix + ":layer") is None
    finally:
        live.close()
        client.close()
