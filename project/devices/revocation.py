"""Closing the sockets whose credential no longer holds, within a second, in every server process.

Tokens and sessions are checked once, at the handshake: a socket opened with them would otherwise
stay connected and keep receiving. So an event goes to a group through the channel layer, and each
consumer in it closes with REVOKED_CLOSE_CODE:
- device.revoked to device_<id>: its token was replaced (create_device), voided (revoke_device),
  or the device was deleted (admin, ORM; post_delete below);
- dashboard.revoked to the dashboard sockets of a session that logged out, or of a staff user
  deactivated, demoted or given a new password (signals below).
Connected in DevicesConfig.ready(). API keys need nothing here: every request checks its key.
"""

import asyncio

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from devices.models import Device
from mysite.close_codes import REVOKED_CLOSE_CODE  # noqa: F401  (what the consumers close with)
from mysite.groups import device_group, session_group, staff_group

NOTIFY_TIMEOUT_SECONDS = 5


async def close_group(group, event_type):
    """Tells every socket in group to close. Returns False if the layer could not be reached."""
    try:
        await asyncio.wait_for(get_channel_layer().group_send(group, {"type": event_type}), NOTIFY_TIMEOUT_SECONDS)
    except ImproperlyConfigured:  # this process's layer is not the server's (mysite/layers.py): say so
        raise
    except Exception:  # Redis down or slow: the caller says so; the credential is void anyway
        return False
    return True


async def close_sockets_of(device_id):
    """Tells every socket of device_id to close. Returns False if the layer could not be reached."""
    return await close_group(device_group(device_id), "device.revoked")


def close_after_commit(group, event_type):
    """From sync code (a signal): close once the change is committed, so a reconnect sees it."""
    transaction.on_commit(lambda: async_to_sync(close_group)(group, event_type))


@receiver(post_delete, sender=Device)
def device_deleted(sender, instance, **kwargs):
    close_after_commit(device_group(instance.device_id), "device.revoked")


@receiver(user_logged_out)
def session_logged_out(sender, request, user, **kwargs):
    if request is not None and request.session.session_key:  # the signal comes before the flush
        async_to_sync(close_group)(session_group(request.session.session_key), "dashboard.revoked")


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def staff_user_changed(sender, instance, created, update_fields=None, **kwargs):
    if created or (update_fields is not None and not {"is_active", "is_staff", "password"} & set(update_fields)):
        return  # e.g. a login saving last_login: nothing to revoke, no round trip to Redis
    # _password is set between set_password() and the end of save(): a new password, old sessions void.
    if not (instance.is_active and instance.is_staff) or getattr(instance, "_password", None) is not None:
        close_after_commit(staff_group(instance.pk), "dashboard.revoked")
