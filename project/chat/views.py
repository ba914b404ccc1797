# project/chat/views.py
"""Chat pages for browsers, and the announcements endpoint of the HTTP API."""

from channels.layers import get_channel_layer
from django.http import Http404
from django.shortcuts import render

from chat.frames import MAX_MESSAGE_CHARS, ROOM_NAME
from mysite.api import ApiError, api_endpoint, new_id
from mysite.groups import room_group


def index(request):
    """The room picker."""
    return render(request, "chat/index.html")


def room(request, room):
    """The room page: its JavaScript opens /ws/chat/<room>/."""
    if not ROOM_NAME.match(room):
        raise Http404("invalid room name")
    return render(request, "chat/room.html", {"room": room})


@api_endpoint("POST")
async def announcement(request, body, room):
    """POST /api/rooms/<room>/announcements/ {"text": ...}: a system message to every member."""
    if not ROOM_NAME.match(room):
        raise ApiError(404, "invalid room name: use 1 to 64 of A-Z a-z 0-9 _ . -")
    text = body.get("text")
    if not isinstance(text, str):
        raise ApiError(400, "'text' is missing or not a string")
    if len(text) > MAX_MESSAGE_CHARS:
        raise ApiError(400, f"'text' is too long: at most {MAX_MESSAGE_CHARS} characters")
    event = {"type": "chat.message", "message": text, "system": True}
    await get_channel_layer().group_send(room_group(room), event)
    return 202, {"id": new_id(), "room": room}
