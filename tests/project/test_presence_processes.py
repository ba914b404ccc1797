"""Presence shared by two server processes (one Redis, one database), and after a server is
SIGKILLed without running disconnect: its rows are no longer refreshed and expire after the TTL."""
import time

import pytest

from step4_support import (FAST_PRESENCE, api_client, fleet, issue_devices, online_map, start_server,
                           wait_until)


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


async def test_presence_and_commands_across_two_server_processes(servers):
    a, b = servers
    key = a.manage("create_api_key", "two-servers").splitlines()[-1].strip()
    (on_a, token_a), (on_b, token_b) = issue_devices(a, 2, "proc")
    async with api_client(a, key) as api_a, api_client(b, key) as api_b, \
            fleet(a, [(on_a, token_a)]) as (device_a,), fleet(b, [(on_b, token_b)]) as (device_b,):
        for api in (api_a, api_b):  # either process sees both devices online
            online = await online_map(api)
            assert online[on_a] and online[on_b]
        # A command through B reaches the device on A; the reply finds its way back through Redis.
        response = await api_b.post(f"/api/devices/{on_a}/commands/", json={"data": {"via": "b"}})
        assert response.status_code == 200
        assert response.json()["reply"] == {"ok": True, "device": on_a, "echo": {"via": "b"}}
        response = await api_a.post(f"/api/devices/{on_b}/messages/", json={"data": "from a"})
        assert response.status_code == 202 and response.json()["online"] is True
        await wait_until(lambda: [m["data"] for m in device_b.messages] == ["from a"], 5, "the push via A")

        await device_b.stop()  # a clean close on B: A's API sees it at once
        await wait_until(lambda: _is_offline(api_a, on_b), 5, "A to see B's device go offline")
        response = await api_a.post(f"/api/devices/{on_b}/commands/", json={"data": 1})
        assert response.status_code == 409


async def _is_offline(api, device_id):
    return not (await online_map(api))[device_id]


async def test_a_killed_servers_devices_expire_and_come_back_when_it_restarts(servers):
    a, b = servers
    key = a.manage("create_api_key", "kill-test").splitlines()[-1].strip()
    credentials = issue_devices(a, 2, "killed")
    async with api_client(b, key) as api_b, fleet(a, credentials) as devices:
        assert await _all_online(api_b, credentials)
        a.kill()  # SIGKILL: no disconnect handler, the DeviceConnection rows stay behind
        killed_at = time.monotonic()
        await wait_until(lambda: _none_online(api_b, credentials), 10, "B to see A's devices expire")
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
    print(f"\n[presence figures] server SIGKILLed: its devices shown offline by the other process after "
          f"{expired_after:.2f} s (TTL {ttl:g} s); back online {back_after:.2f} s after its restart")


async def _none_online(api, credentials):
    online = await online_map(api)
    return not any(online[d] for d, _ in credentials)


async def _all_online(api, credentials):
    online = await online_map(api)
    return all(online[d] for d, _ in credentials)
