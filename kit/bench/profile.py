"""Where a server's CPU goes during a measurement: py-spy samples its process, the stacks are
grouped by the component they are in (Django, ORM + SQLite, channel layer, Redis client, ...).

    with Sampler(pid) as sampler:   # py-spy record --pid PID, stopped with SIGINT on exit
        ...traffic...
    shares = summarize(sampler.raw_path)   # {"component": share of CPU samples}

py-spy (requirements-dev.txt) needs ptrace rights on the server process: as its parent or as root
on Linux it has them; where it cannot attach, Sampler.error says why and the bench goes on.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

RATE = 250  # samples per second, of the thread holding the GIL (--gil): where Python CPU goes
# First match from the innermost frame outward names the component.
COMPONENTS = [
    ("sqlite3", "ORM + SQLite"),
    ("django/db/", "ORM + SQLite"),
    ("channels_redis/", "channel layer (channels-redis)"),
    ("msgpack", "channel layer (channels-redis)"),
    ("redis/", "Redis client (redis-py)"),
    ("django/", "Django request handling + middleware"),
    ("asgiref/", "sync_to_async / async_to_sync"),
    ("concurrent/futures", "sync_to_async / async_to_sync"),
    ("threading.py", "sync_to_async / async_to_sync"),
    ("channels/", "Channels consumers + routing"),
    ("project/", "the project's own code"),
    ("autobahn/", "daphne + Twisted + WebSocket protocol"),
    ("twisted/", "daphne + Twisted + WebSocket protocol"),
    ("daphne/", "daphne + Twisted + WebSocket protocol"),
    ("json/", "JSON"),
    ("asyncio/", "asyncio event loop"),
    ("selectors.py", "asyncio event loop"),
]


def py_spy():
    found = Path(sys.executable).parent / "py-spy"
    return str(found) if found.exists() else shutil.which("py-spy")


class Sampler:
    def __init__(self, pid, rate=RATE):
        self.pid, self.rate = pid, rate
        self.raw_path = Path(tempfile.mkdtemp(prefix="kit-profile-")) / "stacks.txt"
        self.process, self.error = None, None

    def __enter__(self):
        binary = py_spy()
        if not binary:
            self.error = "py-spy is not installed (pip install -r requirements-dev.txt)"
            return self
        self.process = subprocess.Popen(
            [
                binary,
                "record",
                "--pid",
                str(self.pid),
                "--rate",
                str(self.rate),
                "--format",
                "raw",
                "--output",
                str(self.raw_path),
                "--nonblocking",
                "--gil",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # attach before the traffic starts
        if self.process.poll() is not None:
            self.error = self.why_not()
        return self

    def __exit__(self, *exc):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
                self.error = "py-spy did not stop in time"
                return
        # On a busy machine py-spy can take longer than the wait above to fail: no file, say why.
        if self.error is None and not self.raw_path.exists():
            self.error = self.why_not()

    def why_not(self):
        return f"py-spy could not sample: {self.process.stderr.read().decode(errors='replace')[-300:]}"


def component(stack):
    frames = stack.split(";")
    for frame in reversed(frames):
        for needle, name in COMPONENTS:
            if needle in frame:
                return name
    return "other"


def summarize(raw_path):
    """{component: share of samples}, largest first, plus the sample count."""
    counts = Counter()
    if not os.path.exists(raw_path):
        return {}, 0
    for line in Path(raw_path).read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            counts[component(stack)] += int(count)
    total = sum(counts.values())
    return {name: count / total for name, count in counts.most_common()} if total else {}, total
