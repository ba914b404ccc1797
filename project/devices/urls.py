from django.urls import path

from devices import commands, views
from devices.dashboard import dashboard_page, sign_in_page, sign_out

urlpatterns = [
    path("devices/", dashboard_page),
    path("devices/login/", sign_in_page),
    path("devices/logout/", sign_out),
    path("api/devices/", views.list_devices),
    path("api/devices/<str:device_id>/messages/", views.push_message),
    path("api/devices/<str:device_id>/messages/sync/", views.push_message_sync),
    path("api/devices/<str:device_id>/commands/", commands.send_command),
    path("api/broadcast/", views.broadcast),
]
