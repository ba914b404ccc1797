"""The served project's settings with the fast variant's changes (kit/fast/__init__.py)."""

from kit.fast import enabled
from kit.harness.settings import *  # noqa: F401,F403

ASGI_APPLICATION = "kit.fast.asgi.application"
FAST_CHANGES = sorted(enabled())
# How long a looked-up API key or device is trusted: a revoked key is refused within this time.
FAST_CACHE_SECONDS = 0.5

if REDIS_URL and "pubsub" in FAST_CHANGES:  # noqa: F405
    # One Redis SUBSCRIBE per process instead of a BZPOPMIN loop; each socket's queue holds at most
    # `capacity` events (beyond that they are dropped, at most once, as the core layer's group_send does).
    _core = CHANNEL_LAYERS["default"]["CONFIG"]  # noqa: F405
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "kit.fast.layer.BoundedPubSubChannelLayer",
            "CONFIG": {"hosts": _core["hosts"], "prefix": _core["prefix"], "capacity": _core.get("capacity", 100)},
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
