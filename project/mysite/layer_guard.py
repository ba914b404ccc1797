# project/mysite/layer_guard.py
"""What a consumer does when the channel layer fails (Redis stopped, restarted, unreachable).

Channels lets the consumer die: daphne logs a traceback, closes the socket with 1011 and the
consumer's disconnect() never runs, so groups and presence are never cleaned up. LayerGuard,
mixed in before the consumer class, turns that into one log line, a disconnect() that does run,
and a close with code 4503 (try again later). Clients reconnect on their own (devices/simulator.py).
"""
import asyncio
import contextlib
import logging

log = logging.getLogger("kit.layer")
CLEANUP_TIMEOUT_SECONDS = 2
# Applications may close with 1000 or 3000-4999 only (1011 is the server's own); 4503 reads "503, retry".
LAYER_FAILED_CLOSE_CODE = 4503


def is_layer_error(exc):
    """True for the errors of an unreachable Redis: OSError, or redis-py's own errors."""
    return isinstance(exc, OSError) or exc.__class__.__module__.startswith("redis")


async def quietly(call, timeout=CLEANUP_TIMEOUT_SECONDS):
    """Awaits a layer call made while cleaning up (group_discard): a dead layer must not stop the rest."""
    try:
        await asyncio.wait_for(call, timeout)
    except Exception as exc:
        if not (is_layer_error(exc) or isinstance(exc, asyncio.TimeoutError)):
            raise
        log.info("channel layer unreachable during cleanup: %s", exc.__class__.__name__)


class LayerGuard:
    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        except Exception as exc:
            layer_failed = is_layer_error(exc)
            if layer_failed:  # expected when Redis goes away: one line, no traceback
                log.warning("channel layer failed (%s: %s): closing %s", exc.__class__.__name__, exc, scope["path"])
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.disconnect(LAYER_FAILED_CLOSE_CODE), CLEANUP_TIMEOUT_SECONDS * 3)
            if not layer_failed:
                raise  # a bug: daphne logs it with its traceback and closes the socket with 1011
            await send({"type": "websocket.close", "code": LAYER_FAILED_CLOSE_CODE})  # before accept: HTTP 403
