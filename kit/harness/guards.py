"""What the harness adds around every consumer it serves: plain close codes and one log line
instead of a traceback.

Channels lets a consumer that raises die: daphne logs a traceback, closes the socket with 1011,
and disconnect() never runs, so groups and presence are never cleaned up. install() replaces
channels.consumer.AsyncConsumer.__call__ (the method every consumer class inherits and none of
the project's overrides) with a version that handles two expected cases:

- NotImplementedError("TODO ...") from a starter stub: one "not done yet" log line (kit.lab.step_not_done
  reads it), close code 4501 (before accept: the handshake is refused, HTTP 403);
- a channel-layer error (Redis stopped, restarted, unreachable): one log line, disconnect() runs
  (bounded, its own errors suppressed), close code 4503. Clients reconnect on their own.

Anything else is a bug and is re-raised as usual. The patch is applied only in the process that
imports kit.harness.asgi (the harness's daphne, or a test that serves the harness's application).
"""

import asyncio
import contextlib
import logging
import time

from channels.consumer import AsyncConsumer

from mysite.api import is_layer_error
from mysite.close_codes import LAYER_FAILED_CLOSE_CODE, NOT_DONE_CLOSE_CODE

log = logging.getLogger(__name__)
CLEANUP_TIMEOUT_SECONDS = 6
# Channels' URLRouter says "no route" only in text: ValueError("No route found for path %r."). This is
# the one place the kit matches it; tests/kit/test_upstream_internals.py pins the text.
NO_ROUTE = "No route found"

_original_call = AsyncConsumer.__call__


async def close(send, code):
    """Closes the socket (refuses it before accept); it may be gone already."""
    with contextlib.suppress(Exception):
        await send({"type": "websocket.close", "code": code})


async def refuse(scope, receive, send):
    """An ASGI app that refuses a WebSocket handshake (403): for unknown paths and broken apps."""
    await receive()  # websocket.connect
    await send({"type": "websocket.close"})


def not_done(scope, exc):
    log.warning("not done yet, %s closed: %s", scope.get("path"), exc)


async def guarded_call(self, scope, receive, send, call=None):
    """AsyncConsumer.__call__ (or `call`, a consumer's own loop), with a stub and a failing layer
    turned into clean closes."""
    try:
        await (call or _original_call)(self, scope, receive, send)
    except NotImplementedError as exc:
        if scope.get("type") != "websocket":
            raise
        not_done(scope, exc)
        await close(send, NOT_DONE_CLOSE_CODE)
    except Exception as exc:
        if scope.get("type") != "websocket" or not is_layer_error(exc):
            raise  # a bug: daphne logs it with its traceback
        log.warning("channel layer failed (%s: %s): closing %s", exc.__class__.__name__, exc, scope.get("path"))
        if hasattr(self, "disconnect"):  # so that presence and groups are cleaned up where possible
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.disconnect(LAYER_FAILED_CLOSE_CODE), CLEANUP_TIMEOUT_SECONDS)
        await close(send, LAYER_FAILED_CLOSE_CODE)


def install():
    """Patches AsyncConsumer.__call__ once (idempotent)."""
    AsyncConsumer.__call__ = guarded_call


class Harness:
    """Wraps the project's ASGI application: an unknown WebSocket path is refused (Channels'
    URLRouter raises ValueError for it), and a stub hit outside a consumer is "not done yet"."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            if scope["type"] == "http":  # a command's timeout counts from here (mysite.api.received_at)
                scope = {**scope, "received_at": time.time()}
            return await self.application(scope, receive, send)
        try:
            await self.application(scope, receive, send)
        except ValueError as exc:
            if not str(exc).startswith(NO_ROUTE):
                raise
            await refuse(scope, receive, send)
        except NotImplementedError as exc:
            not_done(scope, exc)
            await close(send, NOT_DONE_CLOSE_CODE)
