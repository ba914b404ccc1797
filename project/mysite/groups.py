"""Channel-layer group names for devices (ASCII, under 100 characters, as the layer requires)."""

BROADCAST_GROUP = "devices"


def device_group(device_id):
    return f"device_{device_id}"
