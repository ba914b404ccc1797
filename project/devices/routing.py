# project/devices/routing.py
"""Step 3: the device route. No Origin check: devices are not browsers; their token is checked.
(The instructor dashboard's route is a browser page's: Origin checked.)"""

from django.urls import re_path

from devices.consumers import DeviceConsumer
from devices.dashboard import DashboardConsumer
from mysite.origins import SameOriginValidator

websocket_urlpatterns = [
    re_path(r"^ws/devices/(?P<device_id>[A-Za-z0-9_.-]{1,64})/\Z", DeviceConsumer.as_asgi()),
    # The instructor dashboard is a browser page: Origin checked (port included), session user in connect.
    re_path(r"^ws/dashboard/\Z", SameOriginValidator(DashboardConsumer.as_asgi())),
]
