"""Serves the fast variant (kit/fast/__init__.py): uvicorn with uvloop and httptools, kit.fast.asgi,
kit.fast.settings, and the kit's server limits (kit/fast/limits.py: a header timeout, slow readers
closed with 4408, 1001 on SIGTERM). What compose's `web`, `make demo` and `make bench`'s "kit" run.

    python -m kit.fast.serve [--host 127.0.0.1] [--port 8000] [--fd N]   # from project/, kit/ on PYTHONPATH
    KIT_SERVED=fast python -m pytest tests/project/test_failure.py               # LiveServer serves it too

`runserver` and the notebooks keep daphne and step 3's design, as the Channels docs teach them.
KIT_FAST_SERVER=kit.serving.daphne_limited serves it with kit.serving.daphne_limited (daphne with the same
limits) instead: about twice the push latency and half the fan-out of uvicorn (docs/bench.md).
"""

import argparse
import os
import sys

APPLICATION = "kit.fast.asgi:application"
SETTINGS = "kit.fast.settings"
MAX_FRAME_BYTES = 2**20  # the same cap as daphne's (1 MiB) for a WebSocket frame


def uvicorn_command(app, port, host="127.0.0.1"):
    """Plain uvicorn serving `app` (module:attribute): uvloop, httptools, no lifespan, no access log
    (the bench's floors; the kit's own server is command() below)."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--host",
        host,
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--lifespan",
        "off",
        "--no-access-log",
        "--log-level",
        "warning",
        "--ws-max-size",
        str(MAX_FRAME_BYTES),
        app,
    ]


def command(port=None, host="127.0.0.1", fd=None):
    """The command serving the fast variant on host:port, or on an inherited listening socket (fd):
    uvicorn with the kit's limits, or kit.serving.daphne_limited if KIT_FAST_SERVER says so."""
    server = os.environ.get("KIT_FAST_SERVER", "uvicorn")
    if server == "kit.serving.daphne_limited":
        where = ["--fd", str(fd)] if fd is not None else ["-b", host, "-p", str(port)]
        return [sys.executable, "-m", "kit.serving.daphne_limited", *where, APPLICATION]
    if server != "uvicorn":
        raise ValueError(f"KIT_FAST_SERVER={server!r}: uvicorn or kit.serving.daphne_limited")
    where = ["--fd", str(fd)] if fd is not None else ["--host", host, "--port", str(port)]
    return [sys.executable, "-m", "kit.fast.serve", *where]


def config(host="127.0.0.1", port=8000):
    import uvicorn

    from kit.fast.limits import HeaderTimeoutHttpToolsProtocol, LimitedWebSocketProtocol
    from kit.serving.limits import CLOSE_GRACE_SECONDS

    return uvicorn.Config(
        APPLICATION,
        host=host,
        port=port,
        loop="uvloop",
        http=HeaderTimeoutHttpToolsProtocol,
        ws=LimitedWebSocketProtocol,
        ws_max_size=MAX_FRAME_BYTES,
        lifespan="off",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=CLOSE_GRACE_SECONDS + 1,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kit.fast.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--fd", type=int, default=None, help="serve on this inherited listening socket")
    args = parser.parse_args(argv)
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    import socket

    import uvicorn

    # uvicorn's own --fd takes the socket for a Unix one, and a TCP socket taken so gets no
    # TCP_NODELAY: Nagle's algorithm then holds back a response's last segment (40 ms).
    sockets = [socket.socket(fileno=args.fd)] if args.fd is not None else None

    class Server(uvicorn.Server):
        async def shutdown(self, sockets=None):
            await super().shutdown(sockets)
            from kit import layers

            # uvicorn ends by raising the signal again (no atexit): the layer's record goes here (kit/layers.py).
            layers.stop_serving()

    Server(config(args.host, args.port)).run(sockets=sockets)  # SIGTERM: close frames, then exit
    return 0


if __name__ == "__main__":
    sys.exit(main())
