"""Each app's routes, loaded on their own: a broken app is refused, loudly; the others work.

A syntax error, a missing module or an endless loop at import time in chat/ must not take echo/
down with it. load() imports a module with a time limit and logs a failure once, with its traceback.
"""

import contextlib
import importlib
import logging
import signal
import threading
import traceback

log = logging.getLogger(__name__)
IMPORT_TIME_LIMIT = 10  # seconds: an import that takes longer is stuck in a loop

# app -> (its WebSocket paths, its HTTP path prefixes): what is refused when the app does not load.
APPS = {
    "echo": (r"^ws/echo/", ()),
    "chat": (r"^ws/chat/", ("chat/", "api/rooms/")),
    "devices": (r"^ws/(devices|dashboard)/", ("devices/", "api/devices/", "api/broadcast/")),
}


class ImportTooSlow(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds):
    """Interrupts an import that never ends. Main thread on Unix only; elsewhere no limit."""
    if not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise ImportTooSlow(f"importing took over {seconds} s (an endless loop at import time?)")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_failures = {}  # module name -> the error in one line (each failure is logged once)


def load(module_name):
    """-> (module, None), or (None, the error in one line) after logging it with its traceback."""
    if module_name in _failures:
        return None, _failures[module_name]
    try:
        with time_limit(IMPORT_TIME_LIMIT):
            return importlib.import_module(module_name), None
    except Exception as exc:  # SyntaxError and ImportError are Exceptions too
        if isinstance(exc, SyntaxError):
            error = f"SyntaxError in {exc.filename}, line {exc.lineno}: {exc.msg}"
        else:
            error = f"{exc.__class__.__name__}: {exc}"
        log.error(
            "%s FAILED TO LOAD; its paths are refused until it is fixed: %s\n%s",
            module_name,
            error,
            "".join(traceback.format_exception(exc)),
        )
        _failures[module_name] = error
        return None, error


def broken_apps(kind):
    """{app: error} of the apps whose `kind` module ("routing" or "urls") does not import."""
    broken = {}
    for app, (_ws_path, prefixes) in APPS.items():
        if kind == "urls" and not prefixes:
            continue
        module, error = load(f"{app}.{kind}")
        if module is None:
            broken[app] = error
    return broken
