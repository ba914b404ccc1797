"""Presence when one of two server processes (one Redis, one database) is SIGKILLed without running
disconnect: its rows are no longer refreshed and expire after the TTL; they come back when it restarts.
(Pushes, commands and presence across two healthy processes: tests/project/test_scaling.py.)"""

import time

import pytest

from live_support import (
    FAST_PRESENCE,
    api_client,
    fleet,
    issue_devices,
    none_online,
    online_map,
    start_server,
    wait_until,
)


@pytest.fixture(scope="module")
def servers(redis):
    first = start_server(redis.url)
    second = None
    try:
        second = start_server(redis.url, db_path=first.db_path)  # same database file, same Redis
        yield first, second
    finally:
        for live in (first, second):
            if live:
                live.stop()


async def test_a_killed_servers_devices_expire_and_come_back_when_it_restarts(servers):
    a, b = servers
    key = a.create_api_key("kill-test")
    credentials = issue_devices(a, 2, "killed")
    async with api_client(b, key) as api_b, fleet(a, credentials) as devices:
        assert await _all_online(api_b, credentials)
        a.kill()  # SIGKILL: no disconnect handler, the DeviceConnection rows stay behind
        killed_at = time.monotonic()
        await wait_until(lambda: none_online(api_b, credentials), 10, "B to see A's devices expire")
        expired_after = time.monotonic() - killed_at
        response = await api_b.post(f"/api/devices/{credentials[0][0]}/commands/", json={"data": 1})
        assert response.status_code == 409

        a.start()  # same port: the simulated devices find it again by themselves
        restarted_at = time.monotonic()
        await wait_until(lambda: all(d.online.is_set() for d in devices), 20, "devices to reconnect to A")
        await wait_until(lambda: _all_online(api_b, credentials), 5, "B to see them online again")
        response = await api_b.post(f"/api/devices/{credentials[1][0]}/commands/", json={"data": "again"})
        assert response.status_code == 200
        back_after = time.monotonic() - restarted_at
    ttl = float(FAST_PRESENCE["PRESENCE_TTL_SECONDS"])
    print(
        f"\n[presence figures] server SIGKILLed: its devices shown offline by the other process after "
        f"{expired_after:.2f} s (TTL {ttl:g} s); back online {back_after:.2f} s after its restart"
    )


async def _all_online(api, credentials):
    online = await online_map(api)
    return all(online[d] for d, _ in credentials)
