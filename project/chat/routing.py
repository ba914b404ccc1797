# project/chat/routing.py
"""Step 2: the chat route. Browsers only: the Origin header must match ALLOWED_HOSTS."""

from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import re_path

from chat.consumers import ChatConsumer

websocket_urlpatterns = [
    # [A-Za-z0-9_.-], not \w: a Unicode room name would make an invalid group name.
    re_path(
        r"^ws/chat/(?P<room>[A-Za-z0-9_.-]{1,64})/\Z",
        AllowedHostsOriginValidator(ChatConsumer.as_asgi()),
    ),
]
