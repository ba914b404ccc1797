"""Two ways channels-redis loses a message after group_send queued it, and one it repeats, closed in the harness.

1. A message popped for a receive() that is cancelled at that moment goes back to its inbox.

channels-redis (4.3) pops a process's shared inbox with BZPOPMIN, then copies the message to a
backup sorted set. A receive() cancelled between the two (a socket closing, a command whose
asyncio.wait_for ran out) loses the message, even when it was meant for another socket of the
process (django/channels_redis#366): a push answered 202 never arrived, about once in three runs
of tests/project/test_hardening_load.py. install() replaces that pop with one that runs in a task of its
own: if its caller is gone when the message comes, the message goes back to the inbox with its
score (its place in the line), where the next receive() finds it.

2. The sockets of a process share one inbox; whichever receive() pops a message hands it to its
socket's buffer in the process, which holds at most `capacity` messages and silently drops the
oldest beyond that (channels_redis#212). With a small capacity and a busy socket, pushes answered
202 vanished there. The harness keeps LOCAL_BUFFER messages at least, and says so in the log when
a socket that stopped reading still loses one (a bound, so memory stays bounded).

3. A message popped twice is dropped (seen_first_time): after a Sentinel failover the replica may not
have seen a pop, and the receive() that waits the failover out (kit/primary.py) would get it again.

Only processes that import the harness are patched.
"""

import asyncio
import collections
import functools
import logging

from channels_redis.core import BoundedQueue, RedisChannelLayer

log = logging.getLogger(__name__)
LOCAL_BUFFER = 1000  # messages waiting in the process for one socket, at least
RECENT_POPS = 10000  # messages a layer remembers having handed out, to drop one popped twice
_original_init = RedisChannelLayer.__init__

# channels-redis's own first step: messages left in the backup set by an interrupted receive go
# back to the inbox (the same script as RedisChannelLayer._brpop_with_clean's).
RESTORE_BACKUP = """
local backed_up = redis.call('ZRANGE', ARGV[2], 0, -1, 'WITHSCORES')
for i = #backed_up, 1, -2 do
    redis.call('ZADD', ARGV[1], backed_up[i], backed_up[i - 1])
end
redis.call('DEL', ARGV[2])
"""
# The message, if still in the backup set, back to the inbox with its score (atomic).
BACK_FROM_BACKUP = """
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if score then
    redis.call('ZREM', KEYS[2], ARGV[1])
    redis.call('ZADD', KEYS[1], score, ARGV[1])
end
"""


async def _pop(layer, index, channel, timeout, abandoned):
    """RedisChannelLayer._brpop_with_clean, except that an abandoned pop returns its message."""
    backup = layer._backup_channel_name(channel)
    connection = layer.connection(index)
    await connection.eval(RESTORE_BACKUP, 0, channel, backup)
    result = await connection.bzpopmin(channel, timeout=timeout)
    if result is None:
        return None
    _, member, score = result
    if abandoned.is_set():  # the receive that asked is gone: the message goes back where it was
        await connection.zadd(channel, {member: float(score)})
        return None
    if not seen_first_time(layer, member):
        log.info("a message popped a second time (a failover, or a backup restored after delivery): dropped")
        return None
    await connection.zadd(backup, {member: float(score)})
    return member


def seen_first_time(layer, member):
    """False for a message this layer already handed to a receive(). Every message sent carries 12 random
    bytes (channels-redis's serializer), so equal bytes are the same send popped twice: after a Sentinel
    failover, the replica may never have seen the pop (asynchronous replication), or a backup set restored
    after its message was delivered (channels-redis: "Duplicate messages will be received eventually if
    any of these cleaners are cancelled"). At most once: the second pop is dropped. Bounded: the last
    RECENT_POPS messages."""
    recent = layer.__dict__.setdefault("_kit_recent_pops", ({}, collections.deque()))
    members, order = recent
    if member in members:
        return False
    members[member] = None
    order.append(member)
    if len(order) > RECENT_POPS:
        members.pop(order.popleft(), None)
    return True


async def _back_from_backup(layer, index, channel, member):
    try:
        await layer.connection(index).eval(BACK_FROM_BACKUP, 2, channel, layer._backup_channel_name(channel), member)
    except Exception as exc:  # Redis gone: it stays in the backup set, which the next receive restores
        log.info("a popped message stays in the backup set (%s)", exc.__class__.__name__)


async def cancel_safe_pop(self, index, channel, timeout):
    """The pop in a task of its own; cancelling the caller abandons it without losing a message."""
    abandoned = asyncio.Event()
    pop = asyncio.ensure_future(_pop(self, index, channel, timeout, abandoned))
    try:
        return await asyncio.shield(pop)
    except asyncio.CancelledError:
        abandoned.set()

        def return_late_message(task):  # popped and backed up just before the cancel
            if not task.cancelled() and task.exception() is None and task.result() is not None:
                self._kit_recent_pops[0].pop(task.result(), None)  # not handed out after all: may come again
                asyncio.ensure_future(_back_from_backup(self, index, channel, task.result()))

        pop.add_done_callback(return_late_message)
        raise


class LoggedBoundedQueue(BoundedQueue):
    """channels-redis's per-socket buffer: drops its oldest message when full, and logs it."""

    def put_nowait(self, item):
        if self.full():
            log.warning(
                "a socket's buffer is full (%s messages: it is not reading): its oldest message is dropped",
                self.maxsize,
            )
        return super().put_nowait(item)


def init_with_logged_buffers(self, *args, **kwargs):
    _original_init(self, *args, **kwargs)
    self.receive_buffer = collections.defaultdict(
        functools.partial(LoggedBoundedQueue, max(self.capacity, LOCAL_BUFFER))
    )


def install():
    """Patches RedisChannelLayer (idempotent)."""
    RedisChannelLayer._brpop_with_clean = cancel_safe_pop
    RedisChannelLayer.__init__ = init_with_logged_buffers
