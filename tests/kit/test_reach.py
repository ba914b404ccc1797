"""A group_send that reached no server process says so (issue 23, kit/primary.py, mysite/overload.py).

PUBLISH answers how many server processes got the message. The kit's pub/sub layers (step 3's design on
pub/sub, and the fast variant's) log a `reached_nobody` record when it is 0 and no member is local; the
API request being served counts it (mysite/overload.py) and answers 503 with Retry-After when the device
is online or the shard saw a failover within FAILOVER_SECONDS (the failover drill shows it end to end:
tests/kit/test_sentinel.py). Here, on one Redis: the records, and when they say "failing over".
"""

import sys
import time

import pytest

from kit import PROJECT_DIR
from kit.fast.layer import OutsideLayer
from kit.layers import RedisPubSubChannelLayer, hosts_from_url

if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from mysite import overload  # noqa: E402


@pytest.fixture(params=["pubsub", "fast"])
async def layer(request, redis_url):
    kind = RedisPubSubChannelLayer if request.param == "pubsub" else OutsideLayer
    made = kind(hosts=hosts_from_url(redis_url), prefix=f"reach{time.monotonic_ns()}")
    made._agreed = True  # a prefix of its own: no server's record to agree with
    yield made
    await made.flush()


@pytest.fixture(autouse=True)
def counted():
    """The project's LOGGING puts CountDrops on the kit.primary logger (kit/harness/settings.py): the same here."""
    import logging

    logger, counter = logging.getLogger("kit.primary"), overload.CountDrops()
    level, logger.level = logger.level, logging.DEBUG
    logger.addFilter(counter)
    yield
    logger.removeFilter(counter)
    logger.setLevel(level)


async def test_a_group_send_nobody_subscribes_to_is_counted(layer):
    with overload.counting() as drops:
        await layer.group_send("device_nobody", {"type": "device.message", "id": "1", "data": 1})
    assert drops.reached_nobody == [layer._get_layer()._get_group_channel_name("device_nobody")]


async def test_a_group_send_a_process_subscribes_to_is_not_counted(layer, redis_url):
    other = type(layer)(hosts=hosts_from_url(redis_url), prefix=layer._get_layer().prefix)
    other._agreed = True
    try:
        channel = await other.new_channel()
        await other.group_add("device_here", channel)
        with overload.counting() as drops:
            await layer.group_send("device_here", {"type": "device.message", "id": "1", "data": 1})
        assert drops.reached_nobody == []
        assert (await other.receive(channel))["data"] == 1
    finally:
        await other.flush()


async def test_right_after_a_failed_publish_nobody_means_failing_over(layer):
    loop_layer = layer._get_layer()
    shard = loop_layer._get_shard(loop_layer._get_group_channel_name("device_nobody"))
    shard.troubled_at = time.monotonic()  # as a failed PUBLISH or a new primary leaves it
    with overload.counting() as drops:
        await layer.group_send("device_nobody", {"type": "device.message", "id": "1", "data": 1})
    assert drops.reached_nobody == ["failing over"]  # the API answers 503 even for a device shown offline
