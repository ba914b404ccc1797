"""What the kit relies on inside Channels, channels-redis, daphne and uvicorn, beyond their documented API:
private attributes and methods, methods it overrides or replaces, code and a Lua script it copies, and
texts it matches. Only the `==` pins in requirements.txt keep these working; this test makes an upgrade
that changes one fail loudly, naming the kit module to revisit (README: Upgrading dependencies).

After checking that module against the new version: update the expected signature, text or digest here.
"""

import functools
import hashlib
import importlib
import importlib.util
import inspect
import re

import live_support  # noqa: F401  (puts project/ on the path: kit.harness.guards imports mysite)
import pytest

from kit.harness import receive_fix
from kit.harness.guards import NO_ROUTE


# The kit patches these modules' classes in the process that imports its harness (kit.harness.guards and
# receive_fix install()), which other tests on this worker may have done: their code is read from a copy
# of the module loaded afresh from the installed package, never registered in sys.modules.
PATCHED_MODULES = ("channels.consumer", "channels_redis.core")


@functools.cache
def pristine(module):
    spec = importlib.util.spec_from_file_location(f"{module}_as_installed", importlib.util.find_spec(module).origin)
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    return fresh


def resolve(dotted):
    """'package.module:Class.attribute' -> the object, as the installed package defines it."""
    module, _, attributes = dotted.partition(":")
    found = pristine(module) if module in PATCHED_MODULES else importlib.import_module(module)
    for name in attributes.split(".") if attributes else ():
        found = getattr(found, name)
    return found


def source(dotted):
    return inspect.getsource(resolve(dotted))


# (the kit module that relies on it, the upstream callable, its signature as the kit expects it)
SIGNATURES = [
    # kit/fast/layer.py subclasses the pub/sub layer and uses its private helpers
    (
        "kit/fast/layer.py",
        "channels_redis.pubsub:RedisPubSubLoopLayer.__init__",
        "(self, hosts=None, prefix='asgi', on_disconnect=None, on_reconnect=None, channel_layer=None, **kwargs)",
    ),
    ("kit/fast/layer.py", "channels_redis.pubsub:RedisPubSubLoopLayer._get_shard", "(self, channel_or_group_name)"),
    ("kit/fast/layer.py", "channels_redis.pubsub:RedisPubSubLoopLayer._get_group_channel_name", "(self, group)"),
    ("kit/fast/layer.py", "channels_redis.pubsub:RedisPubSubLoopLayer._subscribe_to_channel", "(self, channel)"),
    ("kit/fast/layer.py", "channels_redis.pubsub:RedisPubSubLoopLayer.new_channel", "(self, prefix='specific.')"),
    ("kit/fast/layer.py", "channels_redis.pubsub:RedisPubSubLoopLayer.send", "(self, channel, message)"),
    ("kit/fast/layer.py", "channels_redis.pubsub:RedisPubSubLoopLayer.group_send", "(self, group, message)"),
    ("kit/fast/layer.py", "channels_redis.pubsub:RedisPubSubLoopLayer.receive", "(self, channel)"),
    ("kit/fast/layer.py", "channels_redis.pubsub:RedisPubSubLoopLayer.flush", "(self)"),
    ("kit/fast/layer.py", "channels_redis.pubsub:RedisPubSubChannelLayer._get_layer", "(self)"),
    ("kit/fast/layer.py", "channels_redis.utils:_wrap_close", "(proxy, loop)"),
    ("kit/fast/layer.py", "channels_redis.utils:decode_hosts", "(hosts)"),
    # kit/fast/shard.py subclasses the pub/sub layer's connection to one Redis
    ("kit/fast/shard.py", "channels_redis.pubsub:RedisSingleShardConnection.__init__", "(self, host, channel_layer)"),
    ("kit/fast/shard.py", "channels_redis.pubsub:RedisSingleShardConnection._ensure_redis", "(self)"),
    ("kit/fast/shard.py", "channels_redis.pubsub:RedisSingleShardConnection._ensure_receiver", "(self)"),
    ("kit/fast/shard.py", "channels_redis.pubsub:RedisSingleShardConnection._do_receiving", "(self)"),
    ("kit/fast/shard.py", "channels_redis.pubsub:RedisSingleShardConnection._receive_message", "(self, message)"),
    ("kit/fast/shard.py", "channels_redis.pubsub:RedisSingleShardConnection.publish", "(self, channel, message)"),
    ("kit/fast/shard.py", "channels_redis.pubsub:RedisSingleShardConnection.subscribe", "(self, channel)"),
    ("kit/fast/shard.py", "channels_redis.pubsub:RedisSingleShardConnection.unsubscribe", "(self, channel)"),
    # kit/harness/receive_fix.py replaces a private method and __init__ of the core layer
    (
        "kit/harness/receive_fix.py",
        "channels_redis.core:RedisChannelLayer.__init__",
        "(self, hosts=None, prefix='asgi', expiry=60, group_expiry=86400, capacity=100, channel_capacity=None, "
        "symmetric_encryption_keys=None, random_prefix_length=12, serializer_format='msgpack')",
    ),
    (
        "kit/harness/receive_fix.py",
        "channels_redis.core:RedisChannelLayer._brpop_with_clean",
        "(self, index, channel, timeout)",
    ),
    ("kit/harness/receive_fix.py", "channels_redis.core:RedisChannelLayer._backup_channel_name", "(self, channel)"),
    ("kit/harness/receive_fix.py", "channels_redis.core:RedisChannelLayer.connection", "(self, index)"),
    ("kit/harness/receive_fix.py", "channels_redis.core:BoundedQueue.put_nowait", "(self, item)"),
    # kit/harness/guards.py replaces AsyncConsumer.__call__; kit/fast/cleanup.py copies dispatch
    ("kit/harness/guards.py", "channels.consumer:AsyncConsumer.__call__", "(self, scope, receive, send)"),
    ("kit/fast/cleanup.py", "channels.consumer:AsyncConsumer.dispatch", "(self, message)"),
    ("kit/fast/cleanup.py", "channels.consumer:get_handler_name", "(message)"),
    # kit/serving/daphne_limited.py overrides daphne's protocol, factory, server and command line
    (
        "kit/serving/daphne_limited.py",
        "daphne.ws_protocol:WebSocketProtocol.serverSend",
        "(self, content, binary=False)",
    ),
    ("kit/serving/daphne_limited.py", "daphne.http_protocol:HTTPFactory.buildProtocol", "(self, addr)"),
    ("kit/serving/daphne_limited.py", "daphne.server:Server.kill_all_applications", "(self)"),
    # kit/fast/limits.py overrides uvicorn's protocols
    (
        "kit/fast/limits.py",
        "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol.connection_made",
        "(self, transport: 'asyncio.Transport') -> 'None'",
    ),
    (
        "kit/fast/limits.py",
        "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol.on_headers_complete",
        "(self) -> 'None'",
    ),
    (
        "kit/fast/limits.py",
        "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol.connection_lost",
        "(self, exc: 'Exception | None') -> 'None'",
    ),
    (
        "kit/fast/limits.py",
        "uvicorn.protocols.websockets.websockets_sansio_impl:WebSocketsSansIOProtocol.connection_made",
        "(self, transport: 'BaseTransport') -> 'None'",
    ),
    (
        "kit/fast/limits.py",
        "uvicorn.protocols.websockets.websockets_sansio_impl:WebSocketsSansIOProtocol.send",
        "(self, message: 'ASGISendEvent') -> 'None'",
    ),
    (
        "kit/fast/limits.py",
        "uvicorn.protocols.websockets.websockets_sansio_impl:WebSocketsSansIOProtocol.shutdown",
        "(self) -> 'None'",
    ),
    (
        "kit/fast/limits.py",
        "uvicorn.protocols.websockets.websockets_sansio_impl:WebSocketsSansIOProtocol.stop_keepalive",
        "(self) -> 'None'",
    ),
]

# kit/primary.py: redis-py's Sentinel pool, asked for the primary's address
SIGNATURES.append(("kit/primary.py", "redis.asyncio.sentinel:SentinelConnectionPool.get_master_address", "(self)"))

# (the kit module, the upstream class, the instance attributes the kit reads or writes, as set in its source)
ATTRIBUTES = [
    ("kit/primary.py", "redis.asyncio.connection:ConnectionPool", ("_available_connections", "_in_use_connections")),
    ("kit/primary.py", "redis.asyncio.sentinel:SentinelConnectionPool", ("master_address",)),
    ("kit/fast/layer.py", "channels_redis.pubsub:RedisPubSubLoopLayer", ("_shards", "channels", "groups", "prefix")),
    ("kit/fast/layer.py", "channels_redis.pubsub:RedisPubSubLoopLayer", ("channel_layer",)),
    ("kit/fast/layer.py", "channels_redis.pubsub:RedisPubSubChannelLayer", ("_layers", "_args", "_kwargs")),
    (
        "kit/fast/shard.py",
        "channels_redis.pubsub:RedisSingleShardConnection",
        ("_redis", "_pubsub", "_subscribed_to", "_lock", "channel_layer"),
    ),
    ("kit/harness/receive_fix.py", "channels_redis.core:RedisChannelLayer", ("receive_buffer", "capacity")),
    ("kit/serving/daphne_limited.py", "daphne.server:Server", ("http_factory", "ws_factory", "connections")),
    (
        "kit/fast/limits.py",
        "uvicorn.protocols.websockets.websockets_sansio_impl:WebSocketsSansIOProtocol",
        ("handshake_complete", "close_sent", "disconnected", "queue", "conn", "transport", "scope", "loop"),
    ),
]

# (the kit module, the upstream object, a text the kit copies or matches, which its source must hold)
TEXTS = [
    # Channels' URLRouter says "no route" only in text: the harness refuses the handshake on it.
    ("kit/harness/guards.py", "channels.routing:URLRouter", 'raise ValueError("No route found for path %r." % path)'),
    ("kit/harness/guards.py", "channels.routing:URLRouter", f'ValueError("{NO_ROUTE}'),
    # The backup-restoring Lua script, copied from _brpop_with_clean.
    (
        "kit/harness/receive_fix.py",
        "channels_redis.core:RedisChannelLayer._brpop_with_clean",
        receive_fix.RESTORE_BACKUP,
    ),
    # The reader's log line, which the fast variant's reader repeats and settings.py keeps to one line.
    (
        "kit/fast/shard.py",
        "channels_redis.pubsub:RedisSingleShardConnection._do_receiving",
        'logger.exception("Unexpected exception in receive task")',
    ),
    # group_send's over-capacity report, which the project's API counts (project/mysite/overload.py).
    (
        "project/mysite/overload.py",
        "channels_redis.core:RedisChannelLayer.group_send",
        '"%s of %s channels over capacity in group %s"',
    ),
]

# Upstream methods the kit replaces with its own version of their code: a change upstream (a fix, a
# new step) must be carried over by hand. (the kit module, the upstream method, sha256 of its source, 16 hex digits)
COPIED = [
    ("kit/fast/consumers.py", "channels.consumer:AsyncConsumer.__call__", "e52238720872dbc3"),
    ("kit/fast/cleanup.py", "channels.consumer:AsyncConsumer.dispatch", "39f34e7d4fb0f655"),
    ("kit/harness/receive_fix.py", "channels_redis.core:RedisChannelLayer._brpop_with_clean", "363a120edcef61d5"),
    ("kit/fast/shard.py", "channels_redis.pubsub:RedisSingleShardConnection._do_receiving", "a822736dcb875e43"),
    ("kit/fast/shard.py", "channels_redis.pubsub:RedisSingleShardConnection._receive_message", "2f5f46af28e8ed76"),
    ("kit/fast/shard.py", "channels_redis.pubsub:RedisSingleShardConnection.publish", "5a18093dbcb440f5"),
    ("kit/fast/shard.py", "channels_redis.pubsub:RedisSingleShardConnection.unsubscribe", "e2b9f0f1ff880674"),
    ("kit/fast/layer.py", "channels_redis.pubsub:RedisPubSubLoopLayer._subscribe_to_channel", "3da2e955db06450f"),
    ("kit/fast/layer.py", "channels_redis.pubsub:RedisPubSubChannelLayer._get_layer", "1862b87a25ac72b2"),
    ("kit/primary.py", "channels_redis.pubsub:RedisPubSubLoopLayer.group_send", "5d5f908ce40f335b"),
    ("kit/primary.py", "channels_redis.pubsub:RedisSingleShardConnection.flush", "d122fe3f4578cb1c"),
    # redis-py 7.0's asyncio owns_connection calls a method its base class lacks: the kit compares addresses.
    ("kit/primary.py", "redis.asyncio.sentinel:SentinelConnectionPool.owns_connection", "b6f814a2da1635a3"),
    (
        "kit/fast/limits.py",
        "uvicorn.protocols.websockets.websockets_sansio_impl:WebSocketsSansIOProtocol.shutdown",
        "e8ace796ada616b7",
    ),
]


def squeezed(text):
    return re.sub(r"\s+", " ", text).strip()


def digest(text):
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def revisit(kit_module, what):
    return f"{what}: revisit {kit_module} (it relies on this), then update tests/kit/test_upstream_internals.py"


@pytest.mark.parametrize(("kit_module", "dotted", "expected"), SIGNATURES, ids=[s[1] for s in SIGNATURES])
def test_a_relied_on_callable_keeps_its_signature(kit_module, dotted, expected):
    try:
        found = resolve(dotted)
    except (ImportError, AttributeError) as exc:
        pytest.fail(revisit(kit_module, f"{dotted} is gone ({exc})"))
    assert str(inspect.signature(found)) == expected, revisit(
        kit_module, f"{dotted}{inspect.signature(found)} is no longer {expected}"
    )


@pytest.mark.parametrize(("kit_module", "dotted", "names"), ATTRIBUTES, ids=[a[1] for a in ATTRIBUTES])
def test_a_relied_on_attribute_is_still_set(kit_module, dotted, names):
    text = inspect.getsource(importlib.import_module(dotted.partition(":")[0]))  # the file: never patched
    for name in names:
        set_here = re.search(rf"self\.{name}\s*(:[^=\n]*)?=[^=]", text) or hasattr(resolve(dotted), name)
        assert set_here, revisit(kit_module, f"{dotted} no longer sets or has .{name}")


@pytest.mark.parametrize(("kit_module", "dotted", "text"), TEXTS, ids=[t[1] for t in TEXTS])
def test_a_copied_or_matched_text_is_still_upstreams(kit_module, dotted, text):
    assert squeezed(text) in squeezed(source(dotted)), revisit(
        kit_module, f"{dotted}'s source no longer holds the text the kit copies or matches: {squeezed(text)[:80]!r}"
    )


def test_the_no_route_text_is_what_the_router_raises():
    """The harness's match (guards.NO_ROUTE) against the real error, not only its source."""
    import asyncio

    from channels.routing import URLRouter

    scope = {"type": "websocket", "path": "/nowhere/"}
    with pytest.raises(ValueError) as raised:
        asyncio.run(URLRouter([])(scope, None, None))
    assert str(raised.value).startswith(NO_ROUTE), revisit(
        "kit/harness/guards.py", f"URLRouter now says {raised.value}"
    )


@pytest.mark.parametrize(("kit_module", "dotted", "expected"), COPIED, ids=[c[1] for c in COPIED])
def test_a_method_the_kit_replaces_is_unchanged_upstream(kit_module, dotted, expected):
    assert digest(source(dotted)) == expected, revisit(
        kit_module, f"{dotted} changed upstream (the kit has its own version of it): carry the change over"
    )
