"""API keys, devices and the pushes' "online" answer looked up once per FAST_CACHE_SECONDS.

The learner's code asks the database three times per push (the API key, the device, then whether
it is online); install() wraps those lookups where the views find them (ApiKey.objects.acheck,
devices' get_device, the presence module as devices/views.py sees it) with a small time-limited
cache. Only hits are kept: a wrong key, an unknown or an offline device asks the database every time.
- A replaced or deleted key keeps working for at most FAST_CACHE_SECONDS (0.5 s): the contract's
  "revoked within 1 s" still holds.
- A push's "online": true may be up to 0.5 s old (the device left meanwhile: the push is lost, as
  at most once allows). Step 4's commands (devices/commands.py) ask afresh (the database, or Redis
  with "pubsub": kit/fast/presence.py), so a command to a device that just left is a 409 at once,
  not a 504 later; GET /api/devices/ asks the database.
"""

import functools
import time

from django.conf import settings

MAX_ENTRIES = 10_000  # a bound, not a tuning knob: entries expire long before it matters


class TimedCache:
    def __init__(self, seconds):
        self.seconds, self.entries = seconds, {}

    def get(self, key):
        found = self.entries.get(key)
        if found and time.monotonic() - found[0] < self.seconds:
            return found[1]
        return None

    def put(self, key, value):
        if len(self.entries) >= MAX_ENTRIES:
            self.entries.clear()
        self.entries[key] = (time.monotonic(), value)


def cached_hits(function, cache):
    """An async function(key) whose truthy results are reused for cache.seconds."""

    @functools.wraps(function)
    async def lookup(key):
        found = cache.get(key)
        if found is None:
            found = await function(key)
            if found:
                cache.put(key, found)
        return found

    lookup.cache = cache
    return lookup


class CachedPresence:
    """The presence module, with is_online and online_count cached (hits only); the rest as is."""

    def __init__(self, module, seconds):
        self.module = module
        self.online = cached_hits(module.is_online, TimedCache(seconds))
        self.count = cached_hits(lambda _key: module.online_count(), TimedCache(seconds))

    def __getattr__(self, name):
        return getattr(self.module, name)

    async def is_online(self, device):
        return await self.online(device)

    async def online_count(self):
        return await self.count("all")


def install():
    """Wraps the API key check, the device lookup and the views' presence (idempotent)."""
    from devices import commands, views
    from devices.models import ApiKey

    manager = ApiKey.objects
    if not hasattr(manager.acheck, "cache"):
        manager.acheck = cached_hits(manager.acheck, TimedCache(settings.FAST_CACHE_SECONDS))
    if not hasattr(views.get_device, "cache"):
        views.get_device = cached_hits(views.get_device, TimedCache(settings.FAST_CACHE_SECONDS))
    commands.get_device = views.get_device  # step 4 imported the name: give it the cached one too
    if not isinstance(views.presence, CachedPresence):  # the module, or kit/fast/presence.py's
        views.presence = CachedPresence(views.presence, settings.FAST_CACHE_SECONDS)
