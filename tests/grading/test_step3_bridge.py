"""Step 3 (30 points): device auth, HTTP pushes, broadcast, announcements and every error status."""

import json

import pytest

from contract_client import assert_silent, browser_origin, in_thread, recv_json, refused, require

pytestmark = pytest.mark.step3

DEVICE_PATH = "/ws/devices/{}/"


async def test_device_without_token_is_refused(ws, new_device, device_socket_works):
    require(device_socket_works, "a device connecting with its own token")
    device_id, _ = new_device()
    assert await refused(ws(DEVICE_PATH.format(device_id)))


async def test_device_with_wrong_token_is_refused(ws, new_device, device_socket_works):
    require(device_socket_works, "a device connecting with its own token")
    device_id, _ = new_device()
    assert await refused(ws(DEVICE_PATH.format(device_id), token="not-the-token"))


async def test_device_with_another_devices_token_is_refused(ws, new_device, device_socket_works):
    require(device_socket_works, "a device connecting with its own token")
    (first, _), (_, second_token) = new_device(), new_device()
    assert await refused(ws(DEVICE_PATH.format(first), token=second_token))


async def test_post_message_reaches_that_device_only(ws, api, new_device):
    (target, token), (other, other_token) = new_device(), new_device()
    device, bystander = await ws(DEVICE_PATH.format(target), token), await ws(DEVICE_PATH.format(other), other_token)
    response = await in_thread(api.post, f"/api/devices/{target}/messages/", json={"data": {"led": "on"}})
    assert response.status_code == 202
    body = response.json()
    assert body["device"] == target and body["online"] is True and isinstance(body["id"], str)
    assert await recv_json(device) == {"type": "message", "id": body["id"], "data": {"led": "on"}}
    await assert_silent(bystander)


async def test_post_message_to_offline_device_is_accepted_and_says_offline(api, new_device):
    device_id, _ = new_device()
    response = await in_thread(api.post, f"/api/devices/{device_id}/messages/", json={"data": 1})
    assert response.status_code == 202, f"answered {response.status_code}, not 202: {response.text[:200]}"
    assert response.json()["online"] is False


async def test_broadcast_reaches_every_device_and_no_chat_socket(ws, api, new_device, server):
    devices = [new_device() for _ in range(3)]
    sockets = [await ws(DEVICE_PATH.format(device_id), token) for device_id, token in devices]
    chat = await ws("/ws/chat/broadcast-check/", origin=browser_origin(server))
    response = await in_thread(api.post, "/api/broadcast/", json={"data": "firmware 2.1"})
    assert response.status_code == 202
    assert response.json()["online"] >= 3
    for sock in sockets:
        assert await recv_json(sock) == {"type": "message", "id": response.json()["id"], "data": "firmware 2.1"}
    await assert_silent(chat)


async def test_announcement_reaches_the_room_as_system_message(ws, api, server):
    member = await ws("/ws/chat/announce-a/", origin=browser_origin(server))
    elsewhere = await ws("/ws/chat/announce-b/", origin=browser_origin(server))
    response = await in_thread(api.post, "/api/rooms/announce-a/announcements/", json={"text": "class ends at 5"})
    assert response.status_code == 202
    frame = await recv_json(member)
    assert frame["message"] == "class ends at 5" and frame["system"] is True
    await assert_silent(elsewhere)


async def test_group_send_from_outside_reaches_a_device(ws, new_device, outside_layer):
    device_id, token = new_device()
    sock = await ws(DEVICE_PATH.format(device_id), token)
    await outside_layer.group_send(f"device_{device_id}", {"type": "device.message", "id": "n1", "data": [1, 2]})
    assert await recv_json(sock) == {"type": "message", "id": "n1", "data": [1, 2]}
    await outside_layer.group_send("devices", {"type": "device.message", "id": "n2", "data": None})
    assert await recv_json(sock) == {"type": "message", "id": "n2", "data": None}


async def test_a_bad_device_frame_gets_an_error_frame_and_stays_open(ws, api, new_device):
    (device_id, token), (other, other_token) = new_device(), new_device()
    sock, bystander = await ws(DEVICE_PATH.format(device_id), token), await ws(DEVICE_PATH.format(other), other_token)
    await sock.send("not json")
    frame = await recv_json(sock)
    assert frame["type"] == "error" and frame["error"]
    await assert_silent(bystander)
    response = await in_thread(api.post, f"/api/devices/{device_id}/messages/", json={"data": "still open"})
    assert (await recv_json(sock))["data"] == "still open"
    assert response.status_code == 202


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/api/devices/{d}/messages/"),
        ("POST", "/api/broadcast/"),
        ("POST", "/api/rooms/lobby/announcements/"),
        ("GET", "/api/devices/"),
    ],
)
@pytest.mark.parametrize("auth", [None, "Bearer wrong-key", "Basic abc"])
def test_missing_or_wrong_api_key_is_401(anonymous, new_device, device_push_works, method, path, auth):
    require(device_push_works, "pushing a message to a device")
    device_id, _ = new_device()
    headers = {"Authorization": auth} if auth else {}
    body = {"data": 1, "text": "x"} if method == "POST" else None
    response = anonymous.request(method, path.format(d=device_id), json=body, headers=headers)
    assert response.status_code == 401 and "error" in response.json()


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'"text"', b"", b"\xff\xfe"])
def test_malformed_or_non_object_body_is_400(api, new_device, device_push_works, content):
    require(device_push_works, "pushing a message to a device")
    device_id, _ = new_device()
    response = api.post(
        f"/api/devices/{device_id}/messages/", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and "error" in response.json()


def test_missing_fields_are_400(api, new_device, device_push_works):
    require(device_push_works, "pushing a message to a device")
    device_id, _ = new_device()
    assert api.post(f"/api/devices/{device_id}/messages/", json={"payload": 1}).status_code == 400
    assert api.post("/api/broadcast/", json={}).status_code == 400
    assert api.post("/api/rooms/lobby/announcements/", json={"message": "wrong key"}).status_code == 400
    assert api.post("/api/rooms/lobby/announcements/", json={"text": 5}).status_code == 400


def test_unknown_device_invalid_room_and_unknown_route_are_404(api, device_push_works):
    require(device_push_works, "pushing a message to a device")
    for path, body in [
        ("/api/devices/no-such-device/messages/", {"data": 1}),
        ("/api/rooms/bad room!/announcements/", {"text": "x"}),
        ("/api/no-such-route/", {}),
    ]:
        response = api.post(path, json=body)
        assert response.status_code == 404, path
        assert "error" in response.json(), path


def test_wrong_method_is_405(api, new_device, device_push_works):
    require(device_push_works, "pushing a message to a device")
    device_id, _ = new_device()
    for method, path in [
        ("GET", f"/api/devices/{device_id}/messages/"),
        ("PUT", "/api/broadcast/"),
        ("DELETE", "/api/rooms/lobby/announcements/"),
        ("POST", "/api/devices/"),
    ]:
        response = api.request(method, path)
        assert response.status_code == 405, f"{method} {path}"
        assert "error" in response.json()


def test_body_over_64_kib_is_413(api, new_device, device_push_works):
    require(device_push_works, "pushing a message to a device")
    device_id, _ = new_device()
    body = json.dumps({"data": "x" * (65 * 1024)})
    response = api.post(
        f"/api/devices/{device_id}/messages/", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413 and "error" in response.json()


def test_error_bodies_are_json_objects_with_an_error_string(api, anonymous, device_push_works):
    require(device_push_works, "pushing a message to a device")
    for response in [
        anonymous.post("/api/broadcast/", json={"data": 1}),
        api.post("/api/broadcast/", content=b"{"),
        api.get("/api/broadcast/"),
        api.post("/api/devices/nobody/messages/", json={"data": 1}),
    ]:
        assert response.headers["content-type"].startswith("application/json")
        assert isinstance(response.json()["error"], str) and response.json()["error"]
