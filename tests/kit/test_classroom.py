"""Classroom mode (issue 24) over real sockets: a server in classroom mode at 127.0.0.2, standing in for
the LAN address, on a real Redis, served both ways (step 3's design on daphne, the fast variant on uvicorn).

The join URL and its QR code; DEBUG off; a foreign Host or Origin refused and each refusal logged; a join
ticket exchanged once for the phone's token (replayed, or for another device: refused); the phone as a
device with its token as the subprotocol `bearer.<token>` (echoed), a push and a command's reply; names
in the chat; the per-student rate limit's error frames; a removed student's sockets closed (time printed).
"""

import asyncio
import json
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from classroom_support import CLASSROOM_HOST, classroom_server, join, session_cookie, sign_in_instructor

WAIT = 10  # seconds any single frame may take before the test fails (never a timed assertion)


@pytest.fixture(scope="module", params=["plain", "fast"])
def server(request, redis_url):
    with classroom_server(redis_url, fast=request.param == "fast") as live:
        live.api_key = live.create_api_key("classroom-tests")
        live.instructor = sign_in_instructor(live)
        yield live
        live.instructor.close()


def log_lines(server, needle):
    return [line for line in server.log_path.read_text(errors="replace").splitlines() if needle in line]


async def receive_json(socket):
    return json.loads(await asyncio.wait_for(socket.recv(), WAIT))


def phone_socket(server, device, token, origin=None):
    return connect(
        f"{server.ws_url}/ws/devices/{device}/", subprotocols=[f"bearer.{token}"], origin=origin, open_timeout=WAIT
    )


def chat_socket(server, student_client, room="lobby", origin=None):
    return connect(
        f"{server.ws_url}/ws/chat/{room}/",
        origin=origin or server.http_url,
        additional_headers={"Cookie": session_cookie(student_client)},
        open_timeout=WAIT,
    )


def exchange(server, ticket, device):
    return httpx.post(f"{server.http_url}/classroom/exchange/", json={"ticket": ticket, "device": device}, timeout=10)


def test_the_projector_page_shows_the_join_url_with_the_lan_address_and_its_qr_code(server):
    page = httpx.get(f"{server.http_url}/classroom/", timeout=10)
    assert page.status_code == 200
    assert f"http://{CLASSROOM_HOST}:{server.port}/classroom/join/" in page.text
    assert "<svg" in page.text
    missing = httpx.get(f"{server.http_url}/no-such-page/", timeout=10)
    assert missing.status_code == 404 and "URLconf" not in missing.text  # DEBUG off: no debug page


def test_a_foreign_host_is_refused_with_json_and_logged(server):
    answer = httpx.get(f"{server.http_url}/classroom/", headers={"Host": "evil.example"}, timeout=10)
    assert answer.status_code == 400 and "not allowed" in answer.json()["error"]
    assert log_lines(server, "Host 'evil.example'"), server.log_tail()
    # The instructor's own addresses are served too (the Host a browser on this machine sends).
    assert httpx.get(f"{server.http_url}/classroom/", headers={"Host": f"localhost:{server.port}"}).status_code == 200


async def test_a_socket_from_a_foreign_origin_is_refused_and_logged(server):
    _client, device, ticket = join(server, "Origin Tester")
    token = exchange(server, ticket, device).json()["token"]
    for path in ("/ws/chat/lobby/", f"/ws/devices/{device}/"):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(
                f"{server.ws_url}{path}", origin="http://evil.example", subprotocols=[f"bearer.{token}"]
            ):
                pass
        assert refused.value.response.status_code == 403
        assert [line for line in log_lines(server, "Origin 'http://evil.example'") if path in line], server.log_tail()
    with pytest.raises(InvalidStatus):  # no Origin at all: not a browser, and the chat is for browsers
        async with connect(f"{server.ws_url}/ws/chat/lobby/"):
            pass
    assert log_lines(server, "no Origin: the chat is for browsers"), server.log_tail()


async def test_the_ticket_buys_the_phone_its_token_once_and_the_phone_gets_a_push_and_answers_a_command(server):
    _client, device, ticket = join(server, "Ada Lovelace")
    assert device.startswith("phone-ada-lovelace")
    _other_client, other_device, other_ticket = join(server, "Ada Lovelace")
    assert other_device.startswith("phone-ada-lovelace-")  # the same name again: a suffix

    assert exchange(server, ticket, other_device).status_code == 403  # issued for another device
    got = exchange(server, ticket, device)
    assert got.status_code == 200, got.text
    token = got.json()["token"]
    replayed = exchange(server, ticket, device)
    assert replayed.status_code == 403 and "used already" in replayed.json()["error"]
    assert exchange(server, other_ticket + "x", other_device).status_code == 403  # not signed by the server
    assert exchange(server, "", device).status_code == 403
    assert httpx.post(f"{server.http_url}/classroom/exchange/", content=b"[1]").status_code == 400

    api = {"Authorization": f"Bearer {server.api_key}"}
    async with phone_socket(server, device, token, origin=server.http_url) as phone:
        assert phone.subprotocol == f"bearer.{token}"  # echoed: a browser would drop the socket otherwise
        async with httpx.AsyncClient(base_url=server.http_url, headers=api, timeout=WAIT) as client:
            pushed = await client.post(f"/api/devices/{device}/messages/", json={"data": {"slide": 3}})
            assert pushed.status_code == 202
            assert await receive_json(phone) == {"type": "message", "id": pushed.json()["id"], "data": {"slide": 3}}
            asked = asyncio.create_task(client.post(f"/api/devices/{device}/commands/", json={"data": "ready?"}))
            command = await receive_json(phone)
            assert command["type"] == "command" and command["data"] == "ready?"
            await phone.send(json.dumps({"type": "reply", "id": command["id"], "data": {"ok": True}}))
            answered = await asked
            assert answered.status_code == 200 and answered.json()["reply"] == {"ok": True}
    with pytest.raises(InvalidStatus):  # the ticket itself is no token
        async with connect(
            f"{server.ws_url}/ws/devices/{device}/", additional_headers={"Authorization": f"Bearer {ticket}"}
        ):
            pass


async def test_the_chat_shows_each_students_name_and_refuses_who_has_not_joined(server):
    ana, _device, _ticket = join(server, "Ana")
    async with chat_socket(server, ana, room="names") as socket:
        await socket.send(json.dumps({"message": "Bob: I am Bob"}))  # the page's own prefix cannot lie
        assert await receive_json(socket) == {"message": "Ana: Bob: I am Bob", "name": "Ana"}
        await socket.send(json.dumps({"message": "Ana: hello"}))
        assert await receive_json(socket) == {"message": "Ana: hello", "name": "Ana"}
    with pytest.raises(InvalidStatus):
        async with connect(f"{server.ws_url}/ws/chat/names/", origin=server.http_url):
            pass


async def test_a_student_over_the_rate_limit_gets_error_frames_on_chat_and_phone(server):
    student, device, ticket = join(server, "Speedy")
    token = exchange(server, ticket, device).json()["token"]
    async with chat_socket(server, student, room="speedy") as chat, phone_socket(server, device, token) as phone:
        for _ in range(20):
            await chat.send(json.dumps({"message": "spam"}))
            await phone.send(json.dumps({"type": "reply", "id": "nothing-pending", "data": 1}))
        chat_frames = [await receive_json(chat) for _ in range(20)]
        phone_frames = [await receive_json(phone) for _ in range(20)]
    limited = [frame for frame in chat_frames if "too many messages" in frame.get("error", "")]
    delivered = [frame for frame in chat_frames if frame.get("message") == "Speedy: spam"]
    print(f"\nchat: {len(delivered)} of 20 delivered, {len(limited)} refused; burst 5, 3 a second")
    assert limited and len(limited) + len(delivered) == 20
    assert any("too many frames" in frame["error"] for frame in phone_frames)
    assert all(frame["type"] == "error" for frame in phone_frames)


async def test_a_removed_student_is_disconnected(server):
    student, device, ticket = join(server, "Leaving Soon")
    token = exchange(server, ticket, device).json()["token"]
    async with chat_socket(server, student, room="leaving") as chat, phone_socket(server, device, token) as phone:
        started = time.monotonic()
        removed = await asyncio.to_thread(
            server.instructor.post,
            f"/classroom/students/{device}/remove/",
            data={"csrfmiddlewaretoken": server.instructor.cookies["csrftoken"]},
        )
        assert removed.status_code == 302
        closes = []
        for socket in (chat, phone):
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(socket.recv(), WAIT)
            closes.append((socket.close_code, time.monotonic() - started))
    print(f"\nremoved student's sockets closed after {', '.join(f'{t * 1000:.0f} ms' for _, t in closes)}")
    assert [code for code, _ in closes] == [4401, 4401]
    with pytest.raises(InvalidStatus):  # and they stay out
        async with chat_socket(server, student, room="leaving"):
            pass
    listing = server.instructor.get("/classroom/students/")
    assert listing.status_code == 200 and device not in listing.text


def test_the_login_throttle_and_the_body_limits_hold_for_students(server):
    big = {"ticket": "x" * 70_000, "device": "phone-x"}
    too_big = httpx.post(f"{server.http_url}/classroom/exchange/", json=big, timeout=10)
    assert too_big.status_code == 413 and "error" in too_big.json()
    with httpx.Client(base_url=server.http_url, timeout=10) as student:
        student.get("/classroom/join/")
        form = {"name": "n" * 70_000, "csrfmiddlewaretoken": student.cookies["csrftoken"]}
        assert student.post("/classroom/join/", data=form).status_code == 400  # over 64 KiB, or too long a name
        student.get("/devices/login/")
        statuses = [
            student.post(
                "/devices/login/",
                data={
                    "username": "guessed",
                    "password": f"wrong{n}",
                    "csrfmiddlewaretoken": student.cookies["csrftoken"],
                },
            ).status_code
            for n in range(6)
        ]
    assert statuses[-1] == 429, statuses  # django-axes: 5 wrong passwords lock that username from that address
