"""Devices, the connections that make them online, and the API keys of publishers.

Secrets are never stored: a device token or an API key is shown once, and only its SHA-256
is kept. Both are 256-bit random strings, so a fast hash is enough (no password stretching).
"""

import hashlib
import hmac
import re
import secrets

from django.db import models

DEVICE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}\Z")  # so device_<id> is a valid group name


def hash_secret(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret():
    return secrets.token_urlsafe(32)


class DeviceManager(models.Manager):
    def issue(self, device_id):
        """Creates the device or gives it a new token; returns (device, token, created)."""
        token = new_secret()
        device, created = self.update_or_create(device_id=device_id, defaults={"token_hash": hash_secret(token)})
        return device, token, created

    async def aauthenticate(self, device_id, token):
        """The Device if token is its current token, else None."""
        if not token or not DEVICE_ID.match(device_id):
            return None
        device = await self.filter(device_id=device_id).afirst()
        if device and hmac.compare_digest(device.token_hash, hash_secret(token)):
            return device
        return None


class Device(models.Model):
    device_id = models.CharField(max_length=64, unique=True)
    token_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(null=True, blank=True)

    objects = DeviceManager()

    def __str__(self):
        return self.device_id


class DeviceConnection(models.Model):
    """One open device socket. A row whose seen_at is older than the presence TTL is stale:
    its server died without running disconnect."""

    channel_name = models.CharField(max_length=200, primary_key=True)
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="connections")
    connected_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField(db_index=True)


class ApiKeyManager(models.Manager):
    def issue(self, name):
        """Creates the key or replaces it; returns (api_key, key, created)."""
        key = "kit_" + new_secret()
        api_key, created = self.update_or_create(name=name, defaults={"key_hash": hash_secret(key)})
        return api_key, key, created

    async def acheck(self, key):
        return await self.filter(key_hash=hash_secret(key)).aexists()


class ApiKey(models.Model):
    name = models.CharField(max_length=100, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ApiKeyManager()

    def __str__(self):
        return self.name
