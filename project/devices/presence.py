"""Who is online, shared by every server process through the database.

Each open device socket is a DeviceConnection row. One heartbeat task per server process
refreshes the rows of its own sockets every HEARTBEAT seconds; a row not refreshed for TTL
seconds is stale (its process died without running disconnect), so online = a fresh row.
"""

import asyncio
import os
from datetime import timedelta

from channels.layers import get_channel_layer
from django.db.models import Max, Q
from django.utils import timezone

from devices.models import Device, DeviceConnection
from mysite.groups import DASHBOARD_GROUP

HEARTBEAT_SECONDS = float(os.environ.get("PRESENCE_HEARTBEAT_SECONDS", "10"))
TTL_SECONDS = float(os.environ.get("PRESENCE_TTL_SECONDS", "30"))

_local = {}  # channel_name -> device pk, for the sockets of this process
_heartbeats = {}  # event loop -> its heartbeat task


def _fresh_since():
    return timezone.now() - timedelta(seconds=TTL_SECONDS)


async def connected(device, channel_name):
    now = timezone.now()
    await DeviceConnection.objects.aupdate_or_create(
        channel_name=channel_name, defaults={"device": device, "seen_at": now}
    )
    await Device.objects.filter(pk=device.pk).aupdate(last_seen=now)
    _local[channel_name] = device.pk
    _ensure_heartbeat()
    await notify_dashboard(device, online=True)


async def disconnected(device, channel_name):
    _local.pop(channel_name, None)
    await DeviceConnection.objects.filter(channel_name=channel_name).adelete()
    await Device.objects.filter(pk=device.pk).aupdate(last_seen=timezone.now())
    await notify_dashboard(device, online=None)  # None: still online through another socket?


async def notify_dashboard(device, online):
    """Pushes a presence.changed event to open dashboards. Best effort: a layer error or a slow
    Redis must never stop a device from connecting or leaving."""
    try:
        if online is None:
            online = await is_online(device)
        event = {
            "type": "presence.changed",
            "device": device.device_id,
            "online": online,
            "last_seen": timezone.now().isoformat(),
        }
        await asyncio.wait_for(get_channel_layer().group_send(DASHBOARD_GROUP, event), 2)
    except Exception:  # the dashboard catches up from its next snapshot
        pass


async def is_online(device):
    return await DeviceConnection.objects.filter(device=device, seen_at__gte=_fresh_since()).aexists()


async def online_count():
    fresh = DeviceConnection.objects.filter(seen_at__gte=_fresh_since())
    return await fresh.values("device").distinct().acount()


async def snapshot():
    """[{"id", "online", "last_seen"}] for every device, sorted by id."""
    fresh = Q(connections__seen_at__gte=_fresh_since())
    rows = Device.objects.order_by("device_id").annotate(fresh_seen=Max("connections__seen_at", filter=fresh))
    return [
        {
            "id": device.device_id,
            "online": device.fresh_seen is not None,
            "last_seen": device.last_seen.isoformat() if device.last_seen else None,
        }
        async for device in rows
    ]


def _ensure_heartbeat():
    loop = asyncio.get_running_loop()
    task = _heartbeats.get(loop)
    if task is None or task.done():
        _heartbeats[loop] = loop.create_task(_heartbeat())


async def _heartbeat():
    """Refreshes this process's rows in one query per beat; ends when it has no sockets left."""
    while _local:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        channels, devices = list(_local), set(_local.values())
        if not channels:
            break
        now = timezone.now()
        try:
            await DeviceConnection.objects.filter(channel_name__in=channels).aupdate(seen_at=now)
            await Device.objects.filter(pk__in=devices).aupdate(last_seen=now)
            # Rows of dead processes: long past the TTL, nobody will delete them otherwise.
            old = now - timedelta(seconds=TTL_SECONDS * 10)
            await DeviceConnection.objects.filter(seen_at__lt=old).adelete()
        except Exception:  # a locked database must not kill the beat; the next one retries
            continue
