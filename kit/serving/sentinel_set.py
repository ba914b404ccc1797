"""A Redis Sentinel set started by the kit, without Docker: per shard a primary, a replica and three
Sentinels (`redis-server --sentinel`, quorum 2, down-after-milliseconds DOWN_AFTER_MS), all on
127.0.0.1 free ports in a temporary directory, and always stopped again.

    with sentinel_set.running(shards=1) as sentinels:
        print(sentinels.url)          # redis+sentinel://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/kit1
        sentinels.shards[0].kill_primary()     # SIGKILL: the Sentinels promote the replica
    python -m kit.serving.sentinel_set run -- CMD ...   # CMD runs with REDIS_URL set to the set

Passwords (password=..., sentinel_password=...): the Redis servers then require `password` (and
the replica and the Sentinels use it), the Sentinels require `sentinel_password`; the URL carries
both as REDIS_URL's grammar says (`redis+sentinel://:password@.../kit1?sentinel_password=...`).
"""

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from kit.serving.ports import free_port
from kit.serving.redis_service import RedisUnavailable
from kit.serving.redis_service import shown as redact

DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000
QUORUM = 2
SENTINELS = 3
START_TIMEOUT = 30


def _binary():
    binary = shutil.which("redis-server")
    if not binary:
        raise RedisUnavailable("a Sentinel set needs redis-server on PATH (sudo apt install redis-server)")
    return binary


def _config_string(value):
    """A value as redis.conf reads it: in double quotes, backslashes and quotes escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _client(port, password=None, timeout=1.0):
    import redis

    return redis.Redis(
        host="127.0.0.1", port=port, password=password, socket_connect_timeout=timeout, socket_timeout=timeout
    )


class Shard:
    """One shard: a primary, a replica and three Sentinels watching them under `master_name`."""

    def __init__(self, workdir, master_name, password=None, sentinel_password=None):
        self.workdir = Path(workdir)
        self.master_name = master_name
        self.password = password
        self.sentinel_password = sentinel_password
        self.binary = _binary()
        self.redis = {}  # port -> Popen, primary and replica
        self.sentinels = {}  # port -> Popen
        self.first_primary = None

    # -- starting --------------------------------------------------------------------------
    def _spawn(self, args, name):
        log = open(self.workdir / f"{name}.log", "ab")
        with log:
            return subprocess.Popen(
                [self.binary, *args],
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def _redis_args(self, port, replica_of=None):
        args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(self.workdir), "--save", "",
                "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
                "--dbfilename", f"dump-{port}.rdb"]  # fmt: skip
        if self.password:
            args += ["--requirepass", self.password, "--masterauth", self.password]
        if replica_of:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        return args

    def _sentinel_config(self, port, primary):
        lines = [
            f"port {port}",
            "bind 127.0.0.1",
            "daemonize no",
            f"dir {self.workdir}",
            f"sentinel monitor {self.master_name} 127.0.0.1 {primary} {QUORUM}",
            f"sentinel down-after-milliseconds {self.master_name} {DOWN_AFTER_MS}",
            f"sentinel failover-timeout {self.master_name} {FAILOVER_TIMEOUT_MS}",
            f"sentinel parallel-syncs {self.master_name} 1",
        ]
        if self.password:
            lines.append(f"sentinel auth-pass {self.master_name} {_config_string(self.password)}")
        if self.sentinel_password:
            lines.append(f"requirepass {_config_string(self.sentinel_password)}")
            lines.append(f"sentinel sentinel-pass {_config_string(self.sentinel_password)}")
        path = self.workdir / f"sentinel-{port}.conf"  # a Sentinel rewrites its own file
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self):
        primary, replica = free_port(), free_port()
        self.first_primary = primary
        self.redis[primary] = self._spawn(self._redis_args(primary), f"redis-{primary}")
        self._wait(lambda: _client(primary, self.password).ping(), f"the primary on {primary}")
        self.redis[replica] = self._spawn(self._redis_args(replica, replica_of=primary), f"redis-{replica}")
        self._wait(
            lambda: _client(replica, self.password).info("replication").get("master_link_status") == "up",
            f"the replica on {replica} in sync",
        )
        for _ in range(SENTINELS):
            port = free_port()
            config = self._sentinel_config(port, primary)
            self.sentinels[port] = self._spawn([str(config), "--sentinel"], f"sentinel-{port}")
        for port in self.sentinels:
            self._wait(lambda port=port: self._sentinel_ready(port), f"the Sentinel on {port}")
        return self

    def _sentinel_ready(self, port):
        # Raw commands: redis-py 7.0's sentinel_master() fails to parse its own answer.
        raw = _client(port, self.sentinel_password).execute_command("SENTINEL", "MASTER", self.master_name)
        master = {_text(key): _text(value) for key, value in zip(raw[::2], raw[1::2])}
        return int(master.get("num-other-sentinels", 0)) >= SENTINELS - 1 and int(master.get("num-slaves", 0)) >= 1

    def _wait(self, ready, what, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        error = None
        while time.monotonic() < deadline:
            dead = [port for port, process in {**self.redis, **self.sentinels}.items() if process.poll() is not None]
            if dead:
                raise RedisUnavailable(f"a redis-server of the Sentinel set (port {dead[0]}) exited while starting")
            try:
                if ready():
                    return
            except Exception as exc:
                error = exc
            time.sleep(0.1)
        raise RedisUnavailable(f"{what} was not ready within {timeout} s ({error or 'no answer'})")

    # -- what the drill uses ---------------------------------------------------------------
    def url(self):
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        query = f"?sentinel_password={quote(self.sentinel_password, safe='')}" if self.sentinel_password else ""
        sentinels = ",".join(f"127.0.0.1:{port}" for port in self.sentinels)
        return f"redis+sentinel://{auth}{sentinels}/{self.master_name}{query}"

    def primary_port(self):
        """The primary's port as the first Sentinel that answers sees it (None if none answers)."""
        for port in self.sentinels:
            with contextlib.suppress(Exception):
                client = _client(port, self.sentinel_password)
                host, primary = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.master_name)
                return int(primary)
        return None

    def kill_primary(self):
        """SIGKILL the current primary, as in a crash; -> its port."""
        port = self.primary_port()
        process = self.redis[port]
        process.kill()
        process.wait(5)
        return port

    def force_failover(self):
        """SENTINEL FAILOVER: the Sentinels promote the replica without waiting for the primary to fail."""
        port = next(iter(self.sentinels))
        return _client(port, self.sentinel_password, timeout=5).execute_command(
            "SENTINEL", "FAILOVER", self.master_name
        )

    def wait_for_promotion(self, old_port, timeout=30):
        """-> seconds until the Sentinels name another primary than old_port (None: not within timeout)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            port = self.primary_port()
            if port is not None and port != old_port:
                return time.monotonic() - start
            time.sleep(0.05)
        return None

    def restart(self, port):
        """A killed Redis of this shard started again on its port (the Sentinels make it a replica)."""
        self.redis[port] = self._spawn(self._redis_args(port), f"redis-{port}")

    def stop(self):
        for process in [*self.sentinels.values(), *self.redis.values()]:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        for process in [*self.sentinels.values(), *self.redis.values()]:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


class SentinelSet:
    source = "a Sentinel set started by the kit"
    process = None  # as redis_service.Redis: no one process (make demo lists its pids otherwise)

    def __init__(self, shards=1, password=None, sentinel_password=None):
        self.workdir = tempfile.mkdtemp(prefix="kit-sentinel-")
        self.shards = [
            Shard(Path(self.workdir, f"shard{n}"), f"kit{n}", password, sentinel_password) for n in range(1, shards + 1)
        ]

    @property
    def url(self):
        """REDIS_URL for the whole set: one redis+sentinel:// shard per shard, comma separated."""
        return ",".join(shard.url() for shard in self.shards)

    def start(self):
        try:
            for shard in self.shards:
                shard.workdir.mkdir(parents=True, exist_ok=True)
                shard.start()
        except BaseException:
            self.stop()
            raise
        return self

    def pids(self):
        return [p.pid for shard in self.shards for p in [*shard.redis.values(), *shard.sentinels.values()]]

    def stop(self):
        for shard in self.shards:
            shard.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


@contextlib.contextmanager
def running(shards=1, password=None, sentinel_password=None, quiet=True):
    """A started Sentinel set, stopped (every process, the temporary directory) when the block ends."""
    with SentinelSet(shards, password, sentinel_password) as sentinels:
        if not quiet:
            print(f"Redis Sentinel set: {redact(sentinels.url)}", file=sys.stderr, flush=True)
        yield sentinels


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kit.serving.sentinel_set", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--shards", type=int, default=1)
    sub = parser.add_subparsers(dest="action", required=True)
    run = sub.add_parser("run", help="run a command with REDIS_URL set to a started Sentinel set")
    run.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("run needs a command after --")
    try:
        with running(args.shards, quiet=False) as sentinels:
            child = subprocess.Popen(command, env=dict(os.environ, REDIS_URL=sentinels.url))
            forward = lambda signum, frame: child.send_signal(signum)  # noqa: E731
            signal.signal(signal.SIGTERM, forward)
            signal.signal(signal.SIGINT, lambda *_: None)  # the terminal sent it to the child too
            return child.wait()
    except RedisUnavailable as exc:
        print(f"FAIL Redis Sentinel set: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
