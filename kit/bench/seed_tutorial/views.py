# kit/bench/seed_tutorial/views.py
"""The seed's view: a sync view that pushes with async_to_sync(channel_layer.group_send)."""

import json

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt


def push_to(group, request):
    body = json.loads(request.body.decode("utf-8"))
    channel_layer = get_channel_layer()
    async_to_sync(channel_layer.group_send)(group, {"type": "app_response", "data": body["data"]})
    return JsonResponse({"ok": True}, status=202)


@csrf_exempt
def push(request, device_id):
    """POST /push/<device_id>/ {"data": ...}"""
    return push_to(f"device_{device_id}", request)


@csrf_exempt
def broadcast(request):
    """POST /broadcast/ {"data": ...}"""
    return push_to("devices", request)
