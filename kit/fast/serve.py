"""Serves the fast variant (kit/fast/__init__.py): uvicorn with uvloop and httptools, kit.fast.asgi,
kit.fast.settings. What compose's `web`, `make demo` and `make bench`'s "kit" run.

    python -m kit.fast.serve [--host 127.0.0.1] [--port 8000]    # from project/, kit/ on PYTHONPATH
    KIT_SERVED=fast python -m pytest tests/project/test_failure.py         # LiveServer serves it too

`runserver` and the notebooks keep daphne and step 3's design, as the Channels docs teach them.

KIT_FAST_SERVER=kit.serve serves it with kit.serve (daphne with the kit's limits: a header timeout,
slow readers closed with 4408, 1001 on SIGTERM) instead: about twice the push latency and half the
fan-out of uvicorn (docs/bench.md). On uvicorn, a device that does not read gets its pushes dropped
(memory stays bounded, tests/project/test_fast.py), shutdown closes sockets with 1012, and there is no
timeout for a request head that never ends.
"""
import argparse
import os
import sys

APPLICATION = "kit.fast.asgi:application"
SETTINGS = "kit.fast.settings"
MAX_FRAME_BYTES = 2**20  # the same cap as daphne's (1 MiB) for a WebSocket frame


def uvicorn_command(app, port, host="127.0.0.1"):
    """uvicorn serving `app` (module:attribute): uvloop, httptools, no lifespan, no access log."""
    return [sys.executable, "-m", "uvicorn", "--host", host, "--port", str(port), "--loop", "uvloop",
            "--http", "httptools", "--lifespan", "off", "--no-access-log", "--log-level", "warning",
            "--ws-max-size", str(MAX_FRAME_BYTES), app]


def command(port, host="127.0.0.1"):
    """The command serving the fast variant: uvicorn, or kit.serve if KIT_FAST_SERVER says so."""
    server = os.environ.get("KIT_FAST_SERVER", "uvicorn")
    if server == "kit.serve":
        return [sys.executable, "-m", "kit.serve", "-b", host, "-p", str(port), APPLICATION]
    if server != "uvicorn":
        raise ValueError(f"KIT_FAST_SERVER={server!r}: uvicorn or kit.serve")
    return uvicorn_command(APPLICATION, port, host)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kit.fast.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    served = command(args.port, args.host)
    os.execv(served[0], served)  # exec: SIGTERM from compose reaches the server itself


if __name__ == "__main__":
    sys.exit(main())
