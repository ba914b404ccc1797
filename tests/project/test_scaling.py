"""Scaling out: two daphne processes of the project on one Redis and one database file.

A device on process A gets what is POSTed to process B; a chat room spans both processes;
presence agrees on both. Real Redis, real daphne, real sockets; every wait is bounded.
A process killed outright is tests/project/test_presence_processes.py's subject.
"""

import asyncio
import json
import uuid

import httpx
import psutil
import pytest
import websockets

from kit.serving.cluster import Cluster

RECEIVE_TIMEOUT = 5
# Presence refreshes fast here so that "presence agrees" does not wait for the default beat.
PRESENCE_ENV = {"PRESENCE_HEARTBEAT_SECONDS": "1", "PRESENCE_TTL_SECONDS": "5"}


@pytest.fixture(scope="module")
def cluster(redis_url):
    with Cluster(redis_url=redis_url, size=2, env=PRESENCE_ENV) as running:
        yield running


@pytest.fixture(scope="module")
def api_key(cluster):
    return cluster.create_api_key("scaling-test")


@pytest.fixture
def new_device(cluster):
    def make():
        device_id = f"dev-{uuid.uuid4().hex[:8]}"
        return device_id, cluster.create_device(device_id)

    return make


def api(server, api_key):
    return httpx.AsyncClient(base_url=server.http_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10)


async def connect(url, token=None, origin=None):
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return await asyncio.wait_for(websockets.connect(url, additional_headers=headers, origin=origin), RECEIVE_TIMEOUT)


async def recv_json(sock):
    return json.loads(await asyncio.wait_for(sock.recv(), RECEIVE_TIMEOUT))


async def online_on(server, api_key, device_id):
    async with api(server, api_key) as client:
        response = await client.get("/api/devices/")
    assert response.status_code == 200, response.text
    return {row["id"]: row["online"] for row in response.json()}.get(device_id)


def test_two_processes_really_are_two(cluster):
    """Seen from the operating system: two live server processes (daphne run by kit.serving.daphne_limited, or with
    KIT_SERVED=fast uvicorn run by kit.fast.serve), each listening on its own port, both pointed at the one database
    file and the one layer prefix."""
    ports, environments = set(), []
    for server in cluster.servers:
        process = psutil.Process(server.process.pid)
        assert (
            process.is_running()
            and ("kit.fast.serve" if server.fast else "kit.serving.daphne_limited") in process.cmdline()
        )
        listening = {c.laddr.port for c in process.net_connections("tcp") if c.status == psutil.CONN_LISTEN}
        assert listening == {server.port}
        ports |= listening
        environments.append(process.environ())
    assert len(ports) == 2
    for name in ("DJANGO_DB_PATH", "CHANNEL_LAYER_PREFIX", "REDIS_URL"):
        assert environments[0][name] == environments[1][name], name


async def test_device_on_a_gets_a_post_sent_to_b(cluster, api_key, new_device):
    a, b = cluster.servers
    device_id, token = new_device()
    sock = await connect(f"{a.ws_url}/ws/devices/{device_id}/", token)
    try:
        async with api(b, api_key) as client:
            response = await client.post(f"/api/devices/{device_id}/messages/", json={"data": {"via": "B"}})
        assert response.status_code == 202, response.text
        assert response.json()["online"] is True  # B sees A's socket through the shared database
        frame = await recv_json(sock)
        assert frame == {"type": "message", "id": response.json()["id"], "data": {"via": "B"}}
    finally:
        await sock.close()


async def test_command_sent_to_b_is_answered_by_device_on_a(cluster, api_key, new_device):
    a, b = cluster.servers
    device_id, token = new_device()
    sock = await connect(f"{a.ws_url}/ws/devices/{device_id}/", token)

    async def answer_one_command():
        command = await recv_json(sock)
        assert command["type"] == "command"
        await sock.send(json.dumps({"type": "reply", "id": command["id"], "data": {"echo": command["data"]}}))

    try:
        answering = asyncio.create_task(answer_one_command())
        async with api(b, api_key) as client:
            response = await client.post(f"/api/devices/{device_id}/commands/", json={"data": "ping", "timeout": 5})
        await asyncio.wait_for(answering, RECEIVE_TIMEOUT)
        assert response.status_code == 200, response.text
        assert response.json()["reply"] == {"echo": "ping"}
    finally:
        await sock.close()


async def test_broadcast_to_a_reaches_devices_on_both(cluster, api_key, new_device):
    a, b = cluster.servers
    (id_a, token_a), (id_b, token_b) = new_device(), new_device()
    on_a = await connect(f"{a.ws_url}/ws/devices/{id_a}/", token_a)
    on_b = await connect(f"{b.ws_url}/ws/devices/{id_b}/", token_b)
    try:
        async with api(a, api_key) as client:
            response = await client.post("/api/broadcast/", json={"data": "all"})
        assert response.status_code == 202, response.text
        # Other tests' devices may be online too; these two must be among them.
        assert response.json()["online"] >= 2
        for sock in (on_a, on_b):
            assert (await recv_json(sock))["data"] == "all"
    finally:
        await on_a.close()
        await on_b.close()


async def test_chat_room_spans_both_processes(cluster):
    a, b = cluster.servers
    room = f"span-{uuid.uuid4().hex[:6]}"
    member_a = await connect(f"{a.ws_url}/ws/chat/{room}/", origin=f"http://127.0.0.1:{a.port}")
    member_b = await connect(f"{b.ws_url}/ws/chat/{room}/", origin=f"http://127.0.0.1:{b.port}")
    try:
        await member_a.send(json.dumps({"message": "hello from A"}))
        assert (await recv_json(member_a))["message"] == "hello from A"
        assert (await recv_json(member_b))["message"] == "hello from A"
        await member_b.send(json.dumps({"message": "hello from B"}))
        assert (await recv_json(member_a))["message"] == "hello from B"
        assert (await recv_json(member_b))["message"] == "hello from B"
    finally:
        await member_a.close()
        await member_b.close()


async def test_announcement_on_b_reaches_room_member_on_a(cluster, api_key):
    a, b = cluster.servers
    room = f"ann-{uuid.uuid4().hex[:6]}"
    member = await connect(f"{a.ws_url}/ws/chat/{room}/", origin=f"http://127.0.0.1:{a.port}")
    try:
        async with api(b, api_key) as client:
            response = await client.post(f"/api/rooms/{room}/announcements/", json={"text": "from B"})
        assert response.status_code == 202, response.text
        assert await recv_json(member) == {"message": "from B", "system": True}
    finally:
        await member.close()


async def test_presence_agrees_on_both_processes(cluster, api_key, new_device):
    a, b = cluster.servers
    device_id, token = new_device()
    assert await online_on(a, api_key, device_id) is False
    assert await online_on(b, api_key, device_id) is False
    sock = await connect(f"{a.ws_url}/ws/devices/{device_id}/", token)
    try:
        assert await online_on(a, api_key, device_id) is True
        assert await online_on(b, api_key, device_id) is True
    finally:
        await sock.close()
    # disconnect runs after the close handshake; give it a bounded moment on both processes
    for _ in range(50):
        if await online_on(a, api_key, device_id) is False and await online_on(b, api_key, device_id) is False:
            break
        await asyncio.sleep(0.1)
    assert await online_on(a, api_key, device_id) is False
    assert await online_on(b, api_key, device_id) is False
