# project/devices/views.py
"""Step 3: the HTTP-to-WebSocket bridge. A view calls group_send; the device's consumer
handles the event named by its type (device.message -> device_message) and sends the frame."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from devices import presence
from mysite.groups import BROADCAST_GROUP, device_group
from devices.models import DEVICE_ID, Device
from mysite.api import ApiError, api_endpoint, new_id


async def get_device(device_id):
    """The registered device, or ApiError 404."""
    device = await Device.objects.filter(device_id=device_id).afirst() if DEVICE_ID.match(device_id) else None
    if device is None:
        raise ApiError(404, f"unknown device: {device_id[:64]!r}")
    return device


def require_data(body):
    """The body's "data" (any JSON), or ApiError 400."""
    if "data" not in body:
        raise ApiError(400, "'data' is missing: send {\"data\": <any JSON>}")
    return body["data"]


@api_endpoint("POST")
async def push_message(request, body, device_id):
    """POST /api/devices/<id>/messages/: push data to one device (at most once: offline means lost)."""
    data = require_data(body)
    return 202, await push_to_device(await get_device(device_id), data)


async def push_to_device(device, data):
    """The push itself, shared with the instructor dashboard (devices/dashboard.py)."""
    event = {"type": "device.message", "id": new_id(), "data": data}
    ### BEGIN SOLUTION push_to_device
    await get_channel_layer().group_send(device_group(device.device_id), event)
    ### END SOLUTION
    return {"id": event["id"], "device": device.device_id, "online": await presence.is_online(device)}


@api_endpoint("POST")
def push_message_sync(request, body, device_id):
    """POST /api/devices/<id>/messages/sync/: the same push from a plain sync view, in the seed's style.
    Same checks (api_endpoint); the layer's async group_send is called through async_to_sync."""
    data = require_data(body)
    device = Device.objects.filter(device_id=device_id).first() if DEVICE_ID.match(device_id) else None
    if device is None:
        raise ApiError(404, f"unknown device: {device_id[:64]!r}")
    event = {"type": "device.message", "id": new_id(), "data": data}
    ### BEGIN SOLUTION push_message_sync
    async_to_sync(get_channel_layer().group_send)(device_group(device.device_id), event)
    ### END SOLUTION
    online = async_to_sync(presence.is_online)(device)
    return 202, {"id": event["id"], "device": device.device_id, "online": online}


@api_endpoint("POST")
async def broadcast(request, body):
    """POST /api/broadcast/: push data to every connected device."""
    return 202, await broadcast_to_all(require_data(body))


async def broadcast_to_all(data):
    """The broadcast itself, shared with the instructor dashboard."""
    event = {"type": "device.message", "id": new_id(), "data": data}
    ### BEGIN SOLUTION broadcast_to_all
    await get_channel_layer().group_send(BROADCAST_GROUP, event)
    ### END SOLUTION
    return {"id": event["id"], "online": await presence.online_count()}


@api_endpoint("GET", parse_json=False)
async def list_devices(request, body):
    """GET /api/devices/: every device with its presence, from any server process."""
    return 200, await presence.snapshot()
