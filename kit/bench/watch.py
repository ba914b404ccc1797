"""Around a measured section: CPU time of the server, of the bench's own client and of Redis (all its
shards), the commands each Redis shard carried, and a py-spy profile when asked (kit.bench.profile)."""

import psutil

from kit.bench.client import TIMEOUT
from kit.bench.profile import Sampler, summarize
from kit.bench.shards import carried, commands
from kit.serving.redis_service import shard_client, shard_urls


def redis_cpu(url):
    """Seconds of CPU the Redis servers have used, summed over REDIS_URL's shards (INFO cpu: user + system,
    main and child processes); None without a Redis. The whole servers': others' jobs on them count too."""
    if not url:
        return None
    total = 0.0
    for one in shard_urls(url):
        client = shard_client(one, TIMEOUT)  # a Redis, or the primary behind a Sentinel shard
        try:
            info = client.info("cpu")
        finally:
            client.close()
        total += sum(
            float(info.get(key, 0))
            for key in ("used_cpu_sys", "used_cpu_user", "used_cpu_sys_children", "used_cpu_user_children")
        )
    return total


class Watch:
    """Around a measured section: CPU time (user + system) of the server, of this process (the bench's
    clients) and of Redis; a py-spy profile if asked (then the section is a profile pass, not a measured one)."""

    def __init__(self, pid, profile=False, redis_url=None):
        self.pid, self.profile, self.redis_url = pid, profile, redis_url
        self.cpu_seconds, self.client_cpu_seconds, self.redis_cpu_seconds = 0.0, 0.0, None
        self.commands_by_shard = None  # [{command: calls}, one per shard] during the section
        self.components, self.samples, self.error = {}, 0, None

    @staticmethod
    def cpu(pid=None):
        times = psutil.Process(pid).cpu_times()
        return times.user + times.system

    def __enter__(self):
        self.sampler = Sampler(self.pid).__enter__() if self.profile else None
        self.redis_started = redis_cpu(self.redis_url)
        self.commands_started = commands(self.redis_url) if self.redis_url else None
        self.started, self.client_started = self.cpu(self.pid), self.cpu()
        return self

    def __exit__(self, *exc):
        self.cpu_seconds = self.cpu(self.pid) - self.started
        self.client_cpu_seconds = self.cpu() - self.client_started  # this process: the bench's own clients
        if self.redis_started is not None:
            self.redis_cpu_seconds = redis_cpu(self.redis_url) - self.redis_started
            self.commands_by_shard = carried(self.commands_started, commands(self.redis_url))
        if self.sampler is not None:
            self.sampler.__exit__(*exc)
            self.error = self.sampler.error
            self.components, self.samples = summarize(self.sampler.raw_path)


def watch_details(watch, key, scale):
    """CPU per operation of the server (key), of the bench's client and of Redis."""
    operation = key.removeprefix("server_")
    details = {
        key: watch.cpu_seconds * scale,
        "client_" + operation: watch.client_cpu_seconds * scale,
        "redis_" + operation: None if watch.redis_cpu_seconds is None else watch.redis_cpu_seconds * scale,
    }
    if watch.commands_by_shard is not None:  # shard number -> commands it carried (medians over the passes)
        details["redis_commands_by_shard"] = {
            str(number): sum(calls.values()) for number, calls in enumerate(watch.commands_by_shard, 1)
        }
    if watch.profile:
        details["profile"] = {"cpu_share": watch.components, "samples": watch.samples, "error": watch.error}
    return details
