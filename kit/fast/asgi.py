"""The fast variant's ASGI application (kit/fast/__init__.py): the harness's application, with the
API served by ApiConsumer and the device route by FastDeviceConsumer, as KIT_FAST switches them on.

    DJANGO_SETTINGS_MODULE=kit.fast.settings uvicorn kit.fast.asgi:application
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kit.fast.settings")

from channels.routing import URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from kit.harness import asgi as harness  # noqa: E402  (sets Django up, installs the guards)
from kit.harness import guards  # noqa: E402

changes = set(settings.FAST_CHANGES)
if "pubsub" in changes and settings.CHANNEL_LAYERS["default"]["BACKEND"] == "kit.fast.layer.BoundedPubSubChannelLayer":
    from kit.fast import presence

    presence.install()
if "cache" in changes:
    from kit.fast import cache

    cache.install()

websocket = harness.project_application
if changes & {"nocleanup", "hub"} and not harness.broken_apps("routing"):
    from kit.fast.consumers import with_fast_devices
    from mysite.routing import websocket_urlpatterns

    websocket = guards.Harness(URLRouter(with_fast_devices(websocket_urlpatterns)))


async def served(scope, receive, send):
    """WebSockets to the (fast) routes, everything else to the harness's application."""
    app = websocket if scope["type"] == "websocket" else harness.project_application
    return await app(scope, receive, send)


if "api" in changes:
    from kit.fast.api import ApiConsumer, api_or

    # The harness's wrapper stamps each request's arrival (a command's timeout counts from it).
    application = harness.served(api_or(served, guards.Harness(ApiConsumer.as_asgi())))
else:
    application = harness.served(served)
