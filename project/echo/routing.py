# project/echo/routing.py
"""Step 1: the echo route. Anyone may connect: no Origin check, no authentication."""

from django.urls import re_path

from echo.consumers import EchoConsumer

websocket_urlpatterns = [
    re_path(r"^ws/echo/\Z", EchoConsumer.as_asgi()),  # .as_asgi(): one consumer instance per socket
]
