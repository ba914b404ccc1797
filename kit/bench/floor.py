"""The floor: a bare ASGI app, no Django, no channel layer. An HTTP request pushes straight onto
the sockets held in this process, so whatever the kit costs above this is Django + the layer.

Same frames and routes as the kit's devices, minus auth and presence:
  WS   /ws/devices/<id>/        receives {"type": "message"|"command", "id", "data"}, replies {"type": "reply", ...}
  POST /push/<id>/              {"data": ...} -> 202 {"id", "online"}
  POST /broadcast/              {"data": ...} -> 202 {"id", "online"}
  POST /command/<id>/           {"data": ..., "timeout": s} -> 200 {"id", "reply"} | 409 | 504
`Routes` says how a frame reaches its sockets: here in-process; kit/bench/floor_redis.py sends it
through Redis pub/sub instead, with everything else the same. Each frame is serialized once.
"""

import asyncio
import json
import uuid

waiting = {}  # command id -> future resolved with the reply's data, as JSON text


async def write_to(sends, text):
    for send in list(sends):
        try:
            await send({"type": "websocket.send", "text": text})
        except (OSError, RuntimeError):  # the socket closed meanwhile (uvicorn raises, daphne drops it)
            pass


class Routes:
    """In-process delivery: the HTTP request writes straight to this process's sockets."""

    def __init__(self):
        self.sockets = {}  # device id -> {send callable of each open socket}

    async def connected(self, device_id, send):
        self.sockets.setdefault(device_id, set()).add(send)

    async def disconnected(self, device_id, send):
        self.sockets.get(device_id, set()).discard(send)

    async def deliver(self, device_id, text, command_id=None):
        """device_id None: every socket. -> how many sockets got it (a command goes to one)."""
        if device_id is None:
            targets = [send for group in self.sockets.values() for send in group]
        else:
            targets = list(self.sockets.get(device_id, ()))[: 1 if command_id else None]
        await write_to(targets, text)
        return len(targets)

    async def replied(self, command_id, data_text):
        future = waiting.pop(command_id, None)
        if future and not future.done():
            future.set_result(data_text)


def make_application(routes):
    async def application(scope, receive, send):
        if scope["type"] == "websocket":
            await device_socket(routes, scope, receive, send)
        elif scope["type"] == "http":
            await http_request(routes, scope, receive, send)

    return application


async def device_socket(routes, scope, receive, send):
    parts = scope["path"].strip("/").split("/")
    if len(parts) != 3 or parts[:2] != ["ws", "devices"]:
        await receive()
        await send({"type": "websocket.close", "code": 4404})
        return
    device_id = parts[2]
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await routes.connected(device_id, send)
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.receive":
            frame = json.loads(message.get("text") or "{}")
            if frame.get("type") == "reply":
                await routes.replied(frame.get("id"), json.dumps(frame.get("data")))
        elif message["type"] == "websocket.disconnect":
            await routes.disconnected(device_id, send)
            return


async def http_request(routes, scope, receive, send):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    parts = scope["path"].strip("/").split("/")
    try:
        status, answer = await route(routes, parts, json.loads(body or b"{}"))
    except (ValueError, KeyError, TypeError):
        status, answer = 400, json.dumps({"error": "bad request"})
    raw = answer.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": raw})


def frame(kind, frame_id, data):
    return json.dumps({"type": kind, "id": frame_id, "data": data})


async def route(routes, parts, payload):
    """-> (status, answer as JSON text)."""
    frame_id = uuid.uuid4().hex
    if parts == ["broadcast"]:
        online = await routes.deliver(None, frame("message", frame_id, payload["data"]))
        return 202, json.dumps({"id": frame_id, "online": online})
    if len(parts) == 2 and parts[0] == "push":
        online = await routes.deliver(parts[1], frame("message", frame_id, payload["data"]))
        return 202, json.dumps({"id": frame_id, "online": bool(online)})
    if len(parts) == 2 and parts[0] == "command":
        future = waiting[frame_id] = asyncio.get_running_loop().create_future()
        if not await routes.deliver(parts[1], frame("command", frame_id, payload["data"]), command_id=frame_id):
            waiting.pop(frame_id, None)
            return 409, json.dumps({"error": "device is offline"})
        try:
            reply = await asyncio.wait_for(future, float(payload.get("timeout", 5)))
        except asyncio.TimeoutError:
            waiting.pop(frame_id, None)
            return 504, json.dumps({"error": "no reply in time"})
        return 200, f'{{"id": "{frame_id}", "reply": {reply}}}'  # the reply's JSON, not decoded again
    return 404, json.dumps({"error": "unknown route"})


application = make_application(Routes())
