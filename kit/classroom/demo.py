"""`make demo DEMO_ARGS=--classroom`: where the demo listens, what it switches on, and what it prints.

plan() decides the address students reach (given, or found by kit.classroom.lan) and where the server
listens: every interface (0.0.0.0) for a real LAN address, so the instructor's own localhost works too,
with the gate (gate.py) serving only the allowed Hosts; exactly the address when it is a loopback one
(a rehearsal on one machine, as the tests run it on 127.0.0.2).
"""

from dataclasses import dataclass

from kit.classroom import HOST_VARIABLE, lan, qr


@dataclass
class Classroom:
    host: str  # what students type (the join URL's host)
    bind: str  # where the server listens
    discovered: bool = True  # False: no LAN interface was found (host is then loopback)

    @property
    def env(self):
        return {HOST_VARIABLE: self.host}

    def banner(self, server):
        """The join URL, its QR code, the projector's and the instructor's pages."""
        join = lan.join_url(self.host, server.port)
        base = f"http://{lan.url_host(self.host)}:{server.port}"
        lines = [
            "Classroom mode (DEBUG off; only these Hosts are served: " + ", ".join(lan.allowed_hosts(self.host)) + ")",
            f"  Students join at   {join}",
            f"  Projector page     {base}/classroom/",
            f"  Students, remove   {base}/classroom/students/   (signed in as the instructor)",
            f"  Listening on       {self.bind}:{server.port}",
            *lan.advice(None if not self.discovered else self.host, server.port, self.discovered),
        ]
        return "\n".join(lines) + "\n" + qr.terminal_text(join)


def plan(given_host=None, bind=None, probe=lan.default_route_address):
    """The classroom for --classroom-host given_host (else the address found), and where to listen."""
    host = given_host or lan.discover(probe)
    discovered = host is not None
    host = host or "127.0.0.1"  # nothing reachable from outside: the instructor can still rehearse alone
    if bind is None:
        bind = host if lan.is_loopback(host) else "0.0.0.0"
    return Classroom(host=host, bind=bind, discovered=discovered)
