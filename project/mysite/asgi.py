"""ASGI entry point: HTTP goes to Django, WebSockets to the consumers of each app (as in the Channels docs)."""

import os

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
# Django first: it sets up the app registry before any consumer imports a model.
django_asgi_app = get_asgi_application()

from mysite.routing import websocket_urlpatterns  # noqa: E402
from mysite.startup import announce_channel_layer  # noqa: E402

announce_channel_layer()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # AuthMiddlewareStack puts the session's user in scope["user"] (the dashboard needs it).
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
