"""Many commands at once: 50 devices x 5 commands sent together, every reply matched to its
request (the command id correlates them; each view waits on a reply channel of its own).

The client keeps at most 100 connections open, so up to 100 commands wait in the server at once
and the rest queue in the client. (With 250 simultaneous connections, about one run in five on a
loaded 2-core machine lost some 20 of them with httpx.ReadError: a client/socket limit, not a
crossed reply, and not what this test is about.)"""

import asyncio
import time
import uuid

import pytest

from live_support import api_client, fleet, issue_devices, start_server

DEVICES, COMMANDS_EACH = 50, 5


@pytest.fixture(scope="module")
def server(redis):
    live = start_server(redis.url)
    yield live
    live.stop()


async def test_concurrent_commands_never_cross_their_replies(server):
    key = server.create_api_key("concurrency")
    credentials = issue_devices_fast(server, DEVICES, "busy")
    async with api_client(server, key) as api, fleet(server, credentials, reply_delay=0.05) as devices:
        requests = [
            (device_id, {"n": n, "nonce": uuid.uuid4().hex})
            for n in range(COMMANDS_EACH)
            for device_id, _ in credentials
        ]
        started = time.monotonic()
        responses = await asyncio.gather(
            *(
                api.post(f"/api/devices/{device_id}/commands/", json={"data": data, "timeout": 30})
                for device_id, data in requests
            )
        )
        elapsed = time.monotonic() - started

    statuses = [response.status_code for response in responses]
    assert statuses == [200] * len(requests), {s: statuses.count(s) for s in set(statuses)}
    ids = [response.json()["id"] for response in responses]
    assert len(set(ids)) == len(requests)  # one correlation id per command
    for (device_id, data), response in zip(requests, responses):
        assert response.json()["reply"] == {"ok": True, "device": device_id, "echo": data}
    answered = {device.device_id: set(device.answered) for device in devices}
    for (device_id, _), command_id in zip(requests, ids):
        assert command_id in answered[device_id]  # the device answered exactly the id the API returned
    assert sum(map(len, answered.values())) == len(requests)
    print(
        f"\n[concurrency figures] {len(requests)} commands to {DEVICES} devices at once: all matched in "
        f"{elapsed:.2f} s ({len(requests) / elapsed:.0f} round trips/s, device reply delay 50 ms)"
    )


def issue_devices_fast(server, count, prefix):
    """One manage.py call for all devices (50 separate calls would take 50 Django start-ups)."""
    script = (
        f"from devices.models import Device\n"
        f"for n in range(1, {count} + 1): print(f'{prefix}-{{n}}', Device.objects.issue(f'{prefix}-{{n}}')[1])"
    )
    lines = server.manage("shell", "-c", script).splitlines()
    return [tuple(line.split()) for line in lines if line.startswith(prefix)]


async def test_a_late_reply_is_refused_not_delivered(server):
    """After the view's timeout nobody listens on the reply channel: the device gets an error frame."""
    import json

    import websockets

    key = server.create_api_key("late")
    ((device_id, token),) = issue_devices(server, 1, "late")
    async with api_client(server, key) as api:
        sock = await websockets.connect(
            f"{server.ws_url}/ws/devices/{device_id}/",
            additional_headers={"Authorization": f"Bearer {token}"},
            open_timeout=5,
        )
        response = await api.post(f"/api/devices/{device_id}/commands/", json={"data": 1, "timeout": 0.5})
        assert response.status_code == 504
        command = json.loads(await asyncio.wait_for(sock.recv(), 5))
        assert command["id"] == response.json()["id"]
        await sock.send(json.dumps({"type": "reply", "id": command["id"], "data": "too late"}))
        answer = json.loads(await asyncio.wait_for(sock.recv(), 5))
        assert answer["type"] == "error" and "timed out" in answer["error"]
        await sock.close()
