# project/devices/commands.py
"""Step 4: a command and its reply. The view makes a channel of its own (new_channel), sends the
device a device.command event that carries that channel's name, and waits on it for the reply."""

import asyncio
import time

from channels.layers import get_channel_layer

from devices import presence
from mysite.groups import device_group
from devices.views import get_device, require_data
from mysite.api import LAYER_TIMEOUT_SECONDS, ApiError, api_endpoint, new_id, received_at, within_layer_timeout

DEFAULT_COMMAND_TIMEOUT, MAX_COMMAND_TIMEOUT = 5, 30


def command_timeout(body):
    """The body's "timeout" in seconds (default 5, at most 30), or ApiError 400."""
    timeout = body.get("timeout", DEFAULT_COMMAND_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise ApiError(400, "'timeout' must be a number of seconds")
    if not 0 < timeout <= MAX_COMMAND_TIMEOUT:
        raise ApiError(400, f"'timeout' must be more than 0 and at most {MAX_COMMAND_TIMEOUT} seconds")
    return timeout


# The view waits for the device up to MAX_COMMAND_TIMEOUT, so it gets that much more time.
@api_endpoint("POST", time_limit=MAX_COMMAND_TIMEOUT + LAYER_TIMEOUT_SECONDS)
async def send_command(request, body, device_id):
    """POST /api/devices/<id>/commands/: send a command and wait for the device's reply.

    Async on purpose: the view waits on a channel of its own, so hundreds of commands can wait
    at once without holding a thread each. The id matches reply to request.
    """
    data, timeout = require_data(body), command_timeout(body)
    device = await get_device(device_id)
    return 200, await command_round_trip(device, data, timeout, since=received_at(request))


async def command_round_trip(device, data, timeout=DEFAULT_COMMAND_TIMEOUT, since=None):
    """Send one command and wait for its reply: {"id", "reply"}, or ApiError 409/504.
    The timeout counts from since (when the request arrived), else from now. Shared with the dashboard."""
    command_id = new_id()
    # A busy server can spend a second before we get here: the caller's timeout started back then.
    expires = (since or time.time()) + timeout
    if not await presence.is_online(device):
        raise ApiError(409, "device is offline", id=command_id)
    ### BEGIN SOLUTION command_round_trip
    channel_layer = get_channel_layer()
    reply_to = await channel_layer.new_channel()
    event = {"type": "device.command", "id": command_id, "data": data, "reply_channel": reply_to, "expires": expires}
    await within_layer_timeout(channel_layer.group_send(device_group(device.device_id), event), id=command_id)
    try:
        reply = await asyncio.wait_for(channel_layer.receive(reply_to), expires - time.time())
    except TimeoutError:
        raise ApiError(504, f"device did not reply within {timeout} s", id=command_id)
    return {"id": command_id, "reply": reply.get("data")}
    ### END SOLUTION
