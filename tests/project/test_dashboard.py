"""The dashboard's socket over real sockets (no browser): who may open it, what it answers, and
that device sockets still receive only the contract's frames while it is in use."""

import asyncio
import json
import uuid

import httpx
import pytest
import websockets

from kit.demo import INSTRUCTOR, create_instructor
from kit.serving.live_server import LiveServer

TIMEOUT = 5


@pytest.fixture(scope="module")
def server(redis_url):
    with LiveServer(redis_url=redis_url, layer_prefix=f"dash{uuid.uuid4().hex[:8]}") as live:
        yield live


def session_cookie(server, username, password):
    with httpx.Client(base_url=server.http_url, timeout=10) as client:
        client.get("/devices/login/")
        answer = client.post(
            "/devices/login/",
            data={
                "username": username,
                "password": password,
                "next": "/devices/",
                "csrfmiddlewaretoken": client.cookies["csrftoken"],
            },
        )
        assert answer.status_code == 302, answer.text[:300]
        return f"sessionid={client.cookies['sessionid']}"


@pytest.fixture(scope="module")
def staff_cookie(server):
    return session_cookie(server, INSTRUCTOR, create_instructor(server))


@pytest.fixture(scope="module")
def learner_cookie(server):
    server.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; User.objects.create_user('learner', password='learner-pass-1')",
    )
    return session_cookie(server, "learner", "learner-pass-1")


def dashboard(server, cookie=None, origin="same"):
    headers = {"Cookie": cookie} if cookie else None
    origin = server.http_url if origin == "same" else origin
    return websockets.connect(
        server.ws_url + "/ws/dashboard/", additional_headers=headers, origin=origin, open_timeout=TIMEOUT
    )


async def receive(sock):
    return json.loads(await asyncio.wait_for(sock.recv(), TIMEOUT))


async def assert_refused(connecting):
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connecting:
            pass
    assert refused.value.response.status_code == 403


async def test_dashboard_socket_needs_a_staff_session_and_the_right_origin(server, staff_cookie, learner_cookie):
    await assert_refused(dashboard(server))  # no session
    await assert_refused(dashboard(server, learner_cookie))  # signed in, not staff
    await assert_refused(dashboard(server, staff_cookie, origin="http://evil.example"))
    async with dashboard(server, staff_cookie) as sock:
        assert (await receive(sock))["type"] == "snapshot"


async def test_bad_frames_get_an_error_frame_and_the_socket_stays_open(server, staff_cookie):
    async with dashboard(server, staff_cookie) as sock:
        await receive(sock)  # the snapshot
        for bad in (
            "not json",
            "[1]",
            '{"action": "reboot"}',
            '{"action": "command", "device": "x y", "data": 1}',
            '{"action": "message", "device": "d"}',
            '{"action": "command", "device": "d", "data": 1, "timeout": 99}',
        ):
            await sock.send(bad)
            frame = await receive(sock)
            assert frame["type"] == "error" and frame["error"], (bad, frame)
        await sock.send(json.dumps({"action": "command", "device": "no-such-device", "data": 1, "ref": 7}))
        assert await receive(sock) == {
            "type": "error",
            "ref": 7,
            "action": "command",
            "status": 404,
            "error": "unknown device: 'no-such-device'",
        }
        await sock.send(json.dumps({"action": "refresh"}))
        assert (await receive(sock))["type"] == "snapshot"


async def test_presence_is_pushed_and_device_sockets_get_only_contract_frames(server, staff_cookie):
    first, second = f"dash-{uuid.uuid4().hex[:6]}", f"dash-{uuid.uuid4().hex[:6]}"
    tokens = {d: server.create_device(d) for d in (first, second)}

    def device(device_id):
        return websockets.connect(
            f"{server.ws_url}/ws/devices/{device_id}/",
            open_timeout=TIMEOUT,
            additional_headers={"Authorization": f"Bearer {tokens[device_id]}"},
        )

    async with dashboard(server, staff_cookie) as board:
        snapshot = await receive(board)
        assert {first: False, second: False}.items() <= {d["id"]: d["online"] for d in snapshot["devices"]}.items()
        async with device(first) as one:
            assert {**await receive(board), "last_seen": None} == {
                "type": "presence",
                "device": first,
                "online": True,
                "last_seen": None,
            }
            async with device(second) as two:
                assert (await receive(board))["device"] == second
                await board.send(json.dumps({"action": "message", "device": first, "data": {"hi": 1}, "ref": 1}))
                result = await receive(board)
                assert result["type"] == "result" and result["result"]["online"] is True
                assert await receive(one) == {"type": "message", "id": result["result"]["id"], "data": {"hi": 1}}
                await board.send(json.dumps({"action": "command", "device": second, "data": "ping", "ref": 2}))
                command = await receive(two)
                assert command == {"type": "command", "id": command["id"], "data": "ping"}
                await two.send(json.dumps({"type": "reply", "id": command["id"], "data": "pong"}))
                assert await receive(board) == {
                    "type": "result",
                    "ref": 2,
                    "action": "command",
                    "result": {"id": command["id"], "reply": "pong"},
                }
            gone = await receive(board)
            assert (gone["type"], gone["device"], gone["online"]) == ("presence", second, False)
            with pytest.raises(asyncio.TimeoutError):  # no presence notices, nothing else: only its push came
                await asyncio.wait_for(one.recv(), 1)
