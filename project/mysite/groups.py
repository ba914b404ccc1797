"""Every channel-layer group name of the project, in one place (ASCII, under 100 characters, as the
layer requires). The contract's three, which code outside the server may group_send to: chat_<room>,
device_<id> and devices; and the dashboard's own."""

BROADCAST_GROUP = "devices"  # every device socket
DASHBOARD_GROUP = "dashboard"  # the instructor dashboard's sockets (devices/dashboard.py)


def room_group(room):
    """The channel-layer group of a room: ASCII only, so group_add never raises TypeError."""
    return f"chat_{room}"


def device_group(device_id):
    return f"device_{device_id}"


def session_group(session_key):
    return f"session_{session_key}"  # session keys are [a-z0-9]{32}: a valid group name


def staff_group(user_id):
    return f"staff_{user_id}"
