"""All WebSocket routes, one list per app, and a last route that refuses the rest cleanly.

Each app's routes load on their own (mysite/app_loading.py): if chat/ has a syntax error, the
server still starts, logs the error loudly, refuses /ws/chat/ and keeps echo and devices working.
"""
from django.urls import re_path

from mysite.app_loading import app_routes
from mysite.refuse import RefuseConsumer

websocket_urlpatterns = [
    *app_routes("echo.routing", r"^ws/echo/"),
    *app_routes("chat.routing", r"^ws/chat/"),
    *app_routes("devices.routing", r"^ws/(devices|dashboard)/"),
    # Unknown path or invalid room/device name: refuse the handshake (403), no traceback.
    re_path(r"", RefuseConsumer.as_asgi()),
]
