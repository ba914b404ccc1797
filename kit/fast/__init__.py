"""The fast variant of the served project: the same learner's files, served leaner (issue 14).

Step 3's design as the notebooks teach it (Django views, DeviceConsumer, RedisChannelLayer, daphne)
stays what `runserver` and the grader run. This package is what `make demo`, compose's `web` and
`make bench`'s "kit" serve instead, each change measured on its own (notebook 05a, docs/bench.md):

  api        the HTTP API served by a Channels AsyncHttpConsumer (kit/fast/api.py): the same URLconf,
             views and validation (mysite/api.py), without Django's request handler and middleware
  cache      API keys and devices looked up once per FAST_CACHE_SECONDS (kit/fast/cache.py): revoking a key
             takes effect within that time (0.5 s), well inside the 1 s the contract allows
  nocleanup  Channels' per-event close_old_connections() thread hop, before every API request and
             device event, becomes a clean-up once a second (kit/fast/cleanup.py)
  pubsub     RedisPubSubChannelLayer with one inbox per process and bounded queues (kit/fast/layer.py);
             a device is online if Redis says a process subscribes to its group (kit/fast/presence.py)
  hub        with pubsub: an event for a device arrives once per process and is handed straight to its
             consumer; a push's frame is made once (kit/fast/layer.py, kit/fast/consumers.py)
  (server)   uvicorn with uvloop and httptools instead of daphne, with the kit's limits (kit/fast/serve.py)

    python -m kit.fast.serve --port 8000                                           # all changes
    KIT_FAST=api,cache python -m kit.fast.serve                                    # only these
"""

import os

STEPS = ("api", "cache", "nocleanup", "pubsub", "hub")


def enabled():
    """The changes switched on: KIT_FAST (comma-separated), all of them by default."""
    chosen = os.environ.get("KIT_FAST")
    found = set(STEPS) if chosen is None else {step.strip() for step in chosen.split(",") if step.strip()}
    unknown = found - set(STEPS)
    if unknown:
        raise ValueError(f"KIT_FAST: unknown changes {sorted(unknown)}; known: {', '.join(STEPS)}")
    return found
