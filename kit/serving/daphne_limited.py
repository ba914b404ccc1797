"""daphne, with three limits it does not have itself: `python -m kit.serving.daphne_limited` takes daphne's arguments.

- A header timeout: a connection that has not sent a complete request head within
  HEADER_TIMEOUT_SECONDS is closed (408). daphne starts its own http_timeout only once the request
  is complete, and Twisted's 60 s idle timeout restarts with every byte, so a client trickling
  one header byte a minute held its connection (and a file descriptor) for ever.
- A per-socket send limit: when more than SEND_LIMIT_BYTES wait unsent for a WebSocket client
  (it does not read), further frames are dropped and the socket is closed with SLOW_READER_CODE,
  aborted after ABORT_GRACE_SECONDS if the close handshake cannot get through. daphne buffers
  without bound, so one such client made the server's memory grow with every push.
- A close frame on shutdown: on SIGTERM, every open WebSocket gets a close frame with 1001 (going
  away) and up to CLOSE_GRACE_SECONDS to answer, so its consumer's disconnect() runs. daphne
  cancels the consumers and drops the connections, which clients see as 1006.

The kit's LiveServer (tests, notebooks, the grader, `make demo`) runs this; plain `daphne` and
`manage.py runserver` do not have these limits (README, "Limits and capacity").
"""

import logging

from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import defer, reactor, task

from kit.serving.limits import (
    ABORT_GRACE_SECONDS,
    CLOSE_GRACE_SECONDS,
    GOING_AWAY,
    HEADER_TIMEOUT_SECONDS,
    SEND_LIMIT_BYTES,
    SLOW_READER_CODE,
)

log = logging.getLogger(__name__)


def unsent_bytes(transport):
    """Bytes a Twisted TCP transport holds for a peer that has not read them yet."""
    buffered = len(getattr(transport, "dataBuffer", b"")) - getattr(transport, "offset", 0)
    return buffered + getattr(transport, "_tempDataLen", 0)


class LimitedWebSocketProtocol(WebSocketProtocol):
    """daphne's WebSocket protocol with a cap on what waits unsent for one client."""

    def serverSend(self, content, binary=False):
        """Sends a frame, unless the client already has SEND_LIMIT_BYTES unread: then closes it."""
        if self.state in (self.STATE_CLOSING, self.STATE_CLOSED):
            return  # closing for being slow: the consumer's later frames go nowhere
        if self.state == self.STATE_OPEN and unsent_bytes(self.transport) > SEND_LIMIT_BYTES:
            log.warning(
                "closing %s with %s: the client left %d bytes unread (limit %d)",
                self.request.path,
                SLOW_READER_CODE,
                unsent_bytes(self.transport),
                SEND_LIMIT_BYTES,
            )
            self.sendClose(code=SLOW_READER_CODE, reason="too much unread data")
            reactor.callLater(ABORT_GRACE_SECONDS, self.abort_if_open)
            return
        super().serverSend(content, binary)

    def abort_if_open(self):
        """The close frame sits behind the unread data: drop the connection and its buffer."""
        if self.state != self.STATE_CLOSED and self.transport is not None:
            self.transport.abortConnection()


def cut_if_no_head(protocol):
    """Closes a connection whose first request head is still incomplete (a slow client)."""
    channel = getattr(protocol, "_channel", protocol)  # the wrapper Twisted returns has no transport
    if getattr(channel, "kit_head_received", False) or not channel.transport or channel.transport.disconnected:
        return
    channel.transport.write(b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    channel.transport.loseConnection()


class HeaderTimeoutHTTPFactory(HTTPFactory):
    def buildProtocol(self, addr):
        """daphne's protocol, marked once its first request head is complete; cut if it is not in time."""
        protocol = super().buildProtocol(addr)
        channel = getattr(protocol, "_channel", protocol)  # Twisted wraps the HTTP/1.1 channel
        received = channel.allHeadersReceived

        def mark_and_continue():
            channel.kit_head_received = True
            received()

        channel.allHeadersReceived = mark_and_continue
        reactor.callLater(HEADER_TIMEOUT_SECONDS, cut_if_no_head, protocol)
        return protocol


class KitServer(Server):
    """daphne's Server with the factories above, and close frames before it stops."""

    @property
    def http_factory(self):
        return self._http_factory

    @http_factory.setter
    def http_factory(self, factory):  # Server.run builds daphne's: use ours, same arguments
        self._http_factory = HeaderTimeoutHTTPFactory(factory.server)

    @property
    def ws_factory(self):
        return self._ws_factory

    @ws_factory.setter
    def ws_factory(self, factory):
        factory.protocol = LimitedWebSocketProtocol
        self._ws_factory = factory

    def kill_all_applications(self):
        """Runs before the reactor stops: close frames first, then daphne's cancellation."""
        sockets = [
            protocol
            for protocol in self.connections
            if isinstance(protocol, WebSocketProtocol) and protocol.state == protocol.STATE_OPEN
        ]
        for protocol in sockets:
            # sendCloseFrame: autobahn's sendClose admits only 1000 and 3000-4999 (application codes).
            protocol.sendCloseFrame(code=GOING_AWAY, reasonUtf8=b"server shutting down")
        waited = self.until_closed(sockets) if sockets else defer.succeed(None)
        return waited.addCallback(lambda _: super(KitServer, self).kill_all_applications())

    @defer.inlineCallbacks
    def until_closed(self, sockets):
        """Waits (at most CLOSE_GRACE_SECONDS) for the clients to answer the close frames and
        for their consumers to finish disconnect()."""
        for _ in range(int(CLOSE_GRACE_SECONDS * 20)):
            if all(protocol.state == protocol.STATE_CLOSED and self.application_done(protocol) for protocol in sockets):
                break
            yield task.deferLater(reactor, 0.05, lambda: None)

    def application_done(self, protocol):
        instance = self.connections.get(protocol, {}).get("application_instance")
        return instance is None or instance.done()


class KitCommandLine(CommandLineInterface):
    server_class = KitServer


if __name__ == "__main__":  # `python -m`: serve with the module imported by its name, so its logger is named for it
    from kit.serving.daphne_limited import KitCommandLine as Imported

    Imported.entrypoint()
