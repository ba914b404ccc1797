"""Real Chromium for the page tests: found, launched with the kit's flags, or explained.

Playwright drives the system's Chromium (Debian's `chromium` package), never its own download.
No Chromium means the browser tests FAIL with INSTALL_HELP: a skip would hide a missing part.
"""

import contextlib
import os
from pathlib import Path

import pytest

from kit.doctor import find_chromium  # noqa: F401  (the tests import it from here)

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

INSTALL_HELP = """\
The browser tests need Chromium and found none.
  Debian/Ubuntu:  sudo apt-get install chromium      (.ci/run does this in CI)
  Fedora:         sudo dnf install chromium
  macOS:          install Google Chrome, or: brew install --cask chromium
  elsewhere:      export KIT_CHROMIUM=/path/to/chromium-or-chrome
Then run `make test` again."""
MISSING = (
    "No Chromium found, so this page test cannot run: `sudo apt-get install chromium` (Debian/Ubuntu), "
    "or set KIT_CHROMIUM; more ways at the end of the test run."
)


@contextlib.contextmanager
def launched_chromium():
    """The system's Chromium, headless, through Playwright; closed on exit. None found: the test fails."""
    executable = find_chromium()
    if executable is None:
        pytest.fail(MISSING, pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page, name):
    """Saves a screenshot when KIT_SCREENSHOT_DIR is set; KIT_SCREENSHOT_DIR=docs/img refreshes the README's
    (commit chat-room.png and dashboard.png only)."""
    folder = os.environ.get("KIT_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def sign_in(page, base_url, username, password, next_path="/devices/"):
    """Signs in through the dashboard's login form, as an instructor would."""
    page.goto(f"{base_url}/devices/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#sign-in")
    page.wait_for_url(f"{base_url}{next_path}", timeout=10_000)


def open_room(context, base_url, room, name=None):
    """A tab on the room's page, connected; name: the tab's chat name (else the page's guest-xxxx)."""
    from playwright.sync_api import expect

    page = context.new_page()
    page.sent_frames = []  # what the page put on its WebSocket, to hold it to the contract
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: page.sent_frames.append(payload)))
    page.goto(f"{base_url}/chat/{room}/")
    expect(page.locator("#status")).to_have_text("connected")
    if name:
        page.fill("#name-input", name)
        page.press("#name-input", "Tab")  # a change event: the page keeps the name for this tab
    return page


def send(page, text):
    page.fill("#message-input", text)
    page.press("#message-input", "Enter")  # Enter sends: no click needed


def texts(page):
    return page.locator("#log li .text")
