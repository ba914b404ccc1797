"""With "pubsub": whether a device is online, asked of Redis instead of the database.

A device's socket is a member of its device group, and with the pub/sub layer each server process
that holds a member SUBSCRIBEs to the group's Redis channel. So PUBSUB NUMSUB on that channel says,
across processes and at this moment, whether a group_send would reach the device: one Redis round
trip on the event loop instead of a database query in a worker thread. A process that dies drops
its Redis connection, and its subscriptions with it: no TTL to wait out.

The rest of the presence module (the dashboard's snapshot, the device list, online_count) keeps
the database rows, which also say since when a device was last seen.
"""

from channels.layers import get_channel_layer

from mysite.groups import device_group


class SubscribedPresence:
    def __init__(self, module):
        self.module = module

    def __getattr__(self, name):
        return getattr(self.module, name)

    async def is_online(self, device):
        return await get_channel_layer().group_subscribers(device_group(device.device_id)) > 0


def install():
    """The views' and step 4's commands' presence asks Redis (idempotent)."""
    from devices import commands, presence, views

    for module in (views, commands):
        if module.presence is presence:
            module.presence = SubscribedPresence(presence)
