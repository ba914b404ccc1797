"""The learner's DeviceConsumer, served leaner: Channels' per-event database clean-up made occasional
("nocleanup", kit/fast/cleanup.py), and the socket's channel and group events handed over by the
layer's hub ("hub", kit/fast/layer.py) instead of through a queue, a task and the consumer's loop.
"""

import asyncio
import collections
import contextlib
import logging

from channels.exceptions import StopConsumer
from channels.layers import get_channel_layer
from django.conf import settings

from devices.consumers import DeviceConsumer
from kit.fast import cleanup
from kit.harness import guards

log = logging.getLogger(__name__)


async def finish(coroutine, awaited):
    """Drives a handler that had to wait (the socket's buffer full) to its end, as a task would."""
    while True:
        with contextlib.suppress(Exception):  # the handler itself sees the outcome when resumed
            await (awaited if awaited is not None else asyncio.sleep(0))
        try:
            awaited = coroutine.send(None)
        except StopIteration:
            return
        except Exception:  # the socket closed meanwhile: at most once
            return


class FastDeviceConsumer(cleanup.OccasionalCleanup, DeviceConsumer):
    backlog = None  # events that came while a handler waited, handled in order by `worker` (None: none waits)
    worker = None

    async def __call__(self, scope, receive, send):
        if "hub" in settings.FAST_CHANGES and hasattr(get_channel_layer(self.channel_layer_alias), "direct"):
            return await guards.guarded_call(self, scope, receive, send, call=FastDeviceConsumer.serve)
        return await super().__call__(scope, receive, send)

    async def serve(self, scope, receive, send):
        """Channels' AsyncConsumer.__call__ with one source of events, the server's: the hub hands this
        socket's layer events to take_now, so no task per socket waits on the layer."""
        self.scope, self.base_send = scope, send
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.backlog = collections.deque()  # until connect is done, as in Channels' loop
        self.channel_layer.direct[self.channel_name] = self.take_now
        try:
            await self.dispatch(await receive())  # websocket.connect
            self.worker = asyncio.ensure_future(self.drain())
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            self.channel_layer.direct.pop(self.channel_name, None)
            self.channel_layer.channels.pop(self.channel_name, None)
            if self.worker is not None:
                self.worker.cancel()

    def take_now(self, event, frame=None):
        """The hub's way in, on the layer reader's stack: one step of the event's handler, which
        nearly always finishes it (the server takes the frame at once), without a task. A push's
        frame comes made (once for all this process's sockets). If the handler has to wait (a slow
        device), a task finishes it and then the events that came meanwhile, in order; beyond the
        layer's capacity they are dropped (at most once; memory stays bounded)."""
        if self.backlog is not None:
            if len(self.backlog) < self.channel_layer.capacity:
                self.backlog.append((event, frame))
            else:
                log.info("%s is full (%d events): %s dropped", self.channel_name, len(self.backlog), event.get("type"))
            return
        coroutine = self.handle(event, frame)
        try:
            awaited = coroutine.send(None)
        except StopIteration:
            return
        except OSError:  # the socket is gone (uvicorn's ClientDisconnected): at most once
            return
        except Exception:  # as in Channels' loop, a handler's error ends this socket
            log.exception("%s failed in %s", event.get("type"), type(self).__name__)
            asyncio.ensure_future(self.close_quietly(1011))
            return
        self.backlog = collections.deque()
        self.worker = asyncio.ensure_future(self.drain(coroutine, awaited))

    async def close_quietly(self, code):
        with contextlib.suppress(Exception):  # it may be gone already
            await self.close(code=code)

    async def handle(self, event, frame):
        if frame is not None:
            await self.base_send({"type": "websocket.send", "text": frame})
        else:
            await self.dispatch(event)

    async def drain(self, coroutine=None, awaited=None):
        """Finishes a handler that had to wait, then handles the backlog in order."""
        if coroutine is not None:
            await finish(coroutine, awaited)
        while self.backlog:
            event, frame = self.backlog.popleft()
            with contextlib.suppress(Exception):  # a socket that closed meanwhile: at most once
                await self.handle(event, frame)
        self.backlog = None


def with_fast_devices(patterns):
    """The project's WebSocket routes, with the device route served by FastDeviceConsumer, and without
    AuthMiddlewareStack: a device shows a Bearer token, and has no session or user to look up (the
    stack's cookie, session and user wrappers would be kept for each open socket). The other routes
    keep the stack, each its own."""
    from channels.auth import AuthMiddlewareStack
    from django.urls import URLPattern

    routes = []
    for pattern in patterns:
        if getattr(pattern.callback, "consumer_class", None) is DeviceConsumer:
            app = FastDeviceConsumer.as_asgi()
        else:
            app = AuthMiddlewareStack(pattern.callback)
        routes.append(URLPattern(pattern.pattern, app, pattern.default_args, pattern.name))
    return routes
