"""Step 4, hidden: concurrency, late and unknown replies."""

import asyncio
import json

import pytest

from contract_client import in_thread, recv_json, require
from test_step4_commands import answer_commands

pytestmark = [pytest.mark.step4, pytest.mark.hidden]


async def test_concurrent_commands_to_several_devices_never_cross(ws, api, new_device):
    devices = [new_device() for _ in range(4)]
    sockets = [await ws(f"/ws/devices/{device_id}/", token) for device_id, token in devices]
    answering = [
        asyncio.create_task(answer_commands(sock, 3, reply=lambda data, d=d: {"from": d, "got": data}))
        for sock, (d, _) in zip(sockets, devices)
    ]
    requests = [
        in_thread(api.post, f"/api/devices/{d}/commands/", json={"data": f"{d}-{n}"})
        for d, _ in devices
        for n in range(3)
    ]
    responses = await asyncio.gather(*requests)
    await asyncio.gather(*answering)
    for (d, _), chunk in zip(devices, [responses[i : i + 3] for i in range(0, 12, 3)]):
        for n, response in enumerate(chunk):
            assert response.status_code == 200
            assert response.json()["reply"] == {"from": d, "got": f"{d}-{n}"}


async def test_reply_with_unknown_id_gets_an_error_frame(ws, new_device):
    device_id, token = new_device()
    sock = await ws(f"/ws/devices/{device_id}/", token)
    await sock.send(json.dumps({"type": "reply", "id": "never-sent", "data": 1}))
    frame = await recv_json(sock)
    assert frame["type"] == "error" and frame["error"]


async def test_command_to_unknown_device_is_404(api, commands_work):
    require(commands_work, "a command to an online device")
    response = await in_thread(api.post, "/api/devices/nobody-here/commands/", json={"data": 1})
    assert response.status_code == 404


async def test_presence_rows_have_the_contract_shape(ws, api, new_device):
    device_id, token = new_device()
    await ws(f"/ws/devices/{device_id}/", token)
    rows = (await in_thread(api.get, "/api/devices/")).json()
    for row in rows:
        assert set(row) >= {"id", "online", "last_seen"}
        assert isinstance(row["online"], bool)
    assert any(row["id"] == device_id and row["online"] is True for row in rows), "a connected device is not online"
