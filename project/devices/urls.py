from django.urls import path

from devices import views

urlpatterns = [
    path("api/devices/", views.list_devices),
    path("api/devices/<str:device_id>/messages/", views.push_message),
    path("api/devices/<str:device_id>/commands/", views.send_command),
    path("api/broadcast/", views.broadcast),
]
