"""Says once, on start, which channel layer the server uses and what that means."""

import sys
from urllib.parse import urlsplit

from django.conf import settings


def describe_channel_layer():
    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]
    if settings.REDIS_URL:
        url = urlsplit(settings.REDIS_URL)
        where = f"{url.scheme}://{url.hostname}:{url.port or 6379}{url.path}"  # no password
        return f"Channel layer: {backend} at {where}"
    return (
        f"Channel layer: {backend} (REDIS_URL is not set). One process only: a group_send "
        "from a notebook, a script or another server process will not reach this server."
    )


def announce_channel_layer():
    print(describe_channel_layer(), file=sys.stderr, flush=True)
