"""One server process for the bench: daphne (the kit's `runserver` server), kit.serving.daphne_limited (daphne with the
kit's limits, what LiveServer runs) or uvicorn (uvloop, httptools).

    ServerProcess("kit.bench.floor:application", env, server="uvicorn").start()   # .port, .process

Started in its own session from the repository root, stopped by its process group; each system of
kit.bench.systems picks the server, so a floor and the kit can be compared on the same one.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from kit import REPO_DIR
from kit.fast import serve as fast_serve
from kit.serving.live_server import _die_with_parent, stop_process_group
from kit.serving.ports import free_port

START_TIMEOUT = 30
SERVERS = ("daphne", "kit.serving.daphne_limited", "uvicorn")


def server_command(server, app, port):
    """The command line serving `app` (module:attribute) on 127.0.0.1:port."""
    if server in (
        "daphne",
        "kit.serving.daphne_limited",
    ):  # kit.serving.daphne_limited: daphne with the kit's limits (kit/serving/daphne_limited.py)
        return [sys.executable, "-m", server, "-b", "127.0.0.1", "-p", str(port), app]
    if server == "uvicorn" and app == fast_serve.APPLICATION:  # as compose and `make demo` serve it: with
        return fast_serve.command(port)  # the kit's limits (kit/fast/limits.py)
    if server == "uvicorn":  # the floors: plain uvicorn, with the fast variant's options (kit/fast/serve.py)
        return fast_serve.uvicorn_command(app, port)
    raise ValueError(f"unknown server {server!r}: one of {', '.join(SERVERS)}")


class ServerProcess:
    def __init__(self, app, env, server="daphne", cwd=REPO_DIR):
        self.app, self.server, self.cwd = app, server, cwd
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        self.log_path = Path(tempfile.mkdtemp(prefix="kit-bench-")) / "server.log"
        self.process = self.port = None

    def start(self):
        self.port = free_port()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                server_command(self.server, self.app, self.port),
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/", timeout=1)  # any answer: it is up
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"{self.app} on {self.server} did not start; its log:\n{self.log_path.read_text(errors='replace')[-2000:]}"
        )

    def stop(self):
        stop_process_group(self.process)
