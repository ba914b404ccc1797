"""Closing the sockets of a device whose token was replaced (create_device run again).

The token is checked once, at the handshake; a socket opened with the old token would otherwise
stay connected and keep receiving. A device.revoked event to the device's group reaches every
socket of that device in every server process; its consumer closes with REVOKED_CLOSE_CODE.
"""
import asyncio

from channels.layers import get_channel_layer

from devices.groups import device_group

REVOKED_CLOSE_CODE = 4401  # 4xxx: the application's own; "401": the credential no longer holds
NOTIFY_TIMEOUT_SECONDS = 5


async def close_sockets_of(device_id):
    """Tells every socket of device_id to close. Returns False if the layer could not be reached."""
    try:
        await asyncio.wait_for(
            get_channel_layer().group_send(device_group(device_id), {"type": "device.revoked"}),
            NOTIFY_TIMEOUT_SECONDS)
    except Exception:  # Redis down or slow: the caller says so; the old token is void anyway
        return False
    return True
