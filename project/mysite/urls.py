"""HTTP routes: pages for people, /api/ for apps. Unknown /api/ routes answer JSON 404."""
from django.contrib import admin
from django.shortcuts import redirect
from django.urls import include, path, re_path

from chat import views as chat_views
from mysite.api import not_found

handler500 = "mysite.api.server_error"

urlpatterns = [
    path("", lambda request: redirect("/chat/")),
    path("admin/", admin.site.urls),
    path("chat/", chat_views.index),
    path("chat/<str:room>/", chat_views.room),
    path("api/rooms/<str:room>/announcements/", chat_views.announcement),
    path("", include("devices.urls")),
    re_path(r"^api/", not_found),
]
