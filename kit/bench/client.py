"""The bench's clients: a lean keep-alive HTTP/1.1 client and a device socket that timestamps frames.

The HTTP client is a few lines over asyncio streams rather than httpx, so that the client's own
cost stays small next to the floor's; the same clients measure all three systems.
"""
import asyncio
import json
import time

import websockets

TIMEOUT = 10  # seconds: no single request or frame is waited for longer


class HttpClient:
    """One persistent connection; requests are sequential (one in flight)."""

    def __init__(self, host, port, headers=None):
        self.host, self.port = host, port
        self.headers = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self.reader = self.writer = None

    async def _open(self):
        self.reader, self.writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), TIMEOUT)

    async def post(self, path, payload):
        return await self.request("POST", path, payload)

    async def get(self, path):
        return await self.request("GET", path)

    async def request(self, method, path, payload=None):
        """-> (status, JSON body). Reconnects once if the server closed the kept-alive connection."""
        body = b"" if payload is None else json.dumps(payload).encode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n{self.headers}\r\n").encode()
        for attempt in (1, 2):
            if self.writer is None:
                await self._open()
            try:
                self.writer.write(head + body)
                return await asyncio.wait_for(self._read_response(), TIMEOUT)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                await self.close()
                if attempt == 2:
                    raise ConnectionError(f"{method} {path}: {exc!r}") from exc

    async def _read_response(self):
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if "content-length" in headers:
            raw = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            raw = b""
            while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
                raw += (await self.reader.readexactly(size + 2))[:-2]
            await self.reader.readuntil(b"\r\n")
        else:
            raw = await self.reader.read()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, json.loads(raw or b"null")

    async def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = self.reader = None


class DeviceClient:
    """One device socket. A reader task stamps each frame's arrival by its data["seq"] and
    answers commands at once, as a well-behaved device does."""

    def __init__(self, url, headers=None):
        self.url, self.headers = url, headers
        self.sock = self.task = None
        self.arrivals = {}  # seq -> perf_counter() at arrival
        self.changed = asyncio.Event()

    async def open(self):
        self.sock = await asyncio.wait_for(
            websockets.connect(self.url, additional_headers=self.headers, open_timeout=TIMEOUT,
                               close_timeout=2, max_queue=None, compression=None),
            TIMEOUT)
        self.task = asyncio.create_task(self._read())
        return self

    async def _read(self):
        try:
            async for text in self.sock:
                now = time.perf_counter()
                frame = json.loads(text)
                if frame.get("type") == "command":
                    await self.sock.send(json.dumps({"type": "reply", "id": frame["id"], "data": frame.get("data")}))
                    continue
                data = frame.get("data")
                if isinstance(data, dict) and "seq" in data:
                    self.arrivals[data["seq"]] = now
                self.changed.set()
        except websockets.ConnectionClosed:
            pass

    async def wait_for_seq(self, seq, timeout=TIMEOUT):
        deadline = time.perf_counter() + timeout
        while seq not in self.arrivals:
            self.changed.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"frame {seq} did not arrive within {timeout} s")
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass
        return self.arrivals[seq]

    async def close(self):
        if self.sock is not None:
            try:
                await asyncio.wait_for(self.sock.close(), 3)
            except (asyncio.TimeoutError, OSError, websockets.WebSocketException):
                self.sock.transport.abort()
        if self.task is not None:
            self.task.cancel()
