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


class HeaderTimeoutHttpToolsProtocol(HttpToolsProtocol):
    head_received = False
    head_timer = None

    def connection_made(self, transport):
        super().connection_made(transport)
        self.head_timer = self.loop.call_later(HEADER_TIMEOUT_SECONDS, self.cut_if_no_head)

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
