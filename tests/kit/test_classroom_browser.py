"""Classroom mode in a real Chromium with a phone's screen: a student joins at 127.0.0.2 (standing in for
the LAN address), becomes the device phone-<name>, receives a push and answers a command with a tap, and
chats under their name; the token never appears in a URL. A page from a foreign origin is refused, and the
refusal is in the server's log."""

import contextlib
import http.server
import threading
import uuid

import httpx
import pytest

from browser_support import launched_chromium, screenshot
from classroom_support import CLASSROOM_HOST, classroom_server

pytestmark = pytest.mark.browser
WAIT_MS = 10_000
FOREIGN_HOST = "127.0.0.3"  # another site, on loopback too
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 3}


@pytest.fixture(scope="module")
def server(redis_url):
    with classroom_server(redis_url) as live:
        live.api_key = live.create_api_key("classroom-browser")
        yield live


@pytest.fixture(scope="module")
def chromium():
    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def phone(chromium):
    context = chromium.new_context(**PHONE)
    context.set_default_timeout(WAIT_MS)
    try:
        yield context
    finally:
        context.close()


def command_in_background(server, device, data):
    """POST a command (it waits for the reply) from a thread, so the test can tap meanwhile."""
    outcome = {}

    def ask():
        outcome["answer"] = httpx.post(
            f"{server.http_url}/api/devices/{device}/commands/",
            json={"data": data, "timeout": 20},
            headers={"Authorization": f"Bearer {server.api_key}"},
            timeout=30,
        )

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    return thread, outcome


def test_a_phone_joins_becomes_a_device_gets_a_push_answers_a_command_and_chats_by_name(server, phone):
    from playwright.sync_api import expect

    assert server.http_url.startswith(f"http://{CLASSROOM_HOST}:")
    page = phone.new_page()
    urls = []  # every URL the page asked for, sockets included: the token must be in none
    page.on("request", lambda request: urls.append(request.url))
    page.on("websocket", lambda socket: urls.append(socket.url))
    page.goto(f"{server.http_url}/classroom/join/")
    page.fill("#name", "Grace Hopper")
    page.tap("#join")
    expect(page.locator("h1")).to_have_text("Welcome, Grace Hopper")
    device = page.locator("#device").inner_text()
    assert device.startswith("phone-grace-hopper")

    page.tap("#be-device")
    expect(page.locator("#status")).to_have_text("connected")
    screenshot(page, "classroom-phone")
    pushed = httpx.post(
        f"{server.http_url}/api/devices/{device}/messages/",
        json={"data": {"slide": 3}},
        headers={"Authorization": f"Bearer {server.api_key}"},
    )
    assert pushed.status_code == 202 and pushed.json()["online"] is True
    expect(page.locator("#log li.push")).to_have_text('push: {"slide":3}')

    thread, outcome = command_in_background(server, device, "ready?")
    reply_button = page.locator("#log li.command button")
    expect(reply_button).to_have_text("Reply")
    reply_button.tap()
    thread.join(30)
    assert outcome["answer"].status_code == 200, outcome["answer"].text
    assert outcome["answer"].json()["reply"] == {"ok": True, "device": device}

    token = page.evaluate("sessionStorage.getItem('classroom-token')")
    assert token and page.evaluate("sessionStorage.getItem('classroom-ticket')") is None  # used once, gone
    assert not [url for url in urls if token in url or "bearer" in url], urls

    room = f"class-{uuid.uuid4().hex[:6]}"
    page.goto(f"{server.http_url}/chat/{room}/")
    expect(page.locator("#status")).to_have_text("connected")
    expect(page.locator("#name-input")).to_have_value("Grace Hopper")
    page.fill("#message-input", "hello class")
    page.press("#message-input", "Enter")
    expect(page.locator("#log li .who")).to_have_text("Grace Hopper (you)")
    expect(page.locator("#log li .text")).to_have_text("hello class")


@contextlib.contextmanager
def foreign_site(page_html):
    """Another site: a real HTTP server on 127.0.0.3 (loopback, a free port) serving page_html; stopped on exit."""
    body = page_html.encode()

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    site = http.server.ThreadingHTTPServer((FOREIGN_HOST, 0), Page)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        yield f"http://{FOREIGN_HOST}:{site.server_address[1]}"
    finally:
        site.shutdown()
        site.server_close()


def test_a_page_from_a_foreign_origin_cannot_open_a_socket_and_the_refusal_is_logged(server, phone):
    target = f"ws://{CLASSROOM_HOST}:{server.port}/ws/chat/lobby/"
    script = f"""<title>waiting</title><script>
      const socket = new WebSocket({target!r});
      socket.onopen = () => document.title = "opened";
      socket.onclose = () => document.title = "refused";
    </script>"""
    with foreign_site(script) as origin:
        page = phone.new_page()
        page.goto(f"{origin}/")
        page.wait_for_function("document.title !== 'waiting'")
        assert page.title() == "refused"
    log = server.log_path.read_text(errors="replace")
    assert "refused WebSocket /ws/chat/lobby/: Origin is not this server's page" in log, server.log_tail()
    assert f"Origin '{origin}'" in log


def test_the_dashboard_sends_a_command_to_every_phone_and_shows_each_reply(server, chromium, phone):
    from playwright.sync_api import expect

    from browser_support import sign_in
    from kit.demo import INSTRUCTOR, create_instructor

    page = phone.new_page()
    page.goto(f"{server.http_url}/classroom/join/")
    page.fill("#name", "Dash Board")
    page.tap("#join")
    device = page.locator("#device").inner_text()
    page.tap("#be-device")
    expect(page.locator("#status")).to_have_text("connected")

    laptop = chromium.new_context(viewport={"width": 1280, "height": 800})
    laptop.set_default_timeout(WAIT_MS)
    try:
        dashboard = laptop.new_page()
        sign_in(dashboard, server.http_url, INSTRUCTOR, create_instructor(server))
        expect(dashboard.locator(f"tr[data-device='{device}'] .pill")).to_have_text("● online")
        dashboard.select_option("#target", "*phones")
        dashboard.check("#kind-command")
        dashboard.fill("#data", '"ready?"')
        dashboard.click("#send-button")
        page.locator("#log li.command button").tap()
        expect(dashboard.locator("#log li.in").first).to_contain_text(f'reply from {device}: {{"ok":true')
    finally:
        laptop.close()
