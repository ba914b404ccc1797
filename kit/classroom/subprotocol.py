"""The device route's token as a WebSocket subprotocol, for browsers: `new WebSocket(url, ["bearer." + token])`.

The browser's WebSocket API cannot set an Authorization header, and a token in the URL would land in
access logs and history. So a handshake to /ws/devices/<id>/ that offers the subprotocol `bearer.<token>`
and carries no Authorization header reaches the project as if it had sent `Authorization: Bearer <token>`,
and the accept echoes the subprotocol (a browser drops a socket whose server picked none of those it
offered). The learner's DeviceConsumer checks the token as it always does; headers work as before.
"""

import re

DEVICE_PATH = re.compile(r"^/ws/devices/[A-Za-z0-9_.-]{1,64}/\Z")
PREFIX = "bearer."
TOKEN = re.compile(r"^[A-Za-z0-9_.~+/=-]{1,256}\Z")  # a token's characters; the header must stay ASCII


def offered_token(subprotocols):
    """(the `bearer.<token>` subprotocol offered, its token), or (None, None)."""
    for offered in subprotocols or ():
        if isinstance(offered, str) and offered.startswith(PREFIX) and TOKEN.match(offered[len(PREFIX) :]):
            return offered, offered[len(PREFIX) :]
    return None, None


class BearerSubprotocol:
    """ASGI middleware: a device handshake's `bearer.<token>` subprotocol becomes its Authorization header."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and DEVICE_PATH.match(scope.get("path", "")):
            if not any(name == b"authorization" for name, _ in scope.get("headers", ())):
                offered, token = offered_token(scope.get("subprotocols"))
                if offered:
                    headers = [*scope["headers"], (b"authorization", f"Bearer {token}".encode("ascii"))]
                    scope, send = {**scope, "headers": headers}, echoing(send, offered)
        return await self.application(scope, receive, send)


def echoing(send, subprotocol):
    """send, with subprotocol added to the accept (unless the consumer chose one itself)."""

    async def send_echoing(message):
        if message.get("type") == "websocket.accept" and not message.get("subprotocol"):
            message = {**message, "subprotocol": subprotocol}
        await send(message)

    return send_echoing
