"""Step 4 (20 points): commands with replies and timeouts, and presence in GET /api/devices/."""

import asyncio
import json

import pytest

from contract_client import in_thread, recv_json, require

pytestmark = pytest.mark.step4


async def answer_commands(sock, count, reply=lambda data: {"echo": data}):
    """A minimal device: answers `count` commands with reply(data)."""
    for _ in range(count):
        frame = await recv_json(sock, timeout=10)
        assert frame["type"] == "command"
        await sock.send(json.dumps({"type": "reply", "id": frame["id"], "data": reply(frame["data"])}))


async def test_command_gets_the_devices_reply(ws, api, new_device):
    device_id, token = new_device()
    sock = await ws(f"/ws/devices/{device_id}/", token)
    device = asyncio.create_task(answer_commands(sock, 1))
    response = await in_thread(api.post, f"/api/devices/{device_id}/commands/", json={"data": {"cmd": "status"}})
    await device
    assert response.status_code == 200
    assert response.json()["reply"] == {"echo": {"cmd": "status"}} and isinstance(response.json()["id"], str)


async def test_command_frame_carries_the_id_the_api_returns(ws, api, new_device):
    device_id, token = new_device()
    sock = await ws(f"/ws/devices/{device_id}/", token)
    request = asyncio.create_task(in_thread(api.post, f"/api/devices/{device_id}/commands/", json={"data": "ping"}))
    frame = await recv_json(sock)
    assert frame["type"] == "command" and frame["data"] == "ping"
    await sock.send(json.dumps({"type": "reply", "id": frame["id"], "data": "pong"}))
    response = await request
    assert response.json() == {"id": frame["id"], "reply": "pong"}


async def test_silent_device_gives_504_after_the_timeout(ws, api, new_device):
    device_id, token = new_device()
    await ws(f"/ws/devices/{device_id}/", token)
    response = await in_thread(api.post, f"/api/devices/{device_id}/commands/", json={"data": 1, "timeout": 1})
    assert response.status_code == 504 and "error" in response.json()


def test_offline_device_gives_409(api, new_device, commands_work):
    require(commands_work, "a command to an online device")
    device_id, _ = new_device()
    response = api.post(f"/api/devices/{device_id}/commands/", json={"data": 1})
    assert response.status_code == 409 and "error" in response.json()


@pytest.mark.parametrize("timeout", [31, 0, -1, "5", None, True])
def test_bad_timeout_is_400(api, new_device, commands_work, timeout):
    require(commands_work, "a command to an online device")
    device_id, _ = new_device()
    response = api.post(f"/api/devices/{device_id}/commands/", json={"data": 1, "timeout": timeout})
    assert response.status_code == 400 and "error" in response.json()


async def test_presence_lists_devices_online_and_offline(ws, api, new_device):
    (online_id, token), (offline_id, _) = new_device(), new_device()
    sock = await ws(f"/ws/devices/{online_id}/", token)
    listing = {row["id"]: row for row in (await in_thread(api.get, "/api/devices/")).json()}
    assert listing[online_id]["online"] is True and listing[online_id]["last_seen"]
    assert listing[offline_id]["online"] is False and listing[offline_id]["last_seen"] is None
    await sock.close()
    for _ in range(50):  # the disconnect is processed asynchronously
        listing = {row["id"]: row for row in (await in_thread(api.get, "/api/devices/")).json()}
        if listing[online_id]["online"] is False:
            break
        await asyncio.sleep(0.1)
    assert listing[online_id]["online"] is False and listing[online_id]["last_seen"]
