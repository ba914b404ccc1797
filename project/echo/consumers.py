# project/echo/consumers.py
"""Step 1: a consumer that sends every frame back to the socket it came from."""

from channels.generic.websocket import AsyncWebsocketConsumer


class EchoConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        """websocket.connect: the handshake arrived; accept it (or call close() to refuse)."""
        ### BEGIN SOLUTION EchoConsumer.connect
        await self.accept()
        ### END SOLUTION

    async def receive(self, text_data=None, bytes_data=None):
        """websocket.receive: one frame, text or binary; send it back the same way."""
        ### BEGIN SOLUTION EchoConsumer.receive
        if text_data is not None:
            await self.send(text_data=text_data)
        else:
            await self.send(bytes_data=bytes_data)
        ### END SOLUTION

    async def disconnect(self, code):
        """websocket.disconnect: the socket is gone; nothing to clean up for echo."""
