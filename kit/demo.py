"""`make demo`: the live project for a class, with one command.

Starts (or finds) a Redis, the project (the fast variant, kit/fast/, on uvicorn with the kit's limits:
what `make bench` measures best; --plain: step 3's design on kit.serving.daphne_limited, as the notebooks and the
grader run it) with a fresh database, an instructor
login, an API key, a few simulated devices, and prints the URLs and credentials. Ctrl-C
(or --exit-after SECONDS) stops everything it started, in order; nothing waits forever.
When something went wrong (the server or the simulator died), a copy of the logs is kept and named.

    python -m kit.demo [--port 8000] [--devices 3] [--plain] [--exit-after SECONDS] [--classroom [--classroom-host A]]
"""

import argparse
import contextlib
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from kit import PROJECT_DIR, REPO_DIR
from kit.serving import redis_service
from kit.serving.live_server import LiveServer, stop_process_group
from kit.serving.ports import free_port
from kit.serving.ports import port_is_free

INSTRUCTOR = "instructor"
OFFLINE_DEVICE = "lab-thermostat"  # never connects: shows what offline looks like
DEFAULT_ENV_FILE = REPO_DIR / ".kit" / "demo.env"  # what another shell sources to reach the demo's server
SIMULATOR = PROJECT_DIR / "devices" / "management" / "commands" / "simulate_devices.py"
ONLINE_WAIT_SECONDS = 20


class Stop(Exception):
    """SIGTERM or SIGHUP: leave the main loop the same way Ctrl-C does."""


def create_instructor(server):
    """A superuser with a fresh random password (createsuperuser reads it from the environment)."""
    password = secrets.token_urlsafe(9)
    server.env.update(
        DJANGO_SUPERUSER_USERNAME=INSTRUCTOR,
        DJANGO_SUPERUSER_PASSWORD=password,
        DJANGO_SUPERUSER_EMAIL="instructor@example.invalid",
    )
    try:
        server.manage("createsuperuser", "--noinput")
    finally:
        for name in ("DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_PASSWORD", "DJANGO_SUPERUSER_EMAIL"):
            server.env.pop(name, None)
    return password


def start_simulator(server, count, prefix):
    """`manage.py simulate_devices` in its own session, with the server's env (same database)."""
    log = open(os.path.join(server.workdir, "simulator.log"), "ab")
    command = [
        sys.executable,
        "manage.py",
        "simulate_devices",
        "--url",
        server.http_url,
        "--count",
        str(count),
        "--prefix",
        prefix,
    ]
    return subprocess.Popen(
        command,
        cwd=server.project_dir,
        env=server.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_until_online(server, api_key, device_ids, timeout=ONLINE_WAIT_SECONDS):
    """The ids of device_ids that are online, once all are or the timeout passes."""
    deadline, online = time.monotonic() + timeout, set()
    with httpx.Client(base_url=server.http_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=5) as api:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                online = {d["id"] for d in api.get("/api/devices/").json() if d["online"]} & set(device_ids)
            if online == set(device_ids):
                break
            time.sleep(0.3)
    return online


def write_env_file(server, path):
    """What another shell needs to reach the demo's server with the project's own settings: the Redis,
    the layer's kind and prefix, the database. `source` it, then run manage.py from project/ or a script."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# make demo's environment: source this file, then e.g. cd project; python manage.py revoke_device sim-1"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in server.shell_env().items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def banner(server, redis, password, api_key, sim_ids, online, simulator, env_file=None):
    base = server.http_url
    if simulator is None:
        devices = f"{OFFLINE_DEVICE} (offline); no simulator yet: {SIMULATOR.name} is missing"
    else:
        devices = ", ".join(f"{d} ({'online' if d in online else 'NOT online yet'})" for d in sim_ids)
        devices += f", {OFFLINE_DEVICE} (offline)"
    lines = [
        "Channels kit: instructor demo. Ctrl-C stops everything.",
        "",
        f"  Chat rooms         {base}/chat/",
        f"  Devices dashboard  {base}/devices/",
        f"  Sign in            {base}/devices/login/",
        f"      user {INSTRUCTOR}   password {password}",
        f"  Devices            {devices}",
        f"  API key            {api_key}",
        f"      curl -H 'Authorization: Bearer {api_key}' {base}/api/devices/",
        f"  Redis              {redis.url} ({redis.source})",
        f"  Channel layer      {server.layer_kind}, prefix {server.layer_prefix} (CHANNEL_LAYER, CHANNEL_LAYER_PREFIX)",
        f"  Logs               {server.workdir}",
    ]
    if env_file is not None:
        lines += [
            f"  Another shell      source {env_file}",
            "      then: cd project && python manage.py revoke_device sim-1   (or a script's group_send)",
            *(f"      export {name}={shlex.quote(value)}" for name, value in server.shell_env().items()),
        ]
    width = max(map(len, lines)) + 4
    print("=" * width, *lines, "=" * width, sep="\n", flush=True)
    pids = [f"server {server.process.pid}"]
    if simulator:
        pids.append(f"simulator {simulator.pid}")
    if redis.process:
        pids.append(f"redis {redis.process.pid}")
    if hasattr(redis, "pids"):  # a Sentinel set
        pids.append(f"redis and Sentinels {' '.join(map(str, redis.pids()))}")
    print(f"(started: {', '.join(pids)})", flush=True)


def watch(server, simulator, exit_after):
    """Waits for Ctrl-C, --exit-after or the server dying; returns the exit status."""
    deadline = time.monotonic() + exit_after if exit_after else None
    warned = False
    while deadline is None or time.monotonic() < deadline:
        time.sleep(0.5)
        if server.process.poll() is not None:
            print(f"The server stopped (status {server.process.returncode}). Last log lines:\n{server.log_tail()}")
            return 1
        if simulator is not None and simulator.poll() is not None and not warned:
            warned = True
            print(
                f"The device simulator stopped (status {simulator.returncode}); see {server.workdir}/simulator.log "
                "(a copy is kept when the demo stops)"
            )
    return 0


def keep_logs(server):
    """A copy of the server's work folder (server.log, simulator.log) that outlives the demo."""
    kept = tempfile.mkdtemp(prefix="kit-demo-logs-")
    shutil.copytree(server.workdir, kept, dirs_exist_ok=True, ignore=shutil.ignore_patterns("db.sqlite3*"))
    return kept


def run(port, count, prefix, exit_after, fast=True, env_file=DEFAULT_ENV_FILE, sentinel=False, classroom=None):
    """classroom: a kit.classroom.demo.Classroom to serve students on the LAN (DEBUG off), or None."""
    redis = server = simulator = written = None
    status = 1
    try:
        if sentinel:  # a primary, a replica and three Sentinels (kit/serving/sentinel_set.py)
            from kit.serving import sentinel_set

            redis = sentinel_set.SentinelSet()
            print("Starting a Redis Sentinel set (a primary, a replica, three Sentinels) ...", flush=True)
            redis.start()
        else:
            redis = redis_service.find_or_start()
        bind = classroom.bind if classroom else "127.0.0.1"
        port = port if port and port_is_free(port, bind) else free_port(bind)
        # fast: the variant the bench measures fastest (kit/fast/, uvicorn with the kit's limits: a header
        # timeout, slow readers closed, close frames on SIGTERM); else step 3's design on kit.serving.daphne_limited.
        server = LiveServer(
            redis_url=redis.url,
            layer_prefix=f"demo{uuid.uuid4().hex[:6]}",
            debug=classroom is None,  # a debug page would show tracebacks and settings to every phone in the room
            env={
                "PRESENCE_HEARTBEAT_SECONDS": "3",
                "PRESENCE_TTL_SECONDS": "10",
                **(classroom.env if classroom else {}),
            },
            fast=fast,
            host=bind,
        )
        server.port = port
        print(f"Starting the project on {server.http_url} (Redis {redis.url}) ...", flush=True)
        server.start()
        password = create_instructor(server)
        api_key = server.create_api_key("demo")
        server.manage("create_device", OFFLINE_DEVICE)
        sim_ids = [f"{prefix}-{n}" for n in range(1, count + 1)]
        online = set()
        if SIMULATOR.exists() and count > 0:
            simulator = start_simulator(server, count, prefix)
            online = wait_until_online(server, api_key, sim_ids)
        written = write_env_file(server, env_file) if env_file else None
        if classroom:
            print(classroom.banner(server), flush=True)
        banner(server, redis, password, api_key, sim_ids, online, simulator, written)
        status = watch(server, simulator, exit_after)
    except (KeyboardInterrupt, Stop):
        status = 0
    except (redis_service.RedisUnavailable, RuntimeError) as exc:
        print(f"The demo could not start: {exc}", file=sys.stderr)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # a second Ctrl-C must not cut it short
            signal.signal(signum, signal.SIG_IGN)
        simulator_died = simulator is not None and simulator.poll() is not None
        print("\nStopping: simulator, server, Redis ...", flush=True)
        stop_process_group(simulator)
        if server is not None:
            server.stop()
            if status != 0 or simulator_died:  # its folder goes with it: keep a copy to read
                print(f"Something went wrong: the logs are kept in {keep_logs(server)}", flush=True)
            server.close()
        if redis is not None:
            redis.stop()
        if written is not None:
            written.unlink(missing_ok=True)  # it named a server that is gone
        print("Stopped everything the demo started.", flush=True)
    return status


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m kit.demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=8000, help="preferred port (a free one if taken; 0: any)")
    parser.add_argument("--devices", type=int, default=3, help="how many simulated devices (default 3)")
    parser.add_argument("--prefix", default="sim", help="simulated device ids are PREFIX-1..N")
    parser.add_argument(
        "--plain",
        action="store_true",
        help="serve step 3's design on kit.serving.daphne_limited (daphne), as the notebooks and the grader do, "
        "instead of the fast variant (kit/fast/, uvicorn; docs/bench.md)",
    )
    parser.add_argument(
        "--exit-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop by itself after SECONDS (smoke tests); default: run until Ctrl-C",
    )
    parser.add_argument(
        "--env-file",
        default=str(DEFAULT_ENV_FILE),
        help="write what another shell needs to reach the demo's server here, to `source` (default %(default)s)",
    )
    parser.add_argument(
        "--sentinel",
        action="store_true",
        help="serve on a Redis Sentinel set the kit starts (a primary, a replica, three Sentinels; "
        "REDIS_URL redis+sentinel://...): kill its primary to watch a failover",
    )
    parser.add_argument(
        "--classroom",
        action="store_true",
        help="serve the students' own browsers and phones on the LAN: join URL and QR code, DEBUG off (README)",
    )
    parser.add_argument(
        "--classroom-host",
        metavar="ADDRESS",
        help="the address students reach (default: this machine's LAN address, found); implies --classroom",
    )
    parser.add_argument("--bind", metavar="ADDRESS", help="classroom mode: listen here (default: 0.0.0.0)")
    args = parser.parse_args(argv)
    classroom = None
    if args.classroom or args.classroom_host:
        from kit.classroom import demo as classroom_demo

        classroom = classroom_demo.plan(args.classroom_host, args.bind)

    def stop(signum, frame):
        raise Stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    return run(
        args.port,
        args.devices,
        args.prefix,
        args.exit_after,
        fast=not args.plain,
        env_file=args.env_file,
        sentinel=args.sentinel,
        classroom=classroom,
    )


if __name__ == "__main__":
    sys.exit(main())
