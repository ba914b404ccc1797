"""A token bucket per student: a few frames a second on average, short bursts allowed.

In the server process's memory: a classroom is served by one process (make demo, compose's web). With
several processes behind a balancer, each would allow the rate on its own.
"""

import time

MAX_KEYS = 10_000  # a flood of made-up keys cannot grow the table without bound


class PerStudentRate:
    def __init__(self, per_second, burst, clock=time.monotonic):
        self.per_second, self.burst, self.clock = per_second, burst, clock
        self.buckets = {}  # key -> (tokens left, when counted)

    def allow(self, key):
        """True if key may send one more frame now (and counts it), False if it must wait."""
        now = self.clock()
        tokens, then = self.buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.per_second)
        allowed = tokens >= 1
        if len(self.buckets) >= MAX_KEYS:  # dicts keep insertion order: the least recently seen goes
            del self.buckets[next(iter(self.buckets))]
        self.buckets[key] = (tokens - 1 if allowed else tokens, now)
        return allowed

    def describe(self):
        return f"at most {self.per_second:g} a second"


_limits = {}


def for_students():
    """The server's one limit, from the settings (CLASSROOM_RATE_PER_SECOND, CLASSROOM_BURST)."""
    from django.conf import settings

    if "students" not in _limits:
        _limits["students"] = PerStudentRate(settings.CLASSROOM_RATE_PER_SECOND, settings.CLASSROOM_BURST)
    return _limits["students"]
