# project/devices/simulator.py
"""Simulated IoT devices: connect with a token, answer commands, reconnect when things go away.

The server never reconnects a device: when Redis or the server goes away (or daphne closes the
socket after 24 h) the device must connect again, which re-runs connect() on the server and so
re-joins the groups. Reconnects back off exponentially with jitter, so a fleet of devices does not
hammer a server that is just coming back.

    device = SimulatedDevice("ws://127.0.0.1:8000", "sensor-1", token)
    await device.run()          # until device.stop()
    await run_devices(url, [("sensor-1", token), ...], stop_event)

`python manage.py simulate_devices --url http://127.0.0.1:8000 --count 5` is the command line.
"""

import asyncio
import contextlib
import json
import random
from urllib.parse import urlsplit, urlunsplit

import websockets

from mysite.close_codes import LAYER_FAILED_CLOSE_CODE

BACKOFF_BASE, BACKOFF_CAP = 0.5, 10.0  # seconds: 0.5, 1, 2, 4, 8, 10, 10, ...


def ws_base_url(url):
    """http://host:port -> ws://host:port (https -> wss); ws:// URLs are kept."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "", "", "")).rstrip("/")


def backoff_delay(attempt, base=BACKOFF_BASE, cap=BACKOFF_CAP):
    """Exponential backoff, capped, with jitter (50-100 % of the step) so devices spread out."""
    return min(cap, base * 2**attempt) * random.uniform(0.5, 1.0)


def reply_frame(device_id, command):
    """The simulator's answer to any command: it echoes the data back."""
    return {
        "type": "reply",
        "id": command["id"],
        "data": {"ok": True, "device": device_id, "echo": command.get("data")},
    }


class SimulatedDevice:
    def __init__(
        self, url, device_id, token, reply_delay=0.0, log=print, backoff_base=BACKOFF_BASE, backoff_cap=BACKOFF_CAP
    ):
        self.url = f"{ws_base_url(url)}/ws/devices/{device_id}/"
        self.device_id, self.token, self.reply_delay, self.log = device_id, token, reply_delay, log
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.connects = 0  # successful handshakes, so a test can wait for a reconnect
        self.messages = []  # pushes received: [{"id", "data"}]
        self.answered = []  # ids of the commands answered
        self.online = asyncio.Event()
        self._stop = asyncio.Event()
        self._socket = None

    async def run(self):
        """Connects, serves, and reconnects with backoff until stop()."""
        attempt = 0
        while not self._stop.is_set():
            try:
                async with websockets.connect(
                    self.url,
                    additional_headers={"Authorization": f"Bearer {self.token}"},
                    open_timeout=5,
                    close_timeout=2,
                    ping_interval=20,
                ) as sock:
                    self._socket, attempt = sock, 0
                    if self._stop.is_set():  # stop() came during the handshake
                        break
                    self.connects += 1
                    self.online.set()
                    self.log(f"{self.device_id}: connected")
                    await self._serve(sock)
                self.log(f"{self.device_id}: disconnected (code {sock.close_code}{_meaning(sock.close_code)})")
            except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as exc:
                self.log(f"{self.device_id}: connection failed or lost ({_describe(exc)})")
            finally:
                self.online.clear()
                self._socket = None
            if self._stop.is_set():
                break
            delay = backoff_delay(attempt, self.backoff_base, self.backoff_cap)
            attempt += 1
            self.log(f"{self.device_id}: reconnecting in {delay:.1f}s")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _serve(self, sock):
        """Reads frames until the socket closes; commands are answered concurrently."""
        answering = set()
        with contextlib.suppress(websockets.ConnectionClosed):  # the caller logs the close code
            async for raw in sock:
                self._handle(sock, raw, answering)

    def _handle(self, sock, raw, answering):
        try:
            frame = json.loads(raw)
            kind = frame.get("type")
        except (ValueError, TypeError, AttributeError, RecursionError):  # not a JSON object: report it, keep serving
            self.log(f"{self.device_id}: unexpected frame {str(raw)[:80]!r}")
            return
        if kind == "message":
            self.messages.append({"id": frame.get("id"), "data": frame.get("data")})
            self.log(f"{self.device_id}: message {frame.get('id')} {json.dumps(frame.get('data'))[:80]}")
        elif kind == "command":  # answered in a task of its own, so a slow reply blocks nothing
            task = asyncio.ensure_future(self._answer(sock, frame))
            answering.add(task)
            task.add_done_callback(answering.discard)
        else:
            self.log(f"{self.device_id}: {kind} {json.dumps(frame)[:120]}")

    async def _answer(self, sock, command):
        if self.reply_delay:
            await asyncio.sleep(self.reply_delay)
        with contextlib.suppress(websockets.ConnectionClosed):
            await sock.send(json.dumps(reply_frame(self.device_id, command)))
            self.answered.append(command["id"])
            self.log(f"{self.device_id}: command {command['id']} answered")

    async def stop(self):
        """Closes the socket (code 1000) and ends run()."""
        self._stop.set()
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._socket.close(), 3)


def _meaning(code):
    return {
        1000: ", normal",
        1006: ", connection lost",
        1011: ", server error",
        LAYER_FAILED_CLOSE_CODE: ", channel layer down",
    }.get(code, "")


def _describe(exc):
    if isinstance(exc, websockets.InvalidStatus):
        return f"handshake refused: HTTP {exc.response.status_code}"
    return f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__


async def run_devices(url, credentials, stop_event, reply_delay=0.0, log=print):
    """Runs one SimulatedDevice per (device_id, token) until stop_event is set; returns them."""
    devices = [SimulatedDevice(url, device_id, token, reply_delay, log) for device_id, token in credentials]
    tasks = [asyncio.ensure_future(device.run()) for device in devices]
    try:
        await stop_event.wait()
    finally:
        await asyncio.gather(*(device.stop() for device in devices), return_exceptions=True)
        await asyncio.wait(tasks, timeout=5)
        for task in tasks:
            task.cancel()
    return devices


def issue_devices(count, prefix="sim"):
    """Creates or re-tokens <prefix>-1..<prefix>-N in this process's database: [(device_id, token)]."""
    from devices.models import Device

    return [(f"{prefix}-{n}", Device.objects.issue(f"{prefix}-{n}")[1]) for n in range(1, count + 1)]
