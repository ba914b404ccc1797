"""The harness's URLconf: the learner's mysite.urls when every app's urls import; otherwise the
working apps' routes, and a JSON error naming the problem on a broken app's paths."""

import importlib

from django.conf import settings
from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt

from kit.harness.loading import APPS, broken_apps

handler500 = "mysite.api.server_error"


def refusing(app, error):
    """A view for a broken app's paths: a JSON 500 that names the error (never a traceback)."""

    @csrf_exempt  # a JSON answer for POSTs too, not Django's CSRF page
    def broken(request, *args, **kwargs):
        return JsonResponse({"error": f"{app} failed to load: {error}"}, status=500)

    return broken


def app_by_app(broken):
    from mysite.api import not_found

    patterns = [path("admin/", admin.site.urls)]
    for app, (_ws_path, prefixes) in APPS.items():
        if app in broken:
            patterns += [re_path(f"^{prefix}", refusing(app, broken[app])) for prefix in prefixes]
        elif prefixes:
            patterns.append(path("", include(f"{app}.urls")))
    return patterns + [re_path(r"^api/", not_found)]


_broken = broken_apps("urls")
# Every app imports: mysite.urls is the learner's own (its own errors are the project's to fix).
urlpatterns = app_by_app(_broken) if _broken else importlib.import_module("mysite.urls").urlpatterns
if settings.CLASSROOM_HOST:  # classroom mode's pages first: /devices/phone/ before the project's /devices/...
    urlpatterns = importlib.import_module("kit.classroom.urls").urlpatterns + list(urlpatterns)
