"""kit.harness.receive_fix: a receive() cancelled just as its message was popped loses nothing.

Without the fix, channels-redis loses such a message (django/channels_redis#366): in this sweep a few
of the ~45 cancelled receives lose theirs (1 to 7 in five runs). The sweep cancels the receive at every
point of the send's round trip (after 0, 1, 2, ... turns of the event loop), so it hits the window.
"""

import asyncio

from channels_redis.core import RedisChannelLayer

from kit.harness import receive_fix


async def lost_messages(redis_url):
    """-> (messages lost, receives cancelled before they returned their message)."""
    receiver, sender = RedisChannelLayer(hosts=[redis_url]), RedisChannelLayer(hosts=[redis_url])
    lost = cancelled = 0
    try:
        for turns in range(60):
            channel = await receiver.new_channel()
            receiving = asyncio.ensure_future(receiver.receive(channel))
            await asyncio.sleep(0.05)  # the receive is waiting in BZPOPMIN
            sending = asyncio.ensure_future(sender.send(channel, {"type": "test.message", "n": turns}))
            for _ in range(turns):
                await asyncio.sleep(0)
            receiving.cancel()
            await sending
            try:
                await receiving
                continue  # it got its message before the cancel: nothing to check
            except asyncio.CancelledError:
                cancelled += 1
            try:
                message = await asyncio.wait_for(receiver.receive(channel), 6)
                assert message["n"] == turns
            except asyncio.TimeoutError:
                lost += 1
    finally:
        await receiver.flush()
        await receiver.close_pools()
        await sender.close_pools()
    return lost, cancelled


async def test_a_cancelled_receive_loses_no_message(redis_url, monkeypatch):
    monkeypatch.setattr(RedisChannelLayer, "_brpop_with_clean", RedisChannelLayer._brpop_with_clean)  # undone after
    receive_fix.install()
    lost, cancelled = await lost_messages(redis_url)
    print(f"\n[receive fix] {cancelled} receives cancelled mid-flight, {lost} messages lost")
    assert cancelled > 10, "the sweep no longer cancels receives in flight: it tests nothing"
    assert lost == 0


def test_a_sockets_buffer_in_the_process_holds_at_least_local_buffer_and_logs_a_drop(redis_url, monkeypatch, caplog):
    """channels_redis#212: the per-socket buffer holds `capacity` messages and silently drops the oldest."""
    monkeypatch.setattr(RedisChannelLayer, "__init__", RedisChannelLayer.__init__)  # undone after
    receive_fix.install()
    layer = RedisChannelLayer(hosts=[redis_url], capacity=3)
    buffer = layer.receive_buffer["specific.abc!xyz"]
    for number in range(receive_fix.LOCAL_BUFFER):
        buffer.put_nowait(number)
    assert buffer.qsize() == receive_fix.LOCAL_BUFFER and "buffer is full" not in caplog.text
    buffer.put_nowait("one more")
    assert buffer.get_nowait() == 1  # the oldest went, and the log says so
    assert "buffer is full" in caplog.text


async def test_a_message_popped_a_second_time_is_dropped(redis_url, monkeypatch):
    """After a Sentinel failover the replica may not have seen a pop: the same bytes (12 random ones in
    each send) come out of the inbox again. The receive that waited the failover out must not get them."""
    import redis.asyncio

    monkeypatch.setattr(RedisChannelLayer, "_brpop_with_clean", RedisChannelLayer._brpop_with_clean)  # undone after
    receive_fix.install()
    layer = RedisChannelLayer(hosts=[redis_url])
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        channel = await layer.new_channel()
        inbox = layer.prefix + layer.non_local_name(channel)
        await layer.send(channel, {"type": "test.message", "n": 1})
        (member,) = await client.zrange(inbox, 0, -1)
        assert (await layer.receive(channel))["n"] == 1
        await client.zadd(inbox, {member: 1})  # as the promoted replica still holds it
        await layer.send(channel, {"type": "test.message", "n": 2})
        assert (await asyncio.wait_for(layer.receive(channel), 5))["n"] == 2  # n 1 again was dropped
    finally:
        await layer.flush()
        await layer.close_pools()
        await client.aclose()
