# project/chat/consumers.py
"""Step 2: a chat room. Each socket joins the group chat_<room>; a message goes to the whole group."""

import json

from channels.generic.websocket import AsyncWebsocketConsumer

from chat.frames import parse_chat_frame
from mysite.groups import room_group


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        """Join the room's group, then accept. The route already checked the room name."""
        self.group = room_group(self.scope["url_route"]["kwargs"]["room"])
        ### BEGIN SOLUTION ChatConsumer.connect
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        ### END SOLUTION

    async def disconnect(self, code):
        """Leave the group, or the layer keeps sending to a dead channel until group_expiry."""
        ### BEGIN SOLUTION ChatConsumer.disconnect
        await self.channel_layer.group_discard(self.group, self.channel_name)
        ### END SOLUTION

    async def receive(self, text_data=None, bytes_data=None):
        """A frame from this socket: check it, then send it to everyone in the room."""
        message, error = parse_chat_frame(text_data)
        if error:
            await self.send(text_data=json.dumps({"error": error}))  # to the sender only
            return
        ### BEGIN SOLUTION ChatConsumer.receive
        await self.channel_layer.group_send(self.group, {"type": "chat.message", "message": message})
        ### END SOLUTION

    async def chat_message(self, event):
        """Handles chat.message events (type "chat.message" -> method chat_message)."""
        ### BEGIN SOLUTION ChatConsumer.chat_message
        frame = {"message": str(event.get("message", ""))}
        if event.get("system"):
            frame["system"] = True  # an announcement from the HTTP API, not a member
        await self.send(text_data=json.dumps(frame))
        ### END SOLUTION
