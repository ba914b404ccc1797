"""The dashboard socket's Origin check: the page's own origin, port included, or a trusted one.

Channels' AllowedHostsOriginValidator compares host names only, so on localhost any page on any
port (JupyterLab's http://localhost:8888, say) passed it and rode the staff session cookie, which
is not port-scoped. This is the check Django's CSRF middleware makes for a form POST: Origin must
equal scheme://Host of the request itself (Host being one of ALLOWED_HOSTS), or be listed in
CSRF_TRUSTED_ORIGINS (for a proxy in front that changes the Host).
"""

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host


def header(scope, name):
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""


def allowed_origins(scope):
    """The origins a handshake with this scope may come from."""
    allowed = {origin.lower() for origin in settings.CSRF_TRUSTED_ORIGINS}
    host = header(scope, b"host").lower()
    if host and validate_host(split_domain_port(host)[0], settings.ALLOWED_HOSTS):
        allowed.add(("https://" if scope.get("scheme") == "wss" else "http://") + host)
    return allowed


class SameOriginValidator:
    """ASGI middleware: refuses the handshake (403) unless Origin is allowed; no Origin, no entry."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if header(scope, b"origin").lower() in allowed_origins(scope) - {""}:
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
