"""In a notebook: a step not written yet says so in plain words instead of a traceback.

A starter copy's stub raises NotImplementedError("TODO step N, ...") in the server, which refuses
the WebSocket handshake or closes the socket (kit/harness/guards.py) and logs one line. In the kernel
that shows up as a refused handshake, a closed socket or a frame that never comes. install()
makes IPython answer those errors with one short message, plus the server's "not done yet" lines
when it has any. The cell still counts as failed (nbclient sees the error as usual).
"""

import asyncio

NOT_DONE_MARK = "not done yet"


def server_lines(servers):
    """The 'not done yet' lines of the servers' logs (the last three)."""
    lines = []
    for server in servers:
        lines += [line for line in server.log_tail(200).splitlines() if NOT_DONE_MARK in line]
    return lines[-3:]


def explain(error, servers=()):
    """A short, plain explanation of a network error raised in a notebook cell."""
    kind = type(error).__name__
    if isinstance(error, NotImplementedError):  # a starter stub ran in this kernel (e.g. a communicator test)
        return f"Not done yet: {error}"
    if kind == "InvalidStatus":
        status = getattr(getattr(error, "response", None), "status_code", "?")
        what = f"The server refused the WebSocket handshake (HTTP {status})."
    elif "ConnectionClosed" in kind:
        what = f"The server closed the WebSocket ({error})."
    elif isinstance(error, (asyncio.TimeoutError, TimeoutError)):
        what = "Nothing arrived in time: the server did not answer."
    else:
        what = f"{kind}: {error}"
    todo = server_lines(servers)
    if todo:
        return what + "\nA step is not done yet? The server's latest such lines:\n  " + "\n  ".join(todo)
    return what + "\n(If this step is written, check the server's log: server.log_tail())"


def install(servers):
    """Registers the short messages with IPython (does nothing outside IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    import websockets

    def handler(shell, etype, value, tb, tb_offset=None):
        print(explain(value, servers))
        return []

    shell.set_custom_exc(
        (
            websockets.InvalidStatus,
            websockets.ConnectionClosed,
            asyncio.TimeoutError,
            TimeoutError,
            NotImplementedError,
        ),
        handler,
    )
