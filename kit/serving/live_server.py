"""The live project as a separate server process: started, waited for, restarted, stopped.

Tests, notebooks, the grader and `make demo` all use it. The server never runs inside the
caller's event loop (a notebook kernel's loop stalls background tasks between cells).

    with LiveServer(redis_url=redis.url) as server:
        token = server.create_device("sensor-1")    # the token manage.py printed
        httpx.get(server.http_url + "/api/devices/")
"""

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from kit import PROJECT_DIR, REPO_DIR

START_TIMEOUT = 30
# The kit's harness (kit/harness/) serves the project: the learner's files stay plain Channels.
HARNESS_SETTINGS = "kit.harness.settings"
HARNESS_APPLICATION = "kit.harness.asgi:application"
COMMAND_TIMEOUT = 60


class ServerFailed(RuntimeError):
    """The server or a manage.py command failed. Callers read the fields, never the message:
    reason   what failed, in plain words ("the server exited with status 1 while starting")
    log_tail the server log's last lines ("" for a manage.py command)
    stderr   a manage.py command's stderr ("" for the server)
    returncode the process's exit status, or None if it was still running (a timeout)
    command  the command as given (manage.py's arguments, or the server's command line)
    """

    def __init__(self, reason, log_tail="", stderr="", returncode=None, command=()):
        self.reason, self.log_tail, self.stderr = reason, log_tail, stderr
        self.returncode, self.command = returncode, list(command)
        detail = "\n".join(filter(None, [f"Last lines of its log:\n{log_tail}" if log_tail else "", stderr]))
        super().__init__(f"{reason}. {detail}" if detail else reason)

    def last_line(self, limit=300):
        """The last non-empty line of its stderr or log: usually the exception that ended it."""
        lines = [line.strip() for line in (self.stderr or self.log_tail).splitlines() if line.strip()]
        return lines[-1][:limit] if lines else ""


def stop_process_group(process, grace=5):
    """SIGTERM to a process started with start_new_session=True and its children; SIGKILL after grace s."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(grace)


def _die_with_parent():
    """Linux: the server gets SIGTERM if the process that started it dies (a killed kernel)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class LiveServer:
    def __init__(
        self,
        project_dir=PROJECT_DIR,
        redis_url=None,
        db_path=None,
        layer_prefix=None,
        debug=False,
        env=None,
        start_timeout=START_TIMEOUT,
        daphne_args=(),
        launcher=None,
        fast=None,
        host="127.0.0.1",
    ):
        # The address it listens on: loopback unless told (classroom mode: the LAN, or 0.0.0.0 for every
        # interface; tests: a second loopback address such as 127.0.0.2 standing in for the LAN).
        self.host = host
        self.project_dir = Path(project_dir).resolve()
        self.workdir = tempfile.mkdtemp(prefix="kit-server-")  # log and default db; removed at exit
        atexit.register(self.close)
        self.db_path = str(db_path or Path(self.workdir) / "db.sqlite3")
        self.log_path = Path(self.workdir) / "server.log"
        self.start_timeout = start_timeout
        self.env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": HARNESS_SETTINGS,
            "DJANGO_DB_PATH": self.db_path,
            "DJANGO_DEBUG": "1" if debug else "0",
            **(env or {}),
        }
        # The server runs from the project directory: kit.harness.* and kit.serving.daphne_limited import from the
        # repository root, after any PYTHONPATH the caller set (the bench passes its own).
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [self.env.get("PYTHONPATH"), str(REPO_DIR)]))
        self.env.pop("REDIS_URL", None)
        if redis_url:
            self.env["REDIS_URL"] = redis_url
        self.redis_url = redis_url
        self.layer_prefix = layer_prefix or "asgi"
        self.env["CHANNEL_LAYER_PREFIX"] = self.layer_prefix
        self.process = None
        self.port = None
        self.migrated = False
        self.daphne_args = list(daphne_args)  # extra daphne options, e.g. ("--ping-interval", "300")
        # The grader's hook (kit.grading.sandbox): (command, env) -> (command, env) for daphne and manage.py alike.
        self.launcher = launcher or (lambda command, env: (command, env))
        # fast=True or KIT_SERVED=fast: the fast variant on uvicorn (kit/fast/serve.py): `make demo`
        # serves it, and tests run against it with KIT_SERVED=fast.
        self.fast = os.environ.get("KIT_SERVED") == "fast" if fast is None else fast
        if self.fast:
            self.env["DJANGO_SETTINGS_MODULE"] = "kit.fast.settings"
        # The one setting every process on this Redis must agree on (kit/layers.py), set explicitly for the
        # server and for manage(): the fast variant's pub/sub layer when its "pubsub" change is on.
        if not self.env.get("CHANNEL_LAYER"):
            from kit.fast import STEPS

            chosen = self.env.get("KIT_FAST")  # the server's changes (kit/fast/__init__.py): all by default
            steps = set(STEPS) if chosen is None else {step.strip() for step in chosen.split(",")}
            fast_settings = self.env["DJANGO_SETTINGS_MODULE"] == "kit.fast.settings"  # also the bench's variants
            self.env["CHANNEL_LAYER"] = "pubsub" if fast_settings and "pubsub" in steps else "core"
        self.layer_kind = self.env["CHANNEL_LAYER"]

    # -- addresses -------------------------------------------------------------------------
    @property
    def connect_host(self):
        """Where this machine reaches the server: its address, or loopback when it listens on every one."""
        return "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host

    @property
    def http_url(self):
        return f"http://{self.connect_host}:{self.port}"

    @property
    def ws_url(self):
        return f"ws://{self.connect_host}:{self.port}"

    # -- life cycle ------------------------------------------------------------------------
    def start(self):
        if not self.migrated:
            self.manage("migrate", "--noinput", timeout=COMMAND_TIMEOUT)
            self.migrated = True
        # A restart keeps its port, so URLs stay valid. The kit binds the socket itself and the server
        # adopts it (--fd): no other process can take the port between a probe and a bind.
        listening = self._listening_socket()
        if self.fast:  # uvicorn with the kit's limits (kit/fast/serve.py)
            from kit.fast import serve

            command = serve.command(fd=listening.fileno())
        else:
            # daphne_limited: daphne plus a header timeout, a per-socket send limit, close frames on SIGTERM.
            command = [
                sys.executable,
                "-m",
                "kit.serving.daphne_limited",
                "--fd",
                str(listening.fileno()),
                "--websocket_connect_timeout",
                "5",
                *self.daphne_args,
                HARNESS_APPLICATION,
            ]
        command, env = self.launcher(command, self.env)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.project_dir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                pass_fds=(listening.fileno(),),
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        listening.close()  # the server holds it now
        self._wait_until_ready()
        return self

    def _listening_socket(self):
        """self.host on this server's port (a free one the first time), bound and listening."""
        listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart reuses its port
        try:
            listening.bind((self.host, self.port or 0))
            listening.listen(128)
        except OSError:
            listening.close()
            raise
        self.port = listening.getsockname()[1]
        return listening

    def _wait_until_ready(self):
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._fail(
                    f"the server exited with status {self.process.returncode} while starting", self.process.returncode
                )
            try:
                httpx.get(self.http_url + "/api/", timeout=1)  # any HTTP answer means it is up
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        self._fail(f"the server did not answer within {self.start_timeout} s")

    def _fail(self, reason, returncode=None):
        raise ServerFailed(reason, log_tail=self.log_tail(), returncode=returncode, command=self.process.args)

    def log_tail(self, lines=40):
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def stop(self):
        """SIGTERM to the server's process group, then SIGKILL if it lingers."""
        stop_process_group(self.process)

    def kill(self):
        """A crash: SIGKILL, so disconnect handlers never run (stale presence, lost sockets)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(5)

    def restart(self):
        """After the project's code changed: stop, start on the same port, wait until it answers."""
        self.stop()
        return self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Stops the server and removes its work directory (log, default database) for good."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
        atexit.unregister(self.close)

    def channel_layer(self):
        """A channel layer in the caller's process that reaches this server's consumers (Redis only):
        the same kind and shards as the server's (kit/layers.py)."""
        from kit import layers

        if not self.redis_url:
            raise ServerFailed("this server uses the in-memory layer: no other process can reach it")
        hosts = layers.hosts_from_url(self.redis_url)
        fast = self.env["DJANGO_SETTINGS_MODULE"] == "kit.fast.settings"
        return layers.outside_layer(self.layer_kind, hosts, self.layer_prefix, fast=fast)

    def shell_env(self):
        """What another shell needs to reach this server with the project's own settings: the Redis,
        the layer's kind and prefix, the database (make demo writes them to a file to source)."""
        return {
            "REDIS_URL": self.redis_url or "",
            "CHANNEL_LAYER": self.layer_kind,
            "CHANNEL_LAYER_PREFIX": self.layer_prefix,
            "DJANGO_DB_PATH": self.db_path,
            "DJANGO_SETTINGS_MODULE": "mysite.settings",
        }

    # -- management commands ---------------------------------------------------------------
    def manage(self, *args, timeout=COMMAND_TIMEOUT):
        """Runs `python manage.py ARGS` against this server's database; returns its stdout."""
        command, env = self.launcher([sys.executable, "manage.py", *args], self.env)
        result = subprocess.run(
            command,
            cwd=self.project_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            raise ServerFailed(
                f"manage.py {' '.join(args)} failed (status {result.returncode})",
                stderr=result.stderr.strip()[-2000:],
                returncode=result.returncode,
                command=args,
            )
        return result.stdout.strip()

    def create_device(self, device_id):
        """Registers a device (or gives it a new token); returns its token (only its hash is stored)."""
        return self.manage("create_device", device_id).splitlines()[-1].strip()

    def create_api_key(self, name):
        """Creates an API key for an app that publishes; returns the key."""
        return self.manage("create_api_key", name).splitlines()[-1].strip()
