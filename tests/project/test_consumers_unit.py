"""Unit tests of the consumers in this process, with Channels' WebsocketCommunicator and the
in-memory layer: fast, and independent of Redis and of a server. The project's own application
(mysite.asgi) for what plain Channels does; the kit's harness for what it adds (kit/harness/)."""

import json

import pytest
from asgiref.sync import sync_to_async

pytestmark = pytest.mark.usefixtures("django_in_memory")


def app():
    from mysite.asgi import application

    return application


def harness_app():
    from kit.harness.asgi import application

    return application


async def connected(path, headers=(), application=None):
    from channels.testing import WebsocketCommunicator

    communicator = WebsocketCommunicator(application or app(), path, headers=list(headers))
    ok, _ = await communicator.connect(timeout=3)
    return communicator, ok


async def test_echo_text_and_binary():
    communicator, ok = await connected("/ws/echo/")
    assert ok
    await communicator.send_to(text_data="hi")
    assert await communicator.receive_from(timeout=2) == "hi"
    await communicator.send_to(bytes_data=b"\x00\x01")
    assert (await communicator.receive_output(timeout=2))["bytes"] == b"\x00\x01"
    await communicator.disconnect()


async def test_chat_needs_an_allowed_origin():
    _, ok = await connected("/ws/chat/lobby/")
    assert not ok
    communicator, ok = await connected("/ws/chat/lobby/", [(b"origin", b"http://localhost")])
    assert ok
    await communicator.disconnect()


async def test_chat_message_reaches_the_room_and_bad_frames_get_errors():
    origin = [(b"origin", b"http://localhost")]
    alice, _ = await connected("/ws/chat/unit/", origin)
    bob, _ = await connected("/ws/chat/unit/", origin)
    await alice.send_json_to({"message": "hello"})
    assert await alice.receive_json_from(timeout=2) == {"message": "hello"}
    assert await bob.receive_json_from(timeout=2) == {"message": "hello"}
    await alice.send_to(text_data="{")
    assert "error" in await alice.receive_json_from(timeout=2)
    assert await bob.receive_nothing(timeout=0.3)
    await alice.disconnect()
    await bob.disconnect()


async def test_the_harness_refuses_unknown_paths_and_bad_rooms():
    """Plain Channels' URLRouter raises ValueError for them; the harness refuses the handshake."""
    for path in ["/ws/nowhere/", "/ws/chat/b%C3%A4d/", "/ws/chat/" + "a" * 65 + "/"]:
        with pytest.raises(ValueError, match="No route found"):
            await connected(path, [(b"origin", b"http://localhost")])
        _, ok = await connected(path, [(b"origin", b"http://localhost")], harness_app())
        assert not ok, path


async def test_device_token_is_checked_before_accept():
    from devices.models import Device

    _, token, _ = await sync_to_async(Device.objects.issue)("unit-device")
    _, ok = await connected("/ws/devices/unit-device/")
    assert not ok
    _, ok = await connected("/ws/devices/unit-device/", [(b"authorization", b"Bearer wrong")])
    assert not ok
    device, ok = await connected("/ws/devices/unit-device/", [(b"authorization", f"Bearer {token}".encode())])
    assert ok
    await device.send_to(text_data=json.dumps({"type": "hello"}))
    frame = await device.receive_json_from(timeout=2)
    assert frame["type"] == "error" and "unknown type" in frame["error"]
    await device.disconnect()


async def test_in_memory_layer_send_receive_and_groups():
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    await layer.send("test_channel", {"type": "hello"})
    assert await layer.receive("test_channel") == {"type": "hello"}
    a, b = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("unit_group", a)
    await layer.group_add("unit_group", b)
    await layer.group_send("unit_group", {"type": "chat.message", "message": "x"})
    assert (await layer.receive(a))["message"] == (await layer.receive(b))["message"] == "x"


def test_secrets_are_stored_only_as_hashes(django_in_memory):
    from devices.models import ApiKey, Device, hash_secret

    device, token, _ = Device.objects.issue("hash-check")
    api_key, key, _ = ApiKey.objects.issue("hash-check")
    assert token not in device.token_hash and device.token_hash == hash_secret(token)
    assert key not in api_key.key_hash and api_key.key_hash == hash_secret(key)
