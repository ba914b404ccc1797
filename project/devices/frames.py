"""What a device may send, checked before anything reaches the channel layer, and the push frame it receives."""

from mysite import wire

MAX_FRAME_CHARS = 64 * 1024


def parse_device_frame(text_data):
    """Returns (frame, None) for a good reply frame, (None, "what is wrong") otherwise."""
    if text_data is None:
        return None, "binary frames are not accepted: send JSON text"
    if len(text_data) > MAX_FRAME_CHARS:
        return None, f"frame is too large: at most {MAX_FRAME_CHARS} characters"
    try:
        frame = wire.loads(text_data)
    except wire.NotCarriable as exc:  # NaN, 2**64, "\ud800": not JSON the channel layer can carry
        return None, f"frame cannot be accepted: {exc}"
    except (ValueError, RecursionError):  # RecursionError: [[[[...]]]] nested too deep
        return None, "frame is not valid JSON (or nested too deeply)"
    if not isinstance(frame, dict):
        return None, "frame must be a JSON object"
    kind = frame.get("type")
    if kind != "reply":
        if not isinstance(kind, str):
            return None, '\'type\' is missing or not a string; a device sends {"type": "reply", "id": ..., "data": ...}'
        return None, f'unknown type {kind[:40]!r}; a device sends only "reply" frames'
    if not isinstance(frame.get("id"), str):
        return None, "'id' is missing or not a string: use the id of the command you answer"
    if "data" not in frame:
        return None, "'data' is missing"
    return frame, None


def push_frame(event):
    """The frame a device receives for a device.message event: {"type": "message", "id": ..., "data": ...}."""
    return {"type": "message", "id": event.get("id"), "data": event.get("data")}
