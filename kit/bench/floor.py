# kit/bench/floor.py
"""The floor: a bare ASGI app, no Django, no channel layer. An HTTP request pushes straight onto
the sockets held in this process, so whatever the kit costs above this is Django + the layer.

Same frames and routes as the kit's devices, minus auth and presence:
  WS   /ws/devices/<id>/        receives {"type": "message"|"command", "id", "data"}, replies {"type": "reply", ...}
  POST /push/<id>/              {"data": ...} -> 202 {"id", "online"}
  POST /broadcast/              {"data": ...} -> 202 {"id", "online"}
  POST /command/<id>/           {"data": ..., "timeout": s} -> 200 {"id", "reply"} | 409 | 504
Served by daphne, like the other two, so the server is not what differs.
"""
import asyncio
import json
import uuid

sockets = {}  # device id -> {send callable of each open socket}
waiting = {}  # command id -> future resolved by the device's reply


async def application(scope, receive, send):
    if scope["type"] == "websocket":
        await device_socket(scope, receive, send)
    elif scope["type"] == "http":
        await http_request(scope, receive, send)


async def device_socket(scope, receive, send):
    parts = scope["path"].strip("/").split("/")
    if len(parts) != 3 or parts[:2] != ["ws", "devices"]:
        await receive()
        await send({"type": "websocket.close", "code": 4404})
        return
    device_id = parts[2]
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
            sockets.setdefault(device_id, set()).add(send)
        elif message["type"] == "websocket.receive":
            frame = json.loads(message.get("text") or "{}")
            future = waiting.pop(frame.get("id"), None)
            if frame.get("type") == "reply" and future and not future.done():
                future.set_result(frame.get("data"))
        elif message["type"] == "websocket.disconnect":
            sockets.get(device_id, set()).discard(send)
            return


async def push(targets, kind, data, frame_id):
    text = json.dumps({"type": kind, "id": frame_id, "data": data})
    for send in list(targets):
        await send({"type": "websocket.send", "text": text})


async def http_request(scope, receive, send):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    parts = scope["path"].strip("/").split("/")
    try:
        payload = json.loads(body or b"{}")
        status, answer = await route(parts, payload)
    except (ValueError, KeyError, TypeError):
        status, answer = 400, {"error": "bad request"}
    raw = json.dumps(answer).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]})
    await send({"type": "http.response.body", "body": raw})


async def route(parts, payload):
    frame_id = uuid.uuid4().hex
    if parts == ["broadcast"]:
        targets = [s for group in sockets.values() for s in group]
        await push(targets, "message", payload["data"], frame_id)
        return 202, {"id": frame_id, "online": sum(1 for group in sockets.values() if group)}
    if len(parts) == 2 and parts[0] == "push":
        targets = sockets.get(parts[1], set())
        await push(targets, "message", payload["data"], frame_id)
        return 202, {"id": frame_id, "online": bool(targets)}
    if len(parts) == 2 and parts[0] == "command":
        targets = sockets.get(parts[1])
        if not targets:
            return 409, {"error": "device is offline"}
        future = waiting[frame_id] = asyncio.get_running_loop().create_future()
        await push(list(targets)[:1], "command", payload["data"], frame_id)
        try:
            return 200, {"id": frame_id, "reply": await asyncio.wait_for(future, float(payload.get("timeout", 5)))}
        except asyncio.TimeoutError:
            waiting.pop(frame_id, None)
            return 504, {"error": "no reply in time"}
    return 404, {"error": "unknown route"}
