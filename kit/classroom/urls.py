"""Classroom mode's HTTP routes, served before the project's own (kit/harness/urls.py adds them)."""

from django.urls import path

from kit.classroom import views

urlpatterns = [
    path("classroom/", views.projector),
    path("classroom/join/", views.join),
    path("classroom/exchange/", views.exchange),
    path("classroom/students/", views.students),
    path("classroom/students/<str:device_id>/remove/", views.remove_student),
    path("devices/phone/", views.phone),
]
