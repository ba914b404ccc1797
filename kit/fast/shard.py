"""The fast variant's connection to one Redis (kit/fast/layer.py): PUBLISH, PUBSUB NUMSUB, and the
reader that hands what arrives to the layer. Each message a kit layer publishes is stamped with
its process's origin, so that the process can skip its own messages when Redis echoes them back."""

import asyncio
import logging
import time

from channels_redis.pubsub import RedisSingleShardConnection
from redis.exceptions import ConnectionError

log = logging.getLogger(__name__)
PRIMARY_CHECK_SECONDS = 1.0  # a shard behind Sentinel: how often a publisher asks which node is the primary

ORIGIN_MARK = b"\x00kit"  # then 8 bytes naming the publishing process (a msgpack message never starts so)


def stamp(origin, data):
    return ORIGIN_MARK + origin + data


def unstamp(data):
    """-> (origin, message): origin None for a message published by another kind of layer."""
    if data.startswith(ORIGIN_MARK):
        start = len(ORIGIN_MARK)
        return data[start : start + 8], data[start + 8 :]
    return None, data


class BoundedShard(RedisSingleShardConnection):
    async def publish(self, channel, message):
        """PUBLISH without the library's per-shard lock: the lock keeps SUBSCRIBE and UNSUBSCRIBE
        in order on the one subscriber connection, but a PUBLISH goes over the client's connection
        pool, so concurrent pushes need not wait for each other's round trip."""
        self._ensure_redis()
        now = time.monotonic()
        if "master_name" in self.host and now - getattr(self, "_primary_checked", 0) > PRIMARY_CHECK_SECONDS:
            self._primary_checked = now
            asyncio.ensure_future(self.follow_primary())
        return await self._redis.publish(channel, message)

    async def follow_primary(self):
        """Behind Sentinel: connections to a node that is no longer the primary are closed, so that they
        connect again to the one the Sentinels name. redis-py checks the address only when it connects,
        and a Redis that stopped being the primary still takes PUBLISH and SUBSCRIBE: after SENTINEL
        FAILOVER the old primary stays a primary, alive, for seconds, until the Sentinels convert it.
        Measured before this: subscribers stayed on the old node, publishers moved to the new one, and
        pushes answered 202 vanished for as long as it lasted (kit drill: 74 of 452, to the end)."""
        pool = self._redis.connection_pool if self._redis is not None else None
        if pool is None:
            return
        try:
            await pool.get_master_address()  # redis-py closes idle connections if the address changed
            stale = [c for c in list(pool._available_connections) if not pool.owns_connection(c)]
            for connection in stale:
                await connection.disconnect()
            reader = self._pubsub.connection if self._pubsub is not None else None
            if reader is not None and reader.is_connected and not pool.owns_connection(reader):
                stale.append(reader)
                await reader.disconnect()  # the reader connects again and redis-py SUBSCRIBEs it again
            if stale:
                log.info("Sentinel named another primary: %d connection(s) to the old one closed", len(stale))
        except Exception as exc:  # Sentinels away too: the next check tries again
            log.info("Could not ask the Sentinels for the primary: %s", exc)

    def _ensure_receiver(self):
        super()._ensure_receiver()
        if "master_name" in self.host and getattr(self, "_follower", None) is None:
            self._follower = asyncio.ensure_future(self._keep_following())

    async def _keep_following(self):
        while True:
            await asyncio.sleep(PRIMARY_CHECK_SECONDS)
            await self.follow_primary()

    async def flush(self):
        follower, self._follower = getattr(self, "_follower", None), None
        if follower is not None:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
        await super().flush()

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
