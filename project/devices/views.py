# project/devices/views.py
"""Step 3-4: the HTTP-to-WebSocket bridge. A view calls group_send; the device's consumer
handles the event named by its type (device.message -> device_message) and sends the frame."""
import time

from devices import presence
from devices.groups import BROADCAST_GROUP, device_group
from devices.models import DEVICE_ID, Device
from mysite.api import ApiError, LayerTimeout, api_endpoint, layer_call, new_id

DEFAULT_COMMAND_TIMEOUT, MAX_COMMAND_TIMEOUT = 5, 30


async def get_device(device_id):
    device = await Device.objects.filter(device_id=device_id).afirst() if DEVICE_ID.match(device_id) else None
    if device is None:
        raise ApiError(404, f"unknown device: {device_id[:64]!r}")
    return device


def require_data(body):
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
    ### BEGIN SOLUTION
    await layer_call(lambda layer: layer.group_send(device_group(device.device_id), event))
    ### END SOLUTION
    return {"id": event["id"], "device": device.device_id, "online": await presence.is_online(device)}


@api_endpoint("POST")
async def broadcast(request, body):
    """POST /api/broadcast/: push data to every connected device."""
    return 202, await broadcast_to_all(require_data(body))


async def broadcast_to_all(data):
    """The broadcast itself, shared with the instructor dashboard."""
    event = {"type": "device.message", "id": new_id(), "data": data}
    ### BEGIN SOLUTION
    await layer_call(lambda layer: layer.group_send(BROADCAST_GROUP, event))
    ### END SOLUTION
    return {"id": event["id"], "online": await presence.online_count()}


def command_timeout(body):
    timeout = body.get("timeout", DEFAULT_COMMAND_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise ApiError(400, "'timeout' must be a number of seconds")
    if not 0 < timeout <= MAX_COMMAND_TIMEOUT:
        raise ApiError(400, f"'timeout' must be more than 0 and at most {MAX_COMMAND_TIMEOUT} seconds")
    return timeout


@api_endpoint("POST")
async def send_command(request, body, device_id):
    """POST /api/devices/<id>/commands/: send a command and wait for the device's reply.

    Async on purpose: the view waits on a channel of its own (new_channel), so hundreds of
    commands can wait at once without holding a thread each. The id matches reply to request.
    """
    data, timeout = require_data(body), command_timeout(body)
    return 200, await command_round_trip(await get_device(device_id), data, timeout)


async def command_round_trip(device, data, timeout=DEFAULT_COMMAND_TIMEOUT):
    """Send one command and wait for its reply: {"id", "reply"}, or ApiError 409/504/503.
    Shared with the instructor dashboard."""
    device_id = device.device_id
    command_id = new_id()
    if not await presence.is_online(device):
        raise ApiError(409, "device is offline", id=command_id)
    ### BEGIN SOLUTION
    reply_channel = await layer_call(lambda layer: layer.new_channel())
    event = {"type": "device.command", "id": command_id, "data": data, "reply_channel": reply_channel,
             "expires": time.time() + timeout}  # after that nobody listens: the consumer refuses the reply
    await layer_call(lambda layer: layer.group_send(device_group(device_id), event))
    try:
        reply = await layer_call(lambda layer: layer.receive(reply_channel), timeout=timeout)
    except LayerTimeout:
        raise ApiError(504, f"device did not reply within {timeout} s", id=command_id)
    return {"id": command_id, "reply": reply.get("data")}
    ### END SOLUTION


@api_endpoint("GET", parse_json=False)
async def list_devices(request, body):
    """GET /api/devices/: every device with its presence, from any server process."""
    return 200, await presence.snapshot()
