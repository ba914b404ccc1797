"""HTTP routes: pages for people, /api/ for apps. Unknown /api/ routes answer JSON 404."""

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from mysite.api import not_found

handler500 = "mysite.api.server_error"

urlpatterns = [
    path("", RedirectView.as_view(url="/chat/")),
    path("admin/", admin.site.urls),
    path("", include("chat.urls")),
    path("", include("devices.urls")),
    re_path(r"^api/", not_found),
]
