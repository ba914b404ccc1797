"""The failover drill (issue 23): pushes through the HTTP API at a steady rate, each carrying a sequence
number, to devices connected to two server processes, while a Sentinel shard's primary is SIGKILLed
(how="kill") or a SENTINEL FAILOVER is forced (how="force"). The test (tests/kit/test_sentinel.py),
`make bench`'s failover section and notebook 05d run it; kit/bench/failover_report.py reads its figures.

    figures = await run_drill("fast", "kill", Size(before=1.0, after=6.0))   # starts and stops everything

Devices reconnect at once when the server closes them, as real clients do. A publisher does not retry.
"""

import asyncio
import json
import time
from dataclasses import dataclass

import httpx
import websockets

from kit.bench.failover_report import figures_of
from kit.serving import sentinel_set
from kit.serving.cluster import Cluster

SERVED = {  # what the drill serves: the fast variant, step 3's design (core layer), step 3's design on pub/sub
    "fast": {"fast": True, "env": {}},
    "plain": {"fast": False, "env": {"CHANNEL_LAYER": "core"}},
    "pubsub": {"fast": False, "env": {"CHANNEL_LAYER": "pubsub"}},
}
PRESENCE = {"PRESENCE_HEARTBEAT_SECONDS": "0.5", "PRESENCE_TTL_SECONDS": "2"}  # presence right within seconds
REQUEST_TIMEOUT = 10.0  # a publisher waiting longer than this is a hang


@dataclass
class Size:
    before: float = 2.0  # seconds of pushes before the kill
    after: float = 8.0  # and after it
    rate: float = 0.02  # seconds between two pushes
    devices: int = 4


async def run_drill(served, how, size=None, password=None):
    """A Sentinel set and two servers of their own, the drill, everything stopped: -> its figures."""
    size = size or Size()
    with sentinel_set.running(shards=1, password=password) as sentinels:
        options = SERVED[served]
        cluster = Cluster(sentinels.url, env={**PRESENCE, **options["env"]}, fast=options["fast"])
        await asyncio.to_thread(cluster.start)
        try:
            return await drill(sentinels, cluster.servers, how == "force", size)
        finally:
            await asyncio.to_thread(cluster.stop)


async def drill(sentinels, servers, force=False, size=None):
    """The drill on a started set and two started servers: -> its figures (kit/bench/failover_report.py)."""
    size, shard = size or Size(), sentinels.shards[0]
    key = await asyncio.to_thread(servers[0].create_api_key, "drill")
    device_ids = [f"drill-{n}" for n in range(size.devices)]
    tokens = {device_id: await asyncio.to_thread(servers[0].create_device, device_id) for device_id in device_ids}
    received, closes, reconnected, sockets, done = {}, [], [], {}, asyncio.Event()

    async def connect(device_id):
        server = servers[int(device_id.rsplit("-", 1)[1]) % 2]
        sockets[device_id] = await websockets.connect(
            f"{server.ws_url}/ws/devices/{device_id}/",
            additional_headers={"Authorization": f"Bearer {tokens[device_id]}"},
            open_timeout=5,
        )

    async def listen(device_id):
        while not done.is_set():
            socket = sockets[device_id]
            try:
                async for frame in socket:
                    message = json.loads(frame)
                    if message.get("type") == "message" and isinstance(message.get("data"), dict):
                        received.setdefault(message["data"]["seq"], []).append(time.monotonic())
            except websockets.ConnectionClosed:
                pass
            if done.is_set():
                return
            closes.append((device_id, socket.close_code, time.monotonic()))
            while not done.is_set():  # reconnect every 0.2 s until a server takes it again
                await asyncio.sleep(0.2)
                try:
                    await connect(device_id)
                    reconnected.append((device_id, time.monotonic()))
                    break
                except (OSError, asyncio.TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed):
                    continue

    for device_id in tokens:
        await connect(device_id)
    listeners = [asyncio.ensure_future(listen(device_id)) for device_id in tokens]
    clients = [
        httpx.AsyncClient(base_url=server.http_url, headers={"Authorization": f"Bearer {key}"}, timeout=REQUEST_TIMEOUT)
        for server in servers
    ]
    answers, kill = {}, {}  # seq -> (status, Retry-After, body, sent at, answered at)

    async def push(seq, device_id, client):
        sent = time.monotonic()
        try:
            response = await client.post(f"/api/devices/{device_id}/messages/", json={"data": {"seq": seq}})
            body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
            answers[seq] = (response.status_code, response.headers.get("Retry-After"), body, sent, time.monotonic())
        except httpx.TimeoutException:
            answers[seq] = ("hang", None, {}, sent, time.monotonic())
        except httpx.HTTPError as exc:
            answers[seq] = (exc.__class__.__name__, None, {}, sent, time.monotonic())

    async def killer():
        await asyncio.sleep(size.before)
        kill["port"], kill["at"] = shard.primary_port(), time.monotonic()
        await asyncio.to_thread(shard.force_failover if force else shard.kill_primary)
        called = time.monotonic()
        promoted = await asyncio.to_thread(shard.wait_for_promotion, kill["port"], 20)
        kill["promoted"] = None if promoted is None else called - kill["at"] + promoted  # seconds after the kill

    pushes, killing, start, seq = [], asyncio.ensure_future(killer()), time.monotonic(), 0
    online = set()
    try:
        while time.monotonic() - start < size.before + size.after:
            device_id = f"drill-{seq % size.devices}"
            pushes.append(asyncio.ensure_future(push(seq, device_id, clients[(seq // size.devices) % 2])))
            seq += 1
            await asyncio.sleep(size.rate)
        await asyncio.wait_for(asyncio.gather(*pushes), REQUEST_TIMEOUT + 5)
        await asyncio.wait_for(killing, 30)
        await asyncio.sleep(2)  # the last deliveries
        for _ in range(30):  # presence, bounded: rows are refreshed every 0.5 s
            online = {d["id"] for d in (await clients[1].get("/api/devices/")).json() if d["online"]}
            if set(sockets) == online:
                break
            await asyncio.sleep(0.2)
    finally:
        done.set()
        closed_by_server = list(closes)  # before the drill closes them itself
        for client in clients:
            await client.aclose()
        for socket in sockets.values():
            await socket.close()
        for listener in [*listeners, killing]:
            listener.cancel()
        await asyncio.gather(*listeners, killing, return_exceptions=True)
    return figures_of(answers, received, kill, closed_by_server, reconnected, online, sorted(sockets), force)
