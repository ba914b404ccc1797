"""The four measurements, written once for every system (kit.bench.systems).

Every loop is bounded in count, and every wait in time (client.TIMEOUT); nothing leaves 127.0.0.1.
"""

import asyncio
import time

import psutil
from tqdm import tqdm  # the terminal bar (tqdm.auto would want ipywidgets in a notebook)

from kit.bench.client import TIMEOUT, HttpClient
from kit.bench.device_client import DeviceClient
from kit.bench.watch import Watch, watch_details

WARMUP = 5  # unmeasured requests first: imports, thread pools and connections get made


def percentile(values, fraction):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def bar(total, description, progress):
    """A tqdm bar on stderr; progress=None shows it only on a terminal."""
    return tqdm(
        total=total,
        desc=description,
        unit="",
        leave=False,
        dynamic_ncols=True,
        disable=None if progress is None else not progress,
    )


def http_client(system):
    return HttpClient("127.0.0.1", system.port, system.api_headers)


def device_client(system, index):
    url = f"ws://127.0.0.1:{system.ws_port}" + system.device_path.format(system.device_id(index))
    return DeviceClient(url, system.device_headers(index))


async def open_devices(system, count, progress, description, concurrency=25):
    """count open device sockets, at most `concurrency` handshakes at a time."""
    limit = asyncio.Semaphore(concurrency)
    devices = [device_client(system, index) for index in range(count)]
    with bar(count, description, progress) as shown:

        async def open_one(device):
            async with limit:
                try:
                    await device.open()
                except ConnectionRefusedError as exc:  # say which system refused which socket, and why
                    raise ConnectionRefusedError(
                        f"{system.name}: {device.path}: {exc}; its server's log ends:\n{system.log_tail()}"
                    ) from exc
                shown.update()

        await asyncio.gather(*(open_one(device) for device in devices))
    return devices


async def close_devices(devices):
    await asyncio.gather(*(device.close() for device in devices))


async def latency(system, requests, progress=True, after_warmup=None, profile=False):
    """HTTP-to-device latency: POST a push, time until the device's socket has the frame.
    after_warmup(client): awaited once the warm-up requests are done (kit-hops resets its stopwatch)."""
    client, (device,) = http_client(system), await open_devices(system, 1, False, "")
    path = system.push_path.format(system.device_id(0))
    samples = []

    async def push(seq):
        started = time.perf_counter()
        status, answer = await client.post(path, {"data": {"seq": seq}})
        if status != 202:
            raise RuntimeError(f"{system.name}: push answered {status} {answer}")
        return (await device.wait_for_seq(seq) - started) * 1000

    try:
        for seq in range(-WARMUP, 0):
            await push(seq)
        if after_warmup:
            await after_warmup(client)
        with (
            bar(requests, f"{system.name}: latency", progress) as shown,
            Watch(system.pid, profile, system.redis_url) as watch,
        ):
            for seq in range(requests):
                samples.append(await push(seq))
                shown.update()
    finally:
        await client.close()
        await close_devices([device])
    figures = {"latency_p50_ms": percentile(samples, 0.5), "latency_p99_ms": percentile(samples, 0.99)}
    return figures, samples, watch_details(watch, "server_cpu_ms_per_push", 1000 / requests)


async def fanout(system, devices_count, rounds, progress=True, profile=False):
    """Broadcast `rounds` times to `devices_count` sockets: deliveries per second, first POST to last frame."""
    devices = await open_devices(system, devices_count, progress, f"{system.name}: connect {devices_count}")
    client = http_client(system)
    expected = devices_count * rounds
    try:
        status, answer = await client.post(system.broadcast_path, {"data": {"seq": -1}})  # warm-up
        await asyncio.gather(*(device.wait_for_seq(-1) for device in devices))
        with (
            bar(expected, f"{system.name}: fan-out", progress) as shown,
            Watch(system.pid, profile, system.redis_url) as watch,
        ):
            started = time.perf_counter()
            for seq in range(rounds):
                status, answer = await client.post(system.broadcast_path, {"data": {"seq": seq}})
                if status != 202:
                    raise RuntimeError(f"{system.name}: broadcast answered {status} {answer}")
            deadline = time.perf_counter() + TIMEOUT
            while (received := count_arrivals(devices)) < expected and time.perf_counter() < deadline:
                shown.n = received
                shown.refresh()
                await asyncio.sleep(0.02)
            shown.n = received
            shown.refresh()
        arrivals = [stamp for device in devices for seq, stamp in device.arrivals.items() if seq >= 0]
        if not arrivals:
            raise RuntimeError(f"{system.name}: no broadcast reached any device within {TIMEOUT} s")
        elapsed = max(arrivals) - started
    finally:
        await client.close()
        await close_devices(devices)
    details = {
        "lost_deliveries": expected - len(arrivals),
        **watch_details(watch, "server_cpu_us_per_delivery", 1e6 / max(1, len(arrivals))),
    }
    return {"fanout_per_s": len(arrivals) / elapsed}, details


def count_arrivals(devices):
    return sum(device.received for device in devices)


async def command_rtt(system, requests, progress=True):
    """Command round trip: POST a command, the device replies, the HTTP answer carries the reply.
    A command that times out (504) or is refused as overload (503) is counted, not timed."""
    client, (device,) = http_client(system), await open_devices(system, 1, False, "")
    path = system.command_path.format(system.device_id(0))
    samples, failed = [], {}
    try:
        with bar(WARMUP + requests, f"{system.name}: command", progress) as shown:
            for seq in range(WARMUP + requests):
                started = time.perf_counter()
                status, answer = await client.post(path, {"data": {"seq": seq}, "timeout": 5})
                if status in (503, 504):
                    failed[status] = failed.get(status, 0) + 1
                elif status != 200 or answer.get("reply") != {"seq": seq}:
                    raise RuntimeError(f"{system.name}: command answered {status} {answer}")
                elif seq >= WARMUP:
                    samples.append((time.perf_counter() - started) * 1000)
                shown.update()
    finally:
        await client.close()
        await close_devices([device])
    details = {"failed": failed, "device_errors": device.errors[-5:]}
    return {"command_rtt_p50_ms": percentile(samples, 0.5)} if samples else {}, samples, details


async def hop_breakdown(system, requests, progress=True):
    """The kit's push path, hop by hop (system: KitSystem(hops=True)): medians in ms."""

    async def reset(client):
        await client.get("/__bench_hops__/?reset")

    figures, samples, details = await latency(system, requests, progress, after_warmup=reset)
    client = http_client(system)
    try:
        status, hops = await client.get("/__bench_hops__/")
    finally:
        await client.close()
    return figures, hops


def rss(pid):
    return psutil.Process(pid).memory_info().rss


async def idle_memory(system, connections, progress=True):
    """Server RSS growth per idle device socket: (RSS with N open - RSS before) / N."""
    warm = await open_devices(system, 5, False, "")  # first sockets pay one-off imports and pools
    await close_devices(warm)
    await asyncio.sleep(0.5)
    before = rss(system.pid)
    devices = await open_devices(system, connections, progress, f"{system.name}: {connections} idle sockets")
    try:
        await asyncio.sleep(1)  # let connect handlers and their writes finish
        after = rss(system.pid)
    finally:
        await close_devices(devices)
    return {"memory_per_connection_kib": (after - before) / connections / 1024}, {
        "rss_before_mib": before / 2**20,
        "rss_after_mib": after / 2**20,
    }
