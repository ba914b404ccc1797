"""The project's channel layers: channels-redis's two, with what every process sharing a Redis must get right.

settings.py names these classes instead of channels-redis's own, so every process on the project's
settings has them: runserver, daphne, `manage.py revoke_device`, a script's `group_send` (notebook 05b).

1. Direct sends on shards (channels_redis#221, open since 2020). With several `hosts`, channels-redis
   4.3's send() to a process-local channel `specific.X!Y` picks the shard by hashing the whole name,
   while that process's receive() waits on the shard of `specific.X!`. About 1 - 1/N of direct sends
   (a command's reply, step 4) land where nobody reads. consistent_hash below hashes up to the `!`.
2. One kind of layer per Redis and prefix. The core layer (sorted sets) and the pub/sub layer
   (PUBLISH/SUBSCRIBE) never see each other's messages, and nothing says so. A process that receives (a
   server) records its kind and shards in Redis (`<prefix>:layer`, kept fresh while it runs); every
   process checks that record at its first layer call and raises LayerMismatch, naming both kinds and
   the setting to fix. A layer with a prefix of its own (a notebook's experiment) finds no record.
"""

import asyncio
import json
import logging
import os

from channels_redis import core, pubsub
from django.core.exceptions import ImproperlyConfigured
from channels_redis.utils import create_pool, decode_hosts
from redis import asyncio as aioredis

log = logging.getLogger(__name__)
RECORD_KEY = ":layer"  # after the prefix; no channel or group name has a colon, so no clash
RECORD_TTL_SECONDS = 30
RECORD_REFRESH_SECONDS = 10
KINDS = {"core": "channels_redis.core.RedisChannelLayer", "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer"}
_serving = {}  # record key -> this process's record, while it keeps it fresh


class LayerMismatch(ImproperlyConfigured):
    """This process's layer is not the one the server on the same Redis and prefix uses (a setting to fix,
    so Django's ImproperlyConfigured: the kit's copy of this module raises the same kind)."""


def shard_names(hosts):
    """channels-redis `hosts` entries -> the shards as REDIS_URL names them, without passwords."""
    from redis.connection import parse_url

    names = []
    for host in hosts:
        if "master_name" in host:  # a shard behind Sentinel
            sentinels = ",".join(f"{name}:{port}" for name, port in host["sentinels"])
            names.append(f"redis+sentinel://{sentinels}/{host['master_name']}/{host.get('db', 0)}")
        elif "address" in host:
            parts = parse_url(host["address"])
            scheme = "rediss" if host["address"].startswith("rediss:") else "redis"
            names.append(f"{scheme}://{parts.get('host', 'localhost')}:{parts.get('port', 6379)}/{parts.get('db', 0)}")
        else:
            names.append(f"redis://{host.get('host')}:{host.get('port')}/{host.get('db', 0)}")
    return names


def record_for(kind, hosts, prefix):
    return {"kind": kind, "shards": shard_names(decode_hosts(hosts)), "prefix": prefix}


def mismatch(mine, theirs):
    """A LayerMismatch naming both layers and what to set, or None when they agree."""
    if theirs is None or (mine["kind"] == theirs["kind"] and mine["shards"] == theirs["shards"]):
        return None
    where = f"the Redis {mine['shards'][0]} with the layer prefix {mine['prefix']!r}"
    if mine["kind"] != theirs["kind"]:
        return LayerMismatch(
            f"This process uses the {mine['kind']} channel layer ({KINDS[mine['kind']]}), but the server on "
            f"{where} uses the {theirs['kind']} layer ({KINDS[theirs['kind']]}): they never see each other's "
            f"messages. Set CHANNEL_LAYER={theirs['kind']} for this process (as every process on that Redis "
            "must; `make demo` writes them all to a file to source, see README)."
        )
    return LayerMismatch(
        f"This process shards the channel layer over {', '.join(mine['shards'])}, but the server on {where} "
        f"uses {', '.join(theirs['shards'])}: groups and channels would be looked for on the wrong shard. "
        "Give this process the server's REDIS_URL (the same shards, in the same order)."
    )


class Agreement:
    """Checks the server's record before this layer's first call; a receiving process keeps its own."""

    kind = None

    def _agreement_setup(self, hosts, prefix):
        self._record = record_for(self.kind, hosts, prefix)
        self._record_hosts = decode_hosts(hosts)
        self._agreed = False

    async def agree(self, receiving=False):
        """Raises LayerMismatch if the server on the same Redis and prefix uses another layer or other
        shards; checked once (an unreachable Redis is the call's own error to raise)."""
        if self._agreed and not receiving:
            return
        key = self._record["prefix"] + RECORD_KEY
        if not self._agreed and key not in _serving:
            client = aioredis.Redis(connection_pool=create_pool(self._record_hosts[0]))
            try:
                data = await client.get(key)
            finally:
                await client.aclose(close_connection_pool=True)
            error = mismatch(self._record, json.loads(data) if data else None)
            if error is not None and receiving:  # a server, or one stopped less than RECORD_TTL_SECONDS ago
                log.warning("%s This receiving process's layer replaces its record.", error)
            elif error is not None:
                raise error
        self._agreed = True
        if receiving and key not in _serving:  # a server: others check against this one from now on
            _serving[key] = self._record
            asyncio.ensure_future(self._keep_record(key))

    async def _keep_record(self, key):
        data = json.dumps({**self._record, "pid": os.getpid()})
        while True:
            for host in self._record_hosts:
                client = aioredis.Redis(connection_pool=create_pool(host))
                try:
                    await client.set(key, data, ex=RECORD_TTL_SECONDS)
                except Exception as exc:  # a shard away: the layer's own calls say so
                    log.debug("Could not write the channel layer's record: %s", exc)
                finally:
                    await client.aclose(close_connection_pool=True)
            await asyncio.sleep(RECORD_REFRESH_SECONDS)


class RedisChannelLayer(Agreement, core.RedisChannelLayer):
    """channels-redis's core layer: direct sends on the shard receive() reads, and the agreement check."""

    kind = "core"

    def __init__(self, hosts=None, prefix="asgi", **kwargs):
        super().__init__(hosts=hosts, prefix=prefix, **kwargs)
        self._agreement_setup(hosts, prefix)

    def consistent_hash(self, value):
        """For `specific.X!Y`, the shard of `specific.X!`: where X's receive() waits (channels_redis#221)."""
        if isinstance(value, str) and "!" in value:
            value = value[: value.index("!") + 1]
        return super().consistent_hash(value)

    async def send(self, channel, message):
        await self.agree()
        return await super().send(channel, message)

    async def receive(self, channel):
        await self.agree(receiving=True)
        return await super().receive(channel)

    async def group_add(self, group, channel):
        await self.agree()
        return await super().group_add(group, channel)

    async def group_discard(self, group, channel):
        await self.agree()
        return await super().group_discard(group, channel)

    async def group_send(self, group, message):
        await self.agree()
        return await super().group_send(group, message)


class AgreeingPubSub(Agreement):
    """The pub/sub layer proxies its calls to a layer per event loop: each goes through agree() first."""

    kind = "pubsub"
    CHECKED = ("send", "receive", "new_channel", "group_add", "group_discard", "group_send")

    def __getattr__(self, name):
        if name in self.CHECKED:
            return lambda *args, **kwargs: self._checked_call(name, *args, **kwargs)
        return super().__getattr__(name)

    async def _checked_call(self, name, *args, **kwargs):
        await self.agree(receiving=name == "receive")
        return await getattr(self._get_layer(), name)(*args, **kwargs)


class RedisPubSubChannelLayer(AgreeingPubSub, pubsub.RedisPubSubChannelLayer):
    """channels-redis's pub/sub layer, with the agreement check (its shards agree already)."""

    def __init__(self, hosts=None, prefix="asgi", **kwargs):
        kwargs.pop("capacity", None)  # channels-redis's pub/sub layer has no bound
        super().__init__(hosts=hosts, prefix=prefix, **kwargs)
        self._agreement_setup(hosts, prefix)
