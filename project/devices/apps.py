from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "devices"
    verbose_name = "Step 3-4: devices and the HTTP bridge"

    def ready(self):
        from devices import revocation  # noqa: F401  connects the receivers that close revoked sockets
