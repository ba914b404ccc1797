"""What classroom mode changes in the served project's settings (kit/harness/settings.py calls apply).

Only the students' address and the instructor's own are allowed as Host (ALLOWED_HOSTS, which Django's
host check and Channels' AllowedHostsOriginValidator both read); the gate (gate.py) holds every
WebSocket's Origin to the same. DEBUG is off whatever DJANGO_DEBUG says: a debug page would show
tracebacks and settings to every phone in the room.
"""

import os

from kit.classroom import lan

DEFAULT_RATE_PER_SECOND = 3.0  # chat messages, and frames from a phone, per student
DEFAULT_BURST = 5


def apply(settings, host):
    """Changes the settings module's namespace (its globals()) for classroom mode on host."""
    settings["CLASSROOM_HOST"] = host
    # KIT_CLASSROOM_ALSO_ALLOW: hosts of the instructor's own besides loopback (compose's lab reaches `web`).
    also = [name.strip() for name in os.environ.get("KIT_CLASSROOM_ALSO_ALLOW", "").split(",") if name.strip()]
    settings["ALLOWED_HOSTS"] = lan.allowed_hosts(host) + also
    settings["DEBUG"] = False
    settings["INSTALLED_APPS"] = [*settings["INSTALLED_APPS"], "kit.classroom"]  # its templates
    # The URL printed and projected, when students reach the server at another port than its own (a proxy,
    # compose publishing a port): e.g. http://192.168.1.20:8000/classroom/join/.
    settings["CLASSROOM_JOIN_URL"] = os.environ.get("KIT_CLASSROOM_URL", "")
    settings["CLASSROOM_RATE_PER_SECOND"] = float(os.environ.get("KIT_CLASSROOM_RATE", DEFAULT_RATE_PER_SECOND))
    settings["CLASSROOM_BURST"] = int(os.environ.get("KIT_CLASSROOM_BURST", DEFAULT_BURST))
