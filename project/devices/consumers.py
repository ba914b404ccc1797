# project/devices/consumers.py
"""Steps 3 and 4: a device's socket (its token check, leaving and send_frame: devices/sockets.py).
Step 3: it joins its own group and the broadcast group; a device.message event becomes a frame.
Step 4 adds commands: a device.command event becomes a frame, and the device's reply frame goes back
to whoever asked, on the reply channel the event carried. device.revoked closes the socket."""

import math
import time
from collections import OrderedDict

from channels.exceptions import ChannelFull

from devices import presence
from devices.frames import parse_device_frame, push_frame
from devices.sockets import DeviceSocket
from mysite.close_codes import REVOKED_CLOSE_CODE
from mysite.groups import BROADCAST_GROUP, device_group

MAX_PENDING_COMMANDS = 256


class DeviceConsumer(DeviceSocket):
    async def connect(self):
        device_id = self.scope["url_route"]["kwargs"]["device_id"]
        if await self.authenticate() is None:  # closing before accept refuses the handshake (403)
            await self.close()
            return
        self.pending = OrderedDict()  # command id -> (reply channel of the waiting view, expiry time)
        ### BEGIN SOLUTION DeviceConsumer.connect
        for group in (device_group(device_id), BROADCAST_GROUP):
            await self.channel_layer.group_add(group, self.channel_name)
        ### END SOLUTION
        await presence.connected(self.device, self.channel_name)  # online, for the API's answers
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        """A device sends only replies: {"type": "reply", "id": <command id>, "data": ...}."""
        frame, error = parse_device_frame(text_data)
        reply_channel, expires = self.pending.pop(frame["id"], (None, 0)) if frame else (None, 0)
        if frame and (reply_channel is None or time.time() > expires):
            error = f"no pending command with id {frame['id'][:64]!r} (already answered or timed out?)"
        if error:
            await self.send_frame({"type": "error", "error": error})
            return
        reply = {"type": "device.reply", "id": frame["id"], "data": frame["data"], "device": self.device.device_id}
        try:
            await self.channel_layer.send(reply_channel, reply)
        except ChannelFull:  # at most once: the asking process's inbox is over capacity
            await self.send_frame({"type": "error", "error": "reply not delivered: the server is too busy"})

    async def device_message(self, event):
        """Handles device.message (a push from the API, a broadcast or a notebook)."""
        ### BEGIN SOLUTION DeviceConsumer.device_message
        await self.send_frame(push_frame(event))
        ### END SOLUTION

    async def device_command(self, event):
        """Handles device.command: remember where the reply goes, then pass the command on."""
        self.pending[event["id"]] = (event["reply_channel"], event.get("expires", math.inf))
        while len(self.pending) > MAX_PENDING_COMMANDS:  # a device that never answers
            self.pending.popitem(last=False)
        await self.send_frame({"type": "command", "id": event["id"], "data": event.get("data")})

    async def device_revoked(self, event):
        """Handles device.revoked (a new token, revoke_device, the device deleted): this socket's token is void."""
        await self.close(code=REVOKED_CLOSE_CODE)
