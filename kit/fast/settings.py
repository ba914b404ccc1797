"""The served project's settings with the fast variant's changes (kit/fast/__init__.py)."""

import os

from kit.fast import enabled
from kit.harness.settings import *  # noqa: F401,F403

ASGI_APPLICATION = "kit.fast.asgi.application"
FAST_CHANGES = sorted(enabled())
# How long a looked-up API key or device is trusted: a revoked key is refused within this time.
FAST_CACHE_SECONDS = 0.5

# One setting decides the layer for every process on the Redis: CHANNEL_LAYER (core or pubsub; see
# kit/layers.py). Unset, the fast variant takes the pub/sub layer when its "pubsub" change is on; the kit's
# servers (LiveServer, make demo, compose) set CHANNEL_LAYER explicitly, for the server and every other
# process they start. CHANNEL_LAYER=core turns the pubsub and hub changes off.
if os.environ.get("CHANNEL_LAYER") is None and "pubsub" in FAST_CHANGES:
    CHANNEL_LAYER = "pubsub"
if CHANNEL_LAYER != "pubsub":  # noqa: F405
    FAST_CHANGES = [step for step in FAST_CHANGES if step not in ("pubsub", "hub")]

if REDIS_URL and CHANNEL_LAYER == "pubsub":  # noqa: F405
    # One Redis SUBSCRIBE per process instead of a BZPOPMIN loop; each socket's queue holds at most
    # `capacity` events (beyond that they are dropped, at most once, as the core layer's group_send does).
    _config = CHANNEL_LAYERS["default"]["CONFIG"]  # noqa: F405
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "kit.fast.layer.BoundedPubSubChannelLayer"
            if "pubsub" in FAST_CHANGES
            else "kit.layers.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": _config["hosts"],
                "prefix": _config["prefix"],
                "capacity": int(os.environ.get("CHANNEL_LAYER_CAPACITY", "1000")),
            },
        }
    }

    # The pub/sub layer's receiver logs a traceback a second while Redis is away: one line instead.
    LOGGING = {  # noqa: F405
        **LOGGING,  # noqa: F405
        "filters": {
            **LOGGING.get("filters", {}),  # noqa: F405
            "one_line": {"()": "kit.fast.layer.OneLineErrors"},
        },
    }
    LOGGING["handlers"] = {
        **LOGGING["handlers"],
        "one_line_console": {"class": "logging.StreamHandler", "filters": ["one_line"]},
    }
    LOGGING["loggers"] = {
        **LOGGING["loggers"],
        "channels_redis.pubsub": {"handlers": ["one_line_console"], "level": "WARNING", "propagate": False},
    }
