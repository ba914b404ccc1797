"""Issue 20, item 5: the seed's bridge, served. POST /api/devices/<id>/messages/sync/ is a plain `def`
view calling async_to_sync(get_channel_layer().group_send), next to the async view, behind the same
API-key check and input validation (real daphne, real Redis): it reaches the device, and no input
gives it a 500."""

import json
import time

import httpx
import pytest
from websockets.sync.client import connect

from live_support import assert_no_traceback, issue_devices, start_server

SYNC = "/api/devices/sync-1/messages/sync/"


@pytest.fixture(scope="module")
def live(redis):
    server = start_server(redis.url)
    try:
        key = server.create_api_key("sync-view")
        devices = dict(issue_devices(server, 1, "sync"))
        with httpx.Client(base_url=server.http_url, headers={"Authorization": f"Bearer {key}"}, timeout=15) as api:
            yield server, api, devices
    finally:
        server.close()


def device_socket(server, token):
    headers = {"Authorization": f"Bearer {token}"}
    return connect(f"{server.ws_url}/ws/devices/sync-1/", additional_headers=headers, open_timeout=5)


def online(api):
    response = api.get("/api/devices/")
    assert response.status_code == 200, response.text
    return {row["id"]: row["online"] for row in response.json()}.get("sync-1")


def next_frame(sock):
    return json.loads(sock.recv(timeout=5))


def test_the_sync_view_and_the_async_view_both_reach_the_device(live):
    server, api, tokens = live
    with device_socket(server, tokens["sync-1"]) as device:
        for path in ("/api/devices/sync-1/messages/", SYNC):
            response = api.post(path, json={"data": {"from": path}})
            assert response.status_code == 202, response.text
            answer = response.json()
            assert answer["device"] == "sync-1" and answer["online"] is True
            assert next_frame(device) == {"type": "message", "id": answer["id"], "data": {"from": path}}
    # Leaving is handled by the server after the socket closes, and the fast variant reuses a push's
    # "online" answer for up to 0.5 s (kit/fast/cache.py): ask again until the leave shows.
    deadline = time.monotonic() + 10
    while True:
        offline = api.post(SYNC, json={"data": 1})
        assert offline.status_code == 202, offline.text
        if offline.json()["online"] is False or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert offline.json()["online"] is False
    assert online(api) is False
    assert_no_traceback(server)


@pytest.mark.parametrize(
    "request_kwargs, status",
    [
        ({"headers": {"Authorization": ""}, "json": {"data": 1}}, 401),
        ({"headers": {"Authorization": "Bearer wrong"}, "json": {"data": 1}}, 401),
        ({"content": b"light on"}, 400),
        ({"json": [1, 2]}, 400),
        ({"json": {"light": "on"}}, 400),
        ({"content": b'{"data": NaN}', "headers": {"Content-Type": "application/json"}}, 400),
        ({"content": b'{"data": 18446744073709551616}', "headers": {"Content-Type": "application/json"}}, 400),
        ({"json": {"data": "x" * 70_000}}, 413),
    ],
    ids=["no key", "wrong key", "not JSON", "a list", "data missing", "NaN", "beyond 64 bits", "over 64 KiB"],
)
def test_the_sync_view_answers_bad_input_like_the_async_one(live, request_kwargs, status):
    server, api, _ = live
    response = api.post(SYNC, **request_kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"].strip()
    assert_no_traceback(server)


def test_unknown_device_invalid_id_and_wrong_method(live):
    server, api, _ = live
    assert api.post("/api/devices/nobody/messages/sync/", json={"data": 1}).status_code == 404
    assert api.post("/api/devices/caf%C3%A9/messages/sync/", json={"data": 1}).status_code == 404
    wrong_method = api.get(SYNC)
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "POST"
    assert_no_traceback(server)
