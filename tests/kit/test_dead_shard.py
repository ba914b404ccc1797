"""A dead shard costs only its own groups (issue 23, goal 5): three real redis-servers, one killed, pushes
through the HTTP API to devices whose groups live on each shard; then the shard comes back.

Measured and printed; asserted: no 500, no hang, publishers to the dead shard's devices get 503 (with
Retry-After) within 5 s. On the fast variant also: the other shards' devices keep full delivery, and
after the shard returns every device gets its pushes again within RECOVERY_BOUND, without a restart.
Not on step 3's design (the core layer), printed only: a server process's own inbox lives on one shard,
so when that shard dies every device of that process loses its pushes, answered 202 (their sockets
close with 4503 and reconnect in a loop); and group memberships live in the shard's Redis, so a shard
that returns empty has forgotten the groups of devices that stayed connected (0 pushes until they
reconnect).
"""

import asyncio
import json
import time
import uuid
from collections import Counter

import httpx
import pytest
import websockets
from channels_redis.utils import _consistent_hash

from kit.serving import redis_service
from live_support import start_server

DEVICES = 9
REQUEST_TIMEOUT = 10.0
RECOVERY_BOUND = 15.0  # after the shard returns: every device gets a push again within this, no restart


@pytest.fixture
def shards():
    handles = []
    try:
        for _ in range(3):
            handles.append(redis_service.find_or_start(skip=("REDIS_URL", "localhost:6379")))
        yield handles
    finally:
        for handle in handles:
            handle.stop()


def shard_of(device_id, prefix, fast):
    group = f"device_{device_id}"
    return _consistent_hash(f"{prefix}__group__{group}" if fast else group, 3)


async def until_every_device_receives(api, sockets, received, bound):
    """Probe pushes every 0.3 s to each device that has not had one yet; -> True once all have (bounded)."""
    waiting, deadline, n = set(sockets), time.monotonic() + bound, 0
    while waiting and time.monotonic() < deadline:
        n += 1
        for device in list(waiting):
            if any(seq in received for seq in (f"probe-{device}-{k}" for k in range(n))):
                waiting.discard(device)
                continue
            with_seq = {"data": {"seq": f"probe-{device}-{n}"}}
            try:
                await api.post(f"/api/devices/{device}/messages/", json=with_seq)
            except httpx.TimeoutException:
                pass
        await asyncio.sleep(0.3)
    return not waiting


async def pushes_to_all(api, sockets, received, rounds, label):
    """`rounds` pushes to each device; -> {device: Counter(status)}, {device: delivered count}."""
    statuses = {device: Counter() for device in sockets}
    sent = {device: [] for device in sockets}
    for n in range(rounds):
        for device in sockets:
            seq = f"{label}-{device}-{n}"
            started = time.monotonic()
            try:
                response = await api.post(f"/api/devices/{device}/messages/", json={"data": {"seq": seq}})
                status = response.status_code
                if status == 503:
                    assert response.headers.get("Retry-After"), "a 503 without Retry-After"
                    assert time.monotonic() - started < 5.5, "a 503 later than 5 s"
            except httpx.TimeoutException:
                status = "hang"
            statuses[device][str(status)] += 1
            if status == 202:
                sent[device].append(seq)
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.5)
    delivered = {device: sum(1 for seq in sent[device] if seq in received) for device in sockets}
    return statuses, delivered, {device: len(seqs) for device, seqs in sent.items()}


@pytest.mark.parametrize("served", ["fast", "plain"])
async def test_a_dead_shard_costs_only_its_own_groups(shards, served):
    url = ",".join(handle.url for handle in shards)
    prefix = f"dead{uuid.uuid4().hex[:6]}"
    fast = served == "fast"
    server = await asyncio.to_thread(start_server, url, fast=fast, layer_prefix=prefix)
    received, closes, tokens, sockets = set(), [], {}, {}
    done = asyncio.Event()
    try:
        key = await asyncio.to_thread(server.create_api_key, "dead")
        for n in range(DEVICES):
            tokens[f"ds-{n}"] = await asyncio.to_thread(server.create_device, f"ds-{n}")
        where = {device: shard_of(device, server.layer_prefix, fast) for device in tokens}

        async def connect(device):
            sockets[device] = await websockets.connect(
                f"{server.ws_url}/ws/devices/{device}/",
                additional_headers={"Authorization": f"Bearer {tokens[device]}"},
                open_timeout=5,
            )

        async def listen(device):
            while not done.is_set():
                try:
                    async for frame in sockets[device]:
                        message = json.loads(frame)
                        if message.get("type") == "message" and isinstance(message.get("data"), dict):
                            received.add(message["data"]["seq"])
                except websockets.ConnectionClosed:
                    pass
                if done.is_set():
                    return
                closes.append((device, sockets[device].close_code))
                while not done.is_set():  # reconnect as real clients do
                    await asyncio.sleep(0.2)
                    try:
                        await connect(device)
                        break
                    except (OSError, asyncio.TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed):
                        continue

        for device in tokens:
            await connect(device)
        listeners = [asyncio.ensure_future(listen(device)) for device in tokens]
        await asyncio.sleep(0.5)
        dead = shards[where["ds-0"]]
        dead_index = where["ds-0"]
        async with httpx.AsyncClient(
            base_url=server.http_url, headers={"Authorization": f"Bearer {key}"}, timeout=REQUEST_TIMEOUT
        ) as api:
            await asyncio.to_thread(dead.kill)
            await asyncio.sleep(0.5)
            down = await pushes_to_all(api, sockets, received, 10, "down")
            await asyncio.to_thread(dead.restart)
            restarted = time.monotonic()
            recovered = await until_every_device_receives(api, sockets, received, RECOVERY_BOUND)
            recovery_s = time.monotonic() - restarted
            back = await pushes_to_all(api, sockets, received, 5, "back")
        done.set()
        for listener in listeners:
            listener.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
    finally:
        done.set()
        for socket in sockets.values():
            await socket.close()
        await asyncio.to_thread(server.close)
    print(f"\n[dead shard: {served}] shard {dead_index} killed; devices by shard {where}")
    for label, (statuses, delivered, accepted) in (("while dead", down), ("after restart", back)):
        for device in tokens:
            print(
                f"  {label:14} {device} (shard {where[device]}): {dict(statuses[device])}, "
                f"{delivered[device]} of {accepted[device]} accepted delivered"
            )
    print(f"  every device received again {recovery_s:.1f} s after the shard returned: {recovered}")
    print(f"  sockets closed by the server: {len(closes)} ({Counter(code for _, code in closes)})")
    all_statuses = Counter()
    for statuses, _, _ in (down, back):
        for counter in statuses.values():
            all_statuses.update(counter)
    assert "500" not in all_statuses and "hang" not in all_statuses, all_statuses
    statuses, delivered, accepted = down
    for device in tokens:
        if where[device] == dead_index:
            assert statuses[device].get("503", 0) > 0, (device, statuses[device])
        elif fast:
            assert statuses[device] == Counter({"202": 10}) and delivered[device] == 10, (device, statuses[device])
    if not fast:
        # Step 3's design: the core layer keeps group memberships in the shard's Redis. A shard that returns
        # empty (a restart without persistence) has forgotten them, and a device still connected never
        # joins again: its pushes are answered 202 and lost until it reconnects. Recovered only when the
        # dead shard held the server's own inbox too (its sockets were closed with 4503 and reconnected).
        print(f"  NOT ASSERTED on step 3's design: recovery (recovered={recovered}); see the docstring")
        return
    assert recovered, f"not every device received a push within {RECOVERY_BOUND} s of the shard's return"
    statuses, delivered, accepted = back
    for device in tokens:
        assert statuses[device] == Counter({"202": 5}) and delivered[device] == 5, (device, statuses[device])
