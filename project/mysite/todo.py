# project/mysite/todo.py
"""A step not written yet: the starter copy's stubs raise NotImplementedError("TODO ...").

TodoGuard wraps the WebSocket consumers, so such a stub refuses the handshake (or closes the
socket with code 4501) and logs one line saying what is left to write, instead of a traceback.
The HTTP API answers 501 with the same words (mysite/api.py).
"""
import contextlib
import logging

log = logging.getLogger("kit.todo")
NOT_DONE_CLOSE_CODE = 4501  # 4000-4999 are the application's own codes; reads "501, not implemented"


class TodoGuard:
    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        try:
            await self.inner(scope, receive, send)
        except NotImplementedError as exc:
            log.warning("not done yet, %s closed: %s", scope.get("path"), exc)
            with contextlib.suppress(Exception):  # before accept this refuses the handshake (403)
                await send({"type": "websocket.close", "code": NOT_DONE_CLOSE_CODE})
