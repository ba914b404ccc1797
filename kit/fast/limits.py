"""uvicorn's protocols with the three limits kit/serving/daphne_limited.py adds to daphne, for the fast variant.

- A header timeout: a connection whose first request head is not complete within
  HEADER_TIMEOUT_SECONDS gets 408 and is closed. uvicorn has a keep-alive timeout between requests,
  none for a request head trickling in a byte at a time.
- A per-socket send limit: when more than SEND_LIMIT_BYTES wait unsent for a WebSocket client (it
  does not read), further frames are dropped and the socket is closed with SLOW_READER_CODE, aborted
  after ABORT_GRACE_SECONDS if the close frame cannot get through. uvicorn would instead make the
  consumer's send() wait (at 64 KiB), and the consumer's events pile up behind it.
- A close frame on shutdown: 1001 (going away) as kit.serving.daphne_limited sends, instead of uvicorn's 1012
  (service restart); uvicorn then waits for the clients to answer and the consumers to finish.

The same settings as kit.serving.daphne_limited: KIT_HEADER_TIMEOUT_SECONDS, KIT_SEND_LIMIT_BYTES.
"""

import logging
import re

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from kit.serving.limits import (
    ABORT_GRACE_SECONDS,
    GOING_AWAY,
    HEADER_TIMEOUT_SECONDS,
    SEND_LIMIT_BYTES,
    SLOW_READER_CODE,
)

log = logging.getLogger(__name__)
# The transport pauses the sender only past this: the send limit decides first (one frame can be 1 MiB).
WRITE_BUFFER_HIGH = SEND_LIMIT_BYTES + 2 * 2**20


LINGER_SECONDS = 5  # how long a closed request's unread body is still read (and dropped)
# A token (RFC 9110) that llhttp, httptools's parser, does not know as a method: 405 like Django's views.
METHOD_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32} \S+ HTTP/1\.[01]\r?\n")
SECURITY_HEADERS = (  # what Django's SecurityMiddleware gives step 3's design (kit/fast/api.py adds the same)
    b"x-content-type-options: nosniff\r\nreferrer-policy: same-origin\r\ncross-origin-opener-policy: same-origin\r\n"
    b"x-frame-options: DENY\r\n"
)


class LingeringTransport:
    """The connection's transport as uvicorn's request cycle sees it, with one change: closing it while
    the client is still sending the request's body (a 413 answered before the body is read, a
    `Connection: close` request) first shuts down writing and goes on reading, so the client reads the
    response instead of a reset: the lingering close of RFC 9112 9.6. uvicorn closes at once, and
    the client's next write of the body gets a reset that discards the unread response."""

    def __init__(self, transport, protocol):
        self._transport, self._protocol = transport, protocol
        self.lingering = False

    def __getattr__(self, name):
        return getattr(self._transport, name)

    def is_closing(self):
        return self.lingering or self._transport.is_closing()

    def close(self):
        cycle = self._protocol.cycle
        if self.lingering or self._transport.is_closing():
            return
        if cycle is None or not cycle.more_body or not self._transport.can_write_eof():
            self._transport.close()
            return
        self.lingering = True
        self._transport.write_eof()  # the response is out: the client sees its end
        self._transport.resume_reading()
        self._protocol.loop.call_later(LINGER_SECONDS, self._transport.close)

    def body_done(self):
        if self.lingering:
            self._transport.close()


class HeaderTimeoutHttpToolsProtocol(HttpToolsProtocol):
    head_received = False
    head_timer = None

    def connection_made(self, transport):
        super().connection_made(LingeringTransport(transport, self))
        self.head_timer = self.loop.call_later(HEADER_TIMEOUT_SECONDS, self.cut_if_no_head)

    def data_received(self, data):
        if self.transport.is_closing():
            return  # lingering: the rest of a body nobody reads
        if self.cycle is None or self.cycle.response_complete:  # a request begins: its line, for 405 below
            self._first_bytes = bytes(data[:256])
        super().data_received(data)

    def send_400_response(self, msg):
        """uvicorn answers 400 to what its parser rejects; a well-formed request line whose method llhttp
        does not know (FOO) gets 405 instead, as Django's views answer it on step 3's design."""
        line = getattr(self, "_first_bytes", b"")
        if METHOD_TOKEN.match(line):
            method = line.split(b" ", 1)[0].decode("ascii")
            body = ('{"error": "method %s not allowed"}' % method).encode()
            self.transport.write(
                b"HTTP/1.1 405 Method Not Allowed\r\ncontent-type: application/json\r\n"
                + SECURITY_HEADERS
                + b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(body)
                + body
            )
            self.transport.close()
            return
        super().send_400_response(msg)

    def on_message_complete(self):
        super().on_message_complete()
        self.transport.body_done()

    def on_headers_complete(self):
        self.head_received = True
        self.cancel_head_timer()
        super().on_headers_complete()

    def connection_lost(self, exc):
        self.cancel_head_timer()
        super().connection_lost(exc)

    def cancel_head_timer(self):
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def cut_if_no_head(self):
        """Closes a connection whose first request head is still incomplete (a slow client)."""
        self.head_timer = None
        if not self.head_received and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            self.transport.close()


class LimitedWebSocketProtocol(WebSocketsSansIOProtocol):
    def connection_made(self, transport):
        super().connection_made(transport)
        transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH)

    async def send(self, message):
        """Sends a frame, unless the client already has SEND_LIMIT_BYTES unread: then closes it."""
        if message["type"] == "websocket.send" and self.handshake_complete and not self.disconnected:
            if self.close_sent:
                return  # closed for being slow: the consumer's later frames go nowhere
            unsent = self.transport.get_write_buffer_size()
            if unsent > SEND_LIMIT_BYTES:
                log.warning(
                    "closing %s with %s: the client left %d bytes unread (limit %d)",
                    self.scope.get("path"),
                    SLOW_READER_CODE,
                    unsent,
                    SEND_LIMIT_BYTES,
                )
                await super().send(
                    {"type": "websocket.close", "code": SLOW_READER_CODE, "reason": "too much unread data"}
                )
                self.loop.call_later(ABORT_GRACE_SECONDS, self.abort_if_open)
                return
        await super().send(message)

    def abort_if_open(self):
        """The close frame sits behind the unread data: drop the connection and its buffer."""
        if not self.disconnected:
            self.transport.abort()

    def shutdown(self):
        """uvicorn's shutdown, with 1001 (going away) where it sends 1012."""
        if self.close_sent or not self.handshake_complete:
            return super().shutdown()
        self.stop_keepalive()
        self.queue.put_nowait({"type": "websocket.disconnect", "code": GOING_AWAY})
        self.conn.send_close(GOING_AWAY, "server shutting down")
        self.transport.write(b"".join(self.conn.data_to_send()))
