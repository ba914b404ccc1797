"""Step 2, hidden: more members, names at the edge, binary frames."""
import asyncio
import json

import pytest

from contract_client import assert_silent, browser_origin, recv_json

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


async def test_a_member_who_left_receives_nothing_and_others_still_do(join):
    alice, bob = await join("leaving"), await join("leaving")
    await bob.close()
    await asyncio.sleep(0.2)
    await alice.send(json.dumps({"message": "after bob left"}))
    assert (await recv_json(alice))["message"] == "after bob left"


async def test_html_is_delivered_as_text_unchanged(join):
    sock = await join("html-room")
    payload = "<script>alert(1)</script>"
    await sock.send(json.dumps({"message": payload}))
    assert (await recv_json(sock))["message"] == payload
    await assert_silent(sock)
