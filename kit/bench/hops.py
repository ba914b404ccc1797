"""Where the kit's push latency goes: the project's ASGI app with a stopwatch on each hop.

Served by daphne in place of mysite.asgi:application (with project/ on PYTHONPATH) while the
bench POSTs pushes one at a time. It wraps, without changing the project's files:
  the whole HTTP request          ASGI app entered -> response headers sent
  Django before the view          ASGI app entered -> API-key check starts (handler, middleware)
  API key check                   mysite.api.authenticate_publisher (a DB query in a thread)
  device lookup                   devices.views.get_device (a DB query in a thread)
  group_send                      RedisChannelLayer.group_send (Redis round trips, Lua script)
  layer to consumer               group_send called -> DeviceConsumer.device_message entered
  consumer handler                device_message (JSON, frame to daphne)
  presence check                  devices.presence.is_online (after the push; delays the answer)
  thread hops                     sync_to_async calls per request (Django's sync middleware, signals and
                                  ORM calls each hop to a worker thread and back), and their total time
GET /__bench_hops__/ answers the medians in ms (?reset clears them) (one request in flight at a time, so the last
request's stamps belong to it).
"""

import contextvars
import functools
import json
import os
import statistics
import time
from collections import defaultdict

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

from mysite.asgi import application as project_application  # noqa: E402  (sets Django up)

samples = defaultdict(list)
# The request being served, seen by every task it spawns: a request's tail (response close,
# request_finished) still runs when the bench's next request has already arrived.
current = contextvars.ContextVar("bench_request", default=None)
HOPS_PATH = "/__bench_hops__/"


def stopwatch(name, function, on_enter=None):
    @functools.wraps(function)
    async def timed(*args, **kwargs):
        started = time.perf_counter()
        if on_enter:
            on_enter(started, args)
        try:
            return await function(*args, **kwargs)
        finally:
            samples[name].append((time.perf_counter() - started) * 1000)

    return timed


def since_request(name):
    def record(now, args):
        request = current.get()
        if request:
            samples[name].append((now - request["in"]) * 1000)

    return record


def since_group_send(now, args):
    event = args[1] if len(args) > 1 else {}
    if isinstance(event, dict) and "bench_sent" in event:
        samples["layer to consumer"].append((now - event["bench_sent"]) * 1000)


def count_thread_hops():
    from asgiref.sync import SyncToAsync

    original_call = SyncToAsync.__call__

    async def call(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return await original_call(self, *args, **kwargs)
        finally:
            request = current.get()
            if request:
                request["hops"] += 1
                request["hop_ms"] += (time.perf_counter() - started) * 1000

    SyncToAsync.__call__ = call


def instrument():
    import mysite.api as api
    from channels_redis.core import RedisChannelLayer
    from devices import presence, views
    from devices.consumers import DeviceConsumer

    # Each hop is wrapped only where the project still has that function (the project may change).
    for module, attribute, name, on_enter in (
        (api, "authenticate_publisher", "API key check (DB)", since_request("Django before the view")),
        (views, "get_device", "device lookup (DB)", None),
        (presence, "is_online", "presence check (DB)", None),
    ):
        if hasattr(module, attribute):
            setattr(module, attribute, stopwatch(name, getattr(module, attribute), on_enter))

    original_group_send = RedisChannelLayer.group_send

    async def group_send(self, group, message):
        return await original_group_send(self, group, {**message, "bench_sent": time.perf_counter()})

    RedisChannelLayer.group_send = stopwatch("group_send (Redis)", group_send)
    DeviceConsumer.device_message = stopwatch("consumer handler", DeviceConsumer.device_message, since_group_send)


instrument()
count_thread_hops()


async def application(scope, receive, send):
    if scope["type"] != "http":
        return await project_application(scope, receive, send)
    if scope["path"] == HOPS_PATH:
        if scope.get("query_string") == b"reset":  # after the warm-up requests
            samples.clear()
        body = json.dumps(report()).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})
        return
    request = {"in": time.perf_counter(), "hops": 0, "hop_ms": 0.0}
    current.set(request)
    started = request["in"]

    async def timed_send(message):
        if message["type"] == "http.response.start":
            samples["whole HTTP request"].append((time.perf_counter() - started) * 1000)
        await send(message)

    await project_application(scope, receive, timed_send)
    samples["thread hops per request (count)"].append(request["hops"])
    samples["thread hops per request (time)"].append(request["hop_ms"])


def report():
    return {
        name: {"median_ms": statistics.median(values), "count": len(values)}
        for name, values in samples.items()
        if values
    }
