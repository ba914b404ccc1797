"""The pub/sub layers behind Sentinel (issue 23): following the primary, and saying when a PUBLISH
reached nobody. Shared by the kit's pub/sub layer (kit/layers.py) and the fast variant's (kit/fast/).

Following the primary. redis-py's SentinelConnectionPool asks the Sentinels for the primary only when
it opens a connection, and a Redis that stopped being the primary still takes PUBLISH and SUBSCRIBE:
after SENTINEL FAILOVER the old primary stays a primary, alive, for seconds, until the Sentinels convert
it. Subscribers stayed on the old node, publishers moved to the new one, and pushes answered 202
vanished for as long as it lasted (kit drill: 74 of 452, to the end). So every PRIMARY_CHECK_SECONDS a
shard asks the Sentinels, and closes its connections to a node that is no longer the primary: they
connect again to the new one, and redis-py SUBSCRIBEs the reader again.

Reach. PUBLISH answers how many connections subscribed to the channel got the message: one per server
process holding a member of the group. 0 means no process got it: the group is empty (a device
offline), or a subscriber is not (yet) on the node that took the PUBLISH (a failover under way). The
layer cannot tell which; the API can (the device's presence), so reached_nobody() logs a record that
mysite/overload.py's CountDrops counts for the request being served (mysite/api.py then answers 503
with Retry-After for an online device: the push reached nobody, so a retry cannot repeat it).
What no server can know: a PUBLISH that reached a subscriber connection of a Redis killed before that
connection read it (milliseconds), or a message the old primary took that the replica never copied.
"""

import asyncio
import logging
import time

from channels_redis.pubsub import RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import decode_hosts

log = logging.getLogger(__name__)
PRIMARY_CHECK_SECONDS = 1.0  # a shard behind Sentinel: how often it asks which node is the primary
# After a failed PUBLISH or a change of primary, this long: a PUBLISH that reached nobody is taken for a
# failover under way (the other processes' subscribers move within PRIMARY_CHECK_SECONDS and a reconnect).
FAILOVER_SECONDS = 3.0
# The core layer behind Sentinel: how long a receive() waits for the new primary before it raises (and
# the consumer closes with 4503). Sentinel promotes after down-after-milliseconds and a vote (2.3 s here).
RIDE_OUT_SECONDS = 15.0
REACHED_NOBODY = "PUBLISH to %s reached no server process"


def reached_nobody(channel, failing_over=False):
    """The trace of a group_send nobody got (counted by the API request being served, if any):
    failing_over, the shard saw a failed PUBLISH or a new primary within FAILOVER_SECONDS."""
    # DEBUG for an empty group (a device offline: nothing to print), counted all the same (kit/harness/settings.py)
    level = logging.INFO if failing_over else logging.DEBUG
    log.log(level, REACHED_NOBODY, channel, extra={"reached_nobody": "failing over" if failing_over else channel})


def is_layer_error(exc):
    return isinstance(exc, OSError) or exc.__class__.__module__.startswith("redis")


async def ride_out(receive, channel):
    """The core layer's receive(channel), retried while a Sentinel failover lasts (up to RIDE_OUT_SECONDS):
    the consumer keeps its channel, so what was queued in its inbox before the kill (copied to the replica)
    is delivered after the promotion, instead of being dropped with a socket closed 4503."""
    failing_since = None
    while True:
        try:
            return await receive(channel)
        except Exception as exc:
            now = time.monotonic()
            failing_since = failing_since or now
            if not is_layer_error(exc) or now - failing_since > RIDE_OUT_SECONDS:
                raise
            if now == failing_since:
                log.info("receive on %s failed (%s): waiting for the Sentinels' new primary", channel, exc)
            await asyncio.sleep(0.2)


async def close_stale(pool, *others):
    """Closes the connections of a SentinelConnectionPool (idle, in use, and `others` of its own) that are
    not to the primary the Sentinels name now: an operation waiting on one fails, and is retried (a
    receive), or answered 503 (a send). -> how many were closed."""
    try:
        primary = await pool.get_master_address()  # redis-py closes idle connections if it changed
        # Not pool.owns_connection(): redis-py 7.0's asyncio pool raises AttributeError for a connection
        # to the primary (it calls a method its base class does not have); compared here instead.
        connections = [*pool._available_connections, *pool._in_use_connections, *filter(None, others)]
        stale = [c for c in connections if c.is_connected and (c.host, c.port) != primary]
        for connection in stale:
            await connection.disconnect()
        if stale:
            log.info("Sentinel named another primary: %d connection(s) to the old one closed", len(stale))
        return len(stale)
    except Exception as exc:  # Sentinels away too: the next check tries again
        log.info("Could not ask the Sentinels for the primary: %s", exc)
        return 0


def follow_primary_of(client):
    """The core layer's client for a Sentinel shard: at most every PRIMARY_CHECK_SECONDS, its pool's
    connections to a node that is no longer the primary are closed. A receive blocked in BZPOPMIN on the
    old node would otherwise wait there while sends go to the new one (SENTINEL FAILOVER: the old node
    stays a primary for seconds; measured: about half the pushes answered 202 lost, to the drill's end)."""
    pool = client.connection_pool
    now = time.monotonic()
    if now - getattr(pool, "_kit_checked", 0) > PRIMARY_CHECK_SECONDS:
        pool._kit_checked = now
        asyncio.ensure_future(close_stale(pool))


class FollowsPrimary:
    """For a channels_redis.pubsub.RedisSingleShardConnection: its connections follow the primary the
    Sentinels name (a shard of plain Redis: nothing changes)."""

    troubled_at = -FAILOVER_SECONDS  # when a PUBLISH failed or the primary changed (time.monotonic())

    def failing_over(self):
        return time.monotonic() - self.troubled_at < FAILOVER_SECONDS

    async def publish_counted(self, channel, message):
        """PUBLISH, after a primary check; a failure noted (failing_over()). -> PUBLISH's answer."""
        self._ensure_redis()
        self.check_primary()
        try:
            return await self._redis.publish(channel, message)
        except Exception:
            if "master_name" in self.host:  # behind Sentinel, a failover may have begun; plain Redis: just an error
                self.troubled_at = time.monotonic()
            raise

    def check_primary(self):
        """Called before each PUBLISH: starts a check if the last one is over PRIMARY_CHECK_SECONDS old."""
        now = time.monotonic()
        if "master_name" in self.host and now - getattr(self, "_primary_checked", 0) > PRIMARY_CHECK_SECONDS:
            self._primary_checked = now
            asyncio.ensure_future(self.follow_primary())

    async def follow_primary(self):
        """Connections to a node that is no longer the primary are closed, the subscriber's included (it
        connects again and redis-py SUBSCRIBEs it again)."""
        pool = self._redis.connection_pool if self._redis is not None else None
        if pool is not None and await close_stale(pool, self._pubsub.connection if self._pubsub else None):
            self.troubled_at = time.monotonic()

    def _ensure_receiver(self):
        super()._ensure_receiver()
        if "master_name" in self.host and getattr(self, "_follower", None) is None:
            self._follower = asyncio.ensure_future(self._keep_following())

    async def _keep_following(self):
        """A subscriber that never publishes checks too: a quiet process must not stay on the old node."""
        while True:
            await asyncio.sleep(PRIMARY_CHECK_SECONDS)
            await self.follow_primary()

    async def flush(self):
        follower, self._follower = getattr(self, "_follower", None), None
        if follower is not None:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
        await super().flush()


class FollowingShard(FollowsPrimary, RedisSingleShardConnection):
    async def publish(self, channel, message):
        """The library's PUBLISH (under its lock), after a primary check. -> PUBLISH's answer."""
        async with self._lock:
            return await self.publish_counted(channel, message)


class FollowingLoopLayer(RedisPubSubLoopLayer):
    """channels-redis's per-loop pub/sub layer with shards that follow the primary, and a group_send that
    says when it reached nobody (the kit's pub/sub layer, kit/layers.py)."""

    def __init__(self, hosts=None, **kwargs):
        super().__init__(hosts, **kwargs)
        self._shards = [FollowingShard(host, self) for host in decode_hosts(hosts)]

    async def group_send(self, group, message):
        group_channel = self._get_group_channel_name(group)
        data = self.channel_layer.serialize(message)
        shard = self._get_shard(group_channel)
        if not await shard.publish(group_channel, data):
            reached_nobody(group_channel, shard.failing_over())
