# project/mysite/app_loading.py
"""Each app's routes are loaded on their own: a broken app is refused, loudly; the others work.

A syntax error, a missing module or an endless loop at import time in chat/ must not take
echo/ down with it. app_routes() and app_urls() return an app's routes, or, when importing
them fails, routes that refuse that app's paths, after logging the error once at start-up.
"""
import contextlib
import importlib
import logging
import signal
import threading
import traceback

from django.http import JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt

from mysite.refuse import RefuseConsumer

log = logging.getLogger("kit.apps")
IMPORT_TIME_LIMIT = 10  # seconds: an import that takes longer is stuck in a loop


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


def load(module_name):
    """-> (module, None), or (None, the error in one line) after logging it with its traceback."""
    try:
        with time_limit(IMPORT_TIME_LIMIT):
            return importlib.import_module(module_name), None
    except Exception as exc:  # SyntaxError and ImportError are Exceptions too
        if isinstance(exc, SyntaxError):
            error = f"SyntaxError in {exc.filename}, line {exc.lineno}: {exc.msg}"
        else:
            error = f"{exc.__class__.__name__}: {exc}"
        log.error("%s FAILED TO LOAD; its paths are refused until it is fixed: %s\n%s",
                  module_name, error, "".join(traceback.format_exception(exc)))
        return None, error


def app_routes(module_name, path_pattern):
    """The app's websocket_urlpatterns, or one route refusing path_pattern if it does not load."""
    module, error = load(module_name)
    if module is not None:
        return module.websocket_urlpatterns
    return [re_path(path_pattern, RefuseConsumer.as_asgi())]


def app_urls(module_name, *prefixes):
    """The app's urlpatterns, or routes answering a JSON 500 that names the error."""
    module, error = load(module_name)
    if module is not None:
        return [path("", include(module))]

    @csrf_exempt  # a JSON answer for POSTs too, not Django's CSRF page
    def broken(request, *args, **kwargs):
        return JsonResponse({"error": f"{module_name} failed to load: {error}"}, status=500)

    return [re_path(f"^{prefix}", broken) for prefix in prefixes]
