"""Channels' per-event database clean-up, made occasional ("nocleanup", kit/fast/__init__.py).

Channels 4.2+ awaits close_old_connections() in a worker thread before every handler, async
consumers included: a thread hop in and out per push delivered and per HTTP request. Its job is to
drop database connections that are past CONN_MAX_AGE or broken. Once a second does that job as
well: a broken connection is dropped at most a second late, instead of a hop on every event.
"""

import asyncio
import time

from channels.consumer import get_handler_name
from channels.db import aclose_old_connections
from django.conf import settings

EVERY_SECONDS = 1.0
_last = 0.0
_running = set()  # the clean-ups under way (a task nobody holds may be collected mid-run)


def now_and_then():
    """Starts close_old_connections() in the background if the last one is a second old."""
    global _last
    if time.monotonic() - _last < EVERY_SECONDS:
        return
    _last = time.monotonic()
    task = asyncio.ensure_future(aclose_old_connections())
    _running.add(task)
    task.add_done_callback(_running.discard)


async def dispatch_without_cleanup(consumer, message):
    """Channels' AsyncConsumer.dispatch, with the clean-up made occasional."""
    handler = getattr(consumer, get_handler_name(message), None)
    if handler is None:
        raise ValueError(f"No handler for message type {message['type']}")
    now_and_then()
    await handler(message)


class OccasionalCleanup:
    """A consumer mixin: with "nocleanup", Channels' dispatch without its per-event clean-up hop."""

    async def dispatch(self, message):
        if "nocleanup" in settings.FAST_CHANGES:
            return await dispatch_without_cleanup(self, message)
        return await super().dispatch(message)
