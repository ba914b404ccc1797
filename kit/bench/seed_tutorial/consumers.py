# kit/bench/seed_tutorial/consumers.py
"""The seed's ConnectionConsumer (sync), and the same consumer written async for comparison."""

import json

from asgiref.sync import async_to_sync
from channels.generic.websocket import AsyncWebsocketConsumer, WebsocketConsumer


class ConnectionConsumer(WebsocketConsumer):
    def connect(self):
        """Join the device's group and the broadcast group, as the seed does."""
        self.groups_joined = [f"device_{self.scope['url_route']['kwargs']['device_id']}", "devices"]
        for group in self.groups_joined:
            async_to_sync(self.channel_layer.group_add)(group, self.channel_name)
        self.accept()

    def disconnect(self, code):
        for group in self.groups_joined:
            async_to_sync(self.channel_layer.group_discard)(group, self.channel_name)

    def app_response(self, event):
        """Handles app_response: the seed's handler, one thread hop per event."""
        self.send(text_data=json.dumps({"data": event["data"]}))


class AsyncConnectionConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.groups_joined = [f"device_{self.scope['url_route']['kwargs']['device_id']}", "devices"]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def app_response(self, event):
        """Handles app_response without leaving the event loop."""
        await self.send(text_data=json.dumps({"data": event["data"]}))


class AsyncNoCleanupConsumer(AsyncConnectionConsumer):
    async def dispatch(self, message):
        """Channels 4.2+ runs close_old_connections() in a worker thread before EVERY handler, even in
        async consumers. This one never touches the database, so it skips that thread hop (an experiment)."""
        handler = getattr(self, message["type"].replace(".", "_"), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
