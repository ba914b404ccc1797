"""The HTTP API's shared plumbing: API-key auth, JSON in and out, and every error status.

A view decorated with @api_endpoint("POST") receives the parsed JSON object and returns
(status, payload). Any ApiError becomes {"error": "..."} with its status; nothing a client
sends can reach a 500. The views await the channel layer plainly; the decorator bounds their
time and turns an unreachable layer (Redis stopped or hung) into 503, as the contract promises.
"""

import asyncio
import contextlib
import functools
import inspect
import logging
import time
import uuid

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from mysite import overload, wire

log = logging.getLogger(__name__)
LAYER_TIMEOUT_SECONDS = 4  # the contract promises a 503 within 5 s when the layer is down
LAYER_DOWN = "channel layer unreachable (is Redis running?)"
# A pub/sub group_send that no server process got right after the layer saw a failover: a subscriber not
# yet on the Redis that took the PUBLISH. Nobody got it: a retry repeats nothing.
REACHED_NOBODY = "the push reached no server during a Redis failover: not delivered; retry"


def is_layer_error(exc):
    """True for the errors of an unreachable Redis: OSError, or redis-py's own errors."""
    return isinstance(exc, OSError) or exc.__class__.__module__.startswith("redis")


class ApiError(Exception):
    def __init__(self, status, message, **extra):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def error_response(status, message, **extra):
    """{"error": message}; every 503 (layer down or overloaded) says when to try again."""
    response = JsonResponse({"error": message, **extra}, status=status, json_dumps_params=wire.STANDARD)
    if status == 503:
        response["Retry-After"] = str(overload.RETRY_AFTER_SECONDS)
    return response


def new_id():
    """A correlation id for a push or a command."""
    return uuid.uuid4().hex


async def within_layer_timeout(awaitable, **extra):
    """Awaits a channel-layer call for at most LAYER_TIMEOUT_SECONDS, else ApiError 503 (with extra).
    For a view that may wait longer on something else (a device's reply): a hung Redis still answers
    503 within seconds, not after the view's whole time limit."""
    try:
        async with asyncio.timeout(LAYER_TIMEOUT_SECONDS):
            return await awaitable
    except TimeoutError:
        raise ApiError(503, f"{LAYER_DOWN}: no answer within {LAYER_TIMEOUT_SECONDS} s", **extra) from None


def received_at(request):
    """When the request reached the server (time.time()): stamped by the kit's harness before Django's
    middleware, whose thread hops queue behind every other request under load; else now."""
    return getattr(request, "scope", {}).get("received_at") or time.time()


def bearer_token(headers):
    """The token of an 'Authorization: Bearer <token>' header, or None."""
    value = headers.get("Authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def parse_body(request):
    """The request body as a JSON object, or ApiError 413/400."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ApiError(400, "Content-Length is not a number")
    if declared > settings.API_MAX_BODY_BYTES:
        raise ApiError(413, f"body is over {settings.API_MAX_BODY_BYTES // 1024} KiB")
    try:
        raw = request.body
    except RequestDataTooBig:  # a chunked body has no Content-Length: Django stops reading at the limit
        raw = None
    if raw is None or len(raw) > settings.API_MAX_BODY_BYTES:
        raise ApiError(413, f"body is over {settings.API_MAX_BODY_BYTES // 1024} KiB")
    try:
        body = wire.loads(raw)  # standard JSON the channel layer can carry, or a 400 saying why
    except wire.NotCarriable as exc:
        raise ApiError(400, f"body cannot be accepted: {exc}")
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: [[[[...]]]] nested too deep
        raise ApiError(400, "body is not valid JSON (or nested too deeply)")
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object")
    return body


def api_endpoint(*methods, parse_json=True, time_limit=LAYER_TIMEOUT_SECONDS):
    """Decorates a view(request, body, **url_kwargs) -> (status, payload), async or plain `def`.

    Checks in order: method (405), API key (401), body size and JSON (413/400); body is None
    when parse_json is False (GET). Errors come back as {"error": ...}, never as a traceback.
    The view gets time_limit seconds: a hung Redis answers 503, not a hang; so does a dead one.
    """

    def decorate(view):
        # A plain `def` view (the seed's style) runs as Django runs any sync view under ASGI: in the one
        # shared thread (thread_sensitive), so its async_to_sync(...) calls run on the server's own loop.
        call = view if inspect.iscoroutinefunction(view) else sync_to_async(view, thread_sensitive=True)

        @csrf_exempt  # header tokens, no cookies: there is no session for CSRF to protect
        @functools.wraps(view)
        async def wrapper(request, *args, **kwargs):
            try:
                if request.method not in methods:
                    response = error_response(405, f"method {request.method} not allowed; use {', '.join(methods)}")
                    response["Allow"] = ", ".join(methods)
                    return response
                await authenticate_publisher(request)
                body = parse_body(request) if parse_json else None
                with reporting_drops() as drops:  # pushes the layer dropped for being over capacity
                    async with asyncio.timeout(time_limit):  # Python 3.11+: unlike wait_for, no extra task
                        status, payload = await call(request, body, *args, **kwargs)
                if drops.reached_nobody and isinstance(payload, dict):
                    if "failing over" in drops.reached_nobody:  # not just offline: retrying may reach it
                        return error_response(503, REACHED_NOBODY)
                    if payload.get("online"):  # presence a moment old (it just left): nobody got it
                        payload["online"] = False
                if drops.not_queued:  # some members got it: retrying would repeat it to them
                    payload["not_queued"] = drops.not_queued
                return JsonResponse(payload, status=status, safe=False, json_dumps_params=wire.STANDARD)
            except asyncio.TimeoutError:
                return error_response(503, f"{LAYER_DOWN}: no answer within {time_limit} s")
            except ApiError as exc:
                return error_response(exc.status, exc.message, **exc.extra)
            except NotImplementedError as exc:  # a starter stub: this step is not written yet
                log.warning("not done yet, %s answered 501: %s", request.path, exc)
                return error_response(501, f"not done yet: {exc}")
            except Exception as exc:
                if is_layer_error(exc):  # redis-py's ConnectionError/TimeoutError are not OSErrors
                    return error_response(503, f"{LAYER_DOWN}: {exc.__class__.__name__}")
                log.exception("unexpected error in %s", request.path)
                return error_response(500, "internal error; the server log has the details")

        return wrapper

    return decorate


@contextlib.contextmanager
def reporting_drops():
    """Counts the pushes the layer drops inside; ApiError 503 on exit if none was queued for anyone."""
    with overload.counting() as drops:
        try:
            yield drops
        finally:
            if drops.nothing_queued:  # also replaces a command's 504: it was never delivered
                raise ApiError(
                    503,
                    "the server is overloaded: the push could not be queued; retry later",
                    not_queued=drops.not_queued,
                )


async def authenticate_publisher(request):
    from devices.models import ApiKey

    token = bearer_token(request.headers)
    if not token:
        raise ApiError(401, "missing API key: send 'Authorization: Bearer <API key>'")
    if not await ApiKey.objects.acheck(token):
        raise ApiError(401, "wrong API key")


@csrf_exempt
def not_found(request, *args, **kwargs):
    """Unknown routes under /api/ answer JSON too, whatever the method."""
    return error_response(404, f"unknown route: {request.path[:200]}")


def server_error(request, *args, **kwargs):
    """handler500: even a bug answers JSON, never a traceback page (DEBUG off)."""
    return error_response(500, "internal error; the server log has the details")
