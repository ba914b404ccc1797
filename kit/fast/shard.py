"""The fast variant's connection to one Redis (kit/fast/layer.py): PUBLISH, PUBSUB NUMSUB, and the
reader that hands what arrives to the layer; behind Sentinel it follows the primary (kit/primary.py).
Each message a kit layer publishes is stamped with its process's origin, so that the process can skip
its own messages when Redis echoes them back."""

import asyncio
import logging

from channels_redis.pubsub import RedisSingleShardConnection
from redis.exceptions import ConnectionError

from kit.primary import FollowsPrimary

log = logging.getLogger(__name__)

ORIGIN_MARK = b"\x00kit"  # then 8 bytes naming the publishing process (a msgpack message never starts so)


def stamp(origin, data):
    return ORIGIN_MARK + origin + data


def unstamp(data):
    """-> (origin, message): origin None for a message published by another kind of layer."""
    if data.startswith(ORIGIN_MARK):
        start = len(ORIGIN_MARK)
        return data[start : start + 8], data[start + 8 :]
    return None, data


class BoundedShard(FollowsPrimary, RedisSingleShardConnection):
    async def publish(self, channel, message):
        """PUBLISH without the library's per-shard lock: the lock keeps SUBSCRIBE and UNSUBSCRIBE
        in order on the one subscriber connection, but a PUBLISH goes over the client's connection
        pool, so concurrent pushes need not wait for each other's round trip. -> how many server
        processes got it (PUBLISH's answer; kit/primary.py)."""
        return await self.publish_counted(channel, message)

    async def subscribe(self, channel):
        """The library's SUBSCRIBE; with Redis away, a layer error (redis-py's ConnectionError, as the
        kit's guards expect, where uvloop raises RuntimeError for a closed connection), and the channel
        not left in redis-py's list, which its reconnect would subscribe to again."""
        try:
            await super().subscribe(channel)
        except Exception as exc:
            if channel not in self._subscribed_to:
                self.forget(channel)
            if isinstance(exc, RuntimeError):
                raise ConnectionError(f"Redis connection closed: {exc}") from exc
            raise

    async def unsubscribe(self, channel):
        """The library's UNSUBSCRIBE, which cannot fail: with Redis away, the subscription went with the
        connection. redis-py forgets a channel only once Redis confirms: if the connection dropped
        first, its reconnect would subscribe again to a channel nobody here listens on (and NUMSUB
        would count this process for a device that left)."""
        async with self._lock:
            layer = self.channel_layer
            if channel not in self._subscribed_to or layer.groups.get(channel) or channel in layer.channels:
                return  # not subscribed, or listened on again meanwhile (a group_add while this waited)
            self._subscribed_to.discard(channel)
            try:
                self._ensure_redis()
                self._ensure_receiver()
                await self._pubsub.unsubscribe(channel)
            except Exception as exc:
                log.info("UNSUBSCRIBE %s: %s (Redis away: the subscription went with the connection)", channel, exc)
            self.forget(channel)

    def forget(self, channel):
        if self._pubsub is not None:
            encoder = self._pubsub.encoder
            self._pubsub.channels.pop(encoder.decode(encoder.encode(channel)), None)

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
        """From Redis to this process's listeners (BoundedLoopLayer.deliver), except what this process
        published itself: it delivered that here already."""
        if message is None:
            return
        name, data = message["channel"], message["data"]
        origin, data = unstamp(data)
        if origin != self.channel_layer.origin:
            self.channel_layer.deliver(name.decode() if isinstance(name, bytes) else name, data)
