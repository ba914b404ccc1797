# project/devices/dashboard.py
"""The instructor dashboard: a page for a logged-in staff user, and its own WebSocket.

The socket is authenticated by the Django session (AuthMiddlewareStack in mysite/asgi.py)
and Origin-checked (its route, websocket_urlpatterns below), so the browser never holds an API key. It pushes
presence changes from devices/presence.py, and acts on {"action": "message" | "command" |
"broadcast", ...} frames with the same functions as the HTTP API (devices/views.py, devices/commands.py).
"""

import asyncio
import json
import logging

from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import user_passes_test
from django.shortcuts import render
from django.urls import re_path

from devices import commands, presence, views
from devices.frames import MAX_FRAME_CHARS
from devices.models import DEVICE_ID
from mysite import wire
from mysite.api import ApiError, reporting_drops
from mysite.close_codes import REVOKED_CLOSE_CODE
from mysite.groups import DASHBOARD_GROUP, session_group, staff_group
from mysite.origins import SameOriginValidator

log = logging.getLogger(__name__)
ACTIONS = ("message", "command", "broadcast")
MAX_RUNNING_COMMANDS = 100  # a command to every phone of a class of 60 at once (classroom mode)


LOGIN_PATH = "/devices/login/"  # the admin's login page needs static files, which daphne does not serve
sign_in_page = auth_views.LoginView.as_view(template_name="devices/login.html")
sign_out = auth_views.LogoutView.as_view(next_page=LOGIN_PATH)  # POST only, with the CSRF token


@user_passes_test(lambda user: user.is_active and user.is_staff, login_url=LOGIN_PATH)
def dashboard_page(request):
    """GET /devices/: the page; its JavaScript opens /ws/dashboard/."""
    return render(request, "devices/dashboard.html")


def parse_dashboard_frame(text_data):
    """Returns (request, None) for a good action frame, (None, "what is wrong") otherwise."""
    try:
        frame = wire.loads(text_data or "") if len(text_data or "") <= MAX_FRAME_CHARS else None
    except wire.NotCarriable as exc:  # NaN, 2**64, "\ud800": not JSON the channel layer can carry
        return None, f"frame cannot be accepted: {exc}"
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        frame = None
    if not isinstance(frame, dict):
        return None, f"send a JSON object of at most {MAX_FRAME_CHARS} characters"
    action = frame.get("action")
    if action == "refresh":
        return frame, None
    if action not in ACTIONS:
        return None, f"'action' must be one of {', '.join(ACTIONS)}"
    if action != "broadcast" and not (isinstance(frame.get("device"), str) and DEVICE_ID.match(frame["device"])):
        return None, "'device' is missing or not a device id"
    if "data" not in frame:
        return None, "'data' is missing"
    try:
        frame["timeout"] = commands.command_timeout(frame)  # the API's own check: default, type, range
    except ApiError as exc:
        return None, exc.message
    return frame, None


class DashboardConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        """Staff only, checked before accept (refused handshake); then a snapshot of every device."""
        user = self.scope.get("user")
        if not (user and user.is_authenticated and user.is_staff):
            await self.close()
            return
        self.running = set()  # command round trips in progress: they must not block this socket
        # Logging out, or the user losing staff rights or the password, closes this socket (revocation.py).
        self.joined = [
            DASHBOARD_GROUP,
            staff_group(user.pk),
            session_group(self.scope["session"].session_key),
        ]
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_snapshot()

    async def disconnect(self, code):
        """Leave the group; commands still waiting for a reply are abandoned."""
        if not hasattr(self, "running"):
            return
        for task in self.running:
            task.cancel()
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        """An action from the page. Commands run as tasks, so presence events keep flowing."""
        frame, error = parse_dashboard_frame(text_data)
        ref = frame.get("ref") if frame and isinstance(frame.get("ref"), (str, int)) else None
        if error:
            await self.send_frame({"type": "error", "error": error})
        elif frame["action"] == "refresh":
            await self.send_snapshot()
        elif frame["action"] == "command" and len(self.running) >= MAX_RUNNING_COMMANDS:
            await self.send_frame({"type": "error", "ref": ref, "error": "too many commands waiting for replies"})
        elif frame["action"] == "command":
            task = asyncio.create_task(self.perform(frame, ref))
            self.running.add(task)
            task.add_done_callback(self.running.discard)
        else:
            await self.perform(frame, ref)

    async def perform(self, frame, ref):
        """Does what the API view would do; the outcome goes back as a result or an error frame."""
        action, data = frame["action"], frame["data"]
        try:
            with reporting_drops() as drops:  # the API's overload report: 503 if queued for nobody
                if action == "broadcast":
                    result = await views.broadcast_to_all(data)
                else:
                    device = await views.get_device(frame["device"])
                    if action == "message":
                        result = await views.push_to_device(device, data)
                    else:
                        result = await commands.command_round_trip(device, data, frame["timeout"])
            if drops.not_queued:
                result["not_queued"] = drops.not_queued
            await self.send_frame({"type": "result", "ref": ref, "action": action, "result": result})
        except ApiError as exc:
            await self.send_frame(
                {"type": "error", "ref": ref, "action": action, "status": exc.status, "error": exc.message}
            )
        except NotImplementedError as exc:  # the learner's starter copy: a step not written yet
            await self.send_frame({"type": "error", "ref": ref, "action": action, "status": 501, "error": str(exc)})
        except Exception:  # a bug must not leave the page waiting forever, nor kill the socket
            log.exception("dashboard action %s failed", action)
            await self.send_frame(
                {
                    "type": "error",
                    "ref": ref,
                    "action": action,
                    "status": 500,
                    "error": "internal error; the server log has the details",
                }
            )

    async def presence_changed(self, event):
        """Handles presence.changed (from devices/presence.py): a device came online or went."""
        await self.send_frame(
            {
                "type": "presence",
                "device": event.get("device"),
                "online": bool(event.get("online")),
                "last_seen": event.get("last_seen"),
            }
        )

    async def dashboard_revoked(self, event):
        """Handles dashboard.revoked: the session logged out, or the user lost staff rights or the password."""
        await self.close(code=REVOKED_CLOSE_CODE)

    async def send_snapshot(self):
        try:
            await self.send_frame({"type": "snapshot", "devices": await presence.snapshot()})
        except Exception:  # a locked database: the page asks again later
            await self.send_frame({"type": "error", "error": "could not read the device list; retrying soon"})

    async def send_frame(self, frame):
        await self.send(text_data=json.dumps(frame))


# The dashboard is a browser page: Origin checked (port included), session user in connect.
websocket_urlpatterns = [re_path(r"^ws/dashboard/\Z", SameOriginValidator(DashboardConsumer.as_asgi()))]
