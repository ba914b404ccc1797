"""What JSON the server accepts: standard JSON only, and only values the channel layer can carry.

Python's json accepts NaN, Infinity and 1e400 (which becomes inf) and writes them back out as
non-standard JSON; msgpack, the channel layer's format, cannot encode integers beyond 64 bits nor
strings with lone surrogates ("\\ud800"), and gives up past 511 levels of nesting. Each of these
used to fail deep inside group_send (a 500, a socket closed with 1011). loads() refuses them at
the edge, with a message that says what is wrong.
"""

import json

INT_MIN, INT_MAX = -(2**63), 2**64 - 1  # msgpack: int64 for negatives, uint64 for the rest
MAX_DEPTH = 256  # well under msgpack's 511, with room for the event that wraps the data
STANDARD = {"allow_nan": False}  # json.dumps options for responses: an error, never a bare NaN


class NotCarriable(ValueError):
    """Valid-looking JSON that is not standard JSON, or that the channel layer cannot carry."""


def _no_constants(name):
    raise NotCarriable(f"{name} is not standard JSON")


def _finite_float(text):
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise NotCarriable(f"the number {text[:40]} is too large for JSON")
    return value


def loads(text):
    """json.loads for standard JSON only; raises ValueError (NotCarriable for the cases above),
    RecursionError for nesting beyond the decoder's stack."""
    value = json.loads(text, parse_constant=_no_constants, parse_float=_finite_float)
    check_carriable(value)
    return value


def check_carriable(value):
    """Raises NotCarriable if the channel layer could not send value. Iterative: no recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise NotCarriable(f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                raise NotCarriable("an integer is beyond 64 bits: send it as a string")
        elif isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict):
            for key, inner in item.items():
                _check_text(key)
                stack.append((inner, depth + 1))
        elif isinstance(item, list):
            stack.extend((inner, depth + 1) for inner in item)


def _check_text(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NotCarriable("a string holds a lone surrogate (like \\ud800): not valid Unicode text") from None
