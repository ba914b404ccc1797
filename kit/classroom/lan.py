"""The address students' devices can reach this machine at: found, or given by the instructor.

discover() asks the operating system which local address it would use to reach an outside address: a
UDP socket's connect() picks the route and sends no packet. The probe is injectable, so tests never
touch this machine's real interfaces; `--classroom-host` (or KIT_CLASSROOM_HOST) overrides it.
"""

import ipaddress
import socket

# TEST-NET-1 (RFC 5737): never routed, and connect() on a UDP socket sends nothing to it anyway.
PROBE_ADDRESS = ("192.0.2.1", 9)
INSTRUCTOR_HOSTS = ["localhost", "127.0.0.1", "[::1]"]  # the instructor's own browser, on this machine


def default_route_address():
    """The local address of the interface the default route leaves by (OSError: no route at all)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(PROBE_ADDRESS)
        return probe.getsockname()[0]


def discover(probe=default_route_address):
    """The LAN address students can probably use, or None when this machine has no LAN interface."""
    try:
        address = ipaddress.ip_address(probe())
    except (OSError, ValueError):
        return None
    if address.is_loopback or address.is_unspecified or address.is_link_local:
        return None
    return str(address)


def is_loopback(host):
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def url_host(host):
    """host as it is written in a URL and a Host header: an IPv6 address in brackets."""
    try:
        return f"[{host.strip('[]')}]" if ipaddress.ip_address(host.strip("[]")).version == 6 else host
    except ValueError:
        return host  # a name, e.g. laptop.local


def allowed_hosts(classroom_host):
    """ALLOWED_HOSTS in classroom mode: exactly the students' address and the instructor's own."""
    return [url_host(classroom_host)] + [host for host in INSTRUCTOR_HOSTS if host != url_host(classroom_host)]


def join_url(host, port):
    return f"http://{url_host(host)}:{port}/classroom/join/"


def advice(host, port, discovered):
    """Plain lines on whether students can reach host:port, and the usual ways out."""
    lines = []
    if not discovered and host is None:
        lines += [
            "WARNING: no LAN interface found: students' phones and laptops cannot reach this machine.",
            "  Join the room's Wi-Fi, or start a hotspot on your phone and connect this laptop and the",
            "  students to it, then run again (or give the address: --classroom-host ADDRESS).",
        ]
    elif host is not None and is_loopback(host):
        lines.append(f"NOTE: {host} is a loopback address: only this machine can open the join URL (a rehearsal).")
    lines += [
        f"If phones cannot open the join URL: a firewall may block port {port} (Linux: sudo ufw allow {port}/tcp;",
        "  macOS: System Settings > Network > Firewall, allow Python), or the Wi-Fi keeps its clients apart",
        "  (guest and campus networks often do). A hotspot from your phone avoids both.",
    ]
    return lines
