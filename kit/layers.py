"""One channel layer for every process on a Redis, on one Redis or on shards (issue 22): the kit's side.

The layers themselves are the project's (project/mysite/layers.py, loaded here from the kit's own
project so that a learner's older copy changes nothing): direct sends on the shard where receive() reads
(channels_redis#221), and the agreement check: a process whose layer is of another kind, or on other
shards, than the server's record in Redis says gets LayerMismatch at its first layer call.

Here: the kit's servers record their layer from start to exit (serve(), a thread, whether or not a
socket ever receives), the kit's processes get those classes in place of channels-redis's
(kit_backend), and redis-py clients for a host entry, Sentinel included.
"""

import asyncio
import atexit
import importlib.util
import json
import logging
import os
import sys
import threading
import time

from channels_redis.core import RedisChannelLayer as CoreChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer as PubSubChannelLayer
from channels_redis.utils import _wrap_close

from kit.primary import FollowingLoopLayer, follow_primary_of, ride_out

from kit import PROJECT_DIR

log = logging.getLogger(__name__)


def project_module(name):
    """project/mysite/<name>.py of the kit's own project, as a module of the kit's."""
    module_name = f"kit.project_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, PROJECT_DIR / "mysite" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[module_name] = module
    return sys.modules[module_name]


_project = project_module("layers")
LayerMismatch = _project.LayerMismatch
shard_names, record_for, mismatch = _project.shard_names, _project.record_for, _project.mismatch
RECORD_KEY, RECORD_TTL_SECONDS, RECORD_REFRESH_SECONDS = (
    _project.RECORD_KEY,
    _project.RECORD_TTL_SECONDS,
    _project.RECORD_REFRESH_SECONDS,
)
KINDS = _project.KINDS
KIT_BACKENDS = {"core": "kit.layers.RedisChannelLayer", "pubsub": "kit.layers.RedisPubSubChannelLayer"}
PROJECT_BACKENDS = {"core": "mysite.layers.RedisChannelLayer", "pubsub": "mysite.layers.RedisPubSubChannelLayer"}
_serving = _project._serving  # record key -> the record this process serves (see serve())


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


class RedisChannelLayer(_project.RedisChannelLayer):
    """The project's core layer; behind Sentinel its pools follow the primary and receive() waits a
    failover out instead of failing the socket (kit/primary.py)."""

    def __init__(self, hosts=None, prefix="asgi", **kwargs):
        super().__init__(hosts=hosts, prefix=prefix, **kwargs)
        self._behind_sentinel = any(isinstance(host, dict) and "master_name" in host for host in self.hosts)

    def connection(self, index):
        """The library's client for shard `index`; behind Sentinel, its pool follows the primary."""
        client = super().connection(index)
        if self._behind_sentinel and "master_name" in self.hosts[index]:
            follow_primary_of(client)
        return client

    async def receive(self, channel):
        if self._behind_sentinel:
            return await ride_out(super().receive, channel)
        return await super().receive(channel)


class AgreeingPubSub(_project.AgreeingPubSub):
    """The project's agreeing pub/sub calls, on the kit's per-loop layer: shards that follow the primary
    behind Sentinel, and a group_send that reached nobody says so (kit/primary.py)."""

    loop_layer_class = FollowingLoopLayer

    def _get_layer(self):
        """As the library's, with the kit's per-loop layer."""
        loop = asyncio.get_running_loop()
        if loop not in self._layers:
            self._layers[loop] = self.loop_layer_class(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)  # as the library does: the loop's layer closes with the loop
        return self._layers[loop]


class RedisPubSubChannelLayer(AgreeingPubSub, _project.RedisPubSubChannelLayer):
    """The project's pub/sub layer, with the kit's per-loop layer."""


def kit_backend(backend):
    """The kit's agreeing class for a channels-redis backend path (else the path as it is)."""
    for kind in KINDS:
        if backend in (KINDS[kind], PROJECT_BACKENDS[kind]):
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
    return project_module("redis_url")


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
