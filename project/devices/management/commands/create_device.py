"""python manage.py create_device <device_id>: registers a device and prints its new token."""

from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from devices.models import DEVICE_ID, Device
from devices.revocation import close_sockets_of


class Command(BaseCommand):
    help = "Create a device (or give an existing one a new token) and print the token. Only its hash is stored."

    def add_arguments(self, parser):
        parser.add_argument("device_id", help="1 to 64 of A-Z a-z 0-9 _ . -")

    def handle(self, device_id, **options):
        if not DEVICE_ID.match(device_id):
            raise CommandError("device_id must be 1 to 64 of A-Z a-z 0-9 _ . -")
        device, token, created = Device.objects.issue(device_id)
        if not created:
            self.stderr.write(f"Device {device_id!r} existed: it has a new token; the old one no longer works.")
            try:
                reached = async_to_sync(close_sockets_of)(device_id)  # sockets opened with the old token
            except ImproperlyConfigured as exc:  # this process's layer is not the server's: the token still counts
                self.stdout.write(token)
                raise CommandError(f"{exc} Sockets open with the old token stay open.") from None
            if not reached:
                self.stderr.write("Could not reach the channel layer: sockets open with the old token stay open.")
        self.stdout.write(token)
