"""The learner's DeviceConsumer, served leaner: no per-event database clean-up where no database is
used ("nocleanup"), and pushes written by the layer's hub ("hub", kit/fast/layer.py).

Channels 4.2+ awaits close_old_connections() in a worker thread before every handler, async
consumers included: one thread hop per push delivered, about half of the fan-out rate. A push or
a command only formats a frame and sends it, so those two skip it; connect, disconnect and
anything else keep Channels' own dispatch.
"""
import asyncio

from channels.consumer import get_handler_name
from django.conf import settings

from devices.consumers import DeviceConsumer

NO_DATABASE = {"device.message", "device.command"}


async def finish(coroutine, awaited):
    """Drives a send that had to wait (the socket's buffer full) to its end, as a task would."""
    while True:
        try:
            await (awaited if awaited is not None else asyncio.sleep(0))
        except Exception:  # the send itself sees the outcome when resumed
            pass
        try:
            awaited = coroutine.send(None)
        except StopIteration:
            return
        except Exception:  # the socket closed meanwhile: at most once
            return


class FastDeviceConsumer(DeviceConsumer):
    waiting_send = None  # the task finishing a send that had to wait; frames meanwhile are dropped

    async def dispatch(self, message):
        """Calls the handler of a database-free event directly, the rest as Channels does."""
        if message["type"] in NO_DATABASE and "nocleanup" in settings.FAST_CHANGES:
            return await getattr(self, get_handler_name(message))(message)
        return await super().dispatch(message)

    async def connect(self):
        """The learner's connect; then, with the hub, this socket takes pushes straight from the layer."""
        await super().connect()
        direct = getattr(self.channel_layer, "direct", None)
        if "hub" in settings.FAST_CHANGES and direct is not None and getattr(self, "device", None):
            direct[self.channel_name] = self.write_now

    async def disconnect(self, code):
        getattr(self.channel_layer, "direct", {}).pop(self.channel_name, None)
        await super().disconnect(code)

    def write_now(self, text):
        """Sends a frame without a task when the server can take it at once (nearly always): one
        step of the send coroutine. If it has to wait for a slow device, a task finishes it, and
        frames that come meanwhile are dropped (at most once; memory stays bounded)."""
        if self.waiting_send is not None and not self.waiting_send.done():
            return
        coroutine = self.base_send({"type": "websocket.send", "text": text})
        try:
            awaited = coroutine.send(None)
        except StopIteration:
            return
        except Exception:  # the socket is closing
            return
        self.waiting_send = asyncio.ensure_future(finish(coroutine, awaited))


def with_fast_devices(patterns):
    """The project's WebSocket routes, with the device route served by FastDeviceConsumer."""
    from django.urls import re_path

    routes = []
    for pattern in patterns:
        if getattr(pattern.callback, "consumer_class", None) is DeviceConsumer:
            pattern = re_path(pattern.pattern.regex.pattern, FastDeviceConsumer.as_asgi(), name=pattern.name)
        routes.append(pattern)
    return routes
