"""Pushes the channel layer could not queue: counted per API request, so the API can say so.

Over capacity, channels_redis's core group_send drops the message for that member and reports
it only in one INFO log line ("N of M channels over capacity in group G"); the view never knows.
CountDrops, a logging filter on that logger (mysite/settings.py LOGGING), hands the numbers to the
API request being served; api_endpoint (mysite/api.py) then answers 503 with Retry-After when
nothing was queued, or adds "not_queued" to a 202 when some members missed the push.

The kit's pub/sub layers report a group_send that no server process got (PUBLISH answered 0) on a
record with a `reached_nobody` attribute: counted here too, and api_endpoint answers 503 when the layer
saw a failover meanwhile (the push reached nobody, so a retry repeats nothing), else "online": false.
"""

import contextlib
import contextvars
import logging

OVER_CAPACITY = "%s of %s channels over capacity in group %s"  # channels_redis 4.3 core.py's message
RETRY_AFTER_SECONDS = 1

_counter = contextvars.ContextVar("kit_layer_drops", default=None)


class Drops:
    """What the layer dropped during one request: (members not queued, members in the group) per send."""

    def __init__(self):
        self.sends = []
        self.reached_nobody = []  # pub/sub group_sends no server process got (kit/primary.py)

    @property
    def not_queued(self):
        return sum(dropped for dropped, _ in self.sends)

    @property
    def nothing_queued(self):
        return bool(self.sends) and all(dropped >= members for dropped, members in self.sends)


class CountDrops(logging.Filter):
    def filter(self, record):
        """Counts an over-capacity report for the API request being served (and does not print it);
        any other record, or one from a consumer's own group_send, is logged as usual."""
        drops = _counter.get()
        if drops is not None and getattr(record, "reached_nobody", None):
            drops.reached_nobody.append(record.reached_nobody)  # the API decides: offline, or a failover
            return False
        if drops is None or record.msg != OVER_CAPACITY:
            return True
        drops.sends.append((int(record.args[0]), int(record.args[1])))
        return False


@contextlib.contextmanager
def counting():
    """Counts drops for the code run inside (tasks it starts share the same Drops object)."""
    drops = Drops()
    token = _counter.set(drops)
    try:
        yield drops
    finally:
        _counter.reset(token)
