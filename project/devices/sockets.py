"""DeviceSocket: the device socket's plumbing, given so that DeviceConsumer shows only the lesson's moves.

It checks the handshake's Bearer token (authenticate), marks the socket offline and leaves both groups on
disconnect, and sends JSON frames (send_frame). DeviceConsumer (devices/consumers.py) builds on it in
notebooks 03 and 04. Plain Channels: an AsyncWebsocketConsumer with three methods.
"""

import json

from channels.generic.websocket import AsyncWebsocketConsumer

from devices import presence
from devices.models import Device
from mysite.api import bearer_token
from mysite.groups import BROADCAST_GROUP, device_group


class DeviceSocket(AsyncWebsocketConsumer):
    device = None  # set by authenticate()

    async def authenticate(self):
        """The device whose id is in the URL and whose token the handshake carries, or None."""
        device_id = self.scope["url_route"]["kwargs"]["device_id"]
        headers = {k.decode("latin-1").title(): v.decode("latin-1") for k, v in self.scope["headers"]}
        self.device = await Device.objects.aauthenticate(device_id, bearer_token(headers))
        return self.device

    async def disconnect(self, code):
        """Mark this socket gone, then leave both groups (if connect got that far)."""
        if self.device is None:
            return
        # Presence first: if Redis is down, group_discard raises and nothing after it runs.
        await presence.disconnected(self.device, self.channel_name)
        for group in (device_group(self.device.device_id), BROADCAST_GROUP):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def send_frame(self, frame):
        await self.send(text_data=json.dumps(frame))
