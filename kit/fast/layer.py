"""RedisPubSubChannelLayer with a bound, and optionally a hub for device pushes.

Bound: each channel's queue in this process holds at most `capacity` messages; more are dropped
(logged), like the core layer's group_send over capacity. channels-redis's pub/sub layer keeps an
unbounded asyncio.Queue per channel: a device that stops reading (its server-side send waits for
the socket to drain) would make its queue, and the process, grow without end.

Hub: a device.message published to a group arrives once per process (one SUBSCRIBE per group).
Without the hub it is queued for each member, and each member's consumer decodes it, formats the
same frame and sends it. With the hub, members that registered a direct writer (the fast variant's
DeviceConsumer, kit/fast/consumers.py) get the frame formatted once and written straight to their
sockets. Delivery stays at most once; memory stays bounded.
"""
import asyncio
import json
import logging

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _wrap_close, decode_hosts

log = logging.getLogger("kit.fast")


class BoundedShard(RedisSingleShardConnection):
    def _receive_message(self, message):
        """The library's fan-in from Redis to the local queues, dropping for a full queue."""
        if message is None:
            return
        name, data = message["channel"], message["data"]
        name = name.decode() if isinstance(name, bytes) else name
        layer = self.channel_layer
        targets = [name] if name in layer.channels else layer.groups.get(name, ())
        if layer.direct and name in layer.groups:
            targets = layer.write_direct(targets, data)
        for channel in targets:
            queue = layer.channels.get(channel)
            if queue is None:
                continue
            try:
                queue.put_nowait(data)
            except asyncio.QueueFull:
                log.info("%s is full (%d messages): message dropped", channel, queue.maxsize)


class BoundedLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, hosts=None, capacity=100, **kwargs):
        super().__init__(hosts, **kwargs)
        self.capacity = capacity
        self._shards = [BoundedShard(host, self) for host in decode_hosts(hosts)]
        self.direct = {}  # channel name -> write(frame text) of a consumer that takes pushes directly

    def write_direct(self, members, data):
        """Writes a device.message's frame (formatted once) to the members with a direct writer;
        -> the members left for the usual queue (all of them for any other event)."""
        writers = [self.direct[member] for member in members if member in self.direct]
        if not writers:
            return members
        event = self.channel_layer.deserialize(data)
        if event.get("type") != "device.message":
            return members
        # The frame DeviceConsumer.device_message sends (the contract's push frame), made once.
        text = json.dumps({"type": "message", "id": event.get("id"), "data": event.get("data")})
        for write in writers:
            write(text)
        return [member for member in members if member not in self.direct]

    async def _subscribe_to_channel(self, channel):
        self.channels[channel] = asyncio.Queue(maxsize=self.capacity)
        await self._get_shard(channel).subscribe(channel)


class BoundedPubSubChannelLayer(RedisPubSubChannelLayer):
    def _get_layer(self):
        loop = asyncio.get_running_loop()
        if loop not in self._layers:
            self._layers[loop] = BoundedLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)  # as the library does: the loop's layer closes with the loop
        return self._layers[loop]


class OutsideLayer(RedisPubSubChannelLayer):
    """The layer a script or a test uses to reach the fast variant's consumers from outside the
    server (LiveServer.channel_layer), with the core layer's close_pools() that callers expect."""

    async def close_pools(self):
        await self.flush()  # the pub/sub layer's way to close its connections


class OneLineErrors(logging.Filter):
    """channels-redis's pub/sub receiver logs every failed read with its traceback, once a second
    while Redis is down; this keeps one line per failure (what failed), as the kit's logs do."""

    def filter(self, record):
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            record.msg, record.args = f"{record.getMessage()}: {error.__class__.__name__}: {error}", ()
            record.exc_info = record.exc_text = None
        return True
