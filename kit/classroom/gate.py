"""Classroom mode's gate, around the served ASGI application: who may come in, and how fast.

- Host: every HTTP request and WebSocket handshake names one of ALLOWED_HOSTS (the students' address
  and the instructor's own), else 400 / a refused handshake. Django would refuse the request too, but
  says nothing (its DisallowedHost log is silenced: one traceback per probe); here each refusal is one
  log line with its Host and Origin, so the instructor sees why a phone got nothing.
- Origin: a WebSocket handshake that carries one (every browser's does) must come from the page's own
  origin, scheme://Host, or one of CSRF_TRUSTED_ORIGINS (mysite/origins.py, the dashboard's check),
  on every route: a page from another site cannot open a socket with a student's cookie or a phone's
  token. Devices and scripts send no Origin: their token is checked as before.
- The chat route is served by the classroom's consumer (consumers.py); a phone's frames are rate limited
  (ratelimit.py), each one over the limit answered with an error frame and dropped.
"""

import json
import logging
import re

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator, WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

from kit.classroom import ratelimit
from kit.classroom.consumers import ClassroomChatConsumer
from mysite.origins import allowed_origins, header

log = logging.getLogger(__name__)
CHAT_PATH = re.compile(r"^/ws/chat/(?P<room>[A-Za-z0-9_.-]{1,64})/\Z")
PHONE_PATH = re.compile(r"^/ws/devices/(?P<device>phone-[A-Za-z0-9_.-]{1,58})/\Z")


def host_allowed(host):
    return bool(host) and validate_host(split_domain_port(host.lower())[0], settings.ALLOWED_HOSTS)


def refused(scope, why):
    """One line per refusal: what, why, its Host and Origin, and who asked."""
    client = scope.get("client") or ("?", "?")
    log.warning(
        "classroom: refused %s %s: %s (Host %r, Origin %r, from %s)",
        "WebSocket" if scope["type"] == "websocket" else scope.get("method", "HTTP"),
        scope.get("path", "")[:200],
        why,
        header(scope, b"host")[:200],
        header(scope, b"origin")[:200],
        client[0],
    )


async def answer_400(send, message):
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ClassroomGate:
    def __init__(self, application):
        self.application = application
        self.chat = AllowedHostsOriginValidator(AuthMiddlewareStack(ClassroomChatConsumer.as_asgi()))

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.application(scope, receive, send)
        host = header(scope, b"host")
        if not host_allowed(host):
            refused(scope, "Host is not this classroom's address nor the instructor's")
            if scope["type"] == "http":
                return await answer_400(send, f"Host {host[:100]!r} is not allowed in classroom mode")
            return await WebsocketDenier()(scope, receive, send)
        if scope["type"] == "http":
            return await self.application(scope, receive, send)
        origin = header(scope, b"origin").lower()
        if origin and origin not in allowed_origins(scope):
            refused(scope, "Origin is not this server's page")
            return await WebsocketDenier()(scope, receive, send)
        chat = CHAT_PATH.match(scope.get("path", ""))
        if chat and not origin:  # Channels' validator would refuse it too, without a word
            refused(scope, "no Origin: the chat is for browsers")
            return await WebsocketDenier()(scope, receive, send)
        if chat:
            return await self.chat({**scope, "url_route": {"args": (), "kwargs": chat.groupdict()}}, receive, send)
        phone = PHONE_PATH.match(scope.get("path", ""))
        if phone:
            receive = rate_limited(receive, send, ("phone", phone["device"]))
        return await self.application(scope, receive, send)


def rate_limited(receive, send, key):
    """receive, with a student's frames over the limit answered with an error frame and dropped."""
    limit = ratelimit.for_students()

    async def receive_within_limit():
        while True:
            message = await receive()
            if message.get("type") != "websocket.receive" or limit.allow(key):
                return message
            error = {"type": "error", "error": f"too many frames: {limit.describe()}; wait a moment"}
            await send({"type": "websocket.send", "text": json.dumps(error)})

    return receive_within_limit
