# project/devices/routing.py
"""Step 3: the device route. No Origin check: devices are not browsers; their token is checked."""

from django.urls import re_path

from devices.consumers import DeviceConsumer

websocket_urlpatterns = [
    re_path(r"^ws/devices/(?P<device_id>[A-Za-z0-9_.-]{1,64})/\Z", DeviceConsumer.as_asgi()),
]
