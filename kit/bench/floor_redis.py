"""The Redis floor: a bare ASGI app (no Django, no channel layer) whose every push goes through
Redis pub/sub, as any design whose HTTP and WebSocket sides may live in different processes must.

The least such a design pays: the HTTP request serializes the frame once and PUBLISHes it (one
Redis round trip); each process holds ONE subscriber connection for all its sockets and writes
what arrives to the local sockets it is meant for. Same routes and frames as kit/bench/floor.py:
  WS   /ws/devices/<id>/    POST /push/<id>/    POST /broadcast/    POST /command/<id>/
A command carries this process's reply channel, so the device's reply finds the waiting request
from any process. Needs REDIS_URL; served by uvicorn by default (kit.bench.systems).

Shards (REDIS_URL lists several, floor-redis#3): as channels-redis's pub/sub layer does, each Redis
channel lives on the shard that its name hashes to (channels_redis.utils._consistent_hash: crc32 & 0xFFF
in equal ranges); a push PUBLISHes there, and the process holds one subscriber connection per shard
that one of its channels hashes to. One device's pushes, or one broadcast channel, use one shard.
"""

import asyncio
import os
import uuid

import redis.asyncio as aioredis
from channels_redis.utils import _consistent_hash

from kit.bench import floor
from kit.serving.redis_service import shard_urls

PREFIX = os.environ.get("FLOOR_PREFIX", "floor")
BROADCAST = f"{PREFIX}.devices"
REPLIES = f"{PREFIX}.reply.{uuid.uuid4().hex}"  # this process's reply channel


def device_channel(device_id):
    return f"{PREFIX}.device.{device_id}"


def shard_of(channel, shards):
    """The index of the shard a Redis channel lives on: the one channels-redis picks for that name."""
    return _consistent_hash(channel, shards)


class Hub:
    """The process's one Redis subscriber: Redis channel -> the local sockets listening on it."""

    def __init__(self):
        self.local = {}  # Redis channel -> {send callable of each local socket}
        self.reply_to = {}  # command id -> the asking process's reply channel
        self.started = None
        self.subscribed, self.lock = set(), asyncio.Lock()  # device channels SUBSCRIBEd, and one change at a time

    async def start(self):
        if self.started is None:
            self.started = asyncio.ensure_future(self._connect())
        await self.started

    async def _connect(self):
        self.redis = [aioredis.from_url(url) for url in shard_urls(os.environ["REDIS_URL"])]
        self.pubsubs = [client.pubsub() for client in self.redis]
        self.readers = [None] * len(self.redis)
        for channel in (BROADCAST, REPLIES):
            await self.subscribe(channel)

    def client(self, channel):
        """The Redis client of the shard `channel` lives on."""
        return self.redis[shard_of(channel, len(self.redis))]

    async def subscribe(self, channel):
        """SUBSCRIBE on the channel's shard; that shard's reader starts (again) if it is not running:
        redis-py's listen() ends when a connection has no subscription left."""
        index = shard_of(channel, len(self.redis))
        await self.pubsubs[index].subscribe(channel)
        if self.readers[index] is None or self.readers[index].done():
            self.readers[index] = asyncio.create_task(self._read(self.pubsubs[index]))

    async def _read(self, pubsub):
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            channel, data = message["channel"].decode(), message["data"]
            if channel == REPLIES:
                command_id, _, reply = data.decode().partition("\n")
                future = floor.waiting.pop(command_id, None)
                if future and not future.done():
                    future.set_result(reply)
                continue
            reply_to, _, text = data.decode().partition("\n")
            if reply_to:  # a command: remember where its reply goes
                command_id, _, reply_to = reply_to.partition(" ")
                self.reply_to[command_id] = reply_to
            await floor.write_to(self.local.get(channel, ()), text)

    async def join(self, channel, send):
        await self.start()
        self.local.setdefault(channel, set()).add(send)
        await self.follow(channel)

    async def leave(self, channel, send):
        self.local.get(channel, set()).discard(send)
        if not self.local.get(channel):
            self.local.pop(channel, None)
        await self.follow(channel)

    async def follow(self, channel):
        """SUBSCRIBE or UNSUBSCRIBE so that Redis follows self.local, one at a time: a socket leaving
        and another joining at once must not end with the UNSUBSCRIBE last."""
        async with self.lock:
            wanted = bool(self.local.get(channel))
            if wanted and channel not in self.subscribed:
                await self.subscribe(channel)
                self.subscribed.add(channel)
            elif not wanted and channel in self.subscribed:
                await self.pubsubs[shard_of(channel, len(self.redis))].unsubscribe(channel)
                self.subscribed.discard(channel)


hub = Hub()


class RedisRoutes(floor.Routes):
    """floor.Routes with every delivery going through Redis pub/sub."""

    async def connected(self, device_id, send):
        await hub.join(device_channel(device_id), send)
        await hub.join(BROADCAST, send)

    async def disconnected(self, device_id, send):
        await hub.leave(device_channel(device_id), send)
        await hub.leave(BROADCAST, send)

    async def deliver(self, device_id, text, command_id=None):
        """PUBLISH once; -> how many processes had a subscriber (0: offline)."""
        await hub.start()
        header = f"{command_id} {REPLIES}" if command_id else ""
        channel = device_channel(device_id) if device_id else BROADCAST
        return await hub.client(channel).publish(channel, f"{header}\n{text}")

    async def replied(self, command_id, data_text):
        reply_to = hub.reply_to.pop(command_id, None)
        if reply_to:
            await hub.client(reply_to).publish(reply_to, f"{command_id}\n{data_text}")


application = floor.make_application(RedisRoutes())
