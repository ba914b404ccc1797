"""Step 2 (30 points): /ws/chat/<room>/ with groups, and a group_send from outside the server."""

import json

import pytest

from contract_client import assert_silent, browser_origin, recv_json, refused, require

pytestmark = pytest.mark.step2


@pytest.fixture
def join(ws, server):
    return lambda room: ws(f"/ws/chat/{room}/", origin=browser_origin(server))


async def test_every_member_of_the_room_receives_including_sender(join):
    alice, bob = await join("lobby-a"), await join("lobby-a")
    await alice.send(json.dumps({"message": "hi all"}))
    assert (await recv_json(alice))["message"] == "hi all"
    assert (await recv_json(bob))["message"] == "hi all"


async def test_members_of_other_rooms_receive_nothing(join):
    alice, carol = await join("room-one"), await join("room-two")
    await alice.send(json.dumps({"message": "only room-one"}))
    assert (await recv_json(alice))["message"] == "only room-one"
    await assert_silent(carol)


async def test_not_json_gets_an_error_to_the_sender_only_and_stays_open(join):
    alice, bob = await join("errors-a"), await join("errors-a")
    await alice.send("this is not json")
    assert "error" in await recv_json(alice)
    await assert_silent(bob)
    await alice.send(json.dumps({"message": "still here"}))
    assert (await recv_json(alice))["message"] == "still here"


@pytest.mark.parametrize(
    "frame",
    [
        '["a list"]',
        '"a string"',
        "42",
        '{"text": "no message key"}',
        '{"message": 7}',
        '{"message": null}',
        '{"message": ["x"]}',
    ],
)
async def test_bad_frames_get_an_error_frame(join, frame):
    sock = await join("errors-b")
    await sock.send(frame)
    reply = await recv_json(sock)
    assert isinstance(reply.get("error"), str) and reply["error"], f"expected {{'error': ...}} for {frame}"


async def test_a_too_large_message_gets_an_error(join):
    sock = await join("errors-c")
    await sock.send(json.dumps({"message": "x" * 300_000}))
    assert "error" in await recv_json(sock)


@pytest.mark.parametrize("room", ["bad%20room", "%EB%B0%A9", "a" * 65, "semi%3Bcolon"])
async def test_invalid_room_names_are_refused(ws, server, chat_works, room):
    """A room name outside [A-Za-z0-9_.-]{1,64} is refused, while valid rooms work."""
    require(chat_works, "chatting in a valid room")
    assert await refused(ws(f"/ws/chat/{room}/", origin=browser_origin(server)))


async def test_handshake_without_origin_is_refused(ws, chat_works):
    """The Origin check (AllowedHostsOriginValidator) refuses a socket without Origin."""
    require(chat_works, "chatting from the page's own origin")
    assert await refused(ws("/ws/chat/lobby/"))


async def test_handshake_from_a_foreign_origin_is_refused(ws, chat_works):
    """The Origin check refuses a page of another site."""
    require(chat_works, "chatting from the page's own origin")
    assert await refused(ws("/ws/chat/lobby/", origin="http://evil.example"))


async def test_group_send_from_outside_the_server_reaches_the_room(join, outside_layer):
    alice, carol = await join("outside-a"), await join("outside-b")
    await outside_layer.group_send("chat_outside-a", {"type": "chat.message", "message": "from a notebook"})
    assert (await recv_json(alice))["message"] == "from a notebook"
    await assert_silent(carol)
