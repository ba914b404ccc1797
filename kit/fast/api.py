"""The HTTP API served by a Channels AsyncHttpConsumer instead of Django's request handler.

The same URLconf, views and validation as the learner's project: the consumer builds Django's
own ASGIRequest, resolves the path and awaits the view, whose api_endpoint (mysite/api.py) does
every check and error status. What it leaves out is the path around them: Django's middleware
(each sync middleware class a thread hop in and out) and the request signals. The API needs
none of it: header tokens, no session, no CSRF (its views are csrf_exempt anyway).
"""

import asyncio
import functools
import logging
from io import BytesIO

from asgiref.sync import sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.asgi import ASGIRequest
from django.urls import Resolver404, get_resolver

from kit.fast import cleanup
from mysite.api import not_found, server_error

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4096)
def resolve(path):
    """The URLconf's match for a path, kept: the API's paths repeat (one per device and route), and
    Django walks its nested patterns again for each request. -> ResolverMatch, or Resolver404."""
    return get_resolver().resolve(path)


class UnreadBody(BytesIO):
    """A body over API_MAX_BODY_BYTES, not kept: reading it raises what Django raises for one."""

    def read(self, *args):
        raise RequestDataTooBig(f"body is over {settings.API_MAX_BODY_BYTES // 1024} KiB")


class ApiConsumer(cleanup.OccasionalCleanup, AsyncHttpConsumer):
    # No channel of its own: Channels would make one per request (with the pub/sub layer a Redis
    # SUBSCRIBE and UNSUBSCRIBE each); the views reach the layer through get_channel_layer().
    channel_layer_alias = "the API consumer needs no channel"
    received = 0

    async def http_request(self, message):
        """Collects the body up to the API's limit; past it, answers at once without keeping the rest:
        the view still checks the method and the key first (405, 401), then reading the body gives 413."""
        self.received += len(message.get("body", b""))
        if self.received > settings.API_MAX_BODY_BYTES:
            await self.handle(None)
            raise StopConsumer()
        await super().http_request(message)

    async def handle(self, body):
        """Resolves the path in the project's URLconf and awaits its view, as Django would.
        body None: over the limit, not kept."""
        request = ASGIRequest(self.scope, BytesIO(body) if body is not None else UnreadBody())
        try:
            match = resolve(request.path_info)
        except Resolver404:
            response = not_found(request)
        else:
            view = match.func if asyncio.iscoroutinefunction(match.func) else sync_to_async(match.func)
            try:
                response = await view(request, *match.args, **match.kwargs)
            except Exception:  # api_endpoint answers every expected error itself: this is a bug
                log.exception("unexpected error in %s", request.path)
                response = server_error(request)
        await self.answer(response)

    async def answer(self, response):
        secure(response)
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
        if not response.has_header("Content-Length"):
            headers.append((b"content-length", str(len(response.content)).encode()))
        await self.send_response(response.status_code, response.content, headers=headers)


def secure(response):
    """The headers Django's SecurityMiddleware and XFrameOptionsMiddleware put on every response of step 3's
    design, which this consumer serves without: the same settings, the same values (a header the view
    set itself is kept)."""
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        response.headers.setdefault("Referrer-Policy", policy if isinstance(policy, str) else ",".join(policy))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        response.headers.setdefault("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY)
    if not getattr(response, "xframe_options_exempt", False):
        response.headers.setdefault("X-Frame-Options", getattr(settings, "X_FRAME_OPTIONS", "DENY").upper())
    return response


def api_or(other, api=None, prefix="/api/"):
    """An ASGI app: HTTP requests under `prefix` go to `api` (ApiConsumer), everything else to `other`."""
    api = api or ApiConsumer.as_asgi()

    async def application(scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith(prefix):
            return await api(scope, receive, send)
        return await other(scope, receive, send)

    return application
