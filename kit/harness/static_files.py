"""Static files under DEBUG (daphne serves none itself), with a path like /static/%2e%2e/ a 404.

Django's ASGIStaticFilesHandler turns only Http404 into a page: a path that climbs out of the
static directories raises SuspiciousFileOperation, which became a 500 with a traceback.
"""

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404


class SafeStaticFilesHandler(ASGIStaticFilesHandler):
    def serve(self, request):
        """Serves a static file; a path outside the static directories is simply not found."""
        try:
            return super().serve(request)
        except SuspiciousFileOperation:
            raise Http404("no such static file") from None
