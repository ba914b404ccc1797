"""Says once, on start, which channel layer the server uses and what that means."""

import sys
from django.conf import settings

from mysite import redis_url


def describe_channel_layer():
    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]
    if settings.REDIS_URL:
        shards = [redis_url.name(shard) for shard in redis_url.parse(settings.REDIS_URL)]  # no passwords
        prefix = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix", "asgi")
        if len(shards) == 1:
            return f"Channel layer: {backend} at {shards[0]} (prefix {prefix!r})"
        return f"Channel layer: {backend} on {len(shards)} shards: {', '.join(shards)} (prefix {prefix!r})"
    return (
        f"Channel layer: {backend} (REDIS_URL is not set). One process only: a group_send "
        "from a notebook, a script or another server process will not reach this server."
    )


def announce_channel_layer():
    print(describe_channel_layer(), file=sys.stderr, flush=True)
