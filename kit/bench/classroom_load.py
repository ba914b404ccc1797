"""A class of students on one server (issue 24): each joins, keeps a chat socket and a phone device open.

A broadcast must reach every phone, and a chat message every chat socket. Printed: the share delivered,
the delivery p50 and p99 (from just before the send to each frame's arrival, stamped where its bytes
arrive, by the bench's lean clients: their own cost stays small), and the server's memory before the class
connected and with it connected. Students join as a browser does (join page, the ticket exchanged for the
token); the phones present the token as the subprotocol `bearer.<token>`.

    python -m kit.bench.classroom_load [--students 60] [--rounds 20] [--plain]
"""

import argparse
import asyncio
import json
import re
import time
import uuid

import httpx

from kit.bench.client import HttpClient
from kit.bench.device_client import DeviceClient
from kit.bench.measure import percentile, rss
from kit.classroom import HOST_VARIABLE
from kit.serving.live_server import LiveServer

HOST = "127.0.0.2"  # stands in for the LAN address: loopback, so no traffic leaves this machine
ROOM = "lobby"
FOUND = re.compile(r'<script id="join-(ticket|device)" type="application/json">"(.*?)"</script>')


def classroom_server(redis_url, fast=True, **env):
    """A LiveServer in classroom mode listening on HOST only (DEBUG off); not started."""
    return LiveServer(
        redis_url=redis_url,
        layer_prefix=f"class{uuid.uuid4().hex[:8]}",
        host=HOST,
        fast=fast,
        env={HOST_VARIABLE: HOST, "PRESENCE_HEARTBEAT_SECONDS": "2", "PRESENCE_TTL_SECONDS": "6", **env},
    )


class ChatClient(DeviceClient):
    """A chat socket, on the same lean client: stamps each "<name>: #<seq>" message's arrival."""

    def _message(self, text, now):
        frame = json.loads(text)
        if "error" in frame:
            self.errors.append(frame["error"])
        elif (found := re.search(r"#(\d+)$", frame.get("message", ""))) is not None:
            self.arrivals[int(found[1])] = now
            self.received += 1
        self.changed.set()


class DashboardClient(DeviceClient):
    """The instructor dashboard's socket: stamps each result frame's arrival by its ref."""

    def _message(self, text, now):
        frame = json.loads(text)
        if frame.get("type") == "result" and isinstance(frame.get("ref"), int):
            self.arrivals[frame["ref"]] = now
            self.received += 1
        elif frame.get("type") == "error":
            self.errors.append(frame.get("error"))
        self.changed.set()


async def command_every_phone(server, cookie, devices):
    """From the dashboard, a command to every phone at once (as its "every student's phone" does):
    each one's delay until its reply came back (None: no reply)."""
    dashboard = DashboardClient(f"{server.ws_url}/ws/dashboard/", {"Origin": server.http_url, "Cookie": cookie})
    await dashboard.open()
    try:
        started = time.perf_counter()
        for ref, device in enumerate(devices):
            dashboard.send(json.dumps({"action": "command", "device": device, "data": "ready?", "ref": ref}))
        arrived = await asyncio.gather(
            *(dashboard.wait_for_seq(ref) for ref in range(len(devices))), return_exceptions=True
        )
        return [None if isinstance(at, BaseException) else at - started for at in arrived], dashboard.errors
    finally:
        await dashboard.close()


async def join(server, name, limit):
    """One student joins: (session cookie, device id, token)."""
    async with limit, httpx.AsyncClient(base_url=server.http_url, timeout=30) as browser:
        await browser.get("/classroom/join/")
        form = {"name": name, "csrfmiddlewaretoken": browser.cookies["csrftoken"]}
        found = dict(FOUND.findall((await browser.post("/classroom/join/", data=form)).text))
        answer = await browser.post("/classroom/exchange/", json={"ticket": found["ticket"], "device": found["device"]})
        return f"sessionid={browser.cookies['sessionid']}", found["device"], answer.json()["token"]


async def deliveries(clients, seq, started):
    """Each client's delay for frame seq (None for a client it did not reach within the timeout)."""
    arrived = await asyncio.gather(*(client.wait_for_seq(seq) for client in clients), return_exceptions=True)
    return [None if isinstance(at, BaseException) else at - started for at in arrived]


def summary(delays):
    reached = [delay for delay in delays if delay is not None]
    return {
        "delivered": len(reached),
        "expected": len(delays),
        "p50_ms": percentile(reached, 0.5) * 1000 if reached else None,
        "p99_ms": percentile(reached, 0.99) * 1000 if reached else None,
    }


async def measure(server, api_key, students=60, rounds=20, gap=0.2, instructor_cookie=None):
    """The class joins, connects, then `rounds` broadcasts and `rounds` chat messages, one at a time; with
    the instructor's session cookie, then a command to every phone at once from the dashboard."""
    limit = asyncio.Semaphore(10)
    joined = await asyncio.gather(*(join(server, f"Student {n}", limit) for n in range(students)))
    memory_before = rss(server.process.pid)
    phones = [
        DeviceClient(f"{server.ws_url}/ws/devices/{device}/", {"Sec-WebSocket-Protocol": f"bearer.{token}"})
        for _cookie, device, token in joined
    ]
    chats = [
        ChatClient(f"{server.ws_url}/ws/chat/{ROOM}/", {"Origin": server.http_url, "Cookie": cookie})
        for cookie, _device, _token in joined
    ]
    await asyncio.gather(*(client.open() for client in phones + chats))
    api = HttpClient(HOST, server.port, {"Authorization": f"Bearer {api_key}"})
    broadcast, chat = [], []
    try:
        for seq in range(rounds):
            started = time.perf_counter()
            status, _answer = await api.post("/api/broadcast/", {"data": {"seq": seq}})
            broadcast += await deliveries(phones, seq, started) if status == 202 else [None] * students
            await asyncio.sleep(gap)
        for seq in range(rounds):  # each message from the next student: nobody near the rate limit
            started = time.perf_counter()
            chats[seq % students].send(json.dumps({"message": f"#{seq}"}))
            chat += await deliveries(chats, seq, started)
            await asyncio.sleep(gap)
        commands, command_errors = [], []
        if instructor_cookie:
            commands, command_errors = await command_every_phone(server, instructor_cookie, [d for _, d, _ in joined])
        memory_with = rss(server.process.pid)
    finally:
        await api.close()
        await asyncio.gather(*(client.close() for client in phones + chats))
    return {
        "students": students,
        "broadcast_to_phones": summary(broadcast),
        "chat_to_browsers": summary(chat),
        "server_rss_before_mib": memory_before / 2**20,
        "server_rss_with_class_mib": memory_with / 2**20,
        "errors": [error for client in phones + chats for error in client.errors] + command_errors,
        **({"dashboard_command_to_phones": summary(commands)} if instructor_cookie else {}),
    }


def report(figures):
    lines = [f"A class of {figures['students']} (chat socket and phone each), one server process:"]
    parts = {
        "broadcast_to_phones": "broadcast -> every phone",
        "chat_to_browsers": "chat -> every tab",
        "dashboard_command_to_phones": "command every phone, reply",
    }
    for key, what in parts.items():
        if key not in figures:
            continue
        part = figures[key]
        lines.append(
            f"  {what:26} {part['delivered']}/{part['expected']} delivered, "
            f"p50 {part['p50_ms']:.1f} ms, p99 {part['p99_ms']:.1f} ms"
        )
    lines.append(
        f"  server memory              {figures['server_rss_before_mib']:.1f} MiB before, "
        f"{figures['server_rss_with_class_mib']:.1f} MiB with the class connected"
    )
    return "\n".join(lines)


def main(argv=None):
    from kit.serving import redis_service

    parser = argparse.ArgumentParser(prog="python -m kit.bench.classroom_load", description=__doc__)
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--plain", action="store_true", help="step 3's design on daphne, not the fast variant")
    args = parser.parse_args(argv)
    with redis_service.running(quiet=True) as redis, classroom_server(redis.url, fast=not args.plain) as server:
        figures = asyncio.run(measure(server, server.create_api_key("load"), args.students, args.rounds))
    print(report(figures))


if __name__ == "__main__":
    main()
