"""One channel layer for every process on a Redis, on one Redis or on shards (issue 22).

Two things channels-redis 4.3 leaves to chance, closed here for every process that loads the kit's
settings (kit.harness.settings, kit.fast.settings) or asks the kit for a layer (LiveServer.channel_layer):

1. Processes must agree on the layer. The core layer (sorted sets, BZPOPMIN) and the pub/sub layer
   (PUBLISH/SUBSCRIBE) on the same Redis and prefix never see each other's messages, and nothing
   says so: a `manage.py revoke_device` run with the core layer against a server on the pub/sub
   layer reaches nobody. So a kit server records its layer in Redis (key `<prefix>kit:layer` on every
   shard: the kind and the shards, refreshed every RECORD_REFRESH_SECONDS, gone RECORD_TTL_SECONDS
   after the server stops), and every other kit process checks that record at its first layer call:
   another kind or other shards raise LayerMismatch, naming both and the setting to fix (CHANNEL_LAYER,
   REDIS_URL). A layer with a prefix of its own (a notebook's experiment) finds no record: no check.

2. Direct sends are lost on shards (channels_redis#221, open since 2020). RedisChannelLayer.send() to a
   process-local channel `specific.X!Y` picks its shard by hashing the whole name; receive() pops
   `specific.X!` on the shard of `specific.X!`. With N shards about 1 - 1/N of direct sends (a
   command's reply, step 4) land where nobody reads, and expire there. RedisChannelLayer below hashes
   only the part up to the `!`, as receive() does. group_send already does; the pub/sub layer too.
"""

import asyncio
import atexit
import json
import logging
import os
import threading
import time

from channels_redis.core import RedisChannelLayer as CoreChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer as PubSubChannelLayer
from channels_redis.utils import _wrap_close

from kit.primary import FollowingLoopLayer, follow_primary_of, ride_out

log = logging.getLogger(__name__)
RECORD_KEY = "kit:layer"  # after the layer's prefix
RECORD_TTL_SECONDS = 30
RECORD_REFRESH_SECONDS = 10
KINDS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}
KIT_BACKENDS = {"core": "kit.layers.RedisChannelLayer", "pubsub": "kit.layers.RedisPubSubChannelLayer"}
_serving = {}  # record key -> the record this process serves (a server process; see serve())


class LayerMismatch(RuntimeError):
    """This process's layer is not the one the server on the same Redis and prefix uses."""


def shard_names(hosts):
    """channels-redis `hosts` entries -> the shards as REDIS_URL names them, without passwords."""
    from redis.connection import parse_url

    names = []
    for host in hosts:
        if isinstance(host, dict) and "master_name" in host:  # a shard behind Sentinel
            sentinels = ",".join(f"{name}:{port}" for name, port in host["sentinels"])
            names.append(f"redis+sentinel://{sentinels}/{host['master_name']}/{host.get('db', 0)}")
        elif isinstance(host, dict) and "address" in host:
            parts = parse_url(host["address"])
            scheme = "rediss" if host["address"].startswith("rediss:") else "redis"
            names.append(f"{scheme}://{parts.get('host', 'localhost')}:{parts.get('port', 6379)}/{parts.get('db', 0)}")
        else:
            names.append(repr(host))
    return names


def record_for(kind, hosts, prefix):
    return {"kind": kind, "shards": shard_names(hosts), "prefix": prefix}


def _address(host):
    if isinstance(host, dict) and "master_name" in host:
        return shard_names([host])[0]
    return host["address"] if isinstance(host, dict) else f"redis://{host[0]}:{host[1]}"


def _primary_kwargs(host, timeout):
    return {
        "db": host.get("db", 0),
        "password": host.get("password"),
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
    }


def _sentinel_kwargs(host, timeout):
    return {"socket_connect_timeout": timeout, "socket_timeout": timeout, **(host.get("sentinel_kwargs") or {})}


def sync_client(host, timeout=2):
    """A redis-py client for one channels-redis host entry: a URL's Redis, or a Sentinel shard's
    current primary (asked of its Sentinels at each connection)."""
    import redis

    if isinstance(host, dict) and "master_name" in host:
        from redis.sentinel import Sentinel

        sentinel = Sentinel(host["sentinels"], sentinel_kwargs=_sentinel_kwargs(host, timeout))
        return sentinel.master_for(host["master_name"], **_primary_kwargs(host, timeout))
    return redis.Redis.from_url(_address(host), socket_connect_timeout=timeout, socket_timeout=timeout)


def async_client(host, timeout=2):
    """sync_client's asyncio twin."""
    import redis.asyncio

    if isinstance(host, dict) and "master_name" in host:
        from redis.asyncio.sentinel import Sentinel

        sentinel = Sentinel(host["sentinels"], sentinel_kwargs=_sentinel_kwargs(host, timeout))
        return sentinel.master_for(host["master_name"], **_primary_kwargs(host, timeout))
    return redis.asyncio.Redis.from_url(_address(host), socket_connect_timeout=timeout, socket_timeout=timeout)


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


async def fetch_record(hosts, prefix):
    """The record a server left on this layer's first shard, or None."""
    client = async_client(hosts[0])
    try:
        data = await client.get(prefix + RECORD_KEY)
    finally:
        await client.aclose(close_connection_pool=True)
    return json.loads(data) if data else None


class Agreement:
    """What both kinds of the kit's layer do before their first call: check the server's record."""

    kind = None

    def _agreement_setup(self, hosts, prefix):
        from channels_redis.utils import decode_hosts

        self._record = record_for(self.kind, decode_hosts(hosts), prefix)
        self._record_hosts = decode_hosts(hosts)
        self._agreed = False

    async def agree(self):
        """Raises LayerMismatch if a server on the same Redis and prefix uses another layer or other
        shards; checked once per layer (an unreachable Redis is the call's own error to raise)."""
        if self._agreed:
            return
        key = self._record["prefix"] + RECORD_KEY
        if key not in _serving:  # a server is the record: it checked at start (serve())
            error = mismatch(self._record, await fetch_record(self._record_hosts, self._record["prefix"]))
            if error is not None:
                log.error("%s", error)
                raise error
        self._agreed = True


class RedisChannelLayer(Agreement, CoreChannelLayer):
    """channels-redis's core layer, checked against the server's record, with direct sends on the
    shard receive() reads (channels_redis#221)."""

    kind = "core"

    def __init__(self, hosts=None, prefix="asgi", **kwargs):
        super().__init__(hosts=hosts, prefix=prefix, **kwargs)
        self._agreement_setup(hosts, prefix)
        self._behind_sentinel = any(isinstance(host, dict) and "master_name" in host for host in self.hosts)

    def connection(self, index):
        """The library's client for shard `index`; behind Sentinel, its pool follows the primary (kit/primary.py)."""
        client = super().connection(index)
        if self._behind_sentinel and "master_name" in self.hosts[index]:
            follow_primary_of(client)
        return client

    def consistent_hash(self, value):
        """The shard of a name: for a process-local channel `specific.X!Y`, the shard of `specific.X!`,
        where its process's receive() waits. channels-redis hashes the whole name in send()."""
        if isinstance(value, str) and "!" in value:
            value = value[: value.index("!") + 1]
        return super().consistent_hash(value)

    async def send(self, channel, message):
        if not self._agreed:
            await self.agree()
        return await super().send(channel, message)

    async def receive(self, channel):
        if not self._agreed:
            await self.agree()
        if self._behind_sentinel:  # a failover is waited out, not a reason to close the socket (kit/primary.py)
            return await ride_out(super().receive, channel)
        return await super().receive(channel)

    async def new_channel(self, prefix="specific."):
        if not self._agreed:
            await self.agree()
        return await super().new_channel(prefix)

    async def group_add(self, group, channel):
        if not self._agreed:
            await self.agree()
        return await super().group_add(group, channel)

    async def group_discard(self, group, channel):
        if not self._agreed:
            await self.agree()
        return await super().group_discard(group, channel)

    async def group_send(self, group, message):
        if not self._agreed:
            await self.agree()
        return await super().group_send(group, message)


class AgreeingPubSub(Agreement):
    """The pub/sub layer's calls, each after agree() (the library proxies them to a per-loop layer)."""

    kind = "pubsub"
    loop_layer_class = FollowingLoopLayer  # shards that follow the primary behind Sentinel (kit/primary.py)

    def _get_layer(self):
        """As the library's, with the kit's per-loop layer."""
        loop = asyncio.get_running_loop()
        if loop not in self._layers:
            self._layers[loop] = self.loop_layer_class(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)  # as the library does: the loop's layer closes with the loop
        return self._layers[loop]

    async def send(self, channel, message):
        if not self._agreed:
            await self.agree()
        return await self._get_layer().send(channel, message)

    async def receive(self, channel):
        if not self._agreed:
            await self.agree()
        return await self._get_layer().receive(channel)

    async def new_channel(self, prefix="specific."):
        if not self._agreed:
            await self.agree()
        return await self._get_layer().new_channel(prefix)

    async def group_add(self, group, channel):
        if not self._agreed:
            await self.agree()
        return await self._get_layer().group_add(group, channel)

    async def group_discard(self, group, channel):
        if not self._agreed:
            await self.agree()
        return await self._get_layer().group_discard(group, channel)

    async def group_send(self, group, message):
        if not self._agreed:
            await self.agree()
        return await self._get_layer().group_send(group, message)

    async def flush(self):
        return await self._get_layer().flush()


class RedisPubSubChannelLayer(AgreeingPubSub, PubSubChannelLayer):
    """channels-redis's pub/sub layer, checked against the server's record; behind Sentinel it follows the
    primary, and a group_send that reached nobody says so (kit/primary.py)."""

    def __init__(self, hosts=None, prefix="asgi", **kwargs):
        kwargs.pop("capacity", None)  # the library's pub/sub layer has no bound
        super().__init__(hosts=hosts, prefix=prefix, **kwargs)
        self._agreement_setup(hosts, prefix)


def kit_backend(backend):
    """The kit's agreeing class for a channels-redis backend path (else the path as it is)."""
    for kind, path in KINDS.items():
        if backend == path:
            return KIT_BACKENDS[kind]
    return backend


def kind_of(backend_path):
    """ "core", "pubsub", or None (the in-memory layer, or a layer the kit does not know)."""
    from django.utils.module_loading import import_string

    try:
        backend = import_string(backend_path)
    except ImportError:
        return None
    if isinstance(backend, type) and issubclass(backend, CoreChannelLayer):
        return "core"
    if isinstance(backend, type) and issubclass(backend, PubSubChannelLayer):
        return "pubsub"
    return None


def serve(layers_setting):
    """In a server process, at start: records this server's layer on every shard (a warning if a server
    with another layer or other shards recorded one there), keeps the record fresh from a thread while
    the process lives, and removes it at exit. No Redis: nothing to record."""
    config = layers_setting.get("default", {})
    kind = kind_of(config.get("BACKEND", ""))
    options = config.get("CONFIG", {})
    if kind is None or not options.get("hosts"):
        return None
    from channels_redis.utils import decode_hosts

    hosts, prefix = decode_hosts(options["hosts"]), options.get("prefix", "asgi")
    record = record_for(kind, hosts, prefix)
    key = prefix + RECORD_KEY
    _serving[key] = record
    try:
        error = mismatch(record, _get(hosts[0], key))
    except Exception as exc:  # Redis away at start: the server says so when it is used
        log.info("Could not read the channel layer's record (%s): %s", key, exc)
        error = None
    if error is not None:  # another server, or one killed less than RECORD_TTL_SECONDS ago: this one takes over
        log.warning("%s (or it stopped without removing its record): this server's layer replaces it.", error)
    _write(hosts, key, record)
    _hosts[key] = hosts
    atexit.register(_remove, hosts, key)
    thread = threading.Thread(target=_keep_fresh, args=(hosts, key, record), daemon=True, name="kit-layer-record")
    thread.start()
    return record


def _client(host):
    return sync_client(host)


def _get(host, key):
    client = _client(host)
    try:
        data = client.get(key)
    finally:
        client.close()
    return json.loads(data) if data else None


def _write(hosts, key, record):
    data = json.dumps({**record, "pid": os.getpid()})
    for host in hosts:
        try:
            client = _client(host)
            try:
                client.set(key, data, ex=RECORD_TTL_SECONDS)
            finally:
                client.close()
        except Exception as exc:
            log.debug("Could not write the channel layer's record on %s: %s", _address(host), exc)


def stop_serving():
    """This server's records removed now (a server that exits by a re-raised signal runs no atexit)."""
    for key, hosts in list(_hosts.items()):
        _remove(hosts, key)


_hosts = {}  # record key -> the shards it is written on
_record_lock = threading.Lock()  # the refresh thread and the removal at exit, one at a time
_stopped = set()  # record keys removed at exit: the refresh thread writes them no more


def _remove(hosts, key):
    """At exit: this server's record goes (if it is still this server's), so that another kind of
    server may start on the same prefix at once. A killed server's record expires by itself."""
    with _record_lock:
        if key not in _stopped:
            _stopped.add(key)
            _delete_own(hosts, key)


def _delete_own(hosts, key):
    for host in hosts:
        try:
            client = _client(host)
            try:
                data = client.get(key)
                if data and json.loads(data).get("pid") == os.getpid():
                    client.delete(key)
            finally:
                client.close()
        except Exception:
            pass


def _keep_fresh(hosts, key, record):
    while True:
        time.sleep(RECORD_REFRESH_SECONDS)
        with _record_lock:
            if key in _stopped:
                return
            _write(hosts, key, record)


def redis_url_module():
    """The project's REDIS_URL parser (project/mysite/redis_url.py), loaded from the kit's own project."""
    import importlib.util

    from kit import PROJECT_DIR

    spec = importlib.util.spec_from_file_location("kit_redis_url", PROJECT_DIR / "mysite" / "redis_url.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def hosts_from_url(url, **options):
    """REDIS_URL (one Redis or shards) -> channels-redis `hosts` entries."""
    return redis_url_module().channel_layer_hosts(url, **options)


def outside_layer(kind, hosts, prefix, fast=False):
    """A layer in the caller's process that reaches a server's consumers (tests, notebooks, scripts)."""
    if kind == "pubsub" and fast:
        from kit.fast.layer import OutsideLayer

        return OutsideLayer(hosts=hosts, prefix=prefix)
    if kind == "pubsub":
        return RedisPubSubChannelLayer(hosts=hosts, prefix=prefix)
    return RedisChannelLayer(hosts=hosts, prefix=prefix)
