"""What a chat client may send, checked before anything reaches the channel layer."""

import re

from mysite import wire

ROOM_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}\Z")  # valid group names; \Z, as "$" matches before a final "\n"
MAX_MESSAGE_CHARS = 4000


def parse_chat_frame(text_data):
    """Returns (message, None) for a good frame, (None, "what is wrong") for a bad one."""
    if text_data is None:
        return None, 'binary frames are not accepted: send JSON text like {"message": "hi"}'
    try:
        frame = wire.loads(text_data)
    except wire.NotCarriable as exc:  # NaN, 2**64, "\ud800": not JSON the channel layer can carry
        return None, f"frame cannot be accepted: {exc}"
    except (ValueError, RecursionError):  # RecursionError: [[[[...]]]] nested too deep
        return None, 'frame is not valid JSON (or nested too deeply): send {"message": "<text>"}'
    if not isinstance(frame, dict):
        return None, 'frame must be a JSON object like {"message": "<text>"}'
    if "message" not in frame:
        return None, "'message' is missing"
    message = frame["message"]
    if not isinstance(message, str):
        return None, "'message' must be a string"
    if len(message) > MAX_MESSAGE_CHARS:
        return None, f"'message' is too large: at most {MAX_MESSAGE_CHARS} characters"
    return message, None
