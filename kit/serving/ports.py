"""Local ports: one free now, or whether a given one is.

Only the standard library, so that `make doctor` can use it before anything is installed.
"""

import socket


def free_port(host="127.0.0.1"):
    """A port no one listens on now (another process may still take it before you bind it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(port, host="127.0.0.1"):
    """True if a server could listen on host:port now (port 0: any free port)."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
            return True
        except OSError:
            return False
