# kit/bench/seed_tutorial/urls.py
from django.urls import path

from kit.bench.seed_tutorial import views

urlpatterns = [
    path("push/<str:device_id>/", views.push),
    path("broadcast/", views.broadcast),
]
