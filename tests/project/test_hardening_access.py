"""Issue 13, items 6-8: no socket outlives its credential (a device token replaced, voided or
deleted; an API key replaced or deleted; a dashboard session logged out or its user deactivated),
the dashboard's Origin is checked with its port, and logins are throttled (django-axes).
Real daphne, real Redis; the seconds until the sockets close are printed."""

import contextlib
import json
import time

import httpx
import pytest
import websockets
from websockets.sync.client import connect

from kit.demo import INSTRUCTOR, create_instructor
from kit.serving.live_server import LiveServer
from live_support import assert_no_traceback, issue_devices, start_server
from mysite.close_codes import REVOKED_CLOSE_CODE  # importable once live_support put project/ on the path
from test_dashboard import session_cookie


@pytest.fixture(scope="module")
def server(redis):
    live = start_server(redis.url)
    yield live
    live.close()


def seconds_until_closed(socks, revoke):
    """Runs revoke(); asserts that every socket then closes with 4401; seconds from revoke's return."""
    revoke()
    revoked = time.monotonic()
    for sock in socks:
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                sock.recv(timeout=10)  # a dashboard's snapshot first
        assert sock.close_code == REVOKED_CLOSE_CODE
    return time.monotonic() - revoked


def orm(server, code):
    """Runs Django ORM code in a separate process, as an admin action or a script would."""
    server.manage("shell", "-c", "from devices.models import *; from django.contrib.auth.models import User; " + code)


def test_a_device_revoked_or_deleted_has_its_sockets_closed(server):
    (revoked, revoked_token), (deleted, deleted_token) = issue_devices(server, 2, "gone")
    figures = []
    for device_id, token, revoke in (
        (revoked, revoked_token, lambda: server.manage("revoke_device", revoked)),
        (deleted, deleted_token, lambda: orm(server, f"Device.objects.get(device_id='{deleted}').delete()")),
    ):
        url, headers = f"{server.ws_url}/ws/devices/{device_id}/", {"Authorization": f"Bearer {token}"}
        with connect(url, additional_headers=headers, open_timeout=5) as sock:
            figures.append(seconds_until_closed([sock], revoke))
        with pytest.raises(websockets.InvalidStatus):  # and the token opens nothing any more
            with connect(url, additional_headers=headers, open_timeout=5):
                pass
    print(f"\nsockets closed {figures[0]:.2f} s after revoke_device, {figures[1]:.2f} s after an ORM delete")
    assert_no_traceback(server)


def test_an_api_key_replaced_or_deleted_is_refused_at_once(server):
    old = server.create_api_key("rotated")
    with httpx.Client(base_url=server.http_url, timeout=10) as client:
        listing = lambda key: client.get("/api/devices/", headers={"Authorization": f"Bearer {key}"})  # noqa: E731
        assert listing(old).status_code == 200
        new = server.create_api_key("rotated")
        assert listing(old).status_code == 401 and listing(new).status_code == 200  # no cache in between
        orm(server, "ApiKey.objects.filter(name='rotated').delete()")
        assert listing(new).status_code == 401


@pytest.mark.parametrize("change", ["user.is_active = False", "user.set_password('new-pass-2')"])
def test_logging_out_then_a_user_change_closes_the_dashboard(server, change):
    username, password = f"leaving{len(change)}", "staff-pass-1"
    orm(server, f"User.objects.create_user('{username}', password='{password}', is_staff=True)")
    origin = f"http://127.0.0.1:{server.port}"
    with httpx.Client(base_url=server.http_url, timeout=10) as browser:
        cookie = session_cookie(server, username, password)  # a second session, in another "browser"
        browser.get("/devices/login/")
        browser.post(
            "/devices/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
        )
        own = f"sessionid={browser.cookies['sessionid']}"
        with dashboard(server, own, origin) as mine, dashboard(server, cookie, origin) as other:
            logout = lambda: browser.post("/devices/logout/", headers={"X-CSRFToken": browser.cookies["csrftoken"]})  # noqa: E731
            logged_out = seconds_until_closed([mine], logout)
            assert json.loads(other.recv(timeout=5))["type"] == "snapshot"  # another session stays
            other.ping().wait(5)
            changed = seconds_until_closed(
                [other], lambda: orm(server, f"user = User.objects.get(username='{username}'); {change}; user.save()")
            )
    print(f"\ndashboard closed {logged_out:.2f} s after logging out, {changed:.2f} s after {change}")
    assert_no_traceback(server)


def test_a_new_token_closes_the_sockets_opened_with_the_old_one(server):
    ((device_id, old_token),) = issue_devices(server, 1, "revoke")
    url = f"{server.ws_url}/ws/devices/{device_id}/"
    with contextlib.ExitStack() as stack:
        old = [
            stack.enter_context(
                connect(url, additional_headers={"Authorization": f"Bearer {old_token}"}, open_timeout=5)
            )
            for _ in range(2)
        ]
        started = time.monotonic()
        new_token = server.create_device(device_id)
        replaced = time.monotonic()
        for sock in old:
            with pytest.raises(websockets.ConnectionClosed):
                sock.recv(timeout=10)
            assert sock.close_code == REVOKED_CLOSE_CODE
        closed = time.monotonic()
        print(
            f"\nold sockets closed {closed - replaced:.2f} s after create_device returned "
            f"({replaced - started:.2f} s for the command itself)"
        )
    with pytest.raises(websockets.InvalidStatus):  # the old token no longer opens anything
        with connect(url, additional_headers={"Authorization": f"Bearer {old_token}"}, open_timeout=5):
            pass
    with connect(url, additional_headers={"Authorization": f"Bearer {new_token}"}, open_timeout=5) as fresh:
        fresh.ping().wait(5)  # the new token works, and its socket is not closed by the revocation
    assert_no_traceback(server)


@pytest.fixture(scope="module")
def staff_cookie(server):
    return session_cookie(server, INSTRUCTOR, create_instructor(server))


def dashboard(server, cookie, origin):
    return connect(
        server.ws_url + "/ws/dashboard/", additional_headers={"Cookie": cookie}, origin=origin, open_timeout=5
    )


def test_the_dashboard_refuses_another_port_on_the_same_host(server, staff_cookie):
    for origin in (
        f"http://127.0.0.1:{server.port + 1}",
        "http://127.0.0.1:8888",
        "http://localhost:8888",
        f"http://localhost:{server.port}",
        f"https://127.0.0.1:{server.port}",
        "null",
    ):
        with pytest.raises(websockets.InvalidStatus) as refused:
            with dashboard(server, staff_cookie, origin):
                pass
        assert refused.value.response.status_code == 403, origin
    with dashboard(server, staff_cookie, f"http://127.0.0.1:{server.port}") as sock:  # its own page
        assert json.loads(sock.recv(timeout=5))["type"] == "snapshot"


def test_a_trusted_origin_setting_admits_a_proxy_origin(redis):
    live = LiveServer(redis_url=redis.url, env={"DJANGO_CSRF_TRUSTED_ORIGINS": "https://kit.example"}).start()
    try:
        cookie = session_cookie(live, INSTRUCTOR, create_instructor(live))
        with dashboard(live, cookie, "https://kit.example") as sock:
            assert json.loads(sock.recv(timeout=5))["type"] == "snapshot"
        with pytest.raises(websockets.InvalidStatus):
            with dashboard(live, cookie, "https://other.example"):
                pass
    finally:
        live.close()


def test_wrong_passwords_are_throttled(server):
    password = "right-pass-1"
    server.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user('throttled', password='{password}', is_staff=True)",
    )
    statuses = []
    with httpx.Client(base_url=server.http_url, timeout=10) as client:
        client.get("/devices/login/")
        token = client.cookies["csrftoken"]
        for attempt in range(8):
            answer = client.post(
                "/devices/login/",
                data={"username": "throttled", "password": f"wrong-{attempt}", "csrfmiddlewaretoken": token},
            )
            statuses.append(answer.status_code)
        right = client.post(
            "/devices/login/", data={"username": "throttled", "password": password, "csrfmiddlewaretoken": token}
        )
    print(f"\nlogin statuses for 8 wrong passwords: {statuses}; then the right one: {right.status_code}")
    # AXES_FAILURE_LIMIT = 5: four times the form again with its error; the fifth failure locks out.
    assert statuses == [200] * 4 + [429] * 4
    assert right.status_code == 429  # locked out: even the right password waits for the cool-off
    assert_no_traceback(server)
