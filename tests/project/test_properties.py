"""Property-based tests (hypothesis) against a live server: whatever a client sends, no 500, no
traceback, a clear error, the connection stays open, and other clients are not disturbed.

Values include what the channel layer cannot carry (integers beyond 64 bits, lone surrogates,
nesting past mysite/wire.py's limit) and what is not standard JSON (NaN, Infinity): json.dumps
writes them (surrogates as \\ud800 escapes), the server must refuse them with a 400 or an error frame.
"""

import json
import math

import msgpack

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from live_support import assert_no_traceback, issue_devices, own_redis, start_server

from mysite.wire import MAX_DEPTH  # noqa: E402  (live_support puts project/ on sys.path)

EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
RECEIVE_TIMEOUT = 5

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)  # sendable as UTF-8
any_text = text | st.text(max_size=20)  # lone surrogates too: json.dumps escapes them as \ud800
big_ints = st.integers(min_value=-(2**70), max_value=2**70) | st.sampled_from([2**64, 2**64 - 1, -(2**63) - 1])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | big_ints | st.floats() | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)
# Values the server must refuse, alone or inside lists and objects.
uncarriable = st.recursive(
    st.sampled_from([2**64, -(2**63) - 1, math.nan, math.inf, -math.inf])
    | st.text(alphabet=st.characters(categories=["Cs"]), min_size=1, max_size=3),
    lambda inner: st.lists(inner, min_size=1, max_size=3) | st.dictionaries(any_text, inner, min_size=1, max_size=3),
    max_leaves=4,
)
# [[[...]]] nested up to a few hundred levels deep (refused past wire.MAX_DEPTH) or thousands deep (past
# json's recursion limit).
deeply_nested = (st.integers(min_value=200, max_value=400) | st.integers(min_value=3_000, max_value=30_000)).map(
    lambda depth: "[" * depth + "]" * depth
)
# Bodies: raw bytes, any JSON, and objects whose known keys hold values of any type.
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries({}, optional={"data": json_values, "timeout": json_values, "text": json_values}).map(
        lambda value: json.dumps(value).encode()
    ),
    st.just(b'{"data": "' + b"x" * 70_000 + b'"}'),  # over 64 KiB: 413
    st.fixed_dictionaries({"data": uncarriable, "text": uncarriable}).map(lambda value: json.dumps(value).encode()),
    deeply_nested.map(lambda nested: ('{"data": %s, "text": %s}' % (nested, nested)).encode()[:65_000]),
)


@pytest.fixture(scope="module")
def live():
    redis = own_redis()
    server = None
    try:
        server = start_server(redis.url)
        key = server.create_api_key("properties")
        devices = dict(issue_devices(server, 3, "prop"))  # prop-1 never connects: offline
        with httpx.Client(base_url=server.http_url, headers={"Authorization": f"Bearer {key}"}, timeout=15) as api:
            yield server, api, devices
    finally:
        if server:
            server.stop()
        redis.stop()


def device_socket(server, device_id, token):
    return connect(
        f"{server.ws_url}/ws/devices/{device_id}/",
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=5,
        close_timeout=2,
    )


def assert_clear_response(response):
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
    payload = json.loads(response.text, parse_constant=lambda name: pytest.fail(f"{name} in a response"))
    if response.status_code >= 400:
        assert isinstance(payload["error"], str) and payload["error"].strip()


def receive_until(sock, frame_id):
    """Frames up to and including the one with id frame_id (bounded by RECEIVE_TIMEOUT each)."""
    frames = []
    while not frames or frames[-1].get("id") != frame_id:
        frames.append(json.loads(sock.recv(timeout=RECEIVE_TIMEOUT)))
    return frames


def test_http_bodies_never_give_500_and_bystander_devices_are_undisturbed(live):
    server, api, tokens = live
    paths = [
        "/api/devices/prop-1/messages/",
        "/api/devices/prop-1/commands/",
        "/api/broadcast/",
        "/api/rooms/props/announcements/",
        "/api/devices/nobody/messages/",
        "/api/devices/prop-3/messages/",
    ]  # online: a value the layer cannot carry must not reach it
    with device_socket(server, "prop-3", tokens["prop-3"]) as bystander:

        @EXAMPLES
        @given(path=st.sampled_from(paths), body=bodies, method=st.sampled_from(["POST", "POST", "POST", "PUT"]))
        def check(path, body, method):
            runs.append(path)
            response = api.request(method, path, content=body, headers={"Content-Type": "application/json"})
            assert_clear_response(response)
            if method == "PUT":
                assert response.status_code == 405

        runs = []
        check()
        assert len(runs) >= 30, f"hypothesis ran only {len(runs)} examples"
        # The bystander's socket is still open and still gets its pushes.
        response = api.post("/api/devices/prop-3/messages/", json={"data": "still here"})
        assert response.status_code == 202
        frames = receive_until(bystander, response.json()["id"])
        assert all(frame["type"] == "message" for frame in frames) and frames[-1]["data"] == "still here"
    assert_no_traceback(server)


device_frames = st.one_of(
    text,
    st.binary(max_size=100),
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["reply", "command", "message"]) | text},
        optional={"id": json_values, "data": json_values},
    ).map(json.dumps),
    deeply_nested.map(lambda nested: '{"type": "reply", "id": "x", "data": %s}' % nested),
    uncarriable.map(lambda value: json.dumps({"type": "reply", "id": "x", "data": value})),
)


def test_device_frames_get_an_error_frame_and_the_socket_stays_open(live):
    server, api, tokens = live
    with (
        device_socket(server, "prop-2", tokens["prop-2"]) as device,
        device_socket(server, "prop-3", tokens["prop-3"]) as bystander,
    ):

        @EXAMPLES
        @given(frame=device_frames)
        def check(frame):
            runs.append(frame)
            device.send(frame)  # no command is pending, so every frame is an error
            answer = json.loads(device.recv(timeout=RECEIVE_TIMEOUT))
            assert answer["type"] == "error" and isinstance(answer["error"], str) and answer["error"].strip()
            assert "Traceback" not in answer["error"]

        runs = []
        check()
        assert len(runs) >= 30, f"hypothesis ran only {len(runs)} examples"
        for sock, device_id in ((device, "prop-2"), (bystander, "prop-3")):  # both still served
            response = api.post(f"/api/devices/{device_id}/messages/", json={"data": "after"})
            assert receive_until(sock, response.json()["id"]) == [
                {"type": "message", "id": response.json()["id"], "data": "after"}
            ]
    assert_no_traceback(server)


chat_frames = st.one_of(
    text,
    st.binary(max_size=100),
    json_values.map(json.dumps),
    st.fixed_dictionaries({}, optional={"message": json_values | text, "extra": json_values}).map(json.dumps),
    deeply_nested.map(lambda nested: '{"message": "deep", "extra": %s}' % nested),
    uncarriable.map(lambda value: json.dumps({"message": "x", "extra": value})),
    uncarriable.map(lambda value: json.dumps({"message": value})),
)


def standard_json(frame):
    """The frame's value if it is standard JSON the channel layer can carry, else None."""
    try:
        value = json.loads(frame, parse_constant=lambda name: math.nan)
        msgpack.packb({"type": "chat.message", "message": value}, use_bin_type=True)  # the layer's own format
    except (ValueError, RecursionError, OverflowError, UnicodeEncodeError, TypeError):
        return None
    return None if not_standard(value) else value


def not_standard(value):
    """NaN and Infinity anywhere in value (1e400 parses to inf), or nesting past the server's limit."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH or (isinstance(item, float) and not math.isfinite(item)):
            return True
        inner = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((element, depth + 1) for element in inner)
    return False


def expected_chat_message(frame):
    """The message the room must get for this frame, or None if the sender must get an error."""
    if isinstance(frame, bytes):
        return None
    value = standard_json(frame)
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        return value["message"]
    return None


def test_chat_frames_reach_the_room_or_only_the_sender_gets_an_error(live):
    server, _, _ = live
    origin = f"http://127.0.0.1:{server.port}"
    room = f"{server.ws_url}/ws/chat/props/"
    delivered = []
    with connect(room, origin=origin, open_timeout=5) as sender, connect(room, origin=origin, open_timeout=5) as member:

        @EXAMPLES
        @given(frame=chat_frames)
        def check(frame):
            runs.append(frame)
            sender.send(frame)
            answer = json.loads(sender.recv(timeout=RECEIVE_TIMEOUT))
            message = expected_chat_message(frame)
            if message is None:
                assert set(answer) == {"error"} and answer["error"].strip() and "Traceback" not in answer["error"]
            else:
                assert answer == {"message": message}
                delivered.append(message)

        runs = []
        check()
        assert len(runs) >= 30, f"hypothesis ran only {len(runs)} examples"
        sender.send(json.dumps({"message": "sentinel"}))
        seen = []
        while not seen or seen[-1] != "sentinel":
            frame = json.loads(member.recv(timeout=RECEIVE_TIMEOUT))
            assert "error" not in frame  # errors go to the sender only
            seen.append(frame["message"])
        assert seen == delivered + ["sentinel"]  # every good message, in order, and nothing else
    assert_no_traceback(server)
