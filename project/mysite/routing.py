"""All WebSocket routes, one list per app, and a last route that refuses the rest cleanly."""
from django.urls import re_path

from chat.routing import websocket_urlpatterns as chat_routes
from devices.routing import websocket_urlpatterns as device_routes
from echo.routing import websocket_urlpatterns as echo_routes
from mysite.refuse import RefuseConsumer

websocket_urlpatterns = [
    *echo_routes,
    *chat_routes,
    *device_routes,
    # Unknown path or invalid room/device name: refuse the handshake (403), no traceback.
    re_path(r"", RefuseConsumer.as_asgi()),
]
