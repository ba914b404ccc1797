"""Serves the fast variant (kit/fast/__init__.py): uvicorn with uvloop and httptools, kit.fast.asgi,
kit.fast.settings. What compose's `web`, `make demo` and `make bench`'s "kit" run.

    python -m kit.fast.serve [--host 127.0.0.1] [--port 8000]    # from project/, kit/ on PYTHONPATH
    KIT_SERVED=fast python -m pytest tests/test_failure.py         # LiveServer serves it too

`runserver` and the notebooks keep daphne and step 3's design, as the Channels docs teach them.
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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kit.fast.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    command = uvicorn_command(APPLICATION, args.port, args.host)
    os.execv(command[0], command)  # exec: SIGTERM from compose reaches uvicorn itself


if __name__ == "__main__":
    sys.exit(main())
