"""A consumer that refuses every handshake: the answer to a WebSocket path that matches no route."""
from channels.generic.websocket import AsyncWebsocketConsumer


class RefuseConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = "__none__"  # needs no channel layer, so it works even with Redis down

    async def connect(self):
        """Closing before accept makes the server answer the handshake with 403."""
        await self.close()
