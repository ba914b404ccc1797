"""The pages in a real Chromium (Playwright driving the system's browser) against a live server.

Chat: two tabs in a room see each other, another room sees nothing, each tab has a name, its own
messages stand out, every message has a time, an empty room says so, markup shows as text, a
server restart is shown and survived. Dashboard: a simulated device comes online, gets a command
from the page, and its reply appears in the log. No Chromium: these fail, saying how to install it.
"""

import json
import subprocess
import sys
import uuid

import pytest

from browser_support import launched_chromium, open_room, screenshot, send, sign_in, texts
from kit.demo import INSTRUCTOR, create_instructor
from kit.serving.live_server import LiveServer, stop_process_group

pytestmark = pytest.mark.browser
WAIT_MS = 10_000
RECONNECT_WAIT_MS = 25_000  # the page backs off up to 10 s between attempts


@pytest.fixture(scope="module")
def chromium():
    with launched_chromium() as browser:
        yield browser


def new_server(redis_url):
    return LiveServer(
        redis_url=redis_url,
        layer_prefix=f"browser{uuid.uuid4().hex[:8]}",
        debug=True,
        env={"PRESENCE_HEARTBEAT_SECONDS": "2", "PRESENCE_TTL_SECONDS": "6"},
    )


@pytest.fixture(scope="module")
def server(redis_url):
    with new_server(redis_url) as live:
        yield live


@pytest.fixture
def context(chromium):
    ctx = chromium.new_context(viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(WAIT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


def test_two_tabs_in_a_room_see_each_other_and_another_room_sees_nothing(server, context):
    from playwright.sync_api import expect

    room, other = f"room-{uuid.uuid4().hex[:6]}", f"other-{uuid.uuid4().hex[:6]}"
    picker = context.new_page()
    picker.goto(server.http_url + "/chat/")
    screenshot(picker, "chat-index")
    picker.fill("#room-name", room)
    picker.press("#room-name", "Enter")
    picker.wait_for_url(f"{server.http_url}/chat/{room}/")
    expect(picker.locator("#status")).to_have_text("connected")
    second, outsider = open_room(context, server.http_url, room), open_room(context, server.http_url, other)

    send(picker, "hello from tab one")
    send(second, "and hello from tab two")
    for page in (picker, second):
        expect(texts(page)).to_have_text(["hello from tab one", "and hello from tab two"])
    send(outsider, "only in the other room")  # once this arrives, the first room's messages would have too
    expect(texts(outsider)).to_have_text(["only in the other room"])
    expect(texts(second)).to_have_count(2)


def test_each_tab_has_a_name_its_own_messages_stand_out_and_every_message_has_a_time(server, context):
    from playwright.sync_api import expect

    room = f"names-{uuid.uuid4().hex[:6]}"
    ada = open_room(context, server.http_url, room, name="Ada")
    expect(ada.locator("#empty-hint")).to_be_visible()  # an empty room says what to do
    screenshot(ada, "chat-empty-room")
    linus = open_room(context, server.http_url, room, name="Linus")
    send(ada, "hello, I am Ada")
    send(linus, "hi Ada")
    for page, me, them in ((ada, "Ada", "Linus"), (linus, "Linus", "Ada")):
        items = page.locator("#log li")
        expect(items).to_have_count(2)
        expect(page.locator("#empty-hint")).to_be_hidden()
        expect(page.locator("#log li.mine .who")).to_have_text([f"{me} (you)"])
        expect(page.locator("#log li:not(.mine) .who")).to_have_text([them])
        expect(page.locator("#log li time")).to_have_count(2)
        for stamp in page.locator("#log li time").all_text_contents():
            assert any(ch.isdigit() for ch in stamp) and ":" in stamp, stamp
    expect(texts(ada)).to_have_text(["hello, I am Ada", "hi Ada"])
    # On the wire the frame stays the contract's {"message": ...}: the name is part of the text.
    assert [json.loads(frame) for frame in ada.sent_frames] == [{"message": "Ada: hello, I am Ada"}]
    ada.reload()
    expect(ada.locator("#name-input")).to_have_value("Ada")  # the name belongs to the tab, reloads keep it
    screenshot(linus, "chat-room")


def test_markup_in_a_message_shows_as_text(server, context):
    from playwright.sync_api import expect

    payload = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold?</b>'
    room = f"xss-{uuid.uuid4().hex[:6]}"
    sender, reader = open_room(context, server.http_url, room), open_room(context, server.http_url, room)
    send(sender, payload)
    item = texts(reader).first
    expect(item).to_have_text(payload)
    assert item.evaluate("text => text.children.length") == 0, "the message became HTML elements"
    assert reader.evaluate("window.pwned") is None and sender.evaluate("window.pwned") is None
    screenshot(reader, "chat-markup-as-text")


def test_chat_page_shows_the_closed_socket_and_reconnects_after_a_server_restart(redis_url, context):
    from playwright.sync_api import expect

    with new_server(redis_url) as live:
        page = open_room(context, live.http_url, "restart")
        live.stop()
        expect(page.locator("#status")).to_contain_text("disconnected", timeout=WAIT_MS)
        expect(page.locator("#send-button")).to_be_disabled()
        screenshot(page, "chat-disconnected")
        live.start()  # same port, so the page's URL is still right
        expect(page.locator("#status")).to_have_text("connected", timeout=RECONNECT_WAIT_MS)
        send(page, "back again")
        expect(texts(page)).to_have_text(
            ["connection lost", "connected again (messages sent meanwhile were missed)", "back again"]
        )
        screenshot(page, "chat-reconnected")


def start_simulator(server, prefix):
    """The real device simulator (manage.py simulate_devices), one device <prefix>-1."""
    command = [
        sys.executable,
        "manage.py",
        "simulate_devices",
        "--url",
        server.http_url,
        "--count",
        "1",
        "--prefix",
        prefix,
    ]
    return subprocess.Popen(
        command,
        cwd=server.project_dir,
        env=server.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_dashboard_shows_a_device_come_online_sends_it_a_command_and_shows_the_reply(server, context):
    from playwright.sync_api import expect

    page = context.new_page()
    page.goto(server.http_url + "/devices/")
    assert "/devices/login/" in page.url, "the dashboard must ask for a login"
    screenshot(page, "login")
    sign_in(page, server.http_url, INSTRUCTOR, create_instructor(server))
    expect(page.locator("#status")).to_have_text("connected")

    prefix = f"dash{uuid.uuid4().hex[:6]}"
    device_id = f"{prefix}-1"
    row = page.locator(f'#devices tr[data-device="{device_id}"]')
    simulator = start_simulator(server, prefix)
    try:
        expect(row.locator(".pill")).to_have_text("● online", timeout=20_000)  # pushed, not polled
        row.click()
        expect(page.locator("#target")).to_have_value(device_id)
        page.check("input[name=kind][value=command]")
        page.fill("#data", '{"lamp": "blink", "note": "<b>not bold</b>"}')
        page.press("#data", "Enter")
        reply = page.locator("#log li.in", has_text="reply from")
        expect(reply).to_have_count(1)
        text = reply.inner_text()
        echoed = json.loads(text.split("reply from", 1)[1].split(":", 1)[1].split("(id")[0])
        assert echoed == {"ok": True, "device": device_id, "echo": {"lamp": "blink", "note": "<b>not bold</b>"}}
        expect(page.locator("#log li.out")).to_contain_text([f"command to {device_id}"])

        page.select_option("#target", "")  # all devices: a broadcast
        page.fill("#data", "hello everyone")
        page.click("#send-button")
        expect(page.locator("#log li.in", has_text="broadcast sent to")).to_have_count(1)
        screenshot(page, "dashboard")
    finally:
        stop_process_group(simulator)  # SIGTERM: its sockets close, so the device goes offline
    expect(row.locator(".pill")).to_have_text("○ offline", timeout=WAIT_MS)
    page.click("nav.top button.link")  # sign out: back to the login page, and the dashboard is closed again
    page.wait_for_url(f"{server.http_url}/devices/login/")
    page.goto(server.http_url + "/devices/")
    assert "/devices/login/" in page.url
