"""Step 3, hidden: several sockets per device, odd inputs, payload kinds."""

import pytest

from contract_client import in_thread, recv_json, refused, require

pytestmark = [pytest.mark.step3, pytest.mark.hidden]


async def test_two_sockets_of_one_device_both_receive_a_push(ws, api, new_device):
    device_id, token = new_device()
    first, second = await ws(f"/ws/devices/{device_id}/", token), await ws(f"/ws/devices/{device_id}/", token)
    response = await in_thread(api.post, f"/api/devices/{device_id}/messages/", json={"data": "both"})
    assert (await recv_json(first))["data"] == (await recv_json(second))["data"] == "both"
    assert response.status_code == 202


@pytest.mark.parametrize("data", [None, 0, "", [], {}, {"nested": {"deep": [1, 2.5, True, None]}}, "안녕 🚀"])
async def test_any_json_data_arrives_unchanged(ws, api, new_device, data):
    device_id, token = new_device()
    sock = await ws(f"/ws/devices/{device_id}/", token)
    await in_thread(api.post, f"/api/devices/{device_id}/messages/", json={"data": data})
    assert (await recv_json(sock))["data"] == data


async def test_unknown_device_is_refused(ws, device_socket_works):
    require(device_socket_works, "a device connecting with its own token")
    assert await refused(ws("/ws/devices/ghost-device/", token="anything"))


def test_invalid_device_id_in_the_api_is_404(api, device_push_works):
    require(device_push_works, "pushing a message to a device")
    assert api.post("/api/devices/bad%20id/messages/", json={"data": 1}).status_code == 404


@pytest.mark.parametrize("path", ["/api/devices/{d}/messages/", "/api/broadcast/", "/api/rooms/r/announcements/"])
def test_odd_inputs_never_give_500(api, new_device, device_push_works, path):
    require(device_push_works, "pushing a message to a device")
    device_id, _ = new_device()
    for content in [b"null", b"{}", b'{"data":', b"1e999999", b'{"data": 1, "data": 2}', b"\x00" * 10]:
        response = api.post(path.format(d=device_id), content=content, headers={"Content-Type": "application/json"})
        assert response.status_code < 500, (path, content, response.text)
