"""python manage.py create_api_key <name>: creates an API key for a publisher and prints it."""

from django.core.management.base import BaseCommand, CommandError

from devices.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key (or replace the key of that name) and print it. Only its hash is stored."

    def add_arguments(self, parser):
        parser.add_argument("name", help="who uses the key, e.g. 'mobile-app'")

    def handle(self, name, **options):
        if not name.strip() or len(name) > 100:
            raise CommandError("name must be 1 to 100 characters")
        _, key, created = ApiKey.objects.issue(name)
        if not created:
            self.stderr.write(f"API key {name!r} existed: it was replaced; the old key no longer works.")
        self.stdout.write(key)
