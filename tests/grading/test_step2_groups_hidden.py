"""Step 2, hidden: more members, names at the edge, binary frames."""

import asyncio
import json
import uuid

import pytest

from contract_client import RECEIVE_TIMEOUT, assert_silent, browser_origin, recv_json

pytestmark = [pytest.mark.step2, pytest.mark.hidden]


@pytest.fixture
def join(ws, server):
    return lambda room: ws(f"/ws/chat/{room}/", origin=browser_origin(server))


async def test_five_members_each_receive_every_message_in_order(join):
    members = [await join("crowd") for _ in range(5)]
    for i, member in enumerate(members):
        await member.send(json.dumps({"message": f"m{i}"}))
    for member in members:
        got = [(await recv_json(member))["message"] for _ in members]
        assert sorted(got) == [f"m{i}" for i in range(5)]


async def test_room_name_at_the_limits(join):
    sock = await join("A-z_0.9" + "x" * 57)  # 64 characters
    await sock.send(json.dumps({"message": "edge"}))
    assert (await recv_json(sock))["message"] == "edge"


async def test_binary_frame_gets_an_error_and_the_room_stays_quiet(join):
    alice, bob = await join("binary-room"), await join("binary-room")
    await alice.send(b"\x00\x01")
    assert "error" in await recv_json(alice)
    await assert_silent(bob)


async def group_members(layer, group):
    """The channels in a group, read from Redis where the core channels-redis layer keeps them."""
    key = layer._group_key(group)
    async with layer.connection(layer.consistent_hash(group)) as connection:
        return await connection.zrange(key, 0, -1)


async def members_once_settled(layer, group, expected, limit=RECEIVE_TIMEOUT):
    """The group's member count once it equals expected, or what it still is after limit seconds."""
    deadline = asyncio.get_running_loop().time() + limit
    while True:
        count = len(await group_members(layer, group))
        if count == expected or asyncio.get_running_loop().time() > deadline:
            return count
        await asyncio.sleep(0.05)


async def test_a_member_who_left_is_removed_from_the_group_and_others_still_receive(join, outside_layer):
    """disconnect() must group_discard: a socket that closed leaves chat_<room> (the layer keeps no dead
    channels, which would fill with messages nobody reads), and the others still get messages."""
    room = f"leaving-{uuid.uuid4().hex[:6]}"
    alice, bob = await join(room), await join(room)
    assert await members_once_settled(outside_layer, f"chat_{room}", 2) == 2, "both members must be in the group"
    await bob.close()
    left = await members_once_settled(outside_layer, f"chat_{room}", 1)
    assert left == 1, f"after one of 2 members closed, chat_{room} still has {left} channels: no group_discard?"
    await alice.send(json.dumps({"message": "after bob left"}))
    assert (await recv_json(alice))["message"] == "after bob left"


async def test_html_is_delivered_as_text_unchanged(join):
    sock = await join("html-room")
    payload = "<script>alert(1)</script>"
    await sock.send(json.dumps({"message": payload}))
    assert (await recv_json(sock))["message"] == payload
    await assert_silent(sock)
