"""ASGI entry point: HTTP goes to Django, WebSockets to the consumers of each app."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
django_asgi_app = get_asgi_application()  # before importing consumers: it sets Django up

from django.conf import settings  # noqa: E402

if settings.DEBUG:  # daphne serves no static files itself; runserver would wrap the app the same way
    from mysite.static_files import SafeStaticFilesHandler  # /static/%2e%2e/...: 404, not 500

    django_asgi_app = SafeStaticFilesHandler(django_asgi_app)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from mysite.routing import websocket_urlpatterns  # noqa: E402
from mysite.startup import announce_channel_layer  # noqa: E402
from mysite.todo import TodoGuard  # noqa: E402

announce_channel_layer()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # TodoGuard: a step not written yet (a starter stub) refuses the socket with a log line.
        "websocket": TodoGuard(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
