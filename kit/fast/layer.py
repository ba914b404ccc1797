"""RedisPubSubChannelLayer with a bound, one inbox per process, and optionally a hub for device pushes.

Bound: each channel's queue in this process holds at most `capacity` messages; more are dropped
(logged), like the core layer's group_send over capacity. channels-redis's pub/sub layer keeps an
unbounded asyncio.Queue per channel: a device that stops reading (its server-side send waits for
the socket to drain) would make its queue, and the process, grow without end.

Inbox: the library SUBSCRIBEs each new_channel() to a Redis channel of its own: a Redis round trip
per socket opened and per command sent, and a command's reply channel stays subscribed after its
one receive (nothing in Channels tells the layer it is done). Here, as in the core layer, a new
channel is process-local ("<inbox>!<id>"): the process SUBSCRIBEs once to its inbox, send() to such
a name PUBLISHes to the inbox with the name inside, and the message is queued for that channel.
A channel nobody has received on for IDLE_SECONDS (a command's reply channel, once answered) is
forgotten; a message for a forgotten channel is dropped (at most once).

Hub: an event published to a group arrives once per process (one SUBSCRIBE per group). Without
the hub it is queued for each member, and each member's consumer wakes up, decodes it and handles
it (a push: formats the same frame and sends it). With the hub, members that take events directly
(the fast variant's DeviceConsumer, kit/fast/consumers.py) get it decoded once and handled at once;
a push's frame is formatted once and written straight to their sockets. Delivery stays at most
once; memory stays bounded.
"""
import asyncio
import json
import logging
import time
import uuid

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _wrap_close, decode_hosts

from kit.fast.local_queue import LocalQueue

log = logging.getLogger("kit.fast")
IDLE_SECONDS = 60.0  # a local channel with no receive for this long is forgotten
TARGET = "__asgi_channel__"  # the key naming a local channel in a message sent to an inbox (as in the core layer)


class BoundedShard(RedisSingleShardConnection):
    async def publish(self, channel, message):
        """PUBLISH without the library's per-shard lock: the lock keeps SUBSCRIBE and UNSUBSCRIBE
        in order on the one subscriber connection, but a PUBLISH goes over the client's connection
        pool, so concurrent pushes need not wait for each other's round trip."""
        self._ensure_redis()
        return await self._redis.publish(channel, message)

    async def _do_receiving(self):
        """The library's reader, waiting for the next message without a 0.1 s timeout around each
        read (a timer set and cancelled per message); on an error it logs and retries a second later."""
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    self._receive_message(await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=None))
                else:
                    await asyncio.sleep(0.1)
            except (asyncio.CancelledError, asyncio.TimeoutError, GeneratorExit):
                raise
            except BaseException:  # logged as the library logs it (settings.py keeps it to one line)
                logging.getLogger("channels_redis.pubsub").exception("Unexpected exception in receive task")
                await asyncio.sleep(1)

    async def subscribers(self, channel):
        """How many Redis connections (one per server process) subscribe to `channel` (PUBSUB NUMSUB)."""
        self._ensure_redis()
        ((_, count),) = await self._redis.pubsub_numsub(channel)
        return count

    def _receive_message(self, message):
        """The library's fan-in from Redis to the local queues, dropping for a full queue; events for
        consumers that take them directly (the hub) are handed to them instead."""
        if message is None:
            return
        name, data = message["channel"], message["data"]
        name = name.decode() if isinstance(name, bytes) else name
        layer = self.channel_layer
        if name == layer.inbox:  # a send() to one of this process's channels
            data = layer.channel_layer.deserialize(data)
            name = data.pop(TARGET, None)
            if name in layer.direct:
                layer.direct[name](data, None)
                return
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
        self.direct = {}  # channel name -> take(event, frame) of a consumer that takes group events directly
        self.inbox = None  # this process's Redis channel for its local channels, once subscribed
        self.idle_since = {}  # local channel -> when its last receive ended (absent: being received on)
        self.swept = time.monotonic()

    async def new_channel(self, prefix="specific."):
        """A process-local channel: no Redis round trip but the first one (the inbox's SUBSCRIBE)."""
        if self.inbox is None:
            inbox = f"{self.prefix}{prefix}{uuid.uuid4().hex}"
            await self._get_shard(inbox).subscribe(inbox)
            self.inbox = inbox
        self.forget_idle()
        channel = f"{self.inbox}!{uuid.uuid4().hex}"
        self.channels[channel] = LocalQueue(self.capacity)
        self.idle_since[channel] = time.monotonic()
        return channel

    async def send(self, channel, message):
        """To a process-local channel: PUBLISH to its process's inbox, with the channel's name inside."""
        if "!" not in channel:
            return await super().send(channel, message)
        inbox = channel.partition("!")[0]
        await self.publish(inbox, self.channel_layer.serialize({**message, TARGET: channel}), here=inbox == self.inbox)

    async def group_send(self, group, message):
        group_channel = self._get_group_channel_name(group)
        await self.publish(group_channel, self.channel_layer.serialize(message), here=bool(self.groups.get(group_channel)))

    async def publish(self, name, data, here):
        """PUBLISH; if it reached no subscriber although this process listens on `name` (`here`), this
        process's subscriber is not subscribed yet (Redis came back a moment ago and the reader is
        reconnecting): the message is handed to the local listeners directly, instead of being lost."""
        shard = self._get_shard(name)
        if not await shard.publish(name, data) and here:
            shard._receive_message({"channel": name, "data": data})

    async def receive(self, channel):
        if "!" not in channel:
            return await super().receive(channel)
        queue = self.channels.get(channel)
        if queue is None:  # forgotten while idle, or made by another process: listen from now on
            queue = self.channels[channel] = LocalQueue(self.capacity)
        self.idle_since.pop(channel, None)
        try:
            message = await queue.get()
        except (asyncio.CancelledError, asyncio.TimeoutError, GeneratorExit):
            # As the library does: a cancelled receive means the consumer is leaving.
            self.channels.pop(channel, None)
            self.idle_since.pop(channel, None)
            raise
        self.idle_since[channel] = time.monotonic()
        return message if isinstance(message, dict) else self.channel_layer.deserialize(message)

    def forget_idle(self):
        """Drops local channels nobody received on for IDLE_SECONDS (checked once per IDLE_SECONDS)."""
        now = time.monotonic()
        if now - self.swept < IDLE_SECONDS:
            return
        self.swept = now
        for channel, since in list(self.idle_since.items()):
            if now - since > IDLE_SECONDS and channel not in self.direct:
                del self.idle_since[channel]
                self.channels.pop(channel, None)
                for members in self.groups.values():
                    members.discard(channel)

    async def flush(self):
        await super().flush()
        self.inbox, self.idle_since = None, {}

    def write_direct(self, members, data):
        """Hands a group event to the members that take events directly (their consumers' take_now),
        decoded once, and for a device.message with its frame made once; -> the other members."""
        taking = [self.direct[member] for member in members if member in self.direct]
        if not taking:
            return members
        event = self.channel_layer.deserialize(data)
        frame = None
        if event.get("type") == "device.message":
            # The frame DeviceConsumer.device_message sends (the contract's push frame), made once.
            frame = json.dumps({"type": "message", "id": event.get("id"), "data": event.get("data")})
        for take in taking:
            take(event, frame)
        return [member for member in members if member not in self.direct]

    async def group_subscribers(self, group):
        """How many server processes have a member of `group` (0: nobody anywhere would get a group_send);
        at least 1 without asking Redis when this process has one."""
        group_channel = self._get_group_channel_name(group)
        if self.groups.get(group_channel):
            return 1
        return await self._get_shard(group_channel).subscribers(group_channel)

    async def _subscribe_to_channel(self, channel):
        self.channels[channel] = LocalQueue(self.capacity)
        await self._get_shard(channel).subscribe(channel)


class BoundedPubSubChannelLayer(RedisPubSubChannelLayer):
    async def group_subscribers(self, group):
        return await self._get_layer().group_subscribers(group)

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        if loop not in self._layers:
            self._layers[loop] = BoundedLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)  # as the library does: the loop's layer closes with the loop
        return self._layers[loop]


class OutsideLayer(BoundedPubSubChannelLayer):
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
