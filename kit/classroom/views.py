"""Classroom mode's pages: the projector's, the join page, the phone, and the instructor's student list.

Plain Django templates with inline CSS and JavaScript, no build step, sized for a phone. The join ticket
travels in a page body and a POST body, and the device token in sessionStorage and the WebSocket
subprotocol: neither ever in a URL.
"""

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth.decorators import user_passes_test
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from devices.models import DEVICE_ID, Device
from devices.presence import snapshot
from devices.revocation import close_group
from kit.classroom import lan, qr, tickets
from kit.classroom.consumers import SESSION_KEY, student_group
from mysite.api import ApiError, error_response, parse_body

CHAT_ROOM = "lobby"
staff_only = user_passes_test(lambda user: user.is_active and user.is_staff, login_url="/devices/login/")


def join_url(request):
    return settings.CLASSROOM_JOIN_URL or lan.join_url(settings.CLASSROOM_HOST, request.get_port())


def projector(request):
    """GET /classroom/: the join URL and its QR code, large, for the projector."""
    url = join_url(request)
    return render(request, "classroom/projector.html", {"join_url": url, "qr_svg": qr.svg(url)})


@require_http_methods(["GET", "POST"])
def join(request):
    """GET /classroom/join/: a name; POST: the student's phone device, session and one-use ticket."""
    if request.method == "GET":
        return render(request, "classroom/join.html")
    try:
        name = tickets.clean_name(request.POST.get("name"))
    except ValueError as exc:
        return render(request, "classroom/join.html", {"error": str(exc)}, status=400)
    device = tickets.create_phone(name)
    request.session[SESSION_KEY] = {"name": name, "device": device.device_id}
    context = {"name": name, "device": device.device_id, "ticket": tickets.issue(device, name), "room": CHAT_ROOM}
    return render(request, "classroom/joined.html", context)


@csrf_exempt  # the credential is the ticket in the body, not a cookie: nothing for CSRF to protect
@require_http_methods(["POST"])
def exchange(request):
    """POST /classroom/exchange/ {"ticket", "device"}: 200 {"device", "token"} once; 403 after that."""
    try:
        body = parse_body(request)  # 413 over 64 KiB, 400 for anything but a JSON object
        ticket, device_id = body.get("ticket"), body.get("device")
        if not isinstance(ticket, str) or not isinstance(device_id, str) or not DEVICE_ID.match(device_id):
            raise ApiError(400, 'send {"ticket": "<join ticket>", "device": "<device id>"}')
        token = tickets.redeem(ticket, device_id)
    except ApiError as exc:
        return error_response(exc.status, exc.message)
    except tickets.TicketRefused as exc:
        return error_response(403, str(exc))
    return JsonResponse({"device": device_id, "token": token})


def phone(request):
    """GET /devices/phone/: the page that is the student's device (its script holds the token)."""
    return render(request, "classroom/phone.html")


@staff_only
async def students(request):
    """GET /classroom/students/: the students' phones, online or not, each with a remove button."""
    phones = [device for device in await snapshot() if device["id"].startswith(tickets.PREFIX)]
    return render(request, "classroom/students.html", {"phones": phones, "join_url": join_url(request)})


@staff_only
@require_http_methods(["POST"])
def remove_student(request, device_id):
    """POST /classroom/students/<device>/remove/: the phone deleted (its sockets close, devices/revocation.py),
    and the student's chat sockets closed; their session no longer counts as joined."""
    Device.objects.filter(device_id=device_id, device_id__startswith=tickets.PREFIX).delete()
    async_to_sync(close_group)(student_group(device_id), "classroom.removed")
    if request.headers.get("Accept") == "application/json":
        return JsonResponse({"removed": device_id})
    return redirect("/classroom/students/")
