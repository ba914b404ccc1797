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

Local first: a group_send is PUBLISHed for the other processes' members and handed to this
process's own members at once, without waiting for Redis to echo it back; the echo is recognised
by the origin stamped on it (kit/fast/shard.py) and skipped, as socket.io's Redis adapter does.
A send() to one of this process's own channels (a command's reply) does not go through Redis.

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

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer
from channels_redis.utils import decode_hosts

from kit.fast.local_queue import LocalQueue
from kit.layers import AgreeingPubSub
from kit.primary import reached_nobody
from kit.fast.shard import BoundedShard, stamp

log = logging.getLogger(__name__)
IDLE_SECONDS = 60.0  # a local channel with no receive for this long is forgotten
TARGET = "__asgi_channel__"  # the key naming a local channel in a message sent to an inbox (as in the core layer)


class BoundedLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, hosts=None, capacity=100, **kwargs):
        super().__init__(hosts, **kwargs)
        self.capacity = capacity
        self._shards = [BoundedShard(host, self) for host in decode_hosts(hosts)]
        self.direct = {}  # channel name -> take(event, frame) of a consumer that takes group events directly
        self.inbox = None  # this process's Redis channel for its local channels, once subscribed
        self.idle_since = {}  # local channel -> when its last receive ended (absent: being received on)
        self.swept = time.monotonic()
        self.origin = uuid.uuid4().bytes[:8]  # stamped on what this process publishes (kit/fast/shard.py)

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
        """To a process-local channel: straight to it if it is this process's, else PUBLISHed to its
        process's inbox with the channel's name inside."""
        if "!" not in channel:
            return await super().send(channel, message)
        inbox = channel.partition("!")[0]
        data = self.channel_layer.serialize({**message, TARGET: channel})
        if inbox == self.inbox:  # no other process listens on this inbox: Redis has nothing to add
            return self.deliver(inbox, data)
        await self._get_shard(inbox).publish(inbox, stamp(self.origin, data))

    async def group_send(self, group, message):
        """PUBLISHed for the other processes' members, then handed to this process's own members at once
        (as socket.io's Redis adapter does): they need not wait for Redis to echo it back."""
        group_channel = self._get_group_channel_name(group)
        data = self.channel_layer.serialize(message)
        shard = self._get_shard(group_channel)
        reached = await shard.publish(group_channel, stamp(self.origin, data))
        if not reached and not self.groups.get(group_channel):
            reached_nobody(group_channel, shard.failing_over())  # an empty group, or a failover (kit/primary.py)
        self.deliver(group_channel, data)

    def deliver(self, name, data):
        """Hands a message for `name` (a group's Redis channel, this process's inbox, or a channel of the
        library's kind) to its listeners here: consumers that take events directly (the hub) get it
        decoded once, a device.message with its frame made once; the others' queues get the bytes,
        decoded by each receive() (a copy each, as with the library); a full queue drops it (logged)."""
        if name == self.inbox:
            event = self.channel_layer.deserialize(data)
            target = event.pop(TARGET, None)
            if target in self.direct:
                self.direct[target](event, None)
            else:
                self.queue(target, event)
            return
        members = self.groups.get(name, (name,) if name in self.channels else ())
        event = frame = None
        for member in tuple(members):
            take = self.direct.get(member)
            if take is None:
                self.queue(member, data)
                continue
            if event is None:
                event = self.channel_layer.deserialize(data)
                if event.get("type") == "device.message":
                    # The frame DeviceConsumer.device_message sends (the contract's push frame), made once.
                    from devices.frames import push_frame  # the project's (here: the layer is used without it too)

                    frame = json.dumps(push_frame(event))
            take(event, frame)  # the kit's consumers only read the event: one copy serves them all

    def queue(self, channel, message):
        queue = self.channels.get(channel)
        if queue is None:
            return  # nobody listens here (any more): at most once
        try:
            queue.put_nowait(message)
        except asyncio.QueueFull:
            log.info("%s is full (%d messages): message dropped", channel, queue.maxsize)

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


class BoundedPubSubChannelLayer(AgreeingPubSub, RedisPubSubChannelLayer):
    """The fast variant's pub/sub layer, checked against the server's record like the kit's others
    (kit/layers.py): a process on another kind of layer gets an error, not silence."""

    loop_layer_class = BoundedLoopLayer

    def __init__(self, hosts=None, prefix="asgi", **kwargs):
        super().__init__(hosts=hosts, prefix=prefix, **kwargs)
        self._agreement_setup(hosts, prefix)

    async def group_subscribers(self, group):
        return await self._get_layer().group_subscribers(group)


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
