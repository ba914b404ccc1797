"""The bench's lean clients, written on raw asyncio protocols: no task per socket, no library's
frame machinery, so the client's own CPU per delivery stays small next to any server's (the
bench prints it). The same clients measure every system; the device socket is in device_client.py.

    client = HttpClient("127.0.0.1", port, headers)        # one kept-alive HTTP/1.1 connection
    status, answer = await client.post("/push/d1/", {"data": {"seq": 1}})
"""

import asyncio
import json

TIMEOUT = 10  # seconds: no single request, handshake or frame is waited for longer


def split_head(buffer):
    """-> (status, {header: value}, length of the head) once buffer holds a whole head, else None."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, end + 4


def chunked_body(buffer, start):
    """-> (body, end) once buffer holds the whole chunked body from start, else None."""
    body, position = b"", start
    while (line_end := buffer.find(b"\r\n", position)) >= 0:
        size = int(bytes(buffer[position:line_end]).split(b";")[0], 16)
        if size == 0:
            return (body, line_end + 4) if len(buffer) >= line_end + 4 else None
        if len(buffer) < line_end + 2 + size + 2:
            return None
        body += bytes(buffer[line_end + 2 : line_end + 2 + size])
        position = line_end + 2 + size + 2
    return None


class HttpClient(asyncio.Protocol):
    """One persistent connection, one request in flight; reconnects once if the server closed it."""

    def __init__(self, host, port, headers=None):
        self.host, self.port = host, port
        self.headers = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self.transport, self.buffer, self.answer = None, bytearray(), None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buffer += data
        if self.answer is None or self.answer.done() or not (head := split_head(self.buffer)):
            return
        status, headers, start = head
        if "content-length" in headers:
            end = start + int(headers["content-length"])
            if len(self.buffer) < end:
                return
            body = bytes(self.buffer[start:end])
        elif headers.get("transfer-encoding") == "chunked":
            if not (found := chunked_body(self.buffer, start)):
                return
            body, end = found
        else:
            return  # the body ends when the connection does (connection_lost)
        del self.buffer[:end]
        self.answer.set_result((status, json.loads(body or b"null")))
        if headers.get("connection", "").lower() == "close":
            self.transport.close()

    def connection_lost(self, exc):
        self.transport = None
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(ConnectionError(f"connection closed: {exc!r}"))

    async def post(self, path, payload):
        return await self.request("POST", path, payload)

    async def get(self, path):
        return await self.request("GET", path)

    async def request(self, method, path, payload=None):
        """-> (status, JSON body)."""
        body = b"" if payload is None else json.dumps(payload).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{self.headers}\r\n"
        ).encode()
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            if self.transport is None or self.transport.is_closing():
                self.buffer.clear()
                await asyncio.wait_for(loop.create_connection(lambda: self, self.host, self.port), TIMEOUT)
            self.answer = loop.create_future()
            self.transport.write(head + body)
            try:
                return await asyncio.wait_for(self.answer, TIMEOUT)
            except ConnectionError:
                if attempt == 2:
                    raise

    async def close(self):
        if self.transport is not None:
            self.transport.close()
