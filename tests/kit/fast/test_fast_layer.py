"""The fast variant's channel layer (kit/fast/layer.py) against a real Redis: one inbox per process
instead of a SUBSCRIBE per channel, idle channels forgotten, presence from Redis's subscriber
counts, bounded queues. Two layer instances stand for two server processes."""

import asyncio
import logging
import uuid

import pytest
import redis.asyncio as aioredis

from kit.fast import layer as fast_layer
from kit.fast.layer import BoundedPubSubChannelLayer
from kit.fast.local_queue import LocalQueue


@pytest.fixture
def prefix():
    return f"fastlayer{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def layers(redis_url, prefix):
    made = [BoundedPubSubChannelLayer(hosts=[redis_url], prefix=prefix, capacity=5) for _ in range(2)]
    yield made
    for made_layer in made:
        await made_layer.flush()


async def subscribed_channels(redis_url, prefix):
    client = aioredis.from_url(redis_url)
    try:
        return sorted(name.decode() for name in await client.pubsub_channels(f"{prefix}*"))
    finally:
        await client.aclose()


async def test_new_channels_share_one_subscription_and_messages_find_their_channel(layers, redis_url, prefix):
    server, other = layers
    channels = [await server.new_channel() for _ in range(50)]
    assert len(await subscribed_channels(redis_url, prefix)) == 1, "one inbox per process, not one per channel"
    assert all("!" in channel for channel in channels)
    for number, channel in enumerate(channels):
        await other.send(channel, {"type": "test.message", "n": number})
    received = [await asyncio.wait_for(server.receive(channel), 2) for channel in channels]
    assert received == [{"type": "test.message", "n": number} for number in range(50)]


async def test_a_channel_received_on_once_is_forgotten_when_idle(layers, monkeypatch):
    """The library keeps a command's reply channel subscribed forever after its one receive; here it
    is forgotten after IDLE_SECONDS, and a late message for it is dropped, not kept."""
    server, other = layers
    monkeypatch.setattr(fast_layer, "IDLE_SECONDS", 0.2)
    loop_layer = server._get_layer()
    replies = []
    for number in range(20):  # twenty commands' reply channels
        reply_channel = await server.new_channel()
        await other.send(reply_channel, {"type": "device.reply", "n": number})
        replies.append((reply_channel, await asyncio.wait_for(server.receive(reply_channel), 2)))
    assert [reply["n"] for _, reply in replies] == list(range(20))
    assert len(loop_layer.channels) == 20
    await asyncio.sleep(0.3)
    kept = await server.new_channel()  # sweeps (at most once per IDLE_SECONDS)
    assert list(loop_layer.channels) == [kept]
    await other.send(replies[0][0], {"type": "device.reply", "late": True})  # nobody waits: dropped
    await other.send(kept, {"type": "device.reply", "n": "kept"})
    assert (await asyncio.wait_for(server.receive(kept), 2))["n"] == "kept"
    assert list(loop_layer.channels) == [kept]


async def test_a_channel_being_received_on_is_never_forgotten(layers, monkeypatch):
    server, other = layers
    monkeypatch.setattr(fast_layer, "IDLE_SECONDS", 0.1)
    waiting_channel = await server.new_channel()
    waiting = asyncio.ensure_future(server.receive(waiting_channel))
    await asyncio.sleep(0.25)
    await server.new_channel()  # sweeps
    await other.send(waiting_channel, {"type": "test.message", "n": 1})
    assert (await asyncio.wait_for(waiting, 2))["n"] == 1


async def test_group_subscribers_counts_processes_across_them(layers):
    first, second = layers
    assert await second.group_subscribers("device_lamp") == 0
    channel = await first.new_channel()
    await first.group_add("device_lamp", channel)
    assert await first.group_subscribers("device_lamp") == 1  # a member here: no need to ask Redis
    assert await second.group_subscribers("device_lamp") == 1  # asked Redis: one process subscribes
    second_channel = await second.new_channel()
    await second.group_add("device_lamp", second_channel)
    assert await first._get_layer()._get_shard("x").subscribers(f"{first._get_layer().prefix}__group__device_lamp") == 2
    await first.group_discard("device_lamp", channel)
    await second.group_discard("device_lamp", second_channel)
    assert await first.group_subscribers("device_lamp") == 0


async def test_concurrent_group_sends_all_arrive(layers):
    """PUBLISH goes over the client's pool without the library's per-shard lock: 200 at once."""
    server, other = layers
    channel = await server.new_channel()
    await server.group_add("many", channel)
    loop_layer = server._get_layer()
    loop_layer.capacity = 1000
    loop_layer.channels[channel] = LocalQueue(1000)
    await asyncio.gather(*(other.group_send("many", {"type": "test.message", "n": number}) for number in range(200)))
    received = [(await asyncio.wait_for(server.receive(channel), 2))["n"] for _ in range(200)]
    assert sorted(received) == list(range(200))


async def test_a_full_queue_drops_and_logs(layers, caplog):
    caplog.set_level(logging.INFO, "kit.fast.layer")
    server, other = layers
    channel = await server.new_channel()
    await server.group_add("slow", channel)
    for number in range(8):  # capacity 5
        await other.group_send("slow", {"type": "test.message", "n": number})
    await asyncio.sleep(0.3)
    received = [(await asyncio.wait_for(server.receive(channel), 2))["n"] for _ in range(5)]
    assert received == [0, 1, 2, 3, 4]
    assert "message dropped" in caplog.text


async def test_local_queue_bound_order_and_cancelled_getters():
    queue = LocalQueue(2)
    queue.put_nowait("a")
    queue.put_nowait("b")
    with pytest.raises(asyncio.QueueFull):
        queue.put_nowait("c")
    assert [await queue.get(), await queue.get()] == ["a", "b"] and queue.empty()
    cancelled = asyncio.ensure_future(queue.get())
    waiting = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    cancelled.cancel()
    queue.put_nowait("d")
    assert await asyncio.wait_for(waiting, 1) == "d"
    queue.put_nowait("e")  # a getter cancelled after being woken leaves its item for the next
    late = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert await asyncio.wait_for(late, 1) == "e" and queue.qsize() == 0


async def test_a_group_send_reaches_each_member_once_here_at_once_and_elsewhere_through_redis(layers):
    """This process's members get a group_send without Redis (even with this process's subscription
    gone, as in the moment after Redis restarted), and not a second time when Redis echoes it back;
    the other process's members get it through Redis, once."""
    here, elsewhere = layers
    mine, theirs = await here.new_channel(), await elsewhere.new_channel()
    await here.group_add("room", mine)
    await elsewhere.group_add("room", theirs)
    await here.group_send("room", {"type": "test.message", "n": 1})
    assert (await asyncio.wait_for(here.receive(mine), 2))["n"] == 1
    assert (await asyncio.wait_for(elsewhere.receive(theirs), 2))["n"] == 1
    for layer, channel in ((here, mine), (elsewhere, theirs)):
        waiting = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(0.3)
        assert not waiting.done(), "a member got the same group_send twice"
        waiting.cancel()
    mine = await here.new_channel()  # (the cancelled receive dropped the last one, as the library does)
    await here.group_add("room", mine)
    loop_layer = here._get_layer()
    group_channel = loop_layer._get_group_channel_name("room")
    await loop_layer._get_shard(group_channel)._pubsub.unsubscribe(group_channel)  # as if Redis had restarted
    await here.group_send("room", {"type": "test.message", "n": 2})
    assert (await asyncio.wait_for(here.receive(mine), 2))["n"] == 2


async def test_a_send_to_this_process_s_own_channel_needs_no_redis(redis_url, prefix):
    layer = BoundedPubSubChannelLayer(hosts=[redis_url], prefix=prefix)
    try:
        reply_channel = await layer.new_channel()
        shard = layer._get_layer()._shards[0]

        async def no_redis(*args):
            raise AssertionError("went through Redis")

        shard.publish = no_redis
        await layer.send(reply_channel, {"type": "device.reply", "data": 1})
        assert await asyncio.wait_for(layer.receive(reply_channel), 1) == {"type": "device.reply", "data": 1}
    finally:
        await layer.flush()


async def test_a_group_left_while_redis_was_away_is_not_subscribed_again_when_it_is_back(redis, prefix):
    """With Redis away, leaving a group cannot reach Redis: no error for the leaving consumer, and
    when Redis is back the reconnect subscribes again only to what is still listened on (else
    PUBSUB NUMSUB would go on counting this process for a device that left)."""
    layer, outside = (BoundedPubSubChannelLayer(hosts=[redis.url], prefix=prefix) for _ in range(2))
    try:
        staying, leaving = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("device_staying", staying)
        await layer.group_add("device_leaving", leaving)
        redis.kill()
        await layer.group_discard("device_leaving", leaving)
        redis.restart()
        deadline = asyncio.get_running_loop().time() + 15
        while await outside.group_subscribers("device_staying") == 0:  # the reader reconnected
            assert asyncio.get_running_loop().time() < deadline, "never subscribed again after Redis came back"
            await asyncio.sleep(0.2)
        assert await outside.group_subscribers("device_leaving") == 0
    finally:
        await layer.flush()
        await outside.flush()
