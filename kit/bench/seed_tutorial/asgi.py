# kit/bench/seed_tutorial/asgi.py
"""HTTP to Django; /ws/devices/<id>/ to the seed's sync consumer, /ws/async/devices/<id>/ to the async
one, /ws/async-nocleanup/devices/<id>/ to an async one without the per-event thread hop."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kit.bench.seed_tutorial.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from kit.bench.seed_tutorial.consumers import (  # noqa: E402
    AsyncConnectionConsumer,
    AsyncNoCleanupConsumer,
    ConnectionConsumer,
)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(
            URLRouter(
                [
                    path("ws/devices/<str:device_id>/", ConnectionConsumer.as_asgi()),
                    path("ws/async/devices/<str:device_id>/", AsyncConnectionConsumer.as_asgi()),
                    path("ws/async-nocleanup/devices/<str:device_id>/", AsyncNoCleanupConsumer.as_asgi()),
                ]
            )
        ),
    }
)
