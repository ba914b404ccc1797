"""HTTP routes: pages for people, /api/ for apps. Unknown /api/ routes answer JSON 404.

Each app's routes load on their own (mysite/app_loading.py): a broken app answers a JSON 500
naming its error on its own paths, and the other apps keep working.
"""
from django.contrib import admin
from django.shortcuts import redirect
from django.urls import path, re_path

from mysite.api import not_found
from mysite.app_loading import app_urls

handler500 = "mysite.api.server_error"

urlpatterns = [
    path("", lambda request: redirect("/chat/")),
    path("admin/", admin.site.urls),
    *app_urls("chat.urls", "chat/", "api/rooms/"),
    *app_urls("devices.urls", "devices/", "api/devices/", "api/broadcast/"),
    re_path(r"^api/", not_found),
]
