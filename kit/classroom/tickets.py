"""A student's phone device, and the join ticket that is exchanged once for its token.

Joining creates the device `phone-<slug of the name>` (a suffix -2, -3 ... when taken) with a random token
that nobody ever sees, and signs a ticket (django.core.signing: the server's SECRET_KEY, a salt of its
own, a time stamp) naming the device and the hash of that unseen token. Redeeming the ticket replaces
the token, in one conditional UPDATE: the hash no longer matches, so a replayed ticket is refused, and
of two racing redemptions only one wins. No state is kept for tickets: the device row is the state.
"""

from django.core import signing
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from devices.models import Device, hash_secret, new_secret

SALT = "kit.classroom.join-ticket"  # a ticket can never pass as another signed value, nor the reverse
TICKET_SECONDS = 120
PREFIX = "phone-"
MAX_SLUG = 40  # phone-<40>-<suffix> stays within the 64 characters of a device id
MAX_NAME = 32


class TicketRefused(Exception):
    """Why a ticket was refused, for the JSON error (403)."""


def clean_name(raw):
    """The display name, or ValueError saying what is wrong with it."""
    name = " ".join(str(raw or "").split())  # no newlines or runs of spaces in a chat line
    if not name:
        raise ValueError("type your name")
    if len(name) > MAX_NAME or not name.isprintable() or ":" in name:
        raise ValueError(f"use at most {MAX_NAME} printable characters, without ':'")
    return name


def create_phone(name):
    """A new Device for the student named name: phone-<slug>, phone-<slug>-2, ... (its id pattern's
    characters only: slugify keeps a-z 0-9 - _). Its token stays unknown until a ticket is redeemed."""
    base = PREFIX + (slugify(name)[:MAX_SLUG].strip("-_") or "student")
    for number in range(1, 10_000):
        device_id = base if number == 1 else f"{base}-{number}"
        try:
            with transaction.atomic():  # another student joining with the same name at the same moment
                return Device.objects.create(device_id=device_id, token_hash=hash_secret(new_secret()))
        except IntegrityError:
            continue
    raise RuntimeError(f"no free device id for {base!r}")


def issue(device, name):
    """The signed ticket for device: its id, its current token's hash, the student's name."""
    return signing.dumps({"device": device.device_id, "hash": device.token_hash, "name": name}, salt=SALT)


def redeem(ticket, device_id):
    """The device's new token, in exchange for a valid, unused ticket issued for device_id; else TicketRefused."""
    try:
        claims = signing.loads(str(ticket), salt=SALT, max_age=TICKET_SECONDS)
    except signing.SignatureExpired:
        raise TicketRefused(f"this join ticket is older than {TICKET_SECONDS} s: join again") from None
    except signing.BadSignature:
        raise TicketRefused("not a join ticket from this server") from None
    if claims.get("device") != device_id:
        raise TicketRefused("this join ticket was issued for another device")
    token = new_secret()
    changed = Device.objects.filter(device_id=device_id, token_hash=claims.get("hash")).update(
        token_hash=hash_secret(token)
    )
    if not changed:
        raise TicketRefused("this join ticket was used already (or its student was removed): join again")
    return token
