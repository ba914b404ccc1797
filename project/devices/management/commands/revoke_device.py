"""python manage.py revoke_device <device_id>: voids the device's token and closes its sockets."""

from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from devices.models import Device
from devices.revocation import close_sockets_of


class Command(BaseCommand):
    help = "Void a device's token (create_device gives it a new one) and close the sockets that used it."

    def add_arguments(self, parser):
        parser.add_argument("device_id")

    def handle(self, device_id, **options):
        if not Device.objects.filter(device_id=device_id).update(token_hash=""):  # "" matches no token
            raise CommandError(f"no device {device_id!r}")
        self.stderr.write(f"Device {device_id!r}: its token no longer works.")
        try:
            reached = async_to_sync(close_sockets_of)(device_id)
        except ImproperlyConfigured as exc:  # this process's layer is not the server's (mysite/layers.py)
            raise CommandError(f"{exc} Sockets open with the old token stay open.") from None
        if not reached:
            self.stderr.write("Could not reach the channel layer: sockets open with the old token stay open.")
