"""REDIS_URL with three shards (issue 22): three real redis-servers on free loopback ports.

Direct sends to consumers' channels all arrive on the kit's layer, and are lost on stock
channels-redis 4.3 (channels_redis#221); group_sends arrive; every shard carries traffic; the fast
variant and step 3's design answer commands, pushes and the device list on three shards.
"""

import asyncio
import json
import random
import uuid

import httpx
import pytest
import redis as redis_py
import websockets
from channels_redis.core import RedisChannelLayer as StockLayer

from kit.layers import RedisChannelLayer as KitLayer
from kit.layers import hosts_from_url
from kit.serving import redis_service
from live_support import start_server

SENDS = 1000
RECEIVERS = 24  # layers, each its own process-local prefix (one per server process in real life)


@pytest.fixture(scope="module")
def shards():
    handles = []
    try:
        for _ in range(3):
            handles.append(redis_service.find_or_start(skip=("REDIS_URL", "localhost:6379")))
        yield handles
    finally:
        for handle in handles:
            handle.stop()


@pytest.fixture(scope="module")
def sharded_url(shards):
    return ",".join(handle.url for handle in shards)


def commands_processed(shards):
    return [redis_py.Redis.from_url(handle.url).info("stats")["total_commands_processed"] for handle in shards]


def layers_of(layer_class, url):
    """A maker of layers of layer_class on url's shards, all with one new prefix."""
    prefix, hosts = f"shard{uuid.uuid4().hex[:6]}", hosts_from_url(url)
    return lambda: layer_class(hosts=hosts, prefix=prefix, capacity=SENDS)


async def direct_sends(make_layer, count=SENDS):
    """`count` sends, from a layer of their own, to the channels of RECEIVERS other layers (each made by
    make_layer(), all on one prefix): -> how many were received within a few seconds."""
    receivers = [make_layer() for _ in range(RECEIVERS)]
    channels = [await layer.new_channel() for layer in receivers]
    received = 0

    async def listen(layer, channel):
        nonlocal received
        while True:
            await layer.receive(channel)
            received += 1

    listeners = [asyncio.ensure_future(listen(layer, channel)) for layer, channel in zip(receivers, channels)]
    sender = make_layer()
    try:
        for n in range(count):
            await sender.send(random.choice(channels), {"type": "test.message", "n": n})
        for _ in range(50):
            if received >= count:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.2)
    finally:
        for listener in listeners:
            listener.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
        for layer in (*receivers, sender):
            await layer.flush()
            await layer.close_pools()
    return received


async def test_1000_direct_sends_all_arrive_on_the_kits_layer(shards, sharded_url):
    before = commands_processed(shards)
    received = await direct_sends(layers_of(KitLayer, sharded_url))
    spread = [after - was for after, was in zip(commands_processed(shards), before)]
    print(f"\n[shards] kit layer: {received} of {SENDS} direct sends received; commands per shard {spread}")
    assert received == SENDS
    assert all(count > sum(spread) / 10 for count in spread), f"a shard carries (almost) nothing: {spread}"


async def test_the_same_sends_are_lost_on_stock_channels_redis(sharded_url):
    """channels_redis#221: send() hashes `specific.X!Y`, receive() `specific.X!`: about 2 in 3 lost."""
    received = await direct_sends(layers_of(StockLayer, sharded_url))
    print(f"\n[shards] stock channels-redis 4.3: {received} of {SENDS} direct sends received")
    assert received < SENDS * 0.8


async def test_1000_group_sends_arrive(shards, sharded_url):
    prefix = f"group{uuid.uuid4().hex[:6]}"
    hosts = hosts_from_url(sharded_url)
    receivers = [KitLayer(hosts=hosts, prefix=prefix, capacity=SENDS) for _ in range(RECEIVERS)]
    channels = [await layer.new_channel() for layer in receivers]
    for n, (layer, channel) in enumerate(zip(receivers, channels)):
        await layer.group_add(f"g{n}", channel)
    received = 0

    async def listen(layer, channel):
        nonlocal received
        while True:
            await layer.receive(channel)
            received += 1

    listeners = [asyncio.ensure_future(listen(layer, channel)) for layer, channel in zip(receivers, channels)]
    sender = KitLayer(hosts=hosts, prefix=prefix, capacity=SENDS)
    before = commands_processed(shards)
    try:
        for n in range(SENDS):
            await sender.group_send(f"g{random.randrange(RECEIVERS)}", {"type": "test.message", "n": n})
        for _ in range(50):
            if received >= SENDS:
                break
            await asyncio.sleep(0.1)
    finally:
        for listener in listeners:
            listener.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
        for layer in (*receivers, sender):
            await layer.flush()
            await layer.close_pools()
    spread = [after - was for after, was in zip(commands_processed(shards), before)]
    print(f"\n[shards] {received} of {SENDS} group_sends received; commands per shard {spread}")
    assert received == SENDS
    assert all(count > sum(spread) / 10 for count in spread), spread


@pytest.mark.parametrize("served", ["fast", "plain"])
async def test_the_contracts_command_push_and_presence_on_three_shards(shards, sharded_url, served):
    server = await asyncio.to_thread(start_server, sharded_url, fast=served == "fast")
    try:
        assert "on 3 shards" in server.log_tail()  # the start-up line names them
        key = await asyncio.to_thread(server.create_api_key, "shards")
        devices = {}
        for n in range(6):  # device groups spread over the shards
            device_id = f"sh-{n}"
            token = await asyncio.to_thread(server.create_device, device_id)
            devices[device_id] = await websockets.connect(
                f"{server.ws_url}/ws/devices/{device_id}/", additional_headers={"Authorization": f"Bearer {token}"}
            )
        async with httpx.AsyncClient(
            base_url=server.http_url, headers={"Authorization": f"Bearer {key}"}, timeout=20
        ) as api:
            online = set()
            for _ in range(50):
                online = {d["id"] for d in (await api.get("/api/devices/")).json() if d["online"]}
                if set(devices) <= online:
                    break
                await asyncio.sleep(0.1)
            assert set(devices) <= online
            for device_id, socket in devices.items():
                response = await api.post(f"/api/devices/{device_id}/messages/", json={"data": {"to": device_id}})
                assert response.status_code == 202, response.text
                frame = await asyncio.wait_for(socket.recv(), 5)
                assert f'"to": "{device_id}"' in frame

                async def answer(socket=socket, device_id=device_id):
                    command = json.loads(await asyncio.wait_for(socket.recv(), 5))
                    await socket.send(json.dumps({"type": "reply", "id": command["id"], "data": {"ok": device_id}}))

                replier = asyncio.ensure_future(answer())
                response = await api.post(f"/api/devices/{device_id}/commands/", json={"data": "ping", "timeout": 5})
                await replier
                assert response.status_code == 200, response.text
                assert response.json()["reply"] == {"ok": device_id}
            response = await api.post("/api/broadcast/", json={"data": "all"})
            assert response.status_code == 202
            for socket in devices.values():
                assert '"all"' in await asyncio.wait_for(socket.recv(), 5)
        for socket in devices.values():
            await socket.close()
    finally:
        await asyncio.to_thread(server.close)
