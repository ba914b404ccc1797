"""The ASGI application LiveServer serves (daphne kit.harness.asgi:application).

It sets Django up, loads every app's routes on its own (kit.harness.loading), then serves the
learner's own mysite.asgi application when they all load, or else routes built app by app that
refuse a broken app's paths (403) and keep the others working. Around it: kit.harness.guards.
"""

import importlib
import os

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kit.harness.settings")
django_asgi_app = get_asgi_application()  # sets Django up, before anything imports a model

from django.conf import settings  # noqa: E402
from django.urls import get_resolver, re_path  # noqa: E402

from kit import layers  # noqa: E402
from kit.harness import guards, receive_fix  # noqa: E402
from kit.harness.loading import APPS, broken_apps  # noqa: E402

guards.install()
receive_fix.install()  # channels_redis#366: a cancelled receive() loses no message
# This server's layer recorded in Redis: another process on the same Redis and prefix with another kind
# of layer or other shards gets an error at its first layer call (kit/layers.py).
layers.serve(settings.CHANNEL_LAYERS)


def app_by_app(broken):
    """The project's application built here: a broken app's WebSocket paths refused."""
    routes = []
    for app, (ws_path, _prefixes) in APPS.items():
        if app in broken:
            routes.append(re_path(ws_path, guards.refuse))
        else:
            routes += importlib.import_module(f"{app}.routing").websocket_urlpatterns
    return ProtocolTypeRouter({"http": django_asgi_app, "websocket": AuthMiddlewareStack(URLRouter(routes))})


def learner_application():
    """The learner's mysite.asgi application, or app_by_app's when an app's routes do not load."""
    broken = broken_apps("routing")
    if broken:
        return app_by_app(broken)
    # Every app loads: serve the learner's own asgi.py (an error in it is the project's: no start).
    return importlib.import_module("mysite.asgi").application


def served(application):
    """What every kit server puts around the project's application (the fast variant's too): the device
    route's token as a subprotocol for browsers, and in classroom mode the gate (kit/classroom/)."""
    from kit.classroom.subprotocol import BearerSubprotocol

    application = BearerSubprotocol(application)
    if getattr(settings, "CLASSROOM_HOST", ""):  # only kit.harness.settings has it
        from kit.classroom.gate import ClassroomGate

        application = ClassroomGate(application)
    return application


project_application = guards.Harness(learner_application())
if settings.DEBUG:  # daphne serves no static files itself (runserver wraps the app the same way)
    from kit.harness.static_files import SafeStaticFilesHandler  # /static/%2e%2e/...: 404, not 500

    project_application = SafeStaticFilesHandler(project_application)
application = served(project_application)
get_resolver().url_patterns  # the URLconf now, in the main thread: its import has a time limit there
