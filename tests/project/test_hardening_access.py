"""Issue 13, items 6-8: no socket outlives its credential, the dashboard's Origin is checked with
its port, and logins are throttled (django-axes). Real daphne, real Redis."""
import contextlib
import json
import time

import httpx
import pytest
import websockets
from websockets.sync.client import connect

from kit.demo import INSTRUCTOR, create_instructor
from kit.live_server import LiveServer
from step4_support import assert_no_traceback, issue_devices, start_server
from test_dashboard import session_cookie

REVOKED_CLOSE_CODE = 4401


@pytest.fixture(scope="module")
def server(redis):
    live = start_server(redis.url)
    yield live
    live.close()


def test_a_new_token_closes_the_sockets_opened_with_the_old_one(server):
    (device_id, old_token), = issue_devices(server, 1, "revoke")
    url = f"{server.ws_url}/ws/devices/{device_id}/"
    with contextlib.ExitStack() as stack:
        old = [stack.enter_context(connect(url, additional_headers={"Authorization": f"Bearer {old_token}"},
                                           open_timeout=5)) for _ in range(2)]
        started = time.monotonic()
        new_token = server.manage("create_device", device_id).splitlines()[-1].strip()
        replaced = time.monotonic()
        for sock in old:
            with pytest.raises(websockets.ConnectionClosed):
                sock.recv(timeout=10)
            assert sock.close_code == REVOKED_CLOSE_CODE
        closed = time.monotonic()
        print(f"\nold sockets closed {closed - replaced:.2f} s after create_device returned "
              f"({replaced - started:.2f} s for the command itself)")
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
    return connect(server.ws_url + "/ws/dashboard/", additional_headers={"Cookie": cookie}, origin=origin,
                   open_timeout=5)


def test_the_dashboard_refuses_another_port_on_the_same_host(server, staff_cookie):
    for origin in (f"http://127.0.0.1:{server.port + 1}", "http://127.0.0.1:8888", "http://localhost:8888",
                   f"http://localhost:{server.port}", f"https://127.0.0.1:{server.port}", "null"):
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
    server.manage("shell", "-c", "from django.contrib.auth.models import User; "
                                 f"User.objects.create_user('throttled', password='{password}', is_staff=True)")
    statuses = []
    with httpx.Client(base_url=server.http_url, timeout=10) as client:
        client.get("/devices/login/")
        token = client.cookies["csrftoken"]
        for attempt in range(8):
            answer = client.post("/devices/login/", data={"username": "throttled", "password": f"wrong-{attempt}",
                                                          "csrfmiddlewaretoken": token})
            statuses.append(answer.status_code)
        right = client.post("/devices/login/", data={"username": "throttled", "password": password,
                                                     "csrfmiddlewaretoken": token})
    print(f"\nlogin statuses for 8 wrong passwords: {statuses}; then the right one: {right.status_code}")
    # AXES_FAILURE_LIMIT = 5: four times the form again with its error; the fifth failure locks out.
    assert statuses == [200] * 4 + [429] * 4
    assert right.status_code == 429  # locked out: even the right password waits for the cool-off
    assert_no_traceback(server)
