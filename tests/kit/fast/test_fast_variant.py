"""The fast variant (kit/fast/, what compose's web, `make demo` and the bench's "kit" serve) keeps
the promises where it differs from step 3's design: real uvicorn, real Redis, real sockets.

The contract's other tests run against it with KIT_SERVED=fast (kit/fast/serve.py says how).
Figures (time to 503, to refusal, memory) are printed; only the contract's own bounds are asserted.
"""

import asyncio
import json
import os
import socket
import time
import urllib.error
import urllib.request
from unittest import mock

import httpx
import psutil
import pytest

from kit.bench.client import HttpClient
from kit.bench.device_client import DeviceClient
from live_support import api_client, assert_no_traceback, issue_devices, start_server, wait_until


@pytest.fixture(scope="module")
def server(redis):
    with mock.patch.dict(os.environ, {"KIT_SERVED": "fast"}):
        live = start_server(redis.url)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def api_key(server):
    return server.create_api_key("fast-tests")


def device(server, device_id, token):
    return DeviceClient(f"{server.ws_url}/ws/devices/{device_id}/", {"Authorization": f"Bearer {token}"})


def test_it_is_the_fast_variant_on_uvicorn(server):
    process = psutil.Process(server.process.pid)
    assert "kit.fast.serve" in " ".join(process.cmdline())  # uvicorn, run with the kit's limits
    assert any("uvloop" in mapped.path for mapped in process.memory_maps())
    assert psutil.Process(server.process.pid).environ()["DJANGO_SETTINGS_MODULE"] == "kit.fast.settings"


async def test_a_replaced_api_key_is_refused_within_1_s(server):
    """The key is cached for 0.5 s: requests keep it cached while create_api_key replaces it."""
    old = server.create_api_key("rotated")
    async with api_client(server, old) as api:

        async def keep_using():  # a publisher that goes on using its key all along
            while True:
                await api.post("/api/broadcast/", json={"data": 1})
                await asyncio.sleep(0.02)

        user = asyncio.ensure_future(keep_using())
        try:
            await asyncio.sleep(0.3)
            new = await asyncio.to_thread(server.create_api_key, "rotated")
            revoked_at = time.monotonic()
            while (status := (await api.post("/api/broadcast/", json={"data": 2})).status_code) == 202:
                assert time.monotonic() - revoked_at < 1, "the revoked key still worked after 1 s"
                await asyncio.sleep(0.02)
            refused_after = time.monotonic() - revoked_at
        finally:
            user.cancel()
    assert status == 401
    async with api_client(server, new) as api:
        assert (await api.post("/api/broadcast/", json={"data": 3})).status_code == 202
    print(f"\n[fast figures] replaced API key refused {refused_after * 1000:.0f} ms after create_api_key returned")


async def test_a_chunked_body_over_64_kib_gets_413_not_memory(server, api_key):
    async def chunks():
        for _ in range(40):
            yield b"x" * 4096

    async with api_client(server, api_key) as api:
        response = await api.post("/api/broadcast/", content=chunks())
    assert response.status_code == 413 and "KiB" in response.json()["error"]


async def test_a_device_that_never_reads_costs_bounded_memory(server, api_key):
    """Pushes to a device that stopped reading are dropped once its socket's buffers are full (at
    most once), instead of piling up in the server; a reading device goes on getting its pushes."""
    (slow_id, slow_token), (fine_id, fine_token) = issue_devices(server, 2, "slow")
    slow, fine = await device(server, slow_id, slow_token).open(), await device(server, fine_id, fine_token).open()
    slow.transport.pause_reading()  # from now on the server's writes to it back up
    client = HttpClient("127.0.0.1", server.port, {"Authorization": f"Bearer {api_key}"})
    payload = "x" * 32 * 1024
    process = psutil.Process(server.process.pid)
    try:
        before = process.memory_info().rss
        for seq in range(3000):  # ~96 MiB of frames for the slow device
            status, _ = await client.post(f"/api/devices/{slow_id}/messages/", {"data": {"seq": seq, "pad": payload}})
            assert status == 202, (seq, _)
        grown = (process.memory_info().rss - before) / 2**20
        status, _ = await client.post(f"/api/devices/{fine_id}/messages/", {"data": {"seq": 1}})
        assert status == 202
        await fine.wait_for_seq(1)
    finally:
        await client.close()
        slow.transport.abort()
        await fine.close()
    print(f"\n[fast figures] 3,000 pushes of 32 KiB to a device that never reads: server RSS grew {grown:.1f} MiB")
    assert grown < 48, f"the server kept {grown:.0f} MiB for a device that does not read"
    assert server.process.poll() is None


async def test_redis_down_gives_503_and_the_same_sockets_work_again_after(redis, server, api_key):
    """The pub/sub layer does not close sockets when Redis goes away (the core layer's receive
    raises, the pub/sub layer's subscriber just waits): publishers get 503 within 5 s, devices stay
    connected, and once Redis is back the layer subscribes again and pushes reach the same sockets."""
    [(device_id, token)] = issue_devices(server, 1, "outage")
    sock = await device(server, device_id, token).open()
    async with api_client(server, api_key) as api:
        assert (await api.post(f"/api/devices/{device_id}/messages/", json={"data": {"seq": 0}})).status_code == 202
        await sock.wait_for_seq(0)
        redis.kill()
        figures = {}
        for name, path, body in [
            ("push", f"/api/devices/{device_id}/messages/", {"data": {"seq": 1}}),
            ("broadcast", "/api/broadcast/", {"data": 1}),
            ("command", f"/api/devices/{device_id}/commands/", {"data": 1, "timeout": 2}),
        ]:
            started = time.monotonic()
            response = await api.post(path, json=body)
            figures[name] = time.monotonic() - started
            assert response.status_code == 503 and "Redis" in response.json()["error"], (name, response.text)
            assert figures[name] < 5, name
        redis.restart()
        restarted_at = time.monotonic()
        seq = 2

        async def pushed_again():
            nonlocal seq
            seq += 1
            response = await api.post(f"/api/devices/{device_id}/messages/", json={"data": {"seq": seq}})
            if response.status_code != 202:
                return False
            try:
                await sock.wait_for_seq(seq, timeout=0.5)
                return True
            except TimeoutError:
                return False

        await wait_until(pushed_again, 20, "a push to reach the same socket after Redis came back")
        back_after = time.monotonic() - restarted_at
    await sock.close()
    assert server.process.poll() is None
    assert_no_traceback(server)
    print(
        f"\n[fast figures] Redis killed: 503 after push {figures['push'] * 1000:.0f} ms, broadcast "
        f"{figures['broadcast'] * 1000:.0f} ms, command {figures['command'] * 1000:.0f} ms; pushes reach the "
        f"same socket {back_after:.1f} s after Redis restarted"
    )


def test_runserver_is_untouched_by_the_fast_variant():
    """The notebooks' `runserver` keeps daphne and step 3's design: the fast variant is opt-in."""
    from kit.fast import enabled

    with mock.patch.dict(os.environ, {"KIT_FAST": "api,pubsub"}):
        assert enabled() == {"api", "pubsub"}
    with mock.patch.dict(os.environ, {"KIT_FAST": "turbo"}), pytest.raises(ValueError, match="turbo"):
        enabled()


def post_with_urllib(server, path, body, key):
    """A POST as Python's urllib sends it (Connection: close, the whole body before reading)."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    request = urllib.request.Request(server.http_url + path, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_a_20_mib_body_with_content_length_gets_413_not_a_reset(server, api_key):
    """uvicorn closed the connection right after the 413, while the client was still sending: the
    client's next write got a reset, which discarded the response (0.04 s, no answer)."""
    for _ in range(3):
        status, _, body = post_with_urllib(server, "/api/broadcast/", b"x" * (20 * 2**20), api_key)
        assert status == 413 and "KiB" in json.loads(body)["error"]
    status, _, body = post_with_urllib(server, "/api/broadcast/", b'{"data": 1}', api_key)
    assert status == 202, body  # and the server serves on


def raw_request(server, head):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
        connection.sendall(head)
        answer = b""
        while b"\r\n\r\n" not in answer and (chunk := connection.recv(4096)):
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer.decode("latin-1").lower()


@pytest.mark.parametrize("method", ["FOO", "PATCH", "PURGE"])
def test_a_method_the_route_does_not_allow_gets_405(server, method):
    """FOO is a valid method token that llhttp (httptools) does not know: 405 all the same."""
    status, head = raw_request(server, f"{method} /api/broadcast/ HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status == 405
    assert "x-content-type-options: nosniff" in head


def test_a_method_token_the_parser_rejects_gets_400(server):
    status, _ = raw_request(server, b"F@O /api/broadcast/ HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 400  # not a token at all: the contract allows 400


SECURITY = ("x-content-type-options", "referrer-policy", "cross-origin-opener-policy", "x-frame-options")


def test_every_response_carries_the_security_headers_of_step_3s_design(redis, server, api_key):
    """Header by header, the fast variant's API against step 3's design behind Django's middleware."""
    plain = start_server(redis.url, fast=False)
    try:
        plain_key = plain.create_api_key("compare")
        requests = [
            ("GET", "/api/nothing/<script>", None),  # 404 echoing the path
            ("GET", "/api/devices/", "key"),
            ("POST", "/api/broadcast/", "key"),  # 400: no body
            ("POST", "/api/broadcast/", None),  # 401
            ("PUT", "/api/broadcast/", "key"),  # 405
            ("POST", "/api/devices/nobody/messages/", "key"),  # 404
        ]
        for method, path, auth in requests:
            seen = []
            for live, key in ((plain, plain_key), (server, api_key)):
                headers = {"Authorization": f"Bearer {key}"} if auth else {}
                response = httpx.request(method, live.http_url + path, headers=headers, timeout=10)
                seen.append((response.status_code, {name: response.headers.get(name) for name in SECURITY}))
            assert seen[0] == seen[1], f"{method} {path}: step 3 {seen[0]}, fast {seen[1]}"
            assert seen[1][1]["x-content-type-options"] == "nosniff"
    finally:
        plain.close()
