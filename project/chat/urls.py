# project/chat/urls.py
"""The chat pages and the announcements endpoint of the HTTP API."""

from django.urls import path

from chat import views

urlpatterns = [
    path("chat/", views.index),
    path("chat/<str:room>/", views.room),
    path("api/rooms/<str:room>/announcements/", views.announcement),
]
