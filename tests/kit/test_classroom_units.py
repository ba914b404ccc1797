"""Classroom mode's small parts on their own: the LAN address found (with an injected probe: this machine's
real interfaces are never asked), the hosts allowed, the advice printed, the rate limit, the subprotocol
token, and where make demo listens."""

import pytest

from kit.classroom import demo, lan, subprotocol
from kit.classroom.ratelimit import PerStudentRate


def probe_answering(address):
    return lambda: address


def no_route():
    raise OSError("Network is unreachable")


@pytest.mark.parametrize(
    "probe, found",
    [
        (probe_answering("192.168.1.20"), "192.168.1.20"),
        (probe_answering("10.0.0.7"), "10.0.0.7"),
        (probe_answering("127.0.0.1"), None),  # only loopback: no LAN
        (probe_answering("169.254.3.4"), None),  # link-local: no DHCP answered
        (probe_answering("0.0.0.0"), None),
        (no_route, None),
    ],
)
def test_the_lan_address_is_the_default_routes_unless_there_is_none(probe, found):
    assert lan.discover(probe) == found


def test_allowed_hosts_are_exactly_the_classrooms_and_the_instructors():
    assert lan.allowed_hosts("192.168.1.20") == ["192.168.1.20", "localhost", "127.0.0.1", "[::1]"]
    assert lan.allowed_hosts("127.0.0.1") == ["127.0.0.1", "localhost", "[::1]"]
    assert lan.join_url("fd00::5", 8000) == "http://[fd00::5]:8000/classroom/join/"


def test_without_a_lan_the_demo_says_so_and_names_the_ways_out():
    room = demo.plan(None, probe=no_route)
    assert (room.host, room.bind, room.discovered) == ("127.0.0.1", "127.0.0.1", False)
    text = "\n".join(lan.advice(None, 8000, discovered=False))
    assert "no LAN interface found" in text and "hotspot" in text and "8000" in text


def test_a_lan_address_listens_on_every_interface_and_a_loopback_one_on_itself():
    assert demo.plan(probe=probe_answering("192.168.1.20")).bind == "0.0.0.0"
    assert demo.plan("127.0.0.2").bind == "127.0.0.2"
    assert demo.plan("192.168.1.20", bind="192.168.1.20").bind == "192.168.1.20"


def test_the_rate_limit_allows_a_burst_then_the_rate_per_student():
    now = [0.0]
    limit = PerStudentRate(per_second=3, burst=5, clock=lambda: now[0])
    assert [limit.allow("ana") for _ in range(6)] == [True] * 5 + [False]
    assert limit.allow("bob")  # each student has their own
    now[0] += 1.0  # a second later: three more
    assert [limit.allow("ana") for _ in range(4)] == [True, True, True, False]


def test_the_subprotocol_token_is_taken_only_when_well_formed():
    assert subprotocol.offered_token(["chat", "bearer.abc_DEF-123"]) == ("bearer.abc_DEF-123", "abc_DEF-123")
    assert subprotocol.offered_token(["bearer."]) == (None, None)
    assert subprotocol.offered_token(["bearer.a b"]) == (None, None)
    assert subprotocol.offered_token(None) == (None, None)
